package consentapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/audit/auditapi"
	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/internal/reqid"
)

type countJSON struct {
	Purpose    string `json:"purpose"`
	Controller string `json:"controller"`
	State      string `json:"state"`
	Records    int64  `json:"records"`
}

// counts serves GET /dpo/consents/counts: records per purpose, controller
// and state.
func (a *API) counts(c httpapi.Context) error {
	asCSV, err := httpapi.WantsCSV(c)
	if err != nil {
		return err
	}
	cs, err := a.cfg.Ledger.Counts(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]countJSON, 0, len(cs))
	for _, n := range cs {
		out = append(out, countJSON{n.Purpose, n.Controller, string(n.State), n.N})
	}
	if asCSV {
		rows := make([][]string, 0, len(out))
		for _, n := range out {
			rows = append(rows, []string{n.Purpose, n.Controller, n.State, strconv.FormatInt(n.Records, 10)})
		}
		return httpapi.CSV(c, "consent-counts.csv", []string{"purpose", "controller", "state", "records"}, rows)
	}
	return httpapi.JSON(c, http.StatusOK, map[string]any{"counts": out})
}

type dayCountJSON struct {
	Day        string `json:"day"`
	Purpose    string `json:"purpose"`
	Controller string `json:"controller"`
	Event      string `json:"event"`
	Events     int64  `json:"events"`
}

// maxTimeline bounds the days one timeline request covers.
const maxTimeline = 366

// timeline serves GET /dpo/consents/timeline: the consents given,
// withdrawn, expired, … per UTC day between from (default 30 days ago)
// and to (default today), both YYYY-MM-DD and included.
func (a *API) timeline(c httpapi.Context) error {
	asCSV, err := httpapi.WantsCSV(c)
	if err != nil {
		return err
	}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	from, to := today.AddDate(0, 0, -30), today
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"from", &from}, {"to", &to}} {
		if v := c.QueryParam(p.name); v != "" {
			d, err := time.Parse(time.DateOnly, v)
			if err != nil {
				return httpapi.BadRequest(p.name + " must be a date, YYYY-MM-DD")
			}
			*p.t = d
		}
	}
	if to.Before(from) || to.Sub(from) > maxTimeline*24*time.Hour {
		return httpapi.BadRequest(fmt.Sprintf("from must not be after to, and the range at most %d days", maxTimeline))
	}
	cs, err := a.cfg.Ledger.EventCounts(c.Request().Context(), from, to.AddDate(0, 0, 1))
	if err != nil {
		return err
	}
	out := make([]dayCountJSON, 0, len(cs))
	for _, n := range cs {
		out = append(out, dayCountJSON{n.Day.Format(time.DateOnly), n.Purpose, n.Controller, string(n.Type), n.N})
	}
	if asCSV {
		rows := make([][]string, 0, len(out))
		for _, n := range out {
			rows = append(rows, []string{n.Day, n.Purpose, n.Controller, n.Event, strconv.FormatInt(n.Events, 10)})
		}
		return httpapi.CSV(c, "consent-timeline.csv", []string{"day", "purpose", "controller", "event", "events"}, rows)
	}
	return httpapi.JSON(c, http.StatusOK, map[string]any{"from": from.Format(time.DateOnly), "to": to.Format(time.DateOnly), "days": out})
}

// Event is one event of a consent record as the DPO's history and the
// citizen's export show it.
type Event struct {
	Record         string         `json:"record"`
	Type           string         `json:"type"`
	Purpose        string         `json:"purpose"`
	PurposeVersion int            `json:"purpose_version"`
	Controller     string         `json:"controller"`
	LegalBasis     string         `json:"legal_basis"`
	NoticeVersion  string         `json:"notice_version"`
	Categories     []string       `json:"categories"`
	Method         string         `json:"method"`
	Actor          auditapi.Actor `json:"actor"`
	Time           time.Time      `json:"time"`
	Expires        *time.Time     `json:"expires,omitempty"`
}

// Events is the JSON form of a consent history.
func Events(es []consent.Event) []Event {
	out := make([]Event, 0, len(es))
	for _, e := range es {
		ev := Event{Record: e.Ref().String(), Type: string(e.Type), Purpose: e.Key.Purpose, PurposeVersion: e.PurposeVersion,
			Controller: e.Key.Controller, LegalBasis: string(e.LegalBasis), NoticeVersion: e.NoticeVersion,
			Categories: e.Categories, Method: string(e.Method), Actor: auditapi.Actor{Kind: string(e.Actor.Kind), ID: e.Actor.ID}, Time: e.Time}
		if !e.Expires.IsZero() {
			exp := e.Expires
			ev.Expires = &exp
		}
		out = append(out, ev)
	}
	return out
}

// maxReason bounds the stated reason of a history request.
const maxReason = 500

