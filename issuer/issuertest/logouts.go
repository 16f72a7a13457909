package issuertest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cedula/cedula/issuer"
)

// loginTo completes authorization request reqID of clientID for citizenID
// in login session sid, as the consent page does.
func loginTo(t *testing.T, s issuer.Store, reqID, clientID, citizenID, sid string) {
	t.Helper()
	must(t, s.CreateAuthRequest(t.Context(), newAuthRequest(reqID, clientID, baseTime())), "CreateAuthRequest")
	must(t, s.CompleteAuthRequest(t.Context(), reqID, issuer.Completion{CitizenID: citizenID, Subject: "sub-" + citizenID, SessionID: sid,
		AMR: []string{"hwk"}, AuthTime: baseTime()}), "CompleteAuthRequest")
}

// sessionOf stores citizen "ana", the clients, and her login session s1
// logged in to each of loggedIn.
func sessionOf(t *testing.T, s issuer.Store, clients []string, loggedIn ...string) issuer.Session {
	t.Helper()
	addCitizens(t, s, "ana")
	addClients(t, s, clients...)
	sess := newSession("s1", "ana", baseTime())
	must(t, s.CreateSession(t.Context(), sess), "CreateSession")
	for i, c := range loggedIn {
		loginTo(t, s, fmt.Sprintf("ar-%d", i+1), c, "ana", sess.SID)
	}
	return sess
}

// queued claims every due logout and returns them as "client citizen sid"
// strings, sorted; the claim leases them for an hour, so a second call
// returns only what was queued since.
func queued(t *testing.T, s issuer.Store) []string {
	t.Helper()
	ls, err := s.ClaimLogouts(t.Context(), time.Now(), time.Hour, 1000)
	must(t, err, "ClaimLogouts")
	var out []string
	for _, l := range ls {
		out = append(out, fmt.Sprintf("%s %s %s", l.ClientID, l.CitizenID, l.SID))
	}
	slices.Sort(out)
	return out
}

func checkQueued(t *testing.T, s issuer.Store, what string, want ...string) {
	t.Helper()
	got := queued(t, s)
	if !slices.Equal(got, want) {
		t.Errorf("%s: got logouts %q, want %q", what, got, want)
	}
}

func testSessionEndQueuesLogouts(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	addCitizens(t, s, "ana", "beto")
	addClients(t, s, "tributaria", "salud", "vivienda")
	one, other := newSession("s1", "ana", baseTime()), newSession("b1", "beto", baseTime())
	must(t, s.CreateSession(ctx, one), "CreateSession")
	must(t, s.CreateSession(ctx, other), "CreateSession")
	loginTo(t, s, "ar-1", "tributaria", "ana", one.SID)
	loginTo(t, s, "ar-2", "salud", "ana", one.SID)
	loginTo(t, s, "ar-3", "salud", "ana", one.SID) // the same client again: told once
	loginTo(t, s, "ar-4", "vivienda", "beto", other.SID)
	checkQueued(t, s, "before any session ended")
	must(t, s.DeleteSession(ctx, one.IDHash), "DeleteSession")
	checkQueued(t, s, "after the session ended", "salud ana sid-s1", "tributaria ana sid-s1")
	must(t, s.DeleteSession(ctx, one.IDHash), "DeleteSession again")
	checkQueued(t, s, "after ending it again")
	// A new session with the old SID's clients forgotten: ending it tells
	// nobody.
	again := newSession("s2", "ana", baseTime())
	again.SID = one.SID
	must(t, s.CreateSession(ctx, again), "CreateSession")
	must(t, s.DeleteSession(ctx, again.IDHash), "DeleteSession")
	checkQueued(t, s, "after ending a session whose clients were told already")
	n, err := s.DeleteSessionsOf(ctx, "beto")
	must(t, err, "DeleteSessionsOf")
	if n != 1 {
		t.Errorf("DeleteSessionsOf: got %d login sessions ended, want 1", n)
	}
	checkQueued(t, s, "after DeleteSessionsOf", "vivienda beto sid-b1")
}

