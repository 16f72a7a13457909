package app_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/cmd/cedula/app"
	"github.com/cedula/cedula/consent"
)

// TestDPOConsentViews: counts by state, a citizen's history only with a
// stated reason — which the citizen then sees, decrypted, in their own
// audit view — and the Art. 30 record, in JSON and CSV; bad requests and
// wrong scopes get problems.
func TestDPOConsentViews(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	putPurpose(t, e.s, "tax-reminders", "tax", consent.Consent, "contact")
	putPurpose(t, e.s, "benefit-matching", "social", consent.PublicTask, "income")
	if _, err := e.s.Consent.PutPurpose(ctx, consent.Purpose{ID: "benefit-matching", Name: consent.Text{ES: "Cruce", EN: "Matching"},
		Description: consent.Text{ES: "d", EN: "d"}, Controller: "social", LegalBasis: consent.PublicTask, Categories: []string{"income"},
		DPV: "dpv:ServiceProvision", NoticeVersion: "1", NoticeURL: "https://example.gov/privacy", Profiling: true}); err != nil {
		t.Fatal(err)
	}
	ana, beto := e.citizen("Ana"), e.citizen("Beto")
	for _, c := range []struct {
		who string
		op  func(context.Context, consent.Request) (consent.Record, error)
	}{{ana, e.s.Consent.Give}, {ana, e.s.Consent.Withdraw}, {beto, e.s.Consent.Give}} {
		if _, err := c.op(ctx, consent.Request{Subject: c.who, Purpose: "tax-reminders", Method: consent.MethodWeb}); err != nil {
			t.Fatal(err)
		}
	}
	dpoTok := e.dpo("dpo-office")

	status, body, hdr := e.get("/dpo/consents/counts", dpoTok)
	var counts struct {
		Counts []struct {
			Purpose, State string
			Records        int64
		}
	}
	json.Unmarshal(body, &counts)
	got := map[string]int64{}
	for _, c := range counts.Counts {
		got[c.Purpose+"/"+c.State] = c.Records
	}
	if status != 200 || got["tax-reminders/given"] != 1 || got["tax-reminders/withdrawn"] != 1 || len(got) != 2 {
		t.Errorf("counts: %d %s, want one given and one withdrawn", status, body)
	}
	status, body, hdr = e.get("/dpo/consents/counts?format=csv", dpoTok)
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if status != 200 || err != nil || !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") || len(rows) != 3 || rows[0][3] != "records" {
		t.Errorf("counts as CSV: %d %v %q %v", status, err, hdr.Get("Content-Type"), rows)
	}

	// Over time: today's events, by type.
	today := time.Now().UTC().Format(time.DateOnly)
	status, body, _ = e.get("/dpo/consents/timeline?from="+today+"&to="+today, dpoTok)
	var tl struct {
		Days []struct {
			Day, Purpose, Event string
			Events              int64
		}
	}
	json.Unmarshal(body, &tl)
	byEvent := map[string]int64{}
	for _, d := range tl.Days {
		if d.Day == today && d.Purpose == "tax-reminders" {
			byEvent[d.Event] += d.Events
		}
	}
	if status != 200 || byEvent["given"] != 2 || byEvent["withdrawn"] != 1 {
		t.Errorf("timeline: %d %s, want 2 given and 1 withdrawn today", status, body)
	}
	for _, q := range []string{"from=2026-13-01", "from=2026-02-01&to=2026-01-01", "from=2020-01-01&to=2026-01-01", "format=pdf"} {
		if status, body, _ := e.get("/dpo/consents/timeline?"+q, dpoTok); status != 400 {
			t.Errorf("timeline?%s: %d %s, want 400", q, status, body)
		}
	}
	if status, body, _ = e.get("/dpo/consents/timeline?format=csv", dpoTok); status != 200 || !strings.HasPrefix(string(body), "day,purpose,controller,event,events") {
		t.Errorf("timeline as CSV: %d %s", status, body)
	}

	// History: a reason first.
	for _, q := range []string{"citizen_id=" + ana, "citizen_id=" + ana + "&reason=%20", "reason=x", "citizen_id=" + ana + "&format=x&reason=" + strings.Repeat("x", 501)} {
		if status, body, _ := e.get("/dpo/consents/history?"+q, dpoTok); status != 400 {
			t.Errorf("history?%s: %d %s, want 400", q, status, body)
		}
	}
	if status, _, _ := e.get("/dpo/consents/history?citizen_id=nobody&reason=complaint", dpoTok); status != 404 {
		t.Errorf("history of nobody: %d, want 404", status)
	}
	reason := "Reclamación 2026-114 de la ciudadana"
	status, body, _ = e.get("/dpo/consents/history?"+url.Values{"citizen_id": {ana}, "reason": {reason}}.Encode(), dpoTok)
	var hist struct {
		Events []struct{ Type, Purpose, Method string }
	}
	json.Unmarshal(body, &hist)
	if status != 200 || len(hist.Events) != 2 || hist.Events[0].Type != "given" || hist.Events[1].Type != "withdrawn" {
		t.Errorf("history: %d %s, want given then withdrawn", status, body)
	}
	// Ana sees that a DPO read her history, and why (once a checkpoint
	// covers it).
	if _, err := e.s.Checkpointer.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	_, page, _ := e.myAudit(e.session(ana), "")
	found := false
	for _, en := range page.Entries {
		if en.Action == "consent.history" && en.Actor.Kind == "dpo" && strings.Contains(string(en.Details), "Reclamaci") {
			found = true
		}
	}
	if !found {
		t.Errorf("Ana's view lacks the DPO's reading of her history: %+v", page.Entries)
	}

	// The record of processing activities.
	status, body, _ = e.get("/dpo/ropa", dpoTok)
	var ropa struct {
		Activities []struct {
			Purpose   string           `json:"purpose"`
			Legal     string           `json:"legal_basis"`
			Objection bool             `json:"objection_applies"`
			Records   map[string]int64 `json:"records_by_state"`
		}
	}
	json.Unmarshal(body, &ropa)
	if status != 200 || len(ropa.Activities) != 2 {
		t.Fatalf("ropa: %d %s", status, body)
	}
	for _, a := range ropa.Activities {
		switch a.Purpose {
		case "benefit-matching":
			if a.Legal != "public_task" || !a.Objection {
				t.Errorf("ropa %s: basis %s objection %v", a.Purpose, a.Legal, a.Objection)
			}
		case "tax-reminders":
			if a.Legal != "consent" || a.Objection || a.Records["given"] != 1 || a.Records["withdrawn"] != 1 {
				t.Errorf("ropa %s: %+v", a.Purpose, a)
			}
		}
	}
	status, body, _ = e.get("/dpo/ropa?format=csv", dpoTok)
	rows, err = csv.NewReader(bytes.NewReader(body)).ReadAll()
	if status != 200 || err != nil || len(rows) != 3 {
		t.Errorf("ropa as CSV: %d %v %d rows", status, err, len(rows))
	}

	// Scopes.
	e.agency("tax")
	agencyTok := e.token("tax", app.AuditWriteScope)
	for _, p := range []string{"/dpo/consents/counts", "/dpo/ropa", "/dpo/consents/history?citizen_id=" + ana + "&reason=x"} {
		if status, _, _ := e.get(p, agencyTok); status != 403 {
			t.Errorf("%s with an agency token: %d, want 403", p, status)
		}
		if status, _, _ := e.get(p, ""); status != 401 {
			t.Errorf("%s without a token: %d, want 401", p, status)
		}
	}
	if status, _, _ := e.get("/dpo/ropa?format=xml", dpoTok); status != 400 {
		t.Errorf("format=xml: %d, want 400", status)
	}
}
