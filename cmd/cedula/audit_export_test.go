package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/cedula/cedula/cmd/cedula/app"
)

// TestVerifyExport: a DPO's export verifies offline with the saved export
// keys and the log's pinned key; one changed byte in an entry, another
// log's key, or keys from elsewhere make it fail.
func TestVerifyExport(t *testing.T) {
	s, _, send := recorderServer(t, app.AuditWriteScope, app.DPOScope)
	for i := range 5 {
		if status, b := send("POST", "/admin/audit", fmt.Sprintf(`{"action":"tax.read-%d","outcome":"allowed"}`, i)); status != 201 {
			t.Fatalf("append: %d %s", status, b)
		}
	}
	if _, err := s.Checkpointer.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	status, export := send("GET", "/dpo/audit/export?action=tax.read-3", "")
	if status != 200 {
		t.Fatalf("export: %d %s", status, export)
	}
	status, jwks := send("GET", "/dpo/audit/export-keys", "")
	if status != 200 {
		t.Fatalf("export keys: %d %s", status, jwks)
	}
	status, vkey := send("GET", "/audit/key", "")
	if status != 200 {
		t.Fatalf("log key: %d %s", status, vkey)
	}
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	file, keysFile, keyFile := write("export.jsonl", export), write("keys.json", jwks), write("log.key", vkey)
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := runAudit(context.Background(), append([]string{"verify-export"}, args...), &out)
		return out.String(), err
	}
	if out, err := run("--file", file, "--export-keys", keysFile, "--key-file", keyFile); err != nil || !strings.HasPrefix(out, "ok: 1 entries") {
		t.Fatalf("a good export: %v %q", err, out)
	}

	_, other, _ := note.GenerateKey(rand.Reader, strings.SplitN(strings.TrimSpace(vkey), "+", 2)[0])
	lines := strings.SplitAfter(export, "\n")
	tampered := strings.Join(lines[:1], "") + strings.Replace(lines[1], `"index":`, `"index": `, 1) + strings.Join(lines[2:], "")
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"no pinned key", []string{"--file", file, "--export-keys", keysFile}},
		{"another log's key", []string{"--file", file, "--export-keys", keysFile, "--key", other}},
		{"a changed entry line", []string{"--file", write("tampered.jsonl", tampered), "--export-keys", keysFile, "--key-file", keyFile}},
		{"keys that did not sign it", []string{"--file", file, "--export-keys", write("other.json", `{"keys":[]}`), "--key-file", keyFile}},
		{"no file", []string{"--export-keys", keysFile, "--key-file", keyFile}},
	} {
		if out, err := run(tc.args...); err == nil {
			t.Errorf("%s: verify-export passed (%q), want an error", tc.name, out)
		}
	}
}
