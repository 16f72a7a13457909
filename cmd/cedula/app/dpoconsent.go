package app

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cedula/cedula/internal/reqid"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/issuer"
)

// The DPO's views of the consent ledger (scope cedula:dpo):
//
//	GET /dpo/consents/counts[?format=csv]            records per purpose, controller and state
//	GET /dpo/consents/timeline?from=…&to=…[&format=csv] events per day, purpose, controller and type
//	GET /dpo/consents/history?citizen_id=…&reason=…  a citizen's full history; the reason is required and audited
//	GET /dpo/ropa[?format=csv]                        the record of processing activities (GDPR Art. 30)

func (s *Server) mountDPOConsent(mux router) {
	mux.Handle("GET /dpo/consents/counts", s.withScope(DPOScope, s.dpoConsentCounts))
	mux.Handle("GET /dpo/consents/history", s.withScope(DPOScope, s.dpoConsentHistory))
	mux.Handle("GET /dpo/consents/timeline", s.withScope(DPOScope, s.dpoConsentTimeline))
	mux.Handle("GET /dpo/ropa", s.withScope(DPOScope, s.dpoROPA))
}

// wantsCSV reads ?format=: json (default) or csv; anything else is a 400.
func wantsCSV(w http.ResponseWriter, r *http.Request) (csvOut, ok bool) {
	switch r.URL.Query().Get("format") {
	case "", "json":
		return false, true
	case "csv":
		return true, true
	}
	writeProblem(w, http.StatusBadRequest, "Invalid request", "format must be json or csv")
	return false, false
}

// writeCSV writes a header and rows as text/csv (RFC 4180).
func writeCSV(w http.ResponseWriter, name string, header []string, rows [][]string) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	cw := csv.NewWriter(w)
	cw.Write(header)
	cw.WriteAll(rows)
}

type countJSON struct {
	Purpose    string `json:"purpose"`
	Controller string `json:"controller"`
	State      string `json:"state"`
	Records    int64  `json:"records"`
}

func (s *Server) dpoConsentCounts(w http.ResponseWriter, r *http.Request, caller string) {
	asCSV, ok := wantsCSV(w, r)
	if !ok {
		return
	}
	cs, err := s.Consent.Counts(r.Context())
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	out := make([]countJSON, 0, len(cs))
	for _, c := range cs {
		out = append(out, countJSON{c.Purpose, c.Controller, string(c.State), c.N})
	}
	if asCSV {
		rows := make([][]string, 0, len(out))
		for _, c := range out {
			rows = append(rows, []string{c.Purpose, c.Controller, c.State, strconv.FormatInt(c.Records, 10)})
		}
		writeCSV(w, "consent-counts.csv", []string{"purpose", "controller", "state", "records"}, rows)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"counts": out})
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

// dpoConsentTimeline serves the consents given, withdrawn, expired, … per
// UTC day between from (default 30 days ago) and to (default today), both
// YYYY-MM-DD and included.
func (s *Server) dpoConsentTimeline(w http.ResponseWriter, r *http.Request, caller string) {
	asCSV, ok := wantsCSV(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	today := time.Now().UTC().Truncate(24 * time.Hour)
	from, to := today.AddDate(0, 0, -30), today
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"from", &from}, {"to", &to}} {
		if v := q.Get(p.name); v != "" {
			d, err := time.Parse(time.DateOnly, v)
			if err != nil {
				writeProblem(w, http.StatusBadRequest, "Invalid request", p.name+" must be a date, YYYY-MM-DD")
				return
			}
			*p.t = d
		}
	}
	if to.Before(from) || to.Sub(from) > maxTimeline*24*time.Hour {
		writeProblem(w, http.StatusBadRequest, "Invalid request", fmt.Sprintf("from must not be after to, and the range at most %d days", maxTimeline))
		return
	}
	cs, err := s.Consent.EventCounts(r.Context(), from, to.AddDate(0, 0, 1))
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	out := make([]dayCountJSON, 0, len(cs))
	for _, c := range cs {
		out = append(out, dayCountJSON{c.Day.Format(time.DateOnly), c.Purpose, c.Controller, string(c.Type), c.N})
	}
	if asCSV {
		rows := make([][]string, 0, len(out))
		for _, c := range out {
			rows = append(rows, []string{c.Day, c.Purpose, c.Controller, c.Event, strconv.FormatInt(c.Events, 10)})
		}
		writeCSV(w, "consent-timeline.csv", []string{"day", "purpose", "controller", "event", "events"}, rows)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"from": from.Format(time.DateOnly), "to": to.Format(time.DateOnly), "days": out})
}

type eventJSON struct {
	Record         string     `json:"record"`
	Type           string     `json:"type"`
	Purpose        string     `json:"purpose"`
	PurposeVersion int        `json:"purpose_version"`
	Controller     string     `json:"controller"`
	LegalBasis     string     `json:"legal_basis"`
	NoticeVersion  string     `json:"notice_version"`
	Categories     []string   `json:"categories"`
	Method         string     `json:"method"`
	Actor          AuditActor `json:"actor"`
	Time           time.Time  `json:"time"`
	Expires        *time.Time `json:"expires,omitempty"`
}

