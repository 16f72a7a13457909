package app

import (
	"github.com/cedula/cedula/internal/scopes"

	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/issuer"
)

// ConsentScope lets an agency system ask the consent ledger before it uses
// a citizen's data (POST /consent/decide).
const ConsentScope = scopes.Consent

// decideJSON is the body of POST /consent/decide: the citizen by the sub
// the agency knows them by, the purpose (one of the agency's own) and the
// data categories it would use.
type decideJSON struct {
	Sub        string   `json:"sub"`
	Purpose    string   `json:"purpose"`
	Categories []string `json:"categories"`
}

// decisionJSON is the answer: whether the agency may, on which basis, and
// the consent record event it rests on.
type decisionJSON struct {
	Allow          bool      `json:"allow"`
	Reason         string    `json:"reason"`
	LegalBasis     string    `json:"legal_basis,omitempty"`
	PurposeVersion int       `json:"purpose_version,omitempty"`
	Record         string    `json:"record,omitempty"`
	Time           time.Time `json:"time"`
}

// decideConsent serves POST /consent/decide for agency systems (a
// client_credentials token with scope cedula:consent; the controller is
// always the calling client). Every decision, allow or deny, is in the
// audit log before the answer leaves.
func (s *Server) decideConsent(w http.ResponseWriter, r *http.Request, caller string) {
	var in decideJSON
	if !decodeJSON(w, r, &in) {
		return
	}
	if in.Sub == "" || len(in.Sub) > 256 {
		writeProblem(w, http.StatusBadRequest, "Invalid request", "sub, the citizen's subject identifier at this client, is required")
		return
	}
	citizenID, err := s.Provider.SubjectCitizen(r.Context(), caller, in.Sub)
	if errors.Is(err, issuer.ErrNotFound) {
		writeProblem(w, http.StatusNotFound, "Unknown subject", "no citizen is known to this client by that sub")
		return
	} else if err != nil {
		s.internalError(w, r, err)
		return
	}
	d, err := s.Consent.Decide(r.Context(), consent.Query{Subject: citizenID, Controller: caller, Purpose: in.Purpose, Categories: in.Categories})
	if errors.Is(err, consent.ErrInvalid) {
		writeProblem(w, http.StatusBadRequest, "Invalid request", strings.TrimPrefix(err.Error(), "consent: invalid: "))
		return
	} else if err != nil {
		s.internalError(w, r, err)
		return
	}
	out := decisionJSON{Allow: d.Allow, Reason: string(d.Reason), LegalBasis: string(d.Basis), PurposeVersion: d.PurposeVersion, Time: d.Time}
	if !d.Record.IsZero() {
		out.Record = d.Record.String()
	}
	writeJSON(w, http.StatusOK, out)
}

// purposeJSON is a purpose as the admin API shows it.
type purposeJSON struct {
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

func purposeOut(p consent.Purpose) purposeJSON {
	out := purposeJSON{ID: p.ID, Version: p.Version, Name: map[string]string{"es": p.Name.ES, "en": p.Name.EN},
		Description: map[string]string{"es": p.Description.ES, "en": p.Description.EN}, Controller: p.Controller,
		LegalBasis: string(p.LegalBasis), Categories: p.Categories, DPV: p.DPV, NoticeVersion: p.NoticeVersion,
		NoticeURL: p.NoticeURL, Profiling: p.Profiling, Created: p.Created}
	if p.Retention > 0 {
		out.Retention = p.Retention.String()
	}
	return out
}

// adminPutPurpose serves POST /admin/purposes: one purpose in the form of
// a registry file entry (as JSON), stored as a new version when it changed
// (201) or left as it is (200). A new notice version puts the consents
// given under the old one up for renewal.
func (s *Server) adminPutPurpose(w http.ResponseWriter, r *http.Request, caller string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10+1))
	if err != nil || len(body) > 64<<10 || !json.Valid(body) || !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
		writeProblem(w, http.StatusBadRequest, "Malformed JSON", "send one purpose as a JSON object of at most 64 KiB")
		return
	}
	// A JSON object is a YAML flow mapping: the registry parser reads it
	// with the file's rules (unknown fields refused, every problem reported).
	ps, err := consent.ParseRegistry(strings.NewReader("[" + string(body) + "]"))
	if err != nil {
		writeProblem(w, http.StatusBadRequest, "Invalid purpose", strings.TrimPrefix(err.Error(), "consent: invalid: "))
		return
	}
	ctx := r.Context()
	before, _ := s.Consent.Purpose(ctx, ps[0].ID)
	if err := s.putPurpose(ctx, ps[0]); err != nil {
		if consent.IsBadRequest(err) {
			writeProblem(w, http.StatusBadRequest, "Invalid purpose", err.Error())
			return
		}
		s.internalError(w, r, err)
		return
	}
	p, err := s.Consent.Purpose(ctx, ps[0].ID)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	status := http.StatusCreated
	if p.Version == before.Version {
		status = http.StatusOK
	}
	writeJSON(w, status, purposeOut(p))
}

// adminListPurposes serves GET /admin/purposes: the latest version of each.
func (s *Server) adminListPurposes(w http.ResponseWriter, r *http.Request, caller string) {
	ps, err := s.Consent.Purposes(r.Context())
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	slices.SortFunc(ps, func(a, b consent.Purpose) int { return strings.Compare(a.ID, b.ID) })
	out := make([]purposeJSON, 0, len(ps))
	for _, p := range ps {
		out = append(out, purposeOut(p))
	}
	writeJSON(w, http.StatusOK, map[string]any{"purposes": out})
}