func testReauthenticationKeepsSession(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	first := sessionOf(t, s, []string{"tributaria"}, "tributaria")
	// The citizen logs in again (prompt=login): a new cookie, the same SID,
	// then the old cookie's row goes. The session has not ended.
	second := newSession("s2", "ana", baseTime().Add(time.Minute))
	second.SID = first.SID
	must(t, s.CreateSession(ctx, second), "CreateSession")
	must(t, s.DeleteSession(ctx, first.IDHash), "DeleteSession of the replaced cookie")
	checkQueued(t, s, "after replacing the cookie")
	got, err := s.Session(ctx, second.IDHash, baseTime())
	must(t, err, "Session")
	if got.SID != first.SID {
		t.Errorf("Session: got SID %q, want %q", got.SID, first.SID)
	}
	must(t, s.DeleteSession(ctx, second.IDHash), "DeleteSession")
	checkQueued(t, s, "after signing out", "tributaria ana sid-s1")
}

func testDeleteSessionsBySID(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	addCitizens(t, s, "ana", "beto")
	addClients(t, s, "tributaria", "salud")
	one, two := newSession("s1", "ana", baseTime()), newSession("s2", "ana", baseTime())
	must(t, s.CreateSession(ctx, one), "CreateSession")
	must(t, s.CreateSession(ctx, two), "CreateSession")
	loginTo(t, s, "ar-1", "tributaria", "ana", one.SID)
	loginTo(t, s, "ar-2", "salud", "ana", two.SID)
	ok, err := s.DeleteSessionsBySID(ctx, "beto", one.SID)
	must(t, err, "DeleteSessionsBySID of another citizen")
	if ok {
		t.Errorf("DeleteSessionsBySID of another citizen's SID: got true, want false")
	}
	ok, err = s.DeleteSessionsBySID(ctx, "ana", one.SID)
	must(t, err, "DeleteSessionsBySID")
	if !ok {
		t.Errorf("DeleteSessionsBySID: got false, want true")
	}
	checkQueued(t, s, "after DeleteSessionsBySID", "tributaria ana sid-s1")
	_, err = s.Session(ctx, one.IDHash, baseTime())
	wantErr(t, "Session after DeleteSessionsBySID", err, issuer.ErrNotFound)
	_, err = s.Session(ctx, two.IDHash, baseTime())
	must(t, err, "Session of the other login session")
}

func testRevokeGrantQueuesLogouts(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	sess := sessionOf(t, s, []string{"tributaria", "salud", "vivienda"}, "tributaria", "salud")
	family(t, s, "f1", "ana", "vivienda") // tokens, but no login in a session
	_, err := s.RevokeGrant(ctx, "ana", "tributaria")
	must(t, err, "RevokeGrant")
	checkQueued(t, s, "after RevokeGrant of one client", "tributaria ana sid-s1")
	_, err = s.RevokeGrant(ctx, "ana", "vivienda")
	must(t, err, "RevokeGrant")
	checkQueued(t, s, "after RevokeGrant of a client with tokens and no session", "vivienda ana ")
	// The session goes on; its end tells only the client still in it.
	must(t, s.DeleteSession(ctx, sess.IDHash), "DeleteSession")
	checkQueued(t, s, "after the session ended", "salud ana sid-s1")
}

func testEraseCitizenQueuesLogouts(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	sessionOf(t, s, []string{"tributaria", "vivienda"}, "tributaria")
	family(t, s, "f1", "ana", "vivienda")
	_, err := s.EraseCitizen(ctx, "ana")
	must(t, err, "EraseCitizen")
	checkQueued(t, s, "after EraseCitizen", "tributaria ana sid-s1", "vivienda ana ")
}

func testDeleteExpiredSessions(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	addCitizens(t, s, "ana")
	addClients(t, s, "tributaria")
	old := newSession("s1", "ana", baseTime().Add(-24*time.Hour)) // expired 16 h ago
	live := newSession("s2", "ana", baseTime())
	must(t, s.CreateSession(ctx, old), "CreateSession")
	must(t, s.CreateSession(ctx, live), "CreateSession")
	loginTo(t, s, "ar-1", "tributaria", "ana", old.SID)
	n, err := s.DeleteExpiredSessions(ctx, baseTime())
	must(t, err, "DeleteExpiredSessions")
	if n != 1 {
		t.Errorf("DeleteExpiredSessions: got %d, want 1", n)
	}
	checkQueued(t, s, "after expiry") // expiry is not a logout
	// A new session that reuses the expired SID has no clients left.
	reused := newSession("s3", "ana", baseTime())
	reused.SID = old.SID
	must(t, s.CreateSession(ctx, reused), "CreateSession")
	must(t, s.DeleteSession(ctx, reused.IDHash), "DeleteSession")
	checkQueued(t, s, "after ending a session on an expired SID")
	_, err = s.Session(ctx, live.IDHash, baseTime())
	must(t, err, "Session of the live session")
}

