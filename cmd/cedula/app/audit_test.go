package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/audit/auditapi/auditapitest"
	"github.com/cedula/cedula/cmd/cedula/app"
	"github.com/cedula/cedula/issuer"
)

// TestAuditLogServed: entries appended on the server's own database are
// signed into a checkpoint that /audit/checkpoint serves, and an inclusion
// proof for one of them comes back; bad proof requests are 400 problems.
func TestAuditLogServed(t *testing.T) {
	s, url := startServer(t, nil)
	ctx := context.Background()
	// The server's start appends entries of its own (the wallet app's
	// registration); the test's three come after them.
	cp0, err := s.Checkpointer.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"oidc.login", "oidc.token", "oidc.revoke"} {
		if _, err := s.Audit.Append(ctx, audit.Entry{Actor: audit.Actor{Kind: audit.ActorSystem, ID: "test"}, Action: a, Outcome: audit.Allowed}); err != nil {
			t.Fatal(err)
		}
	}
	n := cp0.Size + 3
	cp, err := s.Checkpointer.Checkpoint(ctx)
	if err != nil || cp.Size != n {
		t.Fatalf("checkpoint: %+v, %v; want size %d", cp, err, n)
	}
	get := func(path string) (int, string) {
		res, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	status, body := get("/audit/checkpoint")
	if status != 200 || !strings.HasPrefix(body, fmt.Sprintf("%s\n%d\n", app.AuditOrigin(url), n)) {
		t.Errorf("GET /audit/checkpoint: %d %q, want the signed checkpoint of size %d", status, body, n)
	}
	status, body = get(fmt.Sprintf("/audit/proof/inclusion?index=%d&size=%d", n-2, n))
	var proof map[string]any
	json.Unmarshal([]byte(body), &proof)
	if status != 200 || proof["proof"] == nil {
		t.Errorf("inclusion proof: %d %s", status, body)
	}
	for _, bad := range []string{fmt.Sprintf("/audit/proof/inclusion?index=%d&size=%d", n, n), "/audit/proof/consistency?old=3&new=2", "/audit/entries?start=2&end=1"} {
		if status, body := get(bad); status != 400 {
			t.Errorf("GET %s: %d %s, want 400", bad, status, body)
		}
	}
}

// TestAuditPathsAreData: the whole server hands every path below /audit/
// to the log as it came — no redirect to a cleaned path, which could reach
// another route — and the log answers each hostile one with a problem.
func TestAuditPathsAreData(t *testing.T) {
	s, url := startServer(t, nil)
	if _, err := s.Audit.Append(context.Background(), audit.Entry{Actor: audit.Actor{Kind: audit.ActorSystem, ID: "test"}, Action: "oidc.login", Outcome: audit.Allowed}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Checkpointer.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	auditapitest.CheckHostilePaths(t, strings.TrimSuffix(url, "/"), http.DefaultTransport)
}

func TestAppendAuditAPI(t *testing.T) {
	e := newEnv(t)
	if err := e.s.Store.PutClient(context.Background(), issuer.Client{ID: "recorder", Name: "recorder", GrantTypes: []string{issuer.GrantClientCredentials},
		AuthMethod: issuer.AuthPrivateKeyJWT, JWKS: mustJWKS(t, e), SubjectType: issuer.SubjectPairwise, Scopes: []string{app.AuditWriteScope}}); err != nil {
		t.Fatal(err)
	}
	writer := e.token("recorder", app.AuditWriteScope)
	admin := e.token("registrar", app.AdminScope)
	ana := e.citizen("Ana")
	sub := e.loggedInAt("recorder", ana)
	otherSub := e.loggedInAt("registrar", ana) // another client's sub for her
	good := `{"action":"tax.read","sub":"` + sub + `","purpose":"dpv:ServiceProvision","legal_basis":"public-task","categories":["income"],"outcome":"allowed"}`
	for _, tc := range []struct {
		name, token, body string
		status            int
	}{
		{"admin scope is not enough", admin, good, 403},
		{"no token", "", good, 401},
		{"malformed", writer, `{"action":`, 400},
		{"actor cannot be chosen", writer, `{"actor":"dpo","action":"x","outcome":"allowed"}`, 400},
		{"bad outcome", writer, `{"action":"x","outcome":"maybe"}`, 400},
		{"a pseudonym cannot be chosen", writer, `{"action":"x","subject":"p-123","outcome":"allowed"}`, 400},
		{"unknown sub", writer, `{"action":"x","sub":"nobody","outcome":"allowed"}`, 400},
		{"another client's sub", writer, `{"action":"x","sub":"` + otherSub + `","outcome":"allowed"}`, 400},
		{"the citizen's ID is no sub", writer, `{"action":"x","sub":"` + ana + `","outcome":"allowed"}`, 400},
		{"details without sub", writer, `{"action":"x","outcome":"allowed","details":{"a":1}}`, 400},
		{"good", writer, good, 201},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, out := e.do("POST", "/admin/audit", tc.token, tc.body)
			if res.StatusCode != tc.status {
				t.Errorf("status %d %v, want %d", res.StatusCode, out, tc.status)
			}
		})
	}
	// Of the agency's requests only the good one is in the log (beside the
	// provider's own entries: clients, tokens).
	if err := e.s.Audit.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	size, _ := e.s.Audit.Size(context.Background())
	all, err := e.s.Audit.Entries(context.Background(), 0, size)
	if err != nil {
		t.Fatal(err)
	}
	var recs []audit.Record
	for _, r := range all {
		if e, _ := r.Entry(); e.Actor.ID == "recorder" && e.Action != issuer.ActionToken {
			recs = append(recs, r)
		}
	}
	if len(recs) != 1 {
		t.Fatalf("entries: %v; want the one good entry", recs)
	}
	got, _ := recs[0].Entry()
	if got.Actor.ID != "recorder" || got.Actor.Kind != audit.ActorClient || got.Action != "tax.read" || got.RequestID == "" {
		t.Errorf("stored entry %+v, want actor client recorder, action tax.read and a request ID", got)
	}
	if want := e.s.AuditSubject(ana); got.Subject != want || got.Subject == ana || got.Subject == sub {
		t.Errorf("stored subject %q, want the citizen's audit pseudonym %q (neither her ID nor the agency's sub)", got.Subject, want)
	}
}

func mustJWKS(t *testing.T, e *env) []byte {
	t.Helper()
	b, err := e.key.PublicJWKS()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
