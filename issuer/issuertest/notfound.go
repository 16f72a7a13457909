package issuertest

import (
	"errors"
	"testing"
	"time"

	"github.com/cedula/cedula/issuer"
)

// testNotFound checks that every lookup of a missing row, and every change
// of one named row, returns ErrNotFound ("Methods return ErrNotFound for
// missing rows"), in a store that holds one row of each kind; and that none
// of them disturbs the rows that exist.
func testNotFound(t *testing.T, newStore NewStore) {
	missing := credID("nobody")
	for _, tc := range []struct {
		name string
		op   func(t *testing.T, s issuer.Store) error
		// idempotent deletes may also return nil: deleting nothing leaves
		// the store as the caller wants it.
		orNil bool
	}{
		{name: "Citizen", op: func(t *testing.T, s issuer.Store) error {
			_, err := s.Citizen(t.Context(), "nobody")
			return err
		}},
		{name: "Client", op: func(t *testing.T, s issuer.Store) error {
			_, err := s.Client(t.Context(), "nobody")
			return err
		}},
		{name: "Passkey", op: func(t *testing.T, s issuer.Store) error {
			_, err := s.Passkey(t.Context(), missing)
			return err
		}},
		{name: "RecordPasskeyUse", op: func(t *testing.T, s issuer.Store) error {
			return s.RecordPasskeyUse(t.Context(), missing, 7, true, baseTime())
		}},
		{name: "RenamePasskey", op: func(t *testing.T, s issuer.Store) error {
			return s.RenamePasskey(t.Context(), "ana", missing, "x")
		}},
		{name: "DeletePasskey", op: func(t *testing.T, s issuer.Store) error {
			return s.DeletePasskey(t.Context(), "ana", missing)
		}},
		{name: "Enrolment", op: func(t *testing.T, s issuer.Store) error {
			_, err := s.Enrolment(t.Context(), blob("enrolment:nobody", 32), baseTime())
			return err
		}},
		{name: "UseEnrolment", op: func(t *testing.T, s issuer.Store) error {
			_, err := s.UseEnrolment(t.Context(), blob("enrolment:nobody", 32), baseTime())
			return err
		}},
		{name: "UseRecoveryCode", op: func(t *testing.T, s issuer.Store) error {
			_, err := s.UseRecoveryCode(t.Context(), blob("code:nobody", 10))
			return err
		}},
		{name: "SubjectCitizen unknown sub", op: func(t *testing.T, s issuer.Store) error {
			_, err := s.SubjectCitizen(t.Context(), "tributaria.example.gov.uy", "sub-nobody")
			return err
		}},
		{name: "AuthRequest", op: func(t *testing.T, s issuer.Store) error {
			_, err := s.AuthRequest(t.Context(), "nobody")
			return err
		}},
		{name: "AuthRequestByCode", op: func(t *testing.T, s issuer.Store) error {
			_, err := s.AuthRequestByCode(t.Context(), "code-nobody")
			return err
		}},
		{name: "AuthRequestByCode empty, beside a request without code", op: func(t *testing.T, s issuer.Store) error {
			_, err := s.AuthRequestByCode(t.Context(), "")
			return err
		}},
		{name: "CompleteAuthRequest", op: func(t *testing.T, s issuer.Store) error {
			return s.CompleteAuthRequest(t.Context(), "nobody", issuer.Completion{CitizenID: "ana", Subject: "sub-ana", SessionID: "sid-1", AMR: []string{"hwk"}, AuthTime: baseTime()})
		}},
		{name: "RedeemCode stores nothing", op: func(t *testing.T, s issuer.Store) error {
			rt := newRefreshToken("next-rt", "nobody", "ana", "tributaria", baseTime())
			err := s.RedeemCode(t.Context(), "nobody", newAccessToken("next-at", rt), &rt)
			if _, err := s.AccessToken(t.Context(), "next-at"); !errors.Is(err, issuer.ErrNotFound) {
				t.Errorf("AccessToken after redeeming a missing request: got error %v, want %v", err, issuer.ErrNotFound)
			}
			return err
		}},
		{name: "FinishLogout", op: func(t *testing.T, s issuer.Store) error {
			return s.FinishLogout(t.Context(), 987654)
		}},
		{name: "RetryLogout", op: func(t *testing.T, s issuer.Store) error {
			return s.RetryLogout(t.Context(), 987654, baseTime())
		}},
		{name: "SaveCode", op: func(t *testing.T, s issuer.Store) error {
			return s.SaveCode(t.Context(), "nobody", "code-1")
		}},
		{name: "AccessToken", op: func(t *testing.T, s issuer.Store) error {
			_, err := s.AccessToken(t.Context(), "nobody")
			return err
		}},
		{name: "RefreshToken", op: func(t *testing.T, s issuer.Store) error {
			_, err := s.RefreshToken(t.Context(), "nobody")
			return err
		}},
		{name: "RevokeAccessToken", op: func(t *testing.T, s issuer.Store) error {
			return s.RevokeAccessToken(t.Context(), "nobody")
		}},
		{name: "RotateRefreshToken stores nothing", op: func(t *testing.T, s issuer.Store) error {
			next := newRefreshToken("next-rt", "f1", "ana", "tributaria", baseTime())
			err := s.RotateRefreshToken(t.Context(), "nobody", next, newAccessToken("next-at", next))
			if _, err := s.RefreshToken(t.Context(), next.ID); !errors.Is(err, issuer.ErrNotFound) {
				t.Errorf("RefreshToken of the next token after rotating a missing one: got error %v, want %v", err, issuer.ErrNotFound)
			}
			if _, err := s.AccessToken(t.Context(), "next-at"); !errors.Is(err, issuer.ErrNotFound) {
				t.Errorf("AccessToken of the next token after rotating a missing one: got error %v, want %v", err, issuer.ErrNotFound)
			}
			return err
		}},
		{name: "Session", op: func(t *testing.T, s issuer.Store) error {
			_, err := s.Session(t.Context(), blob("session:nobody", 32), baseTime())
			return err
		}},
		{name: "TakeCeremony", op: func(t *testing.T, s issuer.Store) error {
			_, err := s.TakeCeremony(t.Context(), "nobody", baseTime())
			return err
		}},
		{name: "DeleteClient", orNil: true, op: func(t *testing.T, s issuer.Store) error {
			return s.DeleteClient(t.Context(), "nobody")
		}},
		{name: "DeleteAuthRequest", orNil: true, op: func(t *testing.T, s issuer.Store) error {
			return s.DeleteAuthRequest(t.Context(), "nobody")
		}},
		{name: "DeleteSession", orNil: true, op: func(t *testing.T, s issuer.Store) error {
			return s.DeleteSession(t.Context(), blob("session:nobody", 32))
		}},
		{name: "DeleteSessionsOf", orNil: true, op: func(t *testing.T, s issuer.Store) error {
			_, err := s.DeleteSessionsOf(t.Context(), "nobody")
			return err
		}},
		{name: "DeleteSessionsBySID", orNil: true, op: func(t *testing.T, s issuer.Store) error {
			_, err := s.DeleteSessionsBySID(t.Context(), "ana", "sid-nobody")
			return err
		}},
		{name: "RevokeFamily", orNil: true, op: func(t *testing.T, s issuer.Store) error {
			return s.RevokeFamily(t.Context(), "nobody")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			populate(t, s)
			err := tc.op(t, s)
			if !(tc.orNil && err == nil) {
				wantErr(t, tc.name, err, issuer.ErrNotFound)
			}
			checkPopulated(t, s)
		})
	}
}

