package audit_test

import (
	"context"
	"encoding/base64"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/keys/localkeys"
)

func keystore(t *testing.T) keys.Manager {
	t.Helper()
	km, err := localkeys.Open(filepath.Join(t.TempDir(), "keystore.json"), localkeys.WithKEK(make([]byte, 32)))
	if err != nil {
		t.Fatal(err)
	}
	return km
}

func newCheckpointer(t *testing.T, m *memLog, km keys.Manager) *audit.Checkpointer {
	t.Helper()
	cp, err := audit.NewCheckpointer(audit.CheckpointerConfig{Origin: origin, Log: m, Store: m, Keys: km})
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

func TestNewCheckpointerConfig(t *testing.T) {
	_, err := audit.NewCheckpointer(audit.CheckpointerConfig{Origin: "a b", Interval: 2 * time.Second})
	if err == nil {
		t.Fatal("NewCheckpointer(bad config): got nil error")
	}
	for _, want := range []string{"origin", "no log", "no checkpoint store", "no key manager", "interval"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("NewCheckpointer: got %q, want it to report %q", err, want)
		}
	}
	m := newMemLog()
	cp, err := audit.NewCheckpointer(audit.CheckpointerConfig{Origin: origin, Log: m, Store: m, Keys: keystore(t)})
	if err != nil || cp.Origin() != origin {
		t.Errorf("NewCheckpointer(good config): got %v", err)
	}
}

// TestCheckpointerRefuses: the ways a log can go wrong under a signed
// checkpoint; each makes Checkpoint fail and sign nothing.
func TestCheckpointerRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, m *memLog)
		want   error
	}{
		// The new root is built from the stored hashes of the complete
		// subtrees [0, 8) and [8, 10) of the signed tree of 10.
		{"the stored hash of [0, 8) changed", func(t *testing.T, m *memLog) { m.tamper(tlog.StoredHashIndex(3, 0)) }, audit.ErrInconsistent},
		{"the stored hash of [8, 10) changed", func(t *testing.T, m *memLog) { m.tamper(tlog.StoredHashIndex(1, 4)) }, audit.ErrInconsistent},
		{"checkpoints deleted", func(t *testing.T, m *memLog) { m.dropCheckpoints() }, audit.ErrInconsistent},
		{"the log shrank", func(t *testing.T, m *memLog) {
			m.mu.Lock()
			m.leaves = m.leaves[:5]
			m.mu.Unlock()
		}, audit.ErrInconsistent},
		{"stored root differs from its note", func(t *testing.T, m *memLog) {
			m.mu.Lock()
			c := m.checkpoints[10]
			c.Root[0] ^= 1
			m.checkpoints[10] = c
			m.mu.Unlock()
		}, audit.ErrInconsistent},
		{"stored note's signature changed", func(t *testing.T, m *memLog) {
			m.mu.Lock()
			c := m.checkpoints[10]
			text, sig, _ := strings.Cut(string(c.Note), "\n\n— ")
			name, b64sig, _ := strings.Cut(strings.TrimSuffix(sig, "\n"), " ")
			raw, err := base64.StdEncoding.DecodeString(b64sig)
			if err != nil {
				t.Fatal(err)
			}
			raw[len(raw)-1] ^= 1
			c.Note = []byte(text + "\n\n— " + name + " " + base64.StdEncoding.EncodeToString(raw) + "\n")
			m.checkpoints[10] = c
			m.mu.Unlock()
		}, audit.ErrBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			m := newMemLog()
			cp := newCheckpointer(t, m, keystore(t))
			for i := range 10 {
				m.add(leafData(i))
			}
			c, err := cp.Checkpoint(ctx)
			if err != nil || c.Size != 10 {
				t.Fatalf("Checkpoint: got size %d, %v; want 10", c.Size, err)
			}
			tc.damage(t, m)
			m.add(leafData(10), leafData(11))
			_, err = cp.Checkpoint(ctx)
			if !errors.Is(err, tc.want) {
				t.Errorf("Checkpoint after %s: got %v, want %v", tc.name, err, tc.want)
			}
			if _, err := m.CheckpointAt(ctx, 12); !errors.Is(err, audit.ErrNotFound) {
				t.Errorf("CheckpointAt(12): got %v, want ErrNotFound (nothing signed)", err)
			}
		})
	}
}

// TestCheckpointerKeyRotation: after the ring rotates, new checkpoints are
// signed with the new key and the latest one, signed with the old key,
// still verifies.
func TestCheckpointerKeyRotation(t *testing.T) {
	ctx := context.Background()
	m := newMemLog()
	km := keystore(t)
	cp := newCheckpointer(t, m, km)
	m.add(leafData(0))
	c1, err := cp.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := km.Rotate(ctx, audit.CheckpointRing, keys.EdDSA); err != nil {
		t.Fatal(err)
	}
	m.add(leafData(1))
	// A fresh Checkpointer (a restart) must verify c1 with the retired key.
	c2, err := newCheckpointer(t, m, km).Checkpoint(ctx)
	if err != nil {
		t.Fatalf("Checkpoint after rotation: %v", err)
	}
	vkeys, err := cp.VerifierKeys(ctx)
	if err != nil || len(vkeys) != 2 {
		t.Fatalf("VerifierKeys: got %q, %v; want two", vkeys, err)
	}
	newest, _ := audit.Verifiers(vkeys[0])
	oldest, _ := audit.Verifiers(vkeys[1])
	if _, err := audit.OpenCheckpoint(c2.Note, origin, newest); err != nil {
		t.Errorf("checkpoint 2 with the active key: %v", err)
	}
	if _, err := audit.OpenCheckpoint(c1.Note, origin, oldest); err != nil {
		t.Errorf("checkpoint 1 with the retired key: %v", err)
	}
	if _, err := audit.OpenCheckpoint(c2.Note, origin, oldest); !errors.Is(err, audit.ErrBadSignature) {
		t.Errorf("checkpoint 2 with the retired key: got %v, want ErrBadSignature", err)
	}
}

// TestCheckpointerRunStops: Run returns nil once its context ends.
func TestCheckpointerRunStops(t *testing.T) {
	m := newMemLog()
	cp := newCheckpointer(t, m, keystore(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- cp.Run(ctx) }()
	m.add(leafData(0))
	for {
		if c, err := m.LatestCheckpoint(context.Background()); err == nil && c.Size == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: got %v, want nil", err)
	}
}
