package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/audit/auditclient"
	"github.com/cedula/cedula/cmd/cedula/app"
	"github.com/cedula/cedula/internal/config"
)

// keysRun runs `cedula keys args…` with cfg and returns its output.
func keysRun(t *testing.T, cfg config.Config, args ...string) (string, error) {
	t.Helper()
	var out, errs bytes.Buffer
	err := keysCommand(t.Context(), &cfg, args, &out, &errs)
	return out.String() + errs.String(), err
}

// pinnedKeyFile writes what `cedula keys list --verifier-keys` prints for
// the server of cfg — what its operator publishes — to a file for
// `cedula audit verify --key-file`. kek is the keystore's CEDULA_KEK.
func pinnedKeyFile(t *testing.T, cfg config.Config, kek string) string {
	t.Helper()
	if kek != "" {
		t.Setenv("CEDULA_KEK", kek)
	}
	out, err := keysRun(t, cfg, "list", "--verifier-keys")
	if err != nil {
		t.Fatalf("cedula keys list --verifier-keys: %v\n%s", err, out)
	}
	return writeFile(t, "audit-keys.txt", []byte(out))
}

// TestKeysListVerifierKeys: `cedula keys list` prints the audit log's
// verifier keys in the signed-note form verifiers pin, labelled, the
// retired ones too for as long as the checkpoint ring publishes them (a
// century, not key_retention); the checkpoint ring is Ed25519 from its
// first rotation.
func TestKeysListVerifierKeys(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.PublicURL = "https://id.example.gob"
	cfg.KeyRetention = config.Duration(time.Nanosecond) // retired keys of other rings vanish at once
	t.Setenv("CEDULA_KEK", strings.Repeat("7c", 32))
	origin := app.AuditOrigin(cfg.PublicURL)

	if out, err := keysRun(t, cfg, "list"); err != nil || !strings.Contains(out, "no checkpoint key yet") {
		t.Errorf("list before any key: got %q, %v; want a line saying there is no checkpoint key yet", out, err)
	}
	if _, err := keysRun(t, cfg, "list", "--verifier-keys"); err == nil {
		t.Errorf("list --verifier-keys before any key: got no error")
	}
	if out, err := keysRun(t, cfg, "rotate", "--ring", audit.CheckpointRing, "--alg", "ES256"); err == nil {
		t.Errorf("rotate the checkpoint ring to ES256: got %q, want an error", out)
	}
	out, err := keysRun(t, cfg, "rotate", "--ring", audit.CheckpointRing)
	if err != nil || !strings.Contains(out, "(EdDSA)") || !strings.Contains(out, origin+"+") {
		t.Fatalf("rotate a new checkpoint ring: got %q, %v; want an EdDSA key and its verifier key", out, err)
	}
	// A checkpoint signed by the first key …
	m, err := openKeyManager(t.Context(), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	first, err := m.Active(t.Context(), audit.CheckpointRing, "EdDSA")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := audit.NoteSigner(t.Context(), origin, first)
	if err != nil {
		t.Fatal(err)
	}
	note, err := audit.SignCheckpoint(origin, 7, audit.EmptyRoot, signer)
	if err != nil {
		t.Fatal(err)
	}
	out, err = keysRun(t, cfg, "rotate", "--ring", audit.CheckpointRing)
	if err != nil || !strings.Contains(out, "stays published for 100 years") {
		t.Fatalf("rotate again: got %q, %v; want the old key published for 100 years", out, err)
	}

	out, err = keysRun(t, cfg, "list")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# Verifier keys of the audit log " + origin, "# active since", "# retired", "still verifies the checkpoints it signed"} {
		if !strings.Contains(out, want) {
			t.Errorf("list: got\n%s\nwant it to contain %q", out, want)
		}
	}
	only, err := keysRun(t, cfg, "list", "--verifier-keys")
	if err != nil {
		t.Fatal(err)
	}
	vkeys := auditclient.KeyLines([]byte(only))
	if len(vkeys) != 2 {
		t.Fatalf("list --verifier-keys: got %q, want the active and the retired key", only)
	}
	for _, k := range vkeys {
		if !strings.HasPrefix(k, origin+"+") || !strings.Contains(out, k) {
			t.Errorf("verifier key %q: want it named %s and in the full list too", k, origin)
		}
	}
	// … is still checked by what the list prints after the rotation.
	vs, err := audit.Verifiers(vkeys...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := audit.OpenCheckpoint(note, origin, vs); err != nil {
		t.Errorf("a checkpoint of the retired key, opened with the listed keys: %v", err)
	}
	if out, err := keysRun(t, cfg, "list", "--ring", "oidc"); err != nil || strings.Contains(out, "Verifier keys") {
		t.Errorf("list --ring oidc: got %q, %v; want no audit keys", out, err)
	}
}

// TestCheckpointKeyRotation: the operator rotates the checkpoint ring of a
// running server with `cedula keys rotate`; new checkpoints are signed by
// the new key, and a verifier that pinned both keys checks the log across
// the rotation — consistent with a checkpoint saved under the old key —
// while either key alone fails, which is why verifiers keep both.
func TestCheckpointKeyRotation(t *testing.T) {
	s, base, post := recorderServer(t, app.AuditWriteScope)
	ctx := context.Background()
	appendOne := func(i int) {
		t.Helper()
		if status, b := post("POST", "/admin/audit", fmt.Sprintf(`{"action":"tax.read.%d","outcome":"allowed"}`, i)); status != 201 {
			t.Fatalf("append: %d %s", status, b)
		}
	}
	for i := range 3 {
		appendOne(i)
	}
	if _, err := s.Checkpointer.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	oldFile := pinnedKeyFile(t, s.Config, "")
	saved := filepath.Join(t.TempDir(), "saved.txt")
	mustVerify(t, "verify", "--url", base+"/audit", "--key-file", oldFile, "--save", saved)

	out, err := keysRun(t, s.Config, "rotate", "--ring", audit.CheckpointRing)
	if err != nil {
		t.Fatalf("rotate: %v\n%s", err, out)
	}
	both := pinnedKeyFile(t, s.Config, "")
	oldKey := auditclient.KeyLines(mustRead(t, oldFile))[0]
	newKey := auditclient.KeyLines(mustRead(t, both))[0]
	if oldKey == newKey || len(auditclient.KeyLines(mustRead(t, both))) != 2 {
		t.Fatalf("after rotation: got keys %q, want a new active key and the old one", auditclient.KeyLines(mustRead(t, both)))
	}
	// The running server picks the new key up within about a second.
	newOnly, err := audit.Verifiers(newKey)
	if err != nil {
		t.Fatal(err)
	}
	for i := 3; ; i++ {
		appendOne(i)
		cp, err := s.Checkpointer.Checkpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := audit.OpenCheckpoint(cp.Note, s.Checkpointer.Origin(), newOnly); err == nil {
			break
		}
		if i > 600 {
			t.Fatal("no checkpoint signed by the new key after 600 appends")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if served := fetch(t, base+"/audit/key"); served != newKey+"\n"+oldKey+"\n" {
		t.Errorf("/audit/key: got %q, want the new key then the old one", served)
	}

	out = mustVerify(t, "verify", "--url", base+"/audit", "--key-file", both, "--checkpoint", saved)
	if want := fmt.Sprintf("consistent with the saved checkpoint of %d entries", checkpointSize(string(mustRead(t, saved)))); !strings.Contains(out, want) {
		t.Errorf("verify with both keys: got %q", out)
	}
	for _, tc := range []struct{ name, key, want string }{
		{"the new key alone", newKey, "saved checkpoint is not signed by the key"},
		{"the old key alone", oldKey, "is not signed by the key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := auditRun(t, "verify", "--url", base+"/audit", "--key", tc.key, "--checkpoint", saved)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestServeLogsVerifierKey: `cedula serve` logs the audit log's verifier
// key once at start — the key `cedula keys list` prints — so that the
// operator finds what to publish.
func TestServeLogsVerifierKey(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listen, cfg.AdminListen = "127.0.0.1:0", ""
	t.Setenv("CEDULA_KEK", strings.Repeat("3d", 32))
	logs, err := os.Create(filepath.Join(t.TempDir(), "log.json")) // safe for the server's goroutines
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stdout := writerFunc(func(p []byte) (int, error) {
		if bytes.Contains(p, []byte("Cedula is listening")) {
			cancel()
		}
		return len(p), nil
	})
	if err := serve(ctx, cfg, slog.New(slog.NewJSONHandler(logs, nil)), stdout); err != nil {
		t.Fatal(err)
	}
	logged := string(mustRead(t, logs.Name()))
	var lines []map[string]any
	for _, l := range strings.Split(logged, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(l), &rec) == nil && rec["verifier_key"] != nil {
			lines = append(lines, rec)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("log: got %d lines with verifier_key, want 1:\n%s", len(lines), logged)
	}
	listed := auditclient.KeyLines(mustRead(t, pinnedKeyFile(t, cfg, "")))
	if len(listed) != 1 || lines[0]["verifier_key"] != listed[0] || lines[0]["origin"] != app.AuditOrigin(cfg.PublicURL) {
		t.Errorf("logged %v, want verifier_key %q as cedula keys list prints it", lines[0], listed)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

var _ io.Writer = writerFunc(nil)
