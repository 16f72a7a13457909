package app_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/issuer/rights"
)

// TestCitizenExport: a citizen downloads everything held about them —
// profile, consents and their history, the audit entries about them with
// proofs — signed so that the copy can be checked; taking it is audited;
// another citizen's data never appears.
func TestCitizenExport(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	putPurpose(t, e.s, "tax-reminders", "tax", consent.Consent, "contact")
	ana, beto := e.citizen("Ana"), e.citizen("Beto")
	for _, c := range []string{ana, beto} {
		if _, err := e.s.Consent.Give(ctx, consent.Request{Subject: c, Purpose: "tax-reminders", Method: consent.MethodWeb}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.s.Consent.Withdraw(ctx, consent.Request{Subject: ana, Purpose: "tax-reminders", Method: consent.MethodWeb}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Checkpointer.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	cookie := e.session(ana)
	status, body := e.cookieGet("/account/export", cookie)
	var out struct {
		Export    json.RawMessage
		Signature string
	}
	if status != 200 || json.Unmarshal(body, &out) != nil {
		t.Fatalf("export: %d %s", status, body)
	}
	var x rights.Export
	if err := json.Unmarshal(out.Export, &x); err != nil {
		t.Fatal(err)
	}
	if x.Citizen.ID != ana || x.Citizen.GivenName != "Ana" || x.Subject != e.s.AuditSubject(ana) {
		t.Errorf("export of %+v, want Ana", x.Citizen)
	}
	if len(x.Consents) != 1 || x.Consents[0].State != "withdrawn" || len(x.ConsentHistory) != 2 {
		t.Errorf("consents %+v, history %d events; want one withdrawn record and two events", x.Consents, len(x.ConsentHistory))
	}
	actions := map[string]bool{}
	for _, en := range x.Audit.Entries {
		actions[en.Action] = true
	}
	for _, a := range []string{"citizen.create", "consent.give", "consent.withdraw"} {
		if !actions[a] {
			t.Errorf("the export's audit entries lack %s: %v", a, actions)
		}
	}
	if strings.Contains(string(body), beto) || strings.Contains(string(body), "Beto") {
		t.Error("Beto's data in Ana's export")
	}
	// The signature covers the export: its payload is the export itself.
	_, jwks := e.cookieGet("/account/export-keys", "")
	payload, err := jose.Verify([]byte(out.Signature), jwks, keys.ES256)
	if err != nil {
		t.Fatalf("signature: %v", err)
	}
	var signed rights.Export
	if err := json.Unmarshal(payload, &signed); err != nil || signed.Citizen.ID != ana || len(signed.ConsentHistory) != 2 {
		t.Errorf("signed payload: %v %+v", err, signed.Citizen)
	}
	// Taking the export is in the log, about Ana.
	status, body = e.cookieGet("/account/export", cookie)
	json.Unmarshal(body, &out)
	json.Unmarshal(out.Export, &x)
	found := false
	for _, en := range x.Audit.Entries {
		found = found || en.Action == "citizen.export"
	}
	if status != 200 || !found {
		t.Errorf("the second export (%d) does not show the first in the log", status)
	}
	if status, _ := e.cookieGet("/account/export", ""); status != 401 {
		t.Errorf("export without a session: %d, want 401", status)
	}
}
