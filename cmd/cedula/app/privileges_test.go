package app_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/cmd/cedula/app"
	"github.com/cedula/cedula/internal/config"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/adminapi"
)

// operator is the context of a change made on the command line.
func operator() context.Context {
	return audit.WithActor(context.Background(), audit.Actor{Kind: audit.ActorSystem, ID: "admin-cli"})
}

// logSize flushes the log and returns its size.
func (e *env) logSize() int64 {
	e.t.Helper()
	ctx := context.Background()
	if err := e.s.Audit.Flush(ctx); err != nil {
		e.t.Fatal(err)
	}
	n, err := e.s.Audit.Size(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// TestAdminAPICannotChangePrivileges: an admin client cannot give any
// client — itself included — a privileged scope, nor take one away, nor
// drop one by omission in a replacement: each is a 403 problem, stores
// nothing and appends nothing to the log. A replacement that keeps them
// goes through.
func TestAdminAPICannotChangePrivileges(t *testing.T) {
	e := newEnv(t)
	admin := e.token("registrar", app.AdminScope)
	jwks, _ := json.Marshal(json.RawMessage(mustJWKS(t, e)))
	if _, err := e.s.Store.GrantPrivilege(operator(), "plain", issuer.ScopeDPO); err != nil {
		t.Fatal(err)
	}
	body := func(id string, scopes ...string) string {
		sc, _ := json.Marshal(scopes)
		return fmt.Sprintf(`{"client_id":%q,"client_name":%q,"grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt","jwks":%s,"scopes":%s}`,
			id, id, jwks, sc)
	}
	stored := func() map[string][]string {
		cs, err := e.s.Store.ListClients(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][]string{}
		for _, c := range cs {
			out[c.ID] = c.Scopes
		}
		return out
	}
	before, size := stored(), e.logSize()
	for _, tc := range []struct{ name, body string }{
		{"a new client with cedula:dpo", body("auditor", issuer.ScopeDPO)},
		{"a new client with cedula:admin", body("helper", "profile", issuer.ScopeAdmin)},
		{"itself given cedula:dpo", body("registrar", issuer.ScopeAdmin, issuer.ScopeDPO)},
		{"itself without cedula:admin", body("registrar", "profile")},
		{"itself with its scopes omitted", body("registrar")},
		{"another client without its cedula:dpo", body("plain")},
		{"another client given cedula:admin too", body("plain", issuer.ScopeDPO, issuer.ScopeAdmin)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, out := e.do("POST", "/admin/clients", admin, tc.body)
			if res.StatusCode != 403 || res.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("got %d %s %v, want a 403 problem", res.StatusCode, res.Header.Get("Content-Type"), out)
			}
			if detail, _ := out["detail"].(string); !strings.Contains(detail, "operator") || !strings.Contains(detail, "cedula admin client grant") {
				t.Errorf("detail %q: want it to say the operator grants privileged scopes, and how", detail)
			}
			if after := stored(); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("clients: got %v, want %v unchanged", after, before)
			}
			if n := e.logSize(); n != size {
				t.Errorf("log: got %d entries, want %d: a refused change appends nothing", n, size)
			}
		})
	}
	res, out := e.do("POST", "/admin/clients", admin, body("registrar", "profile", issuer.ScopeAdmin))
	if res.StatusCode != 201 {
		t.Fatalf("a replacement keeping cedula:admin: got %d %v, want 201", res.StatusCode, out)
	}
	if got := stored()["registrar"]; !slices.Equal(got, []string{"profile", issuer.ScopeAdmin}) {
		t.Errorf("registrar's scopes: got %q", got)
	}
}

// TestPrivilegeRemovalEndsTokens: once the operator removes a privileged
// scope, the tokens issued with it before no longer admit the client.
func TestPrivilegeRemovalEndsTokens(t *testing.T) {
	e := newEnv(t)
	admin := e.token("registrar", app.AdminScope)
	if res, out := e.do("GET", "/admin/clients", admin, ""); res.StatusCode != 200 {
		t.Fatalf("before the removal: %d %v", res.StatusCode, out)
	}
	if _, err := e.s.Store.RevokePrivilege(operator(), "registrar", issuer.ScopeAdmin); err != nil {
		t.Fatal(err)
	}
	if res, out := e.do("GET", "/admin/clients", admin, ""); res.StatusCode != 403 {
		t.Errorf("after the removal: got %d %v, want 403", res.StatusCode, out)
	}
}

