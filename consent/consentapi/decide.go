package consentapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/internal/httpapi"
)

// decideRequest is the body of POST /consent/decide: the citizen by the sub
// the agency knows them by, the purpose (one of the agency's own) and the
// data categories it would use.
type decideRequest struct {
	Sub        string   `json:"sub"`
	Purpose    string   `json:"purpose"`
	Categories []string `json:"categories"`
}

// Decision is the answer: whether the agency may, on which basis, and the
// consent record event it rests on.
type Decision struct {
	Allow          bool      `json:"allow"`
	Reason         string    `json:"reason"`
	LegalBasis     string    `json:"legal_basis,omitempty"`
	PurposeVersion int       `json:"purpose_version,omitempty"`
	Record         string    `json:"record,omitempty"`
	Time           time.Time `json:"time"`
}

// decide serves POST /consent/decide for agency systems (a
// client_credentials token with scope cedula:consent; the controller is
// always the calling client). Every decision, allow or deny, is in the
// audit log before the answer leaves.
func (a *API) decide(c httpapi.Context) error {
	var in decideRequest
	if err := httpapi.Bind(c, &in); err != nil {
		return err
	}
	if in.Sub == "" || len(in.Sub) > 256 {
		return httpapi.BadRequest("sub, the citizen's subject identifier at this client, is required")
	}
	ctx := c.Request().Context()
	caller := httpapi.CallerOf(c).ClientID
	citizenID, err := a.cfg.Subjects.SubjectCitizen(ctx, caller, in.Sub)
	if err != nil {
		return err
	}
	d, err := a.cfg.Ledger.Decide(ctx, consent.Query{Subject: citizenID, Controller: caller, Purpose: in.Purpose, Categories: in.Categories})
	if err != nil {
		return err
	}
	out := Decision{Allow: d.Allow, Reason: string(d.Reason), LegalBasis: string(d.Basis), PurposeVersion: d.PurposeVersion, Time: d.Time}
	if !d.Record.IsZero() {
		out.Record = d.Record.String()
	}
	return httpapi.JSON(c, http.StatusOK, out)
}

// Purpose is a purpose as the admin API shows it.
type Purpose struct {
	ID            string            `json:"id"`
	Version       int               `json:"version"`
	Name          map[string]string `json:"name"`
	Description   map[string]string `json:"description"`
	Controller    string            `json:"controller"`
	LegalBasis    string            `json:"legal_basis"`
	Categories    []string          `json:"categories"`
	Retention     string            `json:"retention,omitempty"`
	DPV           string            `json:"dpv"`
	NoticeVersion string            `json:"notice_version"`
	NoticeURL     string            `json:"notice_url"`
	Profiling     bool              `json:"profiling"`
	Created       time.Time         `json:"created"`
}

func purposeOut(p consent.Purpose) Purpose {
	out := Purpose{ID: p.ID, Version: p.Version, Name: map[string]string{"es": p.Name.ES, "en": p.Name.EN},
		Description: map[string]string{"es": p.Description.ES, "en": p.Description.EN}, Controller: p.Controller,
		LegalBasis: string(p.LegalBasis), Categories: p.Categories, DPV: p.DPV, NoticeVersion: p.NoticeVersion,
		NoticeURL: p.NoticeURL, Profiling: p.Profiling, Created: p.Created}
	if p.Retention > 0 {
		out.Retention = p.Retention.String()
	}
	return out
}

// putPurpose serves POST /admin/purposes: one purpose in the form of a
// registry file entry (as JSON), stored as a new version when it changed
// (201) or left as it is (200). A new notice version puts the consents
// given under the old one up for renewal.
func (a *API) putPurpose(c httpapi.Context) error {
	var body json.RawMessage
	if err := httpapi.Bind(c, &body); err != nil {
		return err
	}
	if !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
		return httpapi.BadRequest("send one purpose as a JSON object")
	}
	// A JSON object is a YAML flow mapping: the registry parser reads it
	// with the file's rules (unknown fields refused, every problem reported).
	ps, err := consent.ParseRegistry(strings.NewReader("[" + string(body) + "]"))
	if err != nil {
		return titled("Invalid purpose", err)
	}
	p, changed, _, err := a.cfg.Ledger.RegisterPurpose(c.Request().Context(), ps[0])
	if err != nil {
		return titled("Invalid purpose", err)
	}
	status := http.StatusOK
	if changed {
		status = http.StatusCreated
	}
	return httpapi.JSON(c, status, purposeOut(p))
}

// listPurposes serves GET /admin/purposes: the latest version of each.
func (a *API) listPurposes(c httpapi.Context) error {
	ps, err := a.cfg.Ledger.Purposes(c.Request().Context())
	if err != nil {
		return err
	}
	slices.SortFunc(ps, func(x, y consent.Purpose) int { return strings.Compare(x.ID, y.ID) })
	out := make([]Purpose, 0, len(ps))
	for _, p := range ps {
		out = append(out, purposeOut(p))
	}
	return httpapi.JSON(c, http.StatusOK, map[string]any{"purposes": out})
}
