package issuertest

import (
	"bytes"
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

// expiryCase is a moment at which something expiring at expires is
// looked up, and the error wanted then.
type expiryCase struct {
	name        string
	expires, at time.Time
	want        error
}

// expiryCases are the moments the expiry tests use, around an expiry an
// hour from now on the wall clock.
func expiryCases(expired error) []expiryCase {
	now := baseTime()
	return []expiryCase{
		{"a second before expiry", now.Add(time.Hour), now.Add(time.Hour - time.Second), nil},
		{"a second after expiry", now.Add(time.Hour), now.Add(time.Hour + time.Second), expired},
		{"a month after expiry", now.Add(time.Hour), now.Add(30 * 24 * time.Hour), expired},
	}
}

// pastOnWallClock has the expiry past on the wall clock but not at the now
// the caller gives: a lookup judges by the given now. (House-keeping by the
// wall clock is allowed, so writes are not held to this.)
func pastOnWallClock() expiryCase {
	now := baseTime()
	return expiryCase{"past on the wall clock, not at the given now", now.Add(-2 * time.Hour), now.Add(-3 * time.Hour), nil}
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
	must(t, s.DeleteSessionsOf(ctx, "ana"), "DeleteSessionsOf")
	for _, sess := range sessions {
		_, err := s.Session(ctx, sess.IDHash, baseTime())
		if sess.CitizenID == "ana" {
			wantErr(t, "Session of the citizen after DeleteSessionsOf", err, issuer.ErrNotFound)
		} else if err != nil {
			t.Errorf("Session of another citizen after DeleteSessionsOf: got error %v, want nil", err)
		}
	}
}