// maxReason bounds the stated reason of a history request.
const maxReason = 500

// dpoConsentHistory serves a citizen's whole consent history to a DPO who
// states why. Before it answers, the request is appended to the audit log
// about that citizen, with the reason sealed under the citizen's key: the
// citizen sees, in their own view, that a DPO read their history and why.
func (s *Server) dpoConsentHistory(w http.ResponseWriter, r *http.Request, caller string) {
	q := r.URL.Query()
	citizenID, reason := q.Get("citizen_id"), strings.TrimSpace(q.Get("reason"))
	if citizenID == "" || len(citizenID) > 256 {
		writeProblem(w, http.StatusBadRequest, "Invalid request", "citizen_id is required")
		return
	}
	if reason == "" || len(reason) > maxReason || !utf8.ValidString(reason) {
		writeProblem(w, http.StatusBadRequest, "Reason required", fmt.Sprintf("state why you need this citizen's history: reason, 1 to %d bytes of text", maxReason))
		return
	}
	ctx := r.Context()
	if _, err := s.Store.Citizen(ctx, citizenID); errors.Is(err, issuer.ErrNotFound) {
		writeProblem(w, http.StatusNotFound, "Unknown citizen", "no citizen has that ID")
		return
	} else if err != nil {
		s.internalError(w, r, err)
		return
	}
	subject := s.AuditSubject(citizenID)
	details, _ := json.Marshal(map[string]string{"reason": reason})
	sealed, err := s.Shredder.Seal(ctx, subject, details)
	if errors.Is(err, audit.ErrErased) {
		sealed = nil // an erased citizen: the request is recorded, its reason cannot be sealed for them
	} else if err != nil {
		s.internalError(w, r, err)
		return
	}
	if _, err := s.Audit.Append(ctx, audit.Entry{Time: time.Now(), Actor: audit.Actor{Kind: audit.ActorDPO, ID: caller},
		Action: "consent.history", Subject: subject, Purpose: "dpv:LegalCompliance", LegalBasis: "legal-obligation",
		Categories: []string{"consent-records"}, Outcome: audit.Allowed, RequestID: reqid.From(ctx), Details: sealed}); err != nil {
		s.internalError(w, r, err)
		return
	}
	es, err := s.Consent.History(ctx, citizenID)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	out := eventsJSON(es)
	writeJSON(w, http.StatusOK, map[string]any{"subject": subject, "events": out})
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

func (s *Server) dpoROPA(w http.ResponseWriter, r *http.Request, caller string) {
	asCSV, ok := wantsCSV(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	ps, err := s.Consent.Purposes(ctx)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	cs, err := s.Consent.Counts(ctx)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	slices.SortFunc(ps, func(a, b consent.Purpose) int { return strings.Compare(a.ID, b.ID) })
	out := make([]ropaJSON, 0, len(ps))
	for _, p := range ps {
		name := p.Controller
		if c, err := s.Store.Client(ctx, p.Controller); err == nil && c.Name != "" {
			name = c.Name
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
		for _, c := range cs {
			if c.Purpose == p.ID {
				row.Records[string(c.State)] += c.N
			}
		}
		out = append(out, row)
	}
	if asCSV {
		rows := make([][]string, 0, len(out))
		for _, a := range out {
			var states []string
			for st, n := range a.Records {
				states = append(states, fmt.Sprintf("%s=%d", st, n))
			}
			slices.Sort(states)
			rows = append(rows, []string{a.Purpose, strconv.Itoa(a.Version), a.Name["es"], a.Name["en"], a.ControllerName, a.Controller,
				a.LegalBasis, strings.Join(a.DataCategories, " "), a.SubjectCategory, strings.Join(a.Recipients, " "), a.Retention,
				a.DPV, a.NoticeVersion, a.NoticeURL, strconv.FormatBool(a.Profiling), strconv.FormatBool(a.ObjectionApplies),
				strings.Join(states, " "), a.Transfers, a.Security})
		}
		writeCSV(w, "record-of-processing.csv", []string{"purpose", "version", "name_es", "name_en", "controller_name", "controller",
			"legal_basis", "data_categories", "data_subjects", "recipients", "retention", "dpv", "notice_version", "notice_url",
			"profiling", "objection_applies", "records_by_state", "third_country_transfers", "security_measures"}, rows)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"generated": time.Now().UTC(), "activities": out})
}

// eventsJSON is the JSON form of a consent history.
func eventsJSON(es []consent.Event) []eventJSON {
	out := make([]eventJSON, 0, len(es))
	for _, e := range es {
		ev := eventJSON{Record: e.Ref().String(), Type: string(e.Type), Purpose: e.Key.Purpose, PurposeVersion: e.PurposeVersion,
			Controller: e.Key.Controller, LegalBasis: string(e.LegalBasis), NoticeVersion: e.NoticeVersion,
			Categories: e.Categories, Method: string(e.Method), Actor: AuditActor{Kind: string(e.Actor.Kind), ID: e.Actor.ID}, Time: e.Time}
		if !e.Expires.IsZero() {
			exp := e.Expires
			ev.Expires = &exp
		}
		out = append(out, ev)
	}
	return out
}
