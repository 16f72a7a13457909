package issuertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cedula/cedula/issuer"
)

// Token IDs in these tests contain "-rt" for refresh tokens and "-at" for
// access tokens.

// tokenState looks a token up by ID and reports whether it is revoked.
func tokenState(t *testing.T, s issuer.Store, id string) (revoked bool, err error) {
	t.Helper()
	if strings.Contains(id, "-rt") {
		rt, err := s.RefreshToken(t.Context(), id)
		return rt.Revoked, err
	}
	at, err := s.AccessToken(t.Context(), id)
	return at.Revoked, err
}

// checkRevoked reports each token that is missing or whose Revoked is not
// want[id].
func checkRevoked(t *testing.T, s issuer.Store, what string, want map[string]bool) {
	t.Helper()
	for id, w := range want {
		got, err := tokenState(t, s, id)
		if err != nil {
			t.Errorf("%s: token %s: got error %v, want nil", what, id, err)
		} else if got != w {
			t.Errorf("%s: token %s: got Revoked %v, want %v", what, id, got, w)
		}
	}
}

// checkUnusable reports a token that exists without being revoked: the next
// token of a refused rotation.
func checkUnusable(t *testing.T, s issuer.Store, what string, ids ...string) {
	t.Helper()
	for _, id := range ids {
		revoked, err := tokenState(t, s, id)
		switch {
		case errors.Is(err, issuer.ErrNotFound):
		case err != nil:
			t.Errorf("%s: token %s: got error %v, want nil or %v", what, id, err, issuer.ErrNotFound)
		case !revoked:
			t.Errorf("%s: token %s: got it stored and not revoked, want it absent or revoked", what, id)
		}
	}
}

func testAccessTokenRoundTrip(t *testing.T, newStore NewStore) {
	base := baseTime()
	for _, tc := range []struct {
		name string
		at   issuer.AccessToken
	}{
		{"citizen token bound to a DPoP key", issuer.AccessToken{
			ID:         "x-at",
			ClientID:   "tributaria",
			Subject:    "sub-ana-tributaria",
			CitizenID:  "ana",
			Audience:   []string{"tributaria", "https://api.tributaria.example.gov.uy"},
			Scopes:     []string{"openid", "profile"},
			Expiration: base.Add(10 * time.Minute),
			JKT:        "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I",
		}},
		{"client_credentials token", issuer.AccessToken{
			ID:         "cc-at",
			ClientID:   "tributaria",
			Subject:    "tributaria",
			Scopes:     []string{"padron:read"},
			Expiration: base.UTC().Add(5 * time.Minute),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			addCitizens(t, s, "ana")
			addClients(t, s, "tributaria")
			must(t, s.CreateAccessToken(t.Context(), tc.at), "CreateAccessToken")
			got, err := s.AccessToken(t.Context(), tc.at.ID)
			must(t, err, "AccessToken")
			checkEqual(t, "AccessToken", got, tc.at)
		})
	}
}

// testCreateAccessTokenConcurrent: many tokens at once (a store may write
// them together); one reuses a taken ID and must fail alone with ErrExists,
// every other must be stored and readable.
func testCreateAccessTokenConcurrent(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	addClients(t, s, "tributaria")
	base := baseTime()
	mk := func(id string) issuer.AccessToken {
		return issuer.AccessToken{ID: id, ClientID: "tributaria", Subject: "tributaria", Expiration: base.Add(time.Hour)}
	}
	must(t, s.CreateAccessToken(ctx, mk("taken")), "CreateAccessToken")
	const n = 60
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("cc-%d", i)
			if i == n/2 {
				id = "taken"
			}
			errs[i] = s.CreateAccessToken(ctx, mk(id))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if i == n/2 {
			if !errors.Is(err, issuer.ErrExists) {
				t.Errorf("token with a taken ID: got %v, want ErrExists", err)
			}
			continue
		}
		if err != nil {
			t.Errorf("token %d: got %v, want nil", i, err)
			continue
		}
		if _, err := s.AccessToken(ctx, fmt.Sprintf("cc-%d", i)); err != nil {
			t.Errorf("token %d after creation: %v", i, err)
		}
	}
}

