package sqlstore_test

import (
	"testing"
	"time"

	auditstore "github.com/cedula/cedula/audit/sqlstore"
	"github.com/cedula/cedula/internal/db/dbtest"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/sqlstore"
)

// TestTokenAuditInDefaultBuild guards the benchmark-only build: without the
// build tag cedula_noaudit — the build anyone ships — every access token
// is issued with its audit entry. Run with that tag, it fails, as it
// should: that build must not serve.
func TestTokenAuditInDefaultBuild(t *testing.T) {
	if !sqlstore.TokenAudit {
		t.Fatal("TokenAudit is false: this is the benchmark-only build (tag cedula_noaudit), whose tokens are not audited")
	}
	ctx := t.Context()
	env := audited(t, dbtest.SQLite(t, sqlstore.Migrations, auditstore.Migrations))
	before, err := env.Log.Size(ctx)
	if err != nil {
		t.Fatal(err)
	}
	at := issuer.AccessToken{ID: "at-guard", ClientID: "agency", Scopes: []string{"cedula:admin"}, Expiration: time.Now().Add(time.Minute)}
	if err := env.Store.CreateAccessToken(ctx, at); err != nil {
		t.Fatal(err)
	}
	after, err := env.Log.Size(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := env.Log.Entries(ctx, before, after)
	if err != nil || len(recs) != 1 {
		t.Fatalf("entries appended with the token: %d (%v), want 1", len(recs), err)
	}
	if e, err := recs[0].Entry(); err != nil || e.Action != issuer.ActionToken || e.Actor.ID != "agency" {
		t.Errorf("the token's entry: %+v (%v), want oidc.token by the agency", e, err)
	}
}