func testClaimLogouts(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	sess := sessionOf(t, s, []string{"tributaria", "salud"}, "tributaria", "salud")
	must(t, s.DeleteSession(ctx, sess.IDHash), "DeleteSession")
	now := time.Now()
	got, err := s.ClaimLogouts(ctx, now, time.Minute, 1)
	must(t, err, "ClaimLogouts")
	if len(got) != 1 || got[0].Attempts != 1 || got[0].SID != sess.SID || got[0].Created.IsZero() {
		t.Fatalf("ClaimLogouts(max 1): got %+v, want one logout of %s at attempt 1", got, sess.SID)
	}
	first := got[0]
	got, err = s.ClaimLogouts(ctx, now, time.Minute, 10)
	must(t, err, "ClaimLogouts")
	if len(got) != 1 || got[0].ID == first.ID {
		t.Fatalf("second ClaimLogouts: got %+v, want the other logout only (the first is leased)", got)
	}
	second := got[0]
	must(t, s.FinishLogout(ctx, second.ID), "FinishLogout")
	// The lease runs out: the first comes back, a second attempt.
	got, err = s.ClaimLogouts(ctx, now.Add(2*time.Minute), time.Minute, 10)
	must(t, err, "ClaimLogouts after the lease")
	if len(got) != 1 || got[0].ID != first.ID || got[0].Attempts != 2 {
		t.Fatalf("ClaimLogouts after the lease: got %+v, want logout %d at attempt 2", got, first.ID)
	}
	must(t, s.RetryLogout(ctx, first.ID, now.Add(time.Hour)), "RetryLogout")
	got, err = s.ClaimLogouts(ctx, now.Add(59*time.Minute), time.Minute, 10)
	must(t, err, "ClaimLogouts before the retry")
	if len(got) != 0 {
		t.Errorf("ClaimLogouts before the retry time: got %+v, want none", got)
	}
	got, err = s.ClaimLogouts(ctx, now.Add(time.Hour), time.Minute, 10)
	must(t, err, "ClaimLogouts at the retry time")
	if len(got) != 1 || got[0].Attempts != 3 {
		t.Errorf("ClaimLogouts at the retry time: got %+v, want logout %d at attempt 3", got, first.ID)
	}
	must(t, s.FinishLogout(ctx, first.ID), "FinishLogout")
	wantErr(t, "FinishLogout again", s.FinishLogout(ctx, first.ID), issuer.ErrNotFound)
}

// testClaimLogoutsConcurrent: replicas claiming at once share the work and
// never claim one notification twice.
func testClaimLogoutsConcurrent(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	addClients(t, s, "tributaria")
	const citizens = 40
	var ids []string
	for i := range citizens {
		ids = append(ids, fmt.Sprintf("c%02d", i))
	}
	addCitizens(t, s, ids...)
	for i, c := range ids {
		sess := newSession("s-"+c, c, baseTime())
		must(t, s.CreateSession(ctx, sess), "CreateSession")
		loginTo(t, s, fmt.Sprintf("ar-%d", i), "tributaria", c, sess.SID)
		must(t, s.DeleteSession(ctx, sess.IDHash), "DeleteSession")
	}
	var mu sync.Mutex
	seen := map[int64]int{}
	now := time.Now()
	errs := together(8, func(int) error {
		for {
			ls, err := s.ClaimLogouts(ctx, now, time.Hour, 3)
			if err != nil || len(ls) == 0 {
				return err
			}
			mu.Lock()
			for _, l := range ls {
				seen[l.ID]++
			}
			mu.Unlock()
		}
	})
	for _, err := range errs {
		must(t, err, "ClaimLogouts")
	}
	if len(seen) != citizens {
		t.Errorf("concurrent claims: got %d distinct logouts, want %d", len(seen), citizens)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("concurrent claims: logout %d claimed %d times, want once", id, n)
		}
	}
}