func testRevokeAccessToken(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	addCitizens(t, s, "ana")
	addClients(t, s, "tributaria")
	rt, _ := family(t, s, "f1", "ana", "tributaria")
	one, two := newAccessToken("x1-at", rt), newAccessToken("x2-at", rt)
	one.RefreshTokenID, two.RefreshTokenID = "", ""
	must(t, s.CreateAccessToken(ctx, one), "CreateAccessToken")
	must(t, s.CreateAccessToken(ctx, two), "CreateAccessToken")
	must(t, s.RevokeAccessToken(ctx, one.ID), "RevokeAccessToken")
	got, err := s.AccessToken(ctx, one.ID)
	must(t, err, "AccessToken")
	one.Revoked = true
	checkEqual(t, "AccessToken after RevokeAccessToken", got, one)
	checkRevoked(t, s, "after RevokeAccessToken", map[string]bool{"x2-at": false, "f1-rt": false, "f1-at": false})
}

func testCreateRefreshToken(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	addCitizens(t, s, "ana")
	addClients(t, s, "tributaria")
	rt, at := family(t, s, "f1", "ana", "tributaria")
	gotRT, err := s.RefreshToken(ctx, rt.ID)
	must(t, err, "RefreshToken")
	checkEqual(t, "RefreshToken", gotRT, rt)
	gotAT, err := s.AccessToken(ctx, at.ID)
	must(t, err, "AccessToken")
	checkEqual(t, "AccessToken of CreateRefreshToken", gotAT, at)
}

// rotate rotates old to a new token "<name>-rt" of the same family with
// access token "<name>-at", and returns both.
func rotate(s issuer.Store, ctx context.Context, old issuer.RefreshToken, name string) (issuer.RefreshToken, issuer.AccessToken, error) {
	next := newRefreshToken(name+"-rt", old.FamilyID, old.CitizenID, old.ClientID, baseTime().Add(time.Minute))
	next.AuthTime = old.AuthTime
	at := newAccessToken(name+"-at", next)
	return next, at, s.RotateRefreshToken(ctx, old.ID, next, at)
}

func testRotateRefreshToken(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	addCitizens(t, s, "ana")
	addClients(t, s, "tributaria")
	old, _ := family(t, s, "f1", "ana", "tributaria")
	for i := range 2 {
		next, at, err := rotate(s, ctx, old, fmt.Sprintf("f1-%d", i+2))
		must(t, err, "RotateRefreshToken")
		old.Used = true
		got, err := s.RefreshToken(ctx, old.ID)
		must(t, err, "RefreshToken of the rotated token")
		checkEqual(t, "rotated RefreshToken", got, old)
		got, err = s.RefreshToken(ctx, next.ID)
		must(t, err, "RefreshToken of the next token")
		checkEqual(t, "next RefreshToken", got, next)
		gotAT, err := s.AccessToken(ctx, at.ID)
		must(t, err, "AccessToken of the next token")
		checkEqual(t, "AccessToken of the next token", gotAT, at)
		old = next
	}
}

