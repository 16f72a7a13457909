package main

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/audit/auditapi/auditapitest"
	"github.com/cedula/cedula/audit/auditclient"
)

// auditRun runs `cedula audit args…` and returns its output.
func auditRun(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := runAudit(t.Context(), args, &out)
	return out.String(), err
}

// mustVerify runs args and requires success and one "ok:" line.
func mustVerify(t *testing.T, args ...string) string {
	t.Helper()
	out, err := auditRun(t, args...)
	if err != nil {
		t.Fatalf("cedula audit %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if !strings.HasPrefix(out, "ok: ") || strings.Count(out, "\n") != 1 {
		t.Errorf("cedula audit %s: got %q, want one line starting with ok:", args[0], out)
	}
	return out
}

// servedLog is a log of n entries with a checkpoint of all of them.
func servedLog(t *testing.T, n int, opts ...auditapitest.Option) (*auditapitest.Log, audit.Checkpoint) {
	t.Helper()
	l := auditapitest.Start(t, opts...)
	l.Append(t, 0, n)
	return l, l.Checkpoint(t)
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestAuditVerify(t *testing.T) {
	for _, n := range []int{0, 1, 255, 256, 300} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			l, cp := servedLog(t, n)
			out := mustVerify(t, "verify", "--url", l.URL, "--key", l.VerifierKey(t))
			if want := strconv.Itoa(n) + " entries, root " + cp.Root.String(); !strings.Contains(out, want) {
				t.Errorf("summary: got %q, want it to say %q", out, want)
			}
		})
	}
}

func TestAuditVerifySavedCheckpoint(t *testing.T) {
	l, _ := servedLog(t, 300)
	key := l.VerifierKey(t)
	saved := filepath.Join(t.TempDir(), "saved.txt")
	mustVerify(t, "verify", "--url", l.URL, "--key", key, "--save", saved)
	l.Append(t, 300, 700)
	l.Checkpoint(t)
	out := mustVerify(t, "verify", "--url", l.URL, "--key", key, "--checkpoint", saved)
	if !strings.Contains(out, "700 entries") || !strings.Contains(out, "consistent with the saved checkpoint of 300 entries") {
		t.Errorf("summary: got %q", out)
	}
	// A checkpoint of the same size is consistent with itself.
	mustVerify(t, "verify", "--url", l.URL, "--key", key, "--checkpoint", saved, "--save", saved)
	mustVerify(t, "verify", "--url", l.URL, "--key", key, "--checkpoint", saved)
}

func TestAuditVerifyKeys(t *testing.T) {
	l, _ := servedLog(t, 10)
	key := l.VerifierKey(t)
	t.Run("key file", func(t *testing.T) {
		file := writeFile(t, "key.txt", []byte("# the log's key\n\n"+key+"\n"))
		mustVerify(t, "verify", "--url", l.URL, "--key-file", file)
	})
	t.Run("not pinned", func(t *testing.T) {
		// Without a pinned key nothing is checked against the operator:
		// refused, with what to do.
		for _, args := range [][]string{
			{"verify", "--url", l.URL},
			{"mirror", "--url", l.URL, "--dir", t.TempDir()},
		} {
			out, err := auditRun(t, args...)
			if err == nil || !strings.Contains(err.Error(), "--key") || !strings.Contains(err.Error(), "--trust-served-key") ||
				!strings.Contains(err.Error(), "cedula keys list") {
				t.Errorf("%s without a key: got %v, want a refusal naming --key, cedula keys list and --trust-served-key", args[0], err)
			}
			if strings.Contains(out, "ok:") {
				t.Errorf("%s without a key: output %q, want no ok line", args[0], out)
			}
		}
	})
	t.Run("served key trusted", func(t *testing.T) {
		out, err := auditRun(t, "verify", "--url", l.URL, "--trust-served-key")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "warning: the key was not pinned") ||
			!strings.HasPrefix(lines[1], "ok: ") || !strings.Contains(lines[1], "(key not pinned)") {
			t.Errorf("output: got %q, want a warning line then an ok line", out)
		}
	})
	t.Run("malformed key", func(t *testing.T) {
		if _, err := auditRun(t, "verify", "--url", l.URL, "--key", "not-a-key"); err == nil || !strings.Contains(err.Error(), "not a signed-note verifier key") {
			t.Errorf("got %v, want a malformed key error", err)
		}
	})
	t.Run("keys of two logs", func(t *testing.T) {
		other, _ := servedLog(t, 1, auditapitest.WithOrigin("audit.other.test/log"))
		_, err := auditRun(t, "verify", "--url", l.URL, "--key", key, "--key", other.VerifierKey(t))
		if err == nil || !strings.Contains(err.Error(), "name two logs") {
			t.Errorf("got %v, want an error about two logs", err)
		}
	})
	t.Run("empty key file", func(t *testing.T) {
		if _, err := auditRun(t, "verify", "--url", l.URL, "--key-file", writeFile(t, "key.txt", []byte("\n"))); err == nil {
			t.Error("got no error")
		}
	})
}

