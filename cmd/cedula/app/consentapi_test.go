package app_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/cmd/cedula/app"
	"github.com/cedula/cedula/consent"
)

func putPurpose(t *testing.T, s *app.Server, id, controller string, basis consent.LegalBasis, cats ...string) {
	t.Helper()
	_, err := s.Consent.PutPurpose(context.Background(), consent.Purpose{ID: id, Name: consent.Text{ES: id, EN: id},
		Description: consent.Text{ES: "d", EN: "d"}, Controller: controller, LegalBasis: basis, Categories: cats,
		DPV: "dpv:ServiceProvision", NoticeVersion: "1", NoticeURL: "https://example.gov/privacy"})
	if err != nil {
		t.Fatal(err)
	}
}

// TestConsentDecideAPI: an agency asks the ledger about a citizen it knows
// by its own sub; the answer follows the consent (given, withdrawn), the
// purpose's legal basis and its controller; every answer is audited; bad
// requests get problem JSON.
func TestConsentDecideAPI(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.agency("tax", app.ConsentScope)
	e.agency("health", app.ConsentScope)
	e.agency("nosy")
	putPurpose(t, e.s, "tax-reminders", "tax", consent.Consent, "contact")
	putPurpose(t, e.s, "tax-audits", "tax", consent.PublicTask, "income")
	putPurpose(t, e.s, "health-alerts", "health", consent.Consent, "contact")
	ana := e.citizen("Ana")
	sub := e.loggedInAt("tax", ana)
	tok := e.token("tax", app.ConsentScope)
	decide := func(body string) (int, map[string]any) {
		t.Helper()
		res, out := e.do("POST", "/consent/decide", tok, body)
		return res.StatusCode, out
	}
	ask := func(purpose, cat string) string {
		return fmt.Sprintf(`{"sub":%q,"purpose":%q,"categories":[%q]}`, sub, purpose, cat)
	}
	start, _ := e.s.Audit.Size(ctx)

	steps := []struct {
		name   string
		before func()
		body   string
		allow  bool
		reason string
	}{
		{"no consent yet", nil, ask("tax-reminders", "contact"), false, "no_consent"},
		{"consent given", func() {
			if _, err := e.s.Consent.Give(ctx, consent.Request{Subject: ana, Purpose: "tax-reminders", Method: consent.MethodWeb}); err != nil {
				t.Fatal(err)
			}
		}, ask("tax-reminders", "contact"), true, "consent"},
		{"a category the purpose does not cover", nil, ask("tax-reminders", "income"), false, "categories_not_covered"},
		{"public task needs no consent", nil, ask("tax-audits", "income"), true, "legal_basis"},
		{"another agency's purpose", nil, ask("health-alerts", "contact"), false, "controller_mismatch"},
		{"an unknown purpose", nil, ask("nothing-such", "contact"), false, "unknown_purpose"},
		{"consent withdrawn", func() {
			if _, err := e.s.Consent.Withdraw(ctx, consent.Request{Subject: ana, Purpose: "tax-reminders", Method: consent.MethodWeb}); err != nil {
				t.Fatal(err)
			}
		}, ask("tax-reminders", "contact"), false, "withdrawn"},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		status, out := decide(st.body)
		if status != 200 || out["allow"] != st.allow || out["reason"] != st.reason {
			t.Errorf("%s: %d %v, want allow=%v reason %s", st.name, status, out, st.allow, st.reason)
		}
	}
	// Every answer is a decision in the log, about Ana, asked by the agency.
	if err := e.s.Audit.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	end, _ := e.s.Audit.Size(ctx)
	recs, _ := e.s.Audit.Entries(ctx, start, end)
	decisions := 0
	for _, r := range recs {
		en, _ := r.Entry()
		if en.Action != consent.ActionDecide {
			continue
		}
		decisions++
		if en.Subject != e.s.AuditSubject(ana) || en.Actor != (audit.Actor{Kind: audit.ActorClient, ID: "tax"}) {
			t.Errorf("decision entry %+v: want about Ana, by tax", en)
		}
	}
	if decisions != len(steps) {
		t.Errorf("got %d decisions in the log, want %d", decisions, len(steps))
	}

	// Bad requests.
	for _, tc := range []struct {
		name, token, body string
		status            int
	}{
		{"unknown sub", tok, `{"sub":"nobody","purpose":"tax-reminders","categories":["contact"]}`, 404},
		{"no sub", tok, `{"purpose":"tax-reminders","categories":["contact"]}`, 400},
		{"no categories", tok, `{"sub":"` + sub + `","purpose":"tax-reminders"}`, 400},
		{"bad purpose ID", tok, `{"sub":"` + sub + `","purpose":"Tax Reminders!","categories":["contact"]}`, 400},
		{"unknown field", tok, `{"sub":"` + sub + `","purpose":"tax-reminders","categories":["contact"],"x":1}`, 400},
		{"not JSON", tok, `sub=1`, 400},
		{"no scope", e.token("nosy", app.AuditWriteScope), ask("tax-reminders", "contact"), 403},
		{"no token", "", ask("tax-reminders", "contact"), 401},
	} {
		res, out := e.do("POST", "/consent/decide", tc.token, tc.body)
		if res.StatusCode != tc.status || res.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s %v, want %d problem JSON", tc.name, res.StatusCode, res.Header.Get("Content-Type"), out, tc.status)
		}
	}
}