func testRotateUsedRefreshToken(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	addCitizens(t, s, "ana")
	addClients(t, s, "tributaria")
	first, _ := family(t, s, "f1", "ana", "tributaria")
	second, _, err := rotate(s, ctx, first, "f1-2")
	must(t, err, "RotateRefreshToken")
	third, _, err := rotate(s, ctx, second, "f1-3")
	must(t, err, "RotateRefreshToken")
	otherRT, otherAT := family(t, s, "f2", "ana", "tributaria")

	// RFC 9700 §4.14.2: presenting a used token revokes the family.
	_, _, err = rotate(s, ctx, first, "f1-stolen")
	wantErr(t, "RotateRefreshToken of a used token", err, issuer.ErrReused)
	checkRevoked(t, s, "family after reuse", map[string]bool{
		"f1-rt": true, "f1-at": true, "f1-2-rt": true, "f1-2-at": true, "f1-3-rt": true, "f1-3-at": true,
	})
	checkUnusable(t, s, "next token of the refused rotation", "f1-stolen-rt", "f1-stolen-at")
	gotRT, err := s.RefreshToken(ctx, otherRT.ID)
	must(t, err, "RefreshToken of another family")
	checkEqual(t, "another family's RefreshToken after reuse", gotRT, otherRT)
	gotAT, err := s.AccessToken(ctx, otherAT.ID)
	must(t, err, "AccessToken of another family")
	checkEqual(t, "another family's AccessToken after reuse", gotAT, otherAT)

	// The newest token, unused but now revoked, is refused too.
	_, _, err = rotate(s, ctx, third, "f1-4")
	wantErr(t, "RotateRefreshToken of the newest token of a revoked family", err, issuer.ErrReused)
	checkUnusable(t, s, "next token of the refused rotation", "f1-4-rt", "f1-4-at")
}

func testRotateRevokedRefreshToken(t *testing.T, newStore NewStore) {
	for _, tc := range []struct {
		name   string
		revoke func(t *testing.T, s issuer.Store) error
	}{
		{"RevokeFamily", func(t *testing.T, s issuer.Store) error {
			return s.RevokeFamily(t.Context(), "f1")
		}},
		{"RevokeGrant for the client", func(t *testing.T, s issuer.Store) error {
			_, err := s.RevokeGrant(t.Context(), "ana", "tributaria")
			return err
		}},
		{"RevokeGrant for every client", func(t *testing.T, s issuer.Store) error {
			_, err := s.RevokeGrant(t.Context(), "ana", "")
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, ctx := newStore(t), t.Context()
			addCitizens(t, s, "ana")
			addClients(t, s, "tributaria")
			rt, _ := family(t, s, "f1", "ana", "tributaria")
			must(t, tc.revoke(t, s), tc.name)
			_, _, err := rotate(s, ctx, rt, "f1-2")
			wantErr(t, "RotateRefreshToken of a revoked token", err, issuer.ErrReused)
			checkRevoked(t, s, "family after a refused rotation", map[string]bool{"f1-rt": true, "f1-at": true})
			checkUnusable(t, s, "next token of the refused rotation", "f1-2-rt", "f1-2-at")
		})
	}
}

func testRotateRefreshTokenConcurrent(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	addCitizens(t, s, "ana")
	addClients(t, s, "tributaria")
	first, _ := family(t, s, "f1", "ana", "tributaria")
	const n = 10
	errs := together(n, func(i int) error {
		_, _, err := rotate(s, ctx, first, fmt.Sprintf("f1-next%d", i))
		return err
	})
	winner := checkOnce(t, "RotateRefreshToken of one token", errs, issuer.ErrReused)
	reused := false
	for _, err := range errs {
		reused = reused || errors.Is(err, issuer.ErrReused)
	}
	if !reused {
		return
	}
	// Reuse was detected, so every token of the family is revoked, the
	// winner's included, whichever order the rotations committed in.
	checkRevoked(t, s, "family after concurrent reuse", map[string]bool{"f1-rt": true, "f1-at": true})
	if winner >= 0 {
		w := fmt.Sprintf("f1-next%d", winner)
		checkRevoked(t, s, "winning rotation after concurrent reuse", map[string]bool{w + "-rt": true, w + "-at": true})
	}
	for i := range n {
		if i != winner {
			l := fmt.Sprintf("f1-next%d", i)
			checkUnusable(t, s, "next token of a refused rotation", l+"-rt", l+"-at")
		}
	}
}