// TestAuditVerifyOtherKey: a checkpoint signed by another key is rejected.
func TestAuditVerifyOtherKey(t *testing.T) {
	l, _ := servedLog(t, 10)
	forger, _ := servedLog(t, 10) // same origin and entries, another key
	for _, tc := range []struct{ name, url, key string }{
		{"the log checked with another key", l.URL, forger.VerifierKey(t)},
		{"a log signed by another key checked with the pinned key", forger.URL, l.VerifierKey(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := auditRun(t, "verify", "--url", tc.url, "--key", tc.key)
			if !errors.Is(err, audit.ErrBadSignature) {
				t.Errorf("got %v, want ErrBadSignature", err)
			}
		})
	}
}

// TestAuditVerifyTamperedEntry: a row changed directly in the database
// fails verify, which names the first changed index.
func TestAuditVerifyTamperedEntry(t *testing.T) {
	l, _ := servedLog(t, 600)
	key := l.VerifierKey(t)
	for _, idx := range []int{437, 512} {
		forged, err := auditapitest.Entry(10_000 + idx).Canonical()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.DB.ExecContext(t.Context(), `UPDATE audit_entries SET data = $1 WHERE idx = $2`, forged, idx); err != nil {
			t.Fatal(err)
		}
	}
	out, err := auditRun(t, "verify", "--url", l.URL, "--key", key)
	var ee *auditclient.EntryError
	if !errors.As(err, &ee) || ee.Index != 437 || !strings.HasPrefix(err.Error(), "entry 437: ") {
		t.Fatalf("verify: got %v (%q), want an error naming entry 437", err, out)
	}
	if strings.Contains(out, "ok:") {
		t.Errorf("output: got %q, want no ok line", out)
	}
}