// populate stores one row of every kind, for citizen "ana" and client
// "tributaria".
func populate(t *testing.T, s issuer.Store) {
	t.Helper()
	ctx, base := t.Context(), baseTime()
	addCitizens(t, s, "ana")
	addClients(t, s, "tributaria")
	must(t, s.AddPasskey(ctx, newPasskey("p1", "ana", base)), "AddPasskey")
	must(t, s.CreateEnrolment(ctx, newEnrolment("e1", "ana", base)), "CreateEnrolment")
	must(t, s.ReplaceRecoveryCodes(ctx, "ana", [][]byte{blob("code:1", 10)}), "ReplaceRecoveryCodes")
	must(t, s.PutSubject(ctx, "tributaria.example.gov.uy", "sub-ana", "ana"), "PutSubject")
	must(t, s.CreateAuthRequest(ctx, newAuthRequest("ar-1", "tributaria", base)), "CreateAuthRequest")
	family(t, s, "f1", "ana", "tributaria")
	must(t, s.CreateSession(ctx, newSession("s1", "ana", base)), "CreateSession")
	must(t, s.PutCeremony(ctx, "cer-1", []byte("state"), base.Add(5*time.Minute)), "PutCeremony")
}

// checkPopulated reports rows of populate that are gone or changed.
func checkPopulated(t *testing.T, s issuer.Store) {
	t.Helper()
	ctx, base := t.Context(), baseTime()
	if _, err := s.Citizen(ctx, "ana"); err != nil {
		t.Errorf("Citizen of an existing citizen afterwards: got error %v, want nil", err)
	}
	if _, err := s.Client(ctx, "tributaria"); err != nil {
		t.Errorf("Client of an existing client afterwards: got error %v, want nil", err)
	}
	if p, err := s.Passkey(ctx, credID("p1")); err != nil || p.SignCount != 0 || p.Name != newPasskey("p1", "ana", base).Name {
		t.Errorf("Passkey afterwards: got %+v, %v, want it unchanged", p, err)
	}
	if _, err := s.Enrolment(ctx, blob("enrolment:e1", 32), base); err != nil {
		t.Errorf("Enrolment afterwards: got error %v, want nil", err)
	}
	if n, err := s.RecoveryCodesLeft(ctx, "ana"); n != 1 || err != nil {
		t.Errorf("RecoveryCodesLeft afterwards: got %d, %v, want 1, nil", n, err)
	}
	if r, err := s.AuthRequest(ctx, "ar-1"); err != nil || r.Done || r.Code != "" {
		t.Errorf("AuthRequest afterwards: got %+v, %v, want it unchanged", r, err)
	}
	if rt, err := s.RefreshToken(ctx, "f1-rt"); err != nil || rt.Used || rt.Revoked {
		t.Errorf("RefreshToken afterwards: got Used %v, Revoked %v, error %v, want false, false, nil", rt.Used, rt.Revoked, err)
	}
	if at, err := s.AccessToken(ctx, "f1-at"); err != nil || at.Revoked {
		t.Errorf("AccessToken afterwards: got Revoked %v, error %v, want false, nil", at.Revoked, err)
	}
	if _, err := s.Session(ctx, blob("session:s1", 32), base); err != nil {
		t.Errorf("Session afterwards: got error %v, want nil", err)
	}
}