func testRevokeFamily(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	addCitizens(t, s, "ana")
	addClients(t, s, "tributaria")
	first, firstAT := family(t, s, "f1", "ana", "tributaria")
	second, secondAT, err := rotate(s, ctx, first, "f1-2")
	must(t, err, "RotateRefreshToken")
	first.Used = true
	family(t, s, "f2", "ana", "tributaria")
	loose := newAccessToken("x-at", first) // the same grant's data, but of no family
	loose.RefreshTokenID, loose.FamilyID = "", ""
	must(t, s.CreateAccessToken(ctx, loose), "CreateAccessToken")

	must(t, s.RevokeFamily(ctx, "f1"), "RevokeFamily")
	for _, rt := range []issuer.RefreshToken{first, second} {
		got, err := s.RefreshToken(ctx, rt.ID)
		must(t, err, "RefreshToken")
		rt.Revoked = true
		checkEqual(t, "RefreshToken after RevokeFamily", got, rt)
	}
	for _, at := range []issuer.AccessToken{firstAT, secondAT} {
		got, err := s.AccessToken(ctx, at.ID)
		must(t, err, "AccessToken")
		at.Revoked = true
		checkEqual(t, "AccessToken after RevokeFamily", got, at)
	}
	checkRevoked(t, s, "other tokens after RevokeFamily", map[string]bool{"f2-rt": false, "f2-at": false, "x-at": false})
}

func testRevokeGrant(t *testing.T, newStore NewStore) {
	for _, tc := range []struct {
		name     string
		clientID string
		want     int
		revoked  []string
	}{
		{"one client", "tributaria", 3, []string{"a1-rt", "a1-at", "a2-at"}},
		{"every client", "", 5, []string{"a1-rt", "a1-at", "a2-at", "s1-rt", "s1-at"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, ctx := newStore(t), t.Context()
			addCitizens(t, s, "ana", "beto")
			addClients(t, s, "tributaria", "salud")
			a1, _ := family(t, s, "a1", "ana", "tributaria")
			a2 := newAccessToken("a2-at", a1) // without refresh token
			a2.RefreshTokenID = ""
			must(t, s.CreateAccessToken(ctx, a2), "CreateAccessToken")
			family(t, s, "s1", "ana", "salud")
			family(t, s, "b1", "beto", "tributaria")
			must(t, s.CreateAccessToken(ctx, issuer.AccessToken{
				ID: "cc-at", ClientID: "tributaria", Subject: "tributaria", Expiration: baseTime().Add(time.Hour),
			}), "CreateAccessToken for client_credentials")

			n, err := s.RevokeGrant(ctx, "ana", tc.clientID)
			if err != nil || n != tc.want {
				t.Errorf("RevokeGrant(ana, %q): got %d, %v, want %d, nil", tc.clientID, n, err, tc.want)
			}
			want := map[string]bool{}
			for _, id := range []string{"a1-rt", "a1-at", "a2-at", "s1-rt", "s1-at", "b1-rt", "b1-at", "cc-at"} {
				want[id] = false
			}
			for _, id := range tc.revoked {
				want[id] = true
			}
			checkRevoked(t, s, fmt.Sprintf("after RevokeGrant(ana, %q)", tc.clientID), want)
		})
	}
}