// TestAuditVerifyTamperedHashes: an entry changed together with its leaf
// hash is caught by the tile above it, or by the root.
func TestAuditVerifyTamperedHashes(t *testing.T) {
	for _, tc := range []struct {
		idx  int
		want string
	}{
		{40, "tile/1/000.p/1: hash 0"}, // under a complete 256-entry subtree
		{290, "hash to root"},          // in the last, partial tile
	} {
		t.Run(strconv.Itoa(tc.idx), func(t *testing.T) {
			l, _ := servedLog(t, 300)
			forged, err := auditapitest.Entry(10_000).Canonical()
			if err != nil {
				t.Fatal(err)
			}
			leaf := tlog.RecordHash(forged)
			var hs []byte
			if err := l.DB.QueryRowContext(t.Context(), `SELECT hashes FROM audit_entries WHERE idx = $1`, tc.idx).Scan(&hs); err != nil {
				t.Fatal(err)
			}
			copy(hs, leaf[:]) // level 0 of the row is the leaf hash
			for _, q := range []struct {
				sql  string
				args []any
			}{
				{`UPDATE audit_entries SET data = $1, leaf_hash = $2, hashes = $3 WHERE idx = $4`, []any{forged, leaf[:], hs, tc.idx}},
			} {
				if _, err := l.DB.ExecContext(t.Context(), q.sql, q.args...); err != nil {
					t.Fatal(err)
				}
			}
			_, err = auditRun(t, "verify", "--url", l.URL, "--key", l.VerifierKey(t))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("verify: got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// TestAuditVerifySavedFromAnotherLog: a saved checkpoint that the log does
// not extend — signed by the same key over another history — fails.
func TestAuditVerifySavedFromAnotherLog(t *testing.T) {
	km := auditapitest.NewKeys(t)
	l, _ := servedLog(t, 300, auditapitest.WithKeys(km))
	key := l.VerifierKey(t)

	fork := auditapitest.Start(t, auditapitest.WithKeys(km))
	fork.Append(t, 0, 100)
	fork.Append(t, 1000, 1100) // the same first 100 entries, then others
	shorter := writeFile(t, "fork.txt", fork.Checkpoint(t).Note)
	fork.Append(t, 1100, 1300)
	longer := writeFile(t, "fork-longer.txt", fork.Checkpoint(t).Note)
	prefix := auditapitest.Start(t, auditapitest.WithKeys(km))
	prefix.Append(t, 0, 100)
	samePrefix := writeFile(t, "prefix.txt", prefix.Checkpoint(t).Note)
	other, _ := servedLog(t, 100) // another key
	otherKey := writeFile(t, "other.txt", other.Checkpoint(t).Note)

	mustVerify(t, "verify", "--url", l.URL, "--key", key, "--checkpoint", samePrefix)
	for _, tc := range []struct{ name, saved, want string }{
		{"another history", shorter, "not consistent"},
		{"larger than the log", longer, "shrank or forked"},
		{"signed by another key", otherKey, "saved checkpoint is not signed by the key"},
		{"not a checkpoint", writeFile(t, "junk.txt", []byte("hello\n")), "saved checkpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := auditRun(t, "verify", "--url", l.URL, "--key", key, "--checkpoint", tc.saved)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// TestAuditMirror: a mirrored copy verifies from disk and when served as
// static files, and a second mirror fetches only what is new.
func TestAuditMirror(t *testing.T) {
	l, _ := servedLog(t, 300)
	key := l.VerifierKey(t)
	dir := filepath.Join(t.TempDir(), "mirror")
	out := mustVerify(t, "mirror", "--url", l.URL, "--dir", dir, "--key", key)
	// tile/0/000, tile/0/001.p/44, the two bundles, tile/1/000.p/1.
	if !strings.Contains(out, "(5 files fetched)") {
		t.Errorf("first mirror: got %q, want 5 files fetched", out)
	}
	for _, name := range []string{"checkpoint", "key", "tile/0/000", "tile/0/001.p/44", "tile/entries/000", "tile/entries/001.p/44", "tile/1/000.p/1"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("mirror: %v", err)
		}
	}
	saved := filepath.Join(t.TempDir(), "saved.txt")
	mustVerify(t, "verify", "--dir", dir, "--key", key, "--save", saved)

	l.Append(t, 300, 800)
	l.Checkpoint(t)
	out = mustVerify(t, "mirror", "--url", l.URL, "--dir", dir, "--key", key)
	// New: tile/0/001 (was partial), 002, 003.p/32, bundles alike, tile/1/000.p/3.
	if !strings.Contains(out, "(7 files fetched)") || !strings.Contains(out, "consistent with the saved checkpoint of 300") {
		t.Errorf("second mirror: got %q", out)
	}
	out, err := auditRun(t, "verify", "--dir", dir, "--checkpoint", saved, "--trust-served-key")
	if err != nil || !strings.Contains(out, "800 entries") || !strings.Contains(out, "(key not pinned)") {
		t.Errorf("verify --dir with the mirrored key: got %q, %v", out, err)
	}

	// The copy served as static files is a log like the original.
	static := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer static.Close()
	mustVerify(t, "verify", "--url", static.URL, "--key", key, "--checkpoint", saved)

	// Partial tiles deleted once full ones exist are read from the full ones.
	os.Remove(filepath.Join(dir, "tile/0/001.p/44"))
	os.Remove(filepath.Join(dir, "tile/entries/001.p/44"))
	mustVerify(t, "verify", "--dir", dir, "--key", key, "--checkpoint", saved)
}

func TestAuditMirrorRefusesBadLogs(t *testing.T) {
	l, _ := servedLog(t, 300)
	key := l.VerifierKey(t)
	t.Run("tampered entry", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := l.DB.ExecContext(t.Context(), `UPDATE audit_entries SET data = $1 WHERE idx = 3`, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		defer l.DB.ExecContext(t.Context(), `UPDATE audit_entries SET data = $1 WHERE idx = 3`, canonicalEntry(t, 3))
		_, err := auditRun(t, "mirror", "--url", l.URL, "--dir", dir, "--key", key)
		if err == nil || !strings.Contains(err.Error(), "entry 3: ") {
			t.Errorf("got %v, want an error naming entry 3", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "checkpoint")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a checkpoint was written for a copy that does not verify (%v)", err)
		}
	})
	t.Run("a copy of another log", func(t *testing.T) {
		dir := t.TempDir()
		mustVerify(t, "mirror", "--url", l.URL, "--dir", dir, "--key", key)
		before, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
		if err != nil {
			t.Fatal(err)
		}
		other := auditapitest.Start(t, auditapitest.WithKeys(l.Keys)) // same key, another history
		other.Append(t, 1000, 1400)
		other.Checkpoint(t)
		_, err = auditRun(t, "mirror", "--url", other.URL, "--dir", dir, "--key", key)
		if err == nil || !strings.Contains(err.Error(), "the copy does not verify") {
			t.Errorf("got %v, want an error saying the copy does not verify", err)
		}
		if after, _ := os.ReadFile(filepath.Join(dir, "checkpoint")); !bytes.Equal(after, before) {
			t.Error("the copy's checkpoint was replaced by one of another history")
		}
	})
	t.Run("another key", func(t *testing.T) {
		other, _ := servedLog(t, 3)
		if _, err := auditRun(t, "mirror", "--url", l.URL, "--dir", t.TempDir(), "--key", other.VerifierKey(t)); !errors.Is(err, audit.ErrBadSignature) {
			t.Errorf("got %v, want ErrBadSignature", err)
		}
	})
}

func canonicalEntry(t *testing.T, i int) []byte {
	t.Helper()
	b, err := auditapitest.Entry(i).Canonical()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAuditUsage(t *testing.T) {
	l, _ := servedLog(t, 1)
	server := strings.TrimSuffix(l.URL, "/audit")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no subcommand", nil, "needs a subcommand"},
		{"unknown subcommand", []string{"check"}, "unknown subcommand"},
		{"verify without a source", []string{"verify"}, "either --url or --dir"},
		{"verify with two sources", []string{"verify", "--url", l.URL, "--dir", "."}, "either --url or --dir"},
		{"verify with an argument", []string{"verify", "--url", l.URL, "extra"}, "unexpected argument"},
		{"verify with a bad URL", []string{"verify", "--url", "ftp://x/audit"}, "not an http(s) URL"},
		{"verify with the server's URL", []string{"verify", "--url", server, "--key", l.VerifierKey(t)}, "/audit"},
		{"verify a missing directory", []string{"verify", "--dir", filepath.Join(t.TempDir(), "none")}, "no such file"},
		{"mirror without a directory", []string{"mirror", "--url", l.URL}, "give --url and --dir"},
		{"unknown flag", []string{"verify", "--frobnicate"}, "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := auditRun(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
	if out, err := auditRun(t, "help"); err != nil || !strings.Contains(out, "cedula audit verify --url URL") {
		t.Errorf("help: got %q, %v", out, err)
	}
}

// TestAuditVerifyHugeCheckpoint: a checkpoint claiming an enormous log
// fails at the first missing tile, without listing the tiles first.
func TestAuditVerifyHugeCheckpoint(t *testing.T) {
	skey, vkey, err := note.GenerateKey(nil, auditapitest.Origin)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := audit.SignCheckpoint(auditapitest.Origin, 1<<62, audit.EmptyRoot, signer)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/audit/checkpoint" {
			w.Write(msg)
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	for _, args := range [][]string{
		{"verify", "--url", srv.URL + "/audit", "--key", vkey},
		{"mirror", "--url", srv.URL + "/audit", "--key", vkey, "--dir", t.TempDir()},
	} {
		if _, err := auditRun(t, args...); !errors.Is(err, auditclient.ErrAbsent) {
			t.Errorf("%s: got %v, want a missing tile", args[0], err)
		}
	}
}
