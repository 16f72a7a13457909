package issuertest

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/cedula/cedula/issuer"
)

// withScopes returns c with scopes instead of its own.
func withScopes(c issuer.Client, scopes ...string) issuer.Client {
	c.Scopes = scopes
	return c
}

// testGrantRevokePrivilege: a grant adds the scope and keeps the others, a
// removal takes it alone away; repeating either changes nothing; an
// unknown client or a scope that is not privileged is refused.
func testGrantRevokePrivilege(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	c := newClient("tributaria", baseTime())
	must(t, s.PutClient(ctx, c), "PutClient")
	scopes := func() []string {
		t.Helper()
		got, err := s.Client(ctx, c.ID)
		must(t, err, "Client")
		return got.Scopes
	}
	for _, step := range []struct {
		name    string
		grant   bool
		scope   string
		changed bool
		want    []string
	}{
		{"grant dpo", true, issuer.ScopeDPO, true, append(slices.Clone(c.Scopes), issuer.ScopeDPO)},
		{"grant dpo again", true, issuer.ScopeDPO, false, append(slices.Clone(c.Scopes), issuer.ScopeDPO)},
		{"grant admin", true, issuer.ScopeAdmin, true, append(slices.Clone(c.Scopes), issuer.ScopeDPO, issuer.ScopeAdmin)},
		{"revoke dpo", false, issuer.ScopeDPO, true, append(slices.Clone(c.Scopes), issuer.ScopeAdmin)},
		{"revoke dpo again", false, issuer.ScopeDPO, false, append(slices.Clone(c.Scopes), issuer.ScopeAdmin)},
		{"revoke admin", false, issuer.ScopeAdmin, true, c.Scopes},
	} {
		change := s.RevokePrivilege
		if step.grant {
			change = s.GrantPrivilege
		}
		changed, err := change(ctx, c.ID, step.scope)
		must(t, err, step.name)
		if changed != step.changed {
			t.Errorf("%s: got changed %v, want %v", step.name, changed, step.changed)
		}
		if got := scopes(); !slices.Equal(got, step.want) {
			t.Errorf("%s: got scopes %q, want %q", step.name, got, step.want)
		}
	}
	_, err := s.GrantPrivilege(ctx, "nobody", issuer.ScopeAdmin)
	wantErr(t, "GrantPrivilege to an unknown client", err, issuer.ErrNotFound)
	_, err = s.RevokePrivilege(ctx, "nobody", issuer.ScopeAdmin)
	wantErr(t, "RevokePrivilege from an unknown client", err, issuer.ErrNotFound)
	for _, scope := range []string{"profile", "cedula:audit", "", "cedula:admin "} {
		_, err = s.GrantPrivilege(ctx, c.ID, scope)
		wantErr(t, "GrantPrivilege of "+scope, err, issuer.ErrNotPrivileged)
		_, err = s.RevokePrivilege(ctx, c.ID, scope)
		wantErr(t, "RevokePrivilege of "+scope, err, issuer.ErrNotPrivileged)
	}
	if got := scopes(); !slices.Equal(got, c.Scopes) {
		t.Errorf("after refused changes: got scopes %q, want %q", got, c.Scopes)
	}
}

// testPutClientKeepPrivileges: delegated administration registers and
// replaces clients as long as their privileged scopes stay as stored; a
// registration that would add one, or a replacement that would add or drop
// one, is refused and stores nothing.
func testPutClientKeepPrivileges(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	base := newClient("tributaria", baseTime())
	stored := func(want issuer.Client) {
		t.Helper()
		got, err := s.Client(ctx, want.ID)
		must(t, err, "Client")
		checkEqual(t, "stored client", got, want)
	}

	err := s.PutClientKeepPrivileges(ctx, withScopes(base, "profile", issuer.ScopeDPO))
	wantErr(t, "a new client with a privileged scope", err, issuer.ErrPrivileged)
	_, err = s.Client(ctx, base.ID)
	wantErr(t, "Client after the refused registration", err, issuer.ErrNotFound)

	must(t, s.PutClientKeepPrivileges(ctx, base), "a new client without privileged scopes")
	stored(base)
	_, err = s.GrantPrivilege(ctx, base.ID, issuer.ScopeDPO)
	must(t, err, "GrantPrivilege")
	held := withScopes(base, append(slices.Clone(base.Scopes), issuer.ScopeDPO)...)
	stored(held)

	for _, tc := range []struct {
		name   string
		scopes []string
	}{
		{"dropping the privileged scope", base.Scopes},
		{"adding another", append(slices.Clone(held.Scopes), issuer.ScopeAdmin)},
		{"swapping it for another", append(slices.Clone(base.Scopes), issuer.ScopeAdmin)},
		{"dropping every scope", nil},
	} {
		err := s.PutClientKeepPrivileges(ctx, withScopes(held, tc.scopes...))
		wantErr(t, "a replacement "+tc.name, err, issuer.ErrPrivileged)
		stored(held)
	}

	next := held
	next.Name = "Agencia tributaria (renombrada)"
	next.Scopes = []string{issuer.ScopeDPO, "email"} // the same privilege, in another order
	must(t, s.PutClientKeepPrivileges(ctx, next), "a replacement keeping the privileged scope")
	stored(next)
}

// testPrivilegeConcurrent: a grant racing a replacement through delegated
// administration is never lost. Either the replacement comes first and
// the grant adds the scope to it, or the grant comes first and the
// replacement, which would drop it, is refused.
func testPrivilegeConcurrent(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	for round := range 20 {
		c := newClient(fmt.Sprintf("agencia-%02d", round), baseTime())
		must(t, s.PutClient(ctx, c), "PutClient")
		renamed := c
		renamed.Name = "Agencia renombrada"
		var granted bool
		errs := together(2, func(i int) error {
			if i == 0 {
				var err error
				granted, err = s.GrantPrivilege(ctx, c.ID, issuer.ScopeAdmin)
				return err
			}
			if err := s.PutClientKeepPrivileges(ctx, renamed); !errors.Is(err, issuer.ErrPrivileged) {
				return err
			}
			return nil
		})
		for _, err := range errs {
			must(t, err, "round "+c.ID)
		}
		got, err := s.Client(ctx, c.ID)
		must(t, err, "Client")
		if !granted || !slices.Contains(got.Scopes, issuer.ScopeAdmin) {
			t.Fatalf("round %d: granted %v, stored scopes %q: the grant was lost", round, granted, got.Scopes)
		}
	}
}
