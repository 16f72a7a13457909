package issuer_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/cedula/cedula/internal/db/dbtest"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/sqlstore"
)

func newRegistrar(t *testing.T) (*issuer.Registrar, *sqlstore.Store, *[]string) {
	t.Helper()
	st := sqlstore.New(dbtest.SQLite(t, sqlstore.Migrations))
	t.Cleanup(st.Close)
	var forgotten []string
	return &issuer.Registrar{Store: st, Forget: func(id string) { forgotten = append(forgotten, id) }}, st, &forgotten
}

// TestRegisterClient: the one set of rules every way in shares — defaults,
// a secret minted only when asked and returned once (its digest stored),
// the checks reported together as public problems, privileged scopes for
// the operator only, and the cached copy forgotten after a change.
func TestRegisterClient(t *testing.T) {
	ctx := context.Background()
	r, st, forgotten := newRegistrar(t)

	secret, err := r.RegisterClient(ctx, issuer.Client{ID: "tax", Name: "Tax agency", AuthMethod: issuer.AuthClientSecretBasic,
		GrantTypes: []string{issuer.GrantClientCredentials}}, issuer.Registration{By: issuer.Delegate, MintSecret: true})
	if err != nil || len(secret) < 43 {
		t.Fatalf("register with a minted secret: %q, %v", secret, err)
	}
	c, err := st.Client(ctx, "tax")
	if err != nil {
		t.Fatal(err)
	}
	if !issuer.SecretMatches(c.SecretHash, secret) || c.SubjectType != issuer.SubjectPairwise || c.Created.IsZero() {
		t.Errorf("stored %+v: want the secret's digest, pairwise subjects and a creation time", c)
	}
	if !slices.Equal(*forgotten, []string{"tax"}) {
		t.Errorf("forgotten %v, want [tax]", *forgotten)
	}

	// Without MintSecret a secret client needs its digest: refused, with
	// every problem at once, in words for the sender.
	_, err = r.RegisterClient(ctx, issuer.Client{ID: "x", AuthMethod: issuer.AuthClientSecretBasic, RedirectURIs: []string{"http://evil.example/cb"}},
		issuer.Registration{By: issuer.Operator})
	var ie *issuer.InvalidError
	if !errors.As(err, &ie) || !errors.Is(err, issuer.ErrInvalidClient) {
		t.Fatalf("invalid client: got %v, want an *issuer.InvalidError of ErrInvalidClient", err)
	}
	for _, want := range []string{"name is required", "needs a secret", "must use https"} {
		if !strings.Contains(ie.Public(), want) {
			t.Errorf("public problems %q: want %q among them", ie.Public(), want)
		}
	}
	if _, err := st.Client(ctx, "x"); !errors.Is(err, issuer.ErrNotFound) {
		t.Errorf("a refused client was stored: %v", err)
	}

	// Defaults for a browser client: the code and refresh grants.
	if _, err := r.RegisterClient(ctx, issuer.Client{ID: "portal", Name: "Portal", AuthMethod: issuer.AuthNone,
		RedirectURIs: []string{"https://portal.example/cb"}}, issuer.Registration{By: issuer.Delegate}); err != nil {
		t.Fatal(err)
	}
	if p, _ := st.Client(ctx, "portal"); !slices.Equal(p.GrantTypes, []string{issuer.GrantAuthorizationCode, issuer.GrantRefreshToken}) {
		t.Errorf("portal grants %v, want authorization_code and refresh_token", p.GrantTypes)
	}

	// A JWKS that is not a set of public keys is one more problem.
	_, err = r.RegisterClient(ctx, issuer.Client{ID: "jwt", Name: "JWT", AuthMethod: issuer.AuthPrivateKeyJWT, JWKS: []byte(`{"keys":[{"kty":"oct","k":"AAAA"}]}`),
		GrantTypes: []string{issuer.GrantClientCredentials}}, issuer.Registration{By: issuer.Delegate})
	if !errors.As(err, &ie) || !strings.Contains(ie.Public(), "jwks") {
		t.Errorf("a secret key as JWKS: got %v, want a public problem naming jwks", err)
	}

	// Privileged scopes: a delegate may neither grant nor keep changing
	// them; the operator may.
	admin := issuer.Client{ID: "registrar", Name: "Registrar", AuthMethod: issuer.AuthNone, RedirectURIs: []string{"https://r.example/cb"},
		Scopes: []string{issuer.ScopeDPO}}
	if _, err := r.RegisterClient(ctx, admin, issuer.Registration{By: issuer.Delegate}); !errors.Is(err, issuer.ErrPrivileged) {
		t.Errorf("a delegate granting %s: got %v, want ErrPrivileged", issuer.ScopeDPO, err)
	}
	if _, err := r.RegisterClient(ctx, admin, issuer.Registration{By: issuer.Operator}); err != nil {
		t.Errorf("the operator granting %s: %v", issuer.ScopeDPO, err)
	}
	if c, _ := st.Client(ctx, "registrar"); !slices.Contains(c.Scopes, issuer.ScopeDPO) {
		t.Errorf("registrar scopes %v, want %s", c.Scopes, issuer.ScopeDPO)
	}
}

// TestCreateCitizen: an ID and a creation time are given, the data is
// checked first (nothing stored when it breaks a rule), and a taken ID is
// ErrExists.
func TestCreateCitizen(t *testing.T) {
	ctx := context.Background()
	r, st, _ := newRegistrar(t)
	c, err := r.CreateCitizen(ctx, issuer.Citizen{GivenName: "Ana", Birthdate: "1990-04-12", Locale: "es"})
	if err != nil || c.ID == "" || c.Created.IsZero() {
		t.Fatalf("create: %+v, %v", c, err)
	}
	if got, err := st.Citizen(ctx, c.ID); err != nil || got.GivenName != "Ana" {
		t.Errorf("stored %+v, %v", got, err)
	}
	_, err = r.CreateCitizen(ctx, issuer.Citizen{ID: "bad", Birthdate: "12/04/1990", Locale: "fr"})
	var ie *issuer.InvalidError
	if !errors.As(err, &ie) || !errors.Is(err, issuer.ErrInvalidCitizen) || !strings.Contains(ie.Public(), "birthdate") || !strings.Contains(ie.Public(), "locale") {
		t.Errorf("invalid citizen: got %v, want every problem as an *issuer.InvalidError", err)
	}
	if _, err := st.Citizen(ctx, "bad"); !errors.Is(err, issuer.ErrNotFound) {
		t.Errorf("an invalid citizen was stored: %v", err)
	}
	if _, err := r.CreateCitizen(ctx, issuer.Citizen{ID: c.ID, GivenName: "Other"}); !errors.Is(err, issuer.ErrExists) {
		t.Errorf("a taken ID: got %v, want ErrExists", err)
	}
}