// TestDPOPrivileges: a DPO lists who holds which privileged scope and every
// grant and removal — when, which client, which scope, by which actor —
// in JSON and CSV; other clients get 403.
func TestDPOPrivileges(t *testing.T) {
	e := newEnv(t)
	dpo := e.dpo("oficial") // registered holding cedula:dpo (actor: the provider)
	steps := []struct {
		grant         bool
		client, scope string
	}{
		{true, "plain", issuer.ScopeDPO},
		{true, "plain", issuer.ScopeAdmin},
		{false, "plain", issuer.ScopeDPO},
		{false, "registrar", issuer.ScopeAdmin},
		{true, "registrar", issuer.ScopeAdmin},
	}
	for _, st := range steps {
		change := e.s.Store.RevokePrivilege
		if st.grant {
			change = e.s.Store.GrantPrivilege
		}
		if _, err := change(operator(), st.client, st.scope); err != nil {
			t.Fatal(err)
		}
	}

	status, b, _ := e.get("/dpo/privileges", dpo)
	var holders struct {
		Scopes  []string                   `json:"privileged_scopes"`
		Holders []adminapi.PrivilegeHolder `json:"holders"`
	}
	if err := json.Unmarshal(b, &holders); status != 200 || err != nil {
		t.Fatalf("GET /dpo/privileges: %d %s", status, b)
	}
	var got []string
	for _, h := range holders.Holders {
		got = append(got, fmt.Sprintf("%s %s %v", h.Scope, h.ClientID, h.Since != nil))
	}
	want := []string{"cedula:admin plain true", "cedula:admin registrar true", "cedula:dpo oficial true"}
	if !slices.Equal(got, want) || !slices.Equal(holders.Scopes, issuer.PrivilegedScopes()) {
		t.Errorf("holders: got %q, scopes %q; want %q", got, holders.Scopes, want)
	}

	status, b, _ = e.get("/dpo/privileges/history", dpo)
	var history struct {
		Changes []adminapi.PrivilegeChange `json:"changes"`
	}
	if err := json.Unmarshal(b, &history); status != 200 || err != nil {
		t.Fatalf("GET /dpo/privileges/history: %d %s", status, b)
	}
	got = nil
	for i, c := range history.Changes {
		got = append(got, fmt.Sprintf("%s %s %s by %s:%s", c.Change, c.Scope, c.ClientID, c.Actor.Kind, c.Actor.ID))
		if c.Time.IsZero() || (i > 0 && c.Index >= history.Changes[i-1].Index) {
			t.Errorf("change %d: time %v, index %d: want a time, newest first", i, c.Time, c.Index)
		}
	}
	want = nil
	for i := len(steps) - 1; i >= 0; i-- {
		change := map[bool]string{true: "grant", false: "revoke"}[steps[i].grant]
		want = append(want, fmt.Sprintf("%s %s %s by system:admin-cli", change, steps[i].scope, steps[i].client))
	}
	// Before them: the registrations of newEnv and of the DPO, by the provider itself.
	want = append(want, "grant cedula:dpo oficial by system:oidc-provider", "grant cedula:admin registrar by system:oidc-provider")
	if !slices.Equal(got, want) {
		t.Errorf("history:\ngot  %q\nwant %q", got, want)
	}

	status, b, h := e.get("/dpo/privileges/history?format=csv", dpo)
	rows, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
	if status != 200 || err != nil || h.Get("Content-Type") != "text/csv; charset=utf-8" || len(rows) != len(want)+1 ||
		!slices.Equal(rows[0], []string{"index", "time", "change", "scope", "client_id", "actor_kind", "actor_id", "request_id"}) {
		t.Errorf("history as CSV: %d %q, %v", status, b, err)
	}
	status, b, _ = e.get("/dpo/privileges?format=csv", dpo)
	if rows, err := csv.NewReader(strings.NewReader(string(b))).ReadAll(); status != 200 || err != nil || len(rows) != 4 || rows[1][0] != issuer.ScopeAdmin {
		t.Errorf("holders as CSV: %d %q, %v", status, b, err)
	}

	admin := e.token("registrar", app.AdminScope)
	for _, p := range []string{"/dpo/privileges", "/dpo/privileges/history"} {
		if status, b, _ := e.get(p, admin); status != 403 {
			t.Errorf("GET %s with an admin token: %d %s, want 403", p, status, b)
		}
	}
	if status, _, _ := e.get("/dpo/privileges?format=xml", dpo); status != 400 {
		t.Errorf("format=xml: %d, want 400", status)
	}
}

// TestConfiguredPrivileges: the clients of the configuration, synced at
// every start, grant and remove privileged scopes too, each change an
// entry with actor config; a start that changes nothing records nothing.
func TestConfiguredPrivileges(t *testing.T) {
	dir := t.TempDir()
	jwksFile := filepath.Join(dir, "auditor.jwks.json")
	key, _ := jose.NewClientKey(keys.ES256)
	jwks, _ := key.PublicJWKS()
	if err := os.WriteFile(jwksFile, jwks, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CEDULA_KEK", strings.Repeat("cd", 32))
	start := func(scopes ...string) []adminapi.PrivilegeChange {
		t.Helper()
		cfg := config.Default()
		cfg.DataDir = dir
		cfg.Clients = []config.Client{{ID: "auditor", Name: "Auditoría", GrantTypes: []string{issuer.GrantClientCredentials},
			AuthMethod: issuer.AuthPrivateKeyJWT, JWKSFile: jwksFile, Scopes: scopes}}
		s, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		changes, err := s.AdminAPI.PrivilegeHistory(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return changes
	}
	describe := func(cs []adminapi.PrivilegeChange) []string {
		var out []string
		for _, c := range cs {
			out = append(out, fmt.Sprintf("%s %s %s by %s:%s", c.Change, c.Scope, c.ClientID, c.Actor.Kind, c.Actor.ID))
		}
		return out
	}
	for _, step := range []struct {
		scopes []string
		want   []string // newest first
	}{
		{[]string{issuer.ScopeDPO}, []string{"grant cedula:dpo auditor by system:config"}},
		{[]string{issuer.ScopeDPO}, []string{"grant cedula:dpo auditor by system:config"}},
		{[]string{issuer.ScopeAdmin}, []string{"revoke cedula:dpo auditor by system:config", "grant cedula:admin auditor by system:config",
			"grant cedula:dpo auditor by system:config"}},
	} {
		if got := describe(start(step.scopes...)); !slices.Equal(got, step.want) {
			t.Errorf("start with scopes %q: history\ngot  %q\nwant %q", step.scopes, got, step.want)
		}
	}
}
