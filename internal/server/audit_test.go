package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/server"
)

// TestAuditLogServed: entries appended on the server's own database are
// signed into a checkpoint that /audit/checkpoint serves, and an inclusion
// proof for one of them comes back; bad proof requests are 400 problems.
func TestAuditLogServed(t *testing.T) {
	s, url := startServer(t, nil)
	ctx := context.Background()
	for _, a := range []string{"oidc.login", "oidc.token", "oidc.revoke"} {
		if _, err := s.Audit.Append(ctx, audit.Entry{Actor: audit.Actor{Kind: audit.ActorSystem, ID: "test"}, Action: a, Outcome: audit.Allowed}); err != nil {
			t.Fatal(err)
		}
	}
	cp, err := s.Checkpointer.Checkpoint(ctx)
	if err != nil || cp.Size != 3 {
		t.Fatalf("checkpoint: %+v, %v; want size 3", cp, err)
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
	if status != 200 || !strings.HasPrefix(body, server.AuditOrigin(url)+"\n3\n") {
		t.Errorf("GET /audit/checkpoint: %d %q, want the signed checkpoint of size 3", status, body)
	}
	status, body = get("/audit/proof/inclusion?index=1&size=3")
	var proof map[string]any
	json.Unmarshal([]byte(body), &proof)
	if status != 200 || proof["proof"] == nil {
		t.Errorf("inclusion proof: %d %s", status, body)
	}
	for _, bad := range []string{"/audit/proof/inclusion?index=3&size=3", "/audit/proof/consistency?old=3&new=2", "/audit/entries?start=2&end=1"} {
		if status, body := get(bad); status != 400 {
			t.Errorf("GET %s: %d %s, want 400", bad, status, body)
		}
	}
}
