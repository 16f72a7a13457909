package issuertest

import (
	"testing"
	"time"

	"github.com/cedula/cedula/issuer"
)

// testEraseCitizen: erasure empties the citizen's personal data, removes
// their passkeys, codes, links and sessions, revokes their tokens, and
// leaves another citizen as they were.
func testEraseCitizen(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
	now := baseTime()
	addCitizens(t, s, "c1", "c2")
	addClients(t, s, "agencia")
	for _, c := range []string{"c1", "c2"} {
		must(t, s.AddPasskey(ctx, newPasskey("p-"+c, c, now)), "AddPasskey")
		must(t, s.ReplaceRecoveryCodes(ctx, c, [][]byte{blob("code-"+c, 32)}), "ReplaceRecoveryCodes")
		must(t, s.CreateEnrolment(ctx, newEnrolment("e-"+c, c, now)), "CreateEnrolment")
		must(t, s.CreateSession(ctx, newSession("s-"+c, c, now)), "CreateSession")
		family(t, s, "f-"+c, c, "agencia")
	}
	got, err := s.EraseCitizen(ctx, "c1")
	must(t, err, "EraseCitizen")
	if want := (issuer.Erased{Passkeys: 1, RecoveryCodes: 1, Enrolments: 1, Sessions: 1, Tokens: 2}); got != want {
		t.Errorf("EraseCitizen: got %+v, want %+v", got, want)
	}
	c, err := s.Citizen(ctx, "c1")
	must(t, err, "Citizen after erasure")
	if c.GivenName != "" || c.FamilyName != "" || c.Birthdate != "" || c.Email != "" || c.Locale != "" || c.ID != "c1" {
		t.Errorf("erased citizen: %+v, want the ID alone", c)
	}
	if ps, _ := s.PasskeysOf(ctx, "c1"); len(ps) != 0 {
		t.Errorf("passkeys after erasure: %d", len(ps))
	}
	if n, _ := s.RecoveryCodesLeft(ctx, "c1"); n != 0 {
		t.Errorf("recovery codes after erasure: %d", n)
	}
	wantErr(t, "Session after erasure", func() error { _, err := s.Session(ctx, newSession("s-c1", "c1", now).IDHash, now); return err }(), issuer.ErrNotFound)
	wantErr(t, "Enrolment after erasure", func() error { _, err := s.Enrolment(ctx, newEnrolment("e-c1", "c1", now).TokenHash, now); return err }(), issuer.ErrNotFound)
	if at, err := s.AccessToken(ctx, "f-c1-at"); err != nil || !at.Revoked {
		t.Errorf("access token after erasure: %+v %v, want revoked", at, err)
	}
	if rt, err := s.RefreshToken(ctx, "f-c1-rt"); err != nil || !rt.Revoked {
		t.Errorf("refresh token after erasure: %+v %v, want revoked", rt, err)
	}
	// The other citizen is untouched.
	other, err := s.Citizen(ctx, "c2")
	must(t, err, "Citizen c2")
	checkEqual(t, "c2", other, newCitizen("c2", now.Add(-24*time.Hour)))
	if ps, _ := s.PasskeysOf(ctx, "c2"); len(ps) != 1 {
		t.Errorf("c2's passkeys: %d, want 1", len(ps))
	}
	if at, err := s.AccessToken(ctx, "f-c2-at"); err != nil || at.Revoked {
		t.Errorf("c2's access token: %+v %v, want active", at, err)
	}
	_, err = s.EraseCitizen(ctx, "nobody")
	wantErr(t, "EraseCitizen(nobody)", err, issuer.ErrNotFound)
	// Erasing again finds nothing more to remove.
	again, err := s.EraseCitizen(ctx, "c1")
	must(t, err, "EraseCitizen again")
	if again != (issuer.Erased{}) {
		t.Errorf("EraseCitizen again: %+v, want nothing", again)
	}
}
