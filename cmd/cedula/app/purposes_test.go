package app_test

import (
	"context"
	"strings"
	"testing"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/cmd/cedula/app"
	"github.com/cedula/cedula/consent"
)

// TestAdminPurposes: the registry through the admin API — a new purpose, an
// unchanged one, a new notice that puts consents up for renewal (so
// decisions deny until renewed) — each version audited with the calling
// client as actor; bad purposes get problems.
func TestAdminPurposes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	admin := e.token("registrar", app.AdminScope)
	purpose := func(notice string) string {
		return `{"id":"tax-reminders","name":{"es":"Recordatorios","en":"Reminders"},"description":{"es":"d","en":"d"},
			"controller":"tax","legal_basis":"consent","categories":["contact"],"retention":"365d","dpv":"dpv:ServiceProvision",
			"notice_version":"` + notice + `","notice_url":"https://tax.example.gov/privacy"}`
	}
	post := func(body string) (int, map[string]any) {
		res, out := e.do("POST", "/admin/purposes", admin, body)
		return res.StatusCode, out
	}
	if status, out := post(purpose("2026-01")); status != 201 || out["version"] != float64(1) || out["retention"] != "8760h0m0s" {
		t.Fatalf("new purpose: %d %v", status, out)
	}
	if status, out := post(purpose("2026-01")); status != 200 || out["version"] != float64(1) {
		t.Errorf("the same purpose again: %d %v, want 200 and version 1", status, out)
	}
	ana := e.citizen("Ana")
	if _, err := e.s.Consent.Give(ctx, consent.Request{Subject: ana, Purpose: "tax-reminders", Method: consent.MethodWeb}); err != nil {
		t.Fatal(err)
	}
	if status, out := post(purpose("2026-02")); status != 201 || out["version"] != float64(2) {
		t.Fatalf("a new notice: %d %v", status, out)
	}
	if rec, err := e.s.Consent.Record(ctx, ana, "tax-reminders"); err != nil || rec.State != consent.StateRenewalRequired {
		t.Errorf("Ana's record after the new notice: %+v %v, want renewal_required", rec, err)
	}
	d, err := e.s.Consent.DecideUnaudited(ctx, consent.Query{Subject: ana, Controller: "tax", Purpose: "tax-reminders", Categories: []string{"contact"}})
	if err != nil || d.Allow || d.Reason != consent.ReasonRenewal {
		t.Errorf("decision after the new notice: %+v %v, want denied for renewal", d, err)
	}
	res, out := e.do("GET", "/admin/purposes", admin, "")
	if list, _ := out["purposes"].([]any); res.StatusCode != 200 || len(list) != 1 {
		t.Errorf("list: %d %v", res.StatusCode, out)
	}
	// Both versions are in the log, by the calling client.
	if err := e.s.Audit.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	n, _ := e.s.Audit.Size(ctx)
	recs, _ := e.s.Audit.Entries(ctx, 0, n)
	versions := 0
	for _, r := range recs {
		if en, _ := r.Entry(); en.Action == consent.ActionPurpose && strings.HasPrefix(en.ConsentRecord, "tax-reminders@") {
			versions++
			if en.Actor != (audit.Actor{Kind: audit.ActorClient, ID: "registrar"}) {
				t.Errorf("purpose entry by %+v, want the registrar", en.Actor)
			}
		}
	}
	if versions != 2 {
		t.Errorf("%d purpose entries in the log, want 2", versions)
	}
	// Each refusal names the rule the sender broke, in words for them:
	// never the Go types of the registry's parser.
	for _, tc := range []struct{ name, body, detail string }{
		{"unknown field", strings.Replace(purpose("x"), `"controller"`, `"owner":"x","controller"`, 1), "owner"},
		{"bad legal basis", strings.Replace(purpose("x"), `"consent"`, `"whim"`, 1), "legal basis"},
		{"no categories", strings.Replace(purpose("x"), `["contact"]`, `[]`, 1), "categor"},
		{"an array", "[" + purpose("x") + "]", "JSON object"},
		{"not JSON", "id: x", "JSON"},
		{"empty", "", "empty"},
	} {
		status, out := post(tc.body)
		detail, _ := out["detail"].(string)
		if status != 400 || !strings.Contains(detail, tc.detail) || strings.Contains(detail, "consent.") || strings.Contains(detail, "purposeFile") {
			t.Errorf("%s: %d %v, want 400 with a detail naming %q and no Go type", tc.name, status, out, tc.detail)
		}
	}
	e.agency("tax")
	if res, _ := e.do("POST", "/admin/purposes", e.token("tax", app.AuditWriteScope), purpose("x")); res.StatusCode != 403 {
		t.Errorf("without the admin scope: %d, want 403", res.StatusCode)
	}
}