func testGrantClients(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	addCitizens(t, s, "ana", "beto", "carla")
	addClients(t, s, "zeta", "alfa", "mu", "beta", "gamma", "delta", "omega", "sigma")
	now := baseTime()
	// tokens stores, for citizenID and clientID, a refresh token expiring at rtExp
	// (none when zero) and an access token expiring at atExp.
	tokens := func(citizenID, clientID string, rtExp, atExp time.Time) {
		rt := newRefreshToken(clientID+"-rt", clientID, citizenID, clientID, now.Add(-time.Hour))
		rt.Expiration = rtExp
		at := newAccessToken(clientID+"-at", rt)
		at.Expiration = atExp
		if rtExp.IsZero() {
			at.RefreshTokenID = ""
			must(t, s.CreateAccessToken(ctx, at), "CreateAccessToken")
			return
		}
		must(t, s.CreateRefreshToken(ctx, rt, at), "CreateRefreshToken")
	}
	hour, month := now.Add(time.Hour), now.Add(30*24*time.Hour)
	tokens("ana", "zeta", month, hour)                                // both valid
	tokens("ana", "alfa", time.Time{}, hour)                          // an access token alone
	tokens("ana", "gamma", month, now.Add(-time.Minute))              // the refresh token valid
	tokens("ana", "delta", month, hour)                               // the refresh token valid
	tokens("ana", "beta", now.Add(-time.Minute), now.Add(-time.Hour)) // expired
	tokens("ana", "mu", month, hour)                                  // revoked below
	tokens("beto", "omega", month, hour)                              // another citizen's
	must(t, s.CreateAccessToken(ctx, issuer.AccessToken{
		ID: "cc-at", ClientID: "sigma", Subject: "sigma", Expiration: hour,
	}), "CreateAccessToken for client_credentials")
	must(t, s.RevokeFamily(ctx, "mu"), "RevokeFamily")
	must(t, s.RevokeAccessToken(ctx, "delta-at"), "RevokeAccessToken")

	for _, tc := range []struct {
		name    string
		citizen string
		at      time.Time
		want    []string
	}{
		{"now", "ana", now, []string{"alfa", "delta", "gamma", "zeta"}},
		{"after the access tokens expired", "ana", now.Add(2 * time.Hour), []string{"delta", "gamma", "zeta"}},
		{"after every token expired", "ana", now.Add(60 * 24 * time.Hour), nil},
		{"a citizen without tokens", "carla", now, nil},
	} {
		got, err := s.GrantClients(ctx, tc.citizen, tc.at)
		if err != nil || !slices.Equal(got, tc.want) && len(got)+len(tc.want) > 0 {
			t.Errorf("GrantClients(%s) %s: got %q, %v, want %q, nil", tc.citizen, tc.name, got, err, tc.want)
		}
	}
}

func testDeleteTokensBefore(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	addCitizens(t, s, "ana")
	addClients(t, s, "tributaria")
	cut := baseTime().Truncate(time.Microsecond)
	created := cut.Add(-3 * time.Hour)
	// tokens stores a family whose refresh token and access token expire
	// at the given times; a zero refresh expiry stores the access token alone.
	tokens := func(name string, rtExp, atExp time.Time) {
		rt := newRefreshToken(name+"-rt", name, "ana", "tributaria", created)
		rt.Expiration = rtExp
		at := newAccessToken(name+"-at", rt)
		at.Expiration = atExp
		if rtExp.IsZero() {
			at.RefreshTokenID = ""
			must(t, s.CreateAccessToken(ctx, at), "CreateAccessToken")
			return
		}
		must(t, s.CreateRefreshToken(ctx, rt, at), "CreateRefreshToken")
	}
	tokens("f1", cut.Add(-time.Hour), cut.Add(-2*time.Hour))        // both expired
	tokens("f2", cut.Add(24*time.Hour), cut.Add(-time.Microsecond)) // access token expired
	tokens("f3", cut, cut.Add(time.Hour))                           // refresh token expires at the cut
	tokens("x1", time.Time{}, cut.Add(-30*time.Minute))             // expired
	tokens("x2", time.Time{}, cut)                                  // expires at the cut

	n, err := s.DeleteTokensBefore(ctx, cut)
	if err != nil || n != 4 {
		t.Errorf("DeleteTokensBefore: got %d, %v, want 4, nil", n, err)
	}
	for id, gone := range map[string]bool{
		"f1-rt": true, "f1-at": true, "f2-rt": false, "f2-at": true,
		"f3-rt": false, "f3-at": false, "x1-at": true, "x2-at": false,
	} {
		_, err := tokenState(t, s, id)
		if gone {
			wantErr(t, "token "+id+" after DeleteTokensBefore", err, issuer.ErrNotFound)
		} else if err != nil {
			t.Errorf("token %s after DeleteTokensBefore: got error %v, want nil", id, err)
		}
	}
}