// history serves GET /dpo/consents/history?citizen_id=…&reason=…: a
// citizen's whole consent history to a DPO who states why. Before it
// answers, the request is appended to the audit log about that citizen,
// with the reason sealed under the citizen's key: the citizen sees, in
// their own view, that a DPO read their history and why.
func (a *API) history(c httpapi.Context) error {
	citizenID, reason := c.QueryParam("citizen_id"), strings.TrimSpace(c.QueryParam("reason"))
	if citizenID == "" || len(citizenID) > 256 {
		return httpapi.BadRequest("citizen_id is required")
	}
	if reason == "" || len(reason) > maxReason || !utf8.ValidString(reason) {
		return &httpapi.Error{Status: http.StatusBadRequest, Slug: "reason-required", Title: "Reason required",
			Detail: fmt.Sprintf("state why you need this citizen's history: reason, 1 to %d bytes of text", maxReason)}
	}
	ctx := c.Request().Context()
	if err := a.cfg.Citizens.CitizenExists(ctx, citizenID); err != nil {
		return err
	}
	subject := a.cfg.Pseudonym(citizenID)
	details, _ := json.Marshal(map[string]string{"reason": reason})
	sealed, err := a.cfg.Log.Seal(ctx, subject, details)
	if errors.Is(err, audit.ErrErased) {
		sealed = nil // an erased citizen: the request is recorded, its reason cannot be sealed for them
	} else if err != nil {
		return err
	}
	if _, err := a.cfg.Log.Append(ctx, audit.Entry{Time: time.Now(), Actor: audit.Actor{Kind: audit.ActorDPO, ID: httpapi.CallerOf(c).ClientID},
		Action: "consent.history", Subject: subject, Purpose: "dpv:LegalCompliance", LegalBasis: "legal-obligation",
		Categories: []string{"consent-records"}, Outcome: audit.Allowed, RequestID: reqid.From(ctx), Details: sealed}); err != nil {
		return err
	}
	es, err := a.cfg.Ledger.History(ctx, citizenID)
	if err != nil {
		return err
	}
	return httpapi.JSON(c, http.StatusOK, map[string]any{"subject": subject, "events": Events(es)})
}

// ropaJSON is one processing activity of the record kept under GDPR Art.
// 30(1): one purpose of the registry, with what the ledger holds for it.
type ropaJSON struct {
	Purpose          string            `json:"purpose"`
	Version          int               `json:"version"`
	Name             map[string]string `json:"name"`
	Description      map[string]string `json:"description"`
	Controller       string            `json:"controller"`
	ControllerName   string            `json:"controller_name"`
	LegalBasis       string            `json:"legal_basis"`
	DataCategories   []string          `json:"data_categories"`
	SubjectCategory  string            `json:"data_subjects"`
	Recipients       []string          `json:"recipients"`
	Retention        string            `json:"retention"`
	DPV              string            `json:"dpv"`
	NoticeVersion    string            `json:"notice_version"`
	NoticeURL        string            `json:"notice_url"`
	Profiling        bool              `json:"profiling"`
	ObjectionApplies bool              `json:"objection_applies"`
	Records          map[string]int64  `json:"records_by_state"`
	Transfers        string            `json:"third_country_transfers"`
	Security         string            `json:"security_measures"`
}

// ropa serves GET /dpo/ropa: the record of processing activities.
func (a *API) ropa(c httpapi.Context) error {
	asCSV, err := httpapi.WantsCSV(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	ps, err := a.cfg.Ledger.Purposes(ctx)
	if err != nil {
		return err
	}
	cs, err := a.cfg.Ledger.Counts(ctx)
	if err != nil {
		return err
	}
	slices.SortFunc(ps, func(x, y consent.Purpose) int { return strings.Compare(x.ID, y.ID) })
	out := make([]ropaJSON, 0, len(ps))
	for _, p := range ps {
		name := p.Controller
		if n := a.cfg.ClientName(ctx, p.Controller); n != "" {
			name = n
		}
		retention := "until withdrawn"
		if p.Retention > 0 {
			retention = fmt.Sprintf("%d days", int(p.Retention.Hours()/24))
		}
		row := ropaJSON{Purpose: p.ID, Version: p.Version, Name: map[string]string{"es": p.Name.ES, "en": p.Name.EN},
			Description: map[string]string{"es": p.Description.ES, "en": p.Description.EN},
			Controller:  p.Controller, ControllerName: name, LegalBasis: string(p.LegalBasis), DataCategories: p.Categories,
			SubjectCategory: "citizens", Recipients: []string{name}, Retention: retention, DPV: p.DPV,
			NoticeVersion: p.NoticeVersion, NoticeURL: p.NoticeURL, Profiling: p.Profiling, ObjectionApplies: p.Objectable(),
			Records: map[string]int64{}, Transfers: "none",
			Security: "passkey-only authentication; pseudonymous, tamper-evident audit log; per-citizen encryption of audit details; keys in Vault transit"}
		for _, n := range cs {
			if n.Purpose == p.ID {
				row.Records[string(n.State)] += n.N
			}
		}
		out = append(out, row)
	}
	if asCSV {
		rows := make([][]string, 0, len(out))
		for _, r := range out {
			var states []string
			for st, n := range r.Records {
				states = append(states, fmt.Sprintf("%s=%d", st, n))
			}
			slices.Sort(states)
			rows = append(rows, []string{r.Purpose, strconv.Itoa(r.Version), r.Name["es"], r.Name["en"], r.ControllerName, r.Controller,
				r.LegalBasis, strings.Join(r.DataCategories, " "), r.SubjectCategory, strings.Join(r.Recipients, " "), r.Retention,
				r.DPV, r.NoticeVersion, r.NoticeURL, strconv.FormatBool(r.Profiling), strconv.FormatBool(r.ObjectionApplies),
				strings.Join(states, " "), r.Transfers, r.Security})
		}
		return httpapi.CSV(c, "record-of-processing.csv", []string{"purpose", "version", "name_es", "name_en", "controller_name", "controller",
			"legal_basis", "data_categories", "data_subjects", "recipients", "retention", "dpv", "notice_version", "notice_url",
			"profiling", "objection_applies", "records_by_state", "third_country_transfers", "security_measures"}, rows)
	}
	return httpapi.JSON(c, http.StatusOK, map[string]any{"generated": time.Now().UTC(), "activities": out})
}
