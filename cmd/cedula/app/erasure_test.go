package app_test

import (
	"context"
	"errors"
	"testing"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/cmd/cedula/app"
	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/issuer"
)

// TestErasureAcrossRooms: POST /admin/erasures erases a citizen everywhere
// at once — consents withdrawn (decisions deny), personal data and
// passkeys gone, sessions ended, tokens revoked, audit details unreadable —
// while the consent history and the log remain as the proof, and another
// citizen is untouched.
func TestErasureAcrossRooms(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	putPurpose(t, e.s, "tax-reminders", "tax", consent.Consent, "contact")
	putPurpose(t, e.s, "tax-audits", "tax", consent.PublicTask, "income")
	ana, beto := e.citizen("Ana"), e.citizen("Beto")
	for _, c := range []string{ana, beto} {
		if _, err := e.s.Consent.Give(ctx, consent.Request{Subject: c, Purpose: "tax-reminders", Method: consent.MethodWeb}); err != nil {
			t.Fatal(err)
		}
	}
	anaCookie, betoCookie := e.session(ana), e.session(beto)
	e.agency("tax", app.ConsentScope)
	sub := e.loggedInAt("tax", ana)
	sealed, err := e.s.Shredder.Seal(ctx, e.s.AuditSubject(ana), []byte(`{"n":1}`))
	if err != nil {
		t.Fatal(err)
	}

	admin := e.token("registrar", app.AdminScope)
	res, out := e.do("POST", "/admin/erasures", admin, `{"citizen_id":"`+ana+`"}`)
	if res.StatusCode != 201 || out["consents_withdrawn"] != float64(1) || out["sessions_ended"] != float64(1) {
		t.Fatalf("erase: %d %v, want one consent withdrawn and one session ended", res.StatusCode, out)
	}

	c, err := e.s.Store.Citizen(ctx, ana)
	if err != nil || c.GivenName != "" || c.Birthdate != "" {
		t.Errorf("Ana after erasure: %+v %v, want no personal data", c, err)
	}
	if rec, err := e.s.Consent.Record(ctx, ana, "tax-reminders"); err != nil || rec.State != consent.StateWithdrawn {
		t.Errorf("Ana's consent after erasure: %+v %v, want withdrawn", rec, err)
	}
	if h, err := e.s.Consent.History(ctx, ana); err != nil || len(h) != 2 {
		t.Errorf("Ana's consent history after erasure: %d events, %v; want given and withdrawn kept as proof", len(h), err)
	}
	if res, out := e.do("POST", "/consent/decide", e.token("tax", app.ConsentScope), `{"sub":"`+sub+`","purpose":"tax-reminders","categories":["contact"]}`); res.StatusCode != 200 || out["allow"] != false {
		t.Errorf("decision about Ana after erasure: %d %v, want deny", res.StatusCode, out)
	}
	if status, _, _ := e.myAudit(anaCookie, ""); status != 401 {
		t.Errorf("Ana's old session after erasure: %d, want 401", status)
	}
	if _, err := e.s.Shredder.Open(ctx, e.s.AuditSubject(ana), sealed); !errors.Is(err, audit.ErrErased) {
		t.Errorf("Ana's audit details after erasure: %v, want ErrErased", err)
	}
	// Beto is untouched.
	if rec, err := e.s.Consent.Record(ctx, beto, "tax-reminders"); err != nil || rec.State != consent.StateGiven {
		t.Errorf("Beto's consent: %+v %v, want given", rec, err)
	}
	if status, _, _ := e.myAudit(betoCookie, ""); status != 200 {
		t.Errorf("Beto's session: %d, want 200", status)
	}
	if b, err := e.s.Store.Citizen(ctx, beto); err != nil || b.GivenName != "Beto" {
		t.Errorf("Beto: %+v %v", b, err)
	}
	// The erasure is in the log: the provider's and the ledger's entries.
	if err := e.s.Audit.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	recs, _, err := e.s.Audit.EntriesAbout(ctx, e.s.AuditSubject(ana), 0, audit.MaxEntries)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range recs {
		en, _ := r.Entry()
		seen[en.Action] = true
	}
	for _, a := range []string{issuer.ActionCitizenErase, consent.Action(consent.Withdrawn), "audit.erase"} {
		if !seen[a] {
			t.Errorf("no %s entry about Ana", a)
		}
	}
}
