package issuertest

import (
	"testing"
	"time"

	"github.com/cedula/cedula/issuer"
)

func testSessionRoundTrip(t *testing.T, newStore NewStore) {
	for _, tc := range []struct {
		name string
		s    issuer.Session
	}{
		{"every field", newSession("s1", "ana", baseTime())},
		{"no AMR, UTC", issuer.Session{IDHash: blob("session:s2", 32), CitizenID: "ana", AuthTime: baseTime().UTC(), Expires: baseTime().UTC().Add(time.Hour)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			addCitizens(t, s, "ana")
			must(t, s.CreateSession(t.Context(), tc.s), "CreateSession")
			got, err := s.Session(t.Context(), tc.s.IDHash, baseTime())
			must(t, err, "Session")
			checkEqual(t, "Session", got, tc.s)
		})
	}
}

func testSessionExpiry(t *testing.T, newStore NewStore) {
	for _, tc := range append(expiryCases(issuer.ErrNotFound), pastOnWallClock()) {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			addCitizens(t, s, "ana")
			sess := newSession("s1", "ana", tc.expires.Add(-8*time.Hour))
			must(t, s.CreateSession(t.Context(), sess), "CreateSession")
			got, err := s.Session(t.Context(), sess.IDHash, tc.at)
			if wantErr(t, "Session", err, tc.want) && err == nil {
				checkEqual(t, "Session", got, sess)
			}
		})
	}
}

func testDeleteSession(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	addCitizens(t, s, "ana")
	one, two := newSession("s1", "ana", baseTime()), newSession("s2", "ana", baseTime())
	must(t, s.CreateSession(ctx, one), "CreateSession")
	must(t, s.CreateSession(ctx, two), "CreateSession")
	must(t, s.DeleteSession(ctx, one.IDHash), "DeleteSession")
	_, err := s.Session(ctx, one.IDHash, baseTime())
	wantErr(t, "Session after DeleteSession", err, issuer.ErrNotFound)
	if _, err := s.Session(ctx, two.IDHash, baseTime()); err != nil {
		t.Errorf("Session of another session: got error %v, want nil", err)
	}
}

func testDeleteSessionsOf(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	addCitizens(t, s, "ana", "beto")
	sessions := []issuer.Session{
		newSession("a1", "ana", baseTime()),
		newSession("a2", "ana", baseTime()),
		newSession("b1", "beto", baseTime()),
	}
	for _, sess := range sessions {
		must(t, s.CreateSession(ctx, sess), "CreateSession")
	}
	n, err := s.DeleteSessionsOf(ctx, "ana")
	must(t, err, "DeleteSessionsOf")
	if n != 2 {
		t.Errorf("DeleteSessionsOf: got %d login sessions ended, want 2", n)
	}
	for _, sess := range sessions {
		_, err := s.Session(ctx, sess.IDHash, baseTime())
		if sess.CitizenID == "ana" {
			wantErr(t, "Session of the citizen after DeleteSessionsOf", err, issuer.ErrNotFound)
		} else if err != nil {
			t.Errorf("Session of another citizen after DeleteSessionsOf: got error %v, want nil", err)
		}
	}
}
