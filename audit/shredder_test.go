package audit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/keys/dek"
	"github.com/cedula/cedula/internal/keys/localkeys"
)

// memSubjectKeys is an in-memory audit.SubjectKeys; nil marks an erased
// subject.
type memSubjectKeys struct {
	mu   sync.Mutex
	keys map[string][]byte
}

func (m *memSubjectKeys) SubjectKey(_ context.Context, subject string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w, ok := m.keys[subject]
	switch {
	case !ok:
		return nil, audit.ErrNotFound
	case w == nil:
		return nil, audit.ErrErased
	}
	return w, nil
}

func (m *memSubjectKeys) CreateSubjectKey(ctx context.Context, subject string, wrapped []byte) ([]byte, error) {
	m.mu.Lock()
	if _, ok := m.keys[subject]; !ok {
		m.keys[subject] = bytes.Clone(wrapped)
	}
	m.mu.Unlock()
	return m.SubjectKey(ctx, subject)
}

func (m *memSubjectKeys) EraseSubjectKey(_ context.Context, subject string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys[subject] = nil
	return nil
}

// countingWrapper counts the round trips to the keystore.
type countingWrapper struct {
	keys.Wrapper
	wraps, unwraps atomic.Int64
}

func (c *countingWrapper) WrapKey(ctx context.Context, ring string, k, aad []byte) ([]byte, error) {
	c.wraps.Add(1)
	return c.Wrapper.WrapKey(ctx, ring, k, aad)
}

func (c *countingWrapper) UnwrapKey(ctx context.Context, ring string, wrapped, aad []byte) ([]byte, error) {
	c.unwraps.Add(1)
	return c.Wrapper.UnwrapKey(ctx, ring, wrapped, aad)
}

type shredEnv struct {
	store *memSubjectKeys
	w     *countingWrapper
	now   atomic.Int64 // unix nanoseconds of the cache clock
}

func newShredEnv(t *testing.T) *shredEnv {
	km, err := localkeys.Open(filepath.Join(t.TempDir(), "keystore.json"), localkeys.WithKEK(make([]byte, localkeys.KEKSize)))
	if err != nil {
		t.Fatal(err)
	}
	w, err := keys.WrapperOf(km)
	if err != nil {
		t.Fatal(err)
	}
	e := &shredEnv{store: &memSubjectKeys{keys: map[string][]byte{}}, w: &countingWrapper{Wrapper: w}}
	e.now.Store(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return e
}

func (e *shredEnv) shredder(t *testing.T, ttl time.Duration) *audit.Shredder {
	sh, err := audit.NewShredder(audit.ShredderConfig{
		Keys: e.store, Wrapper: e.w, CacheTTL: ttl,
		Now: func() time.Time { return time.Unix(0, e.now.Load()) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return sh
}

func TestShredderConfig(t *testing.T) {
	if _, err := audit.NewShredder(audit.ShredderConfig{Ring: "Bad Ring"}); err == nil {
		t.Error("NewShredder without a store, a wrapper or a valid ring: no error")
	}
}

// TestShredderCache: a burst of seals and opens costs one unwrap; the key is
// unwrapped again once the cache entry expires; Erase drops it at once.
func TestShredderCache(t *testing.T) {
	ctx := t.Context()
	e := newShredEnv(t)
	sh := e.shredder(t, time.Minute)
	var sealed [][]byte
	for i := range 10 {
		c, err := sh.Seal(ctx, "psn-1", fmt.Appendf(nil, "detail %d", i))
		if err != nil {
			t.Fatal(err)
		}
		sealed = append(sealed, c)
	}
	for i, c := range sealed {
		if got, err := sh.Open(ctx, "psn-1", c); err != nil || string(got) != fmt.Sprintf("detail %d", i) {
			t.Fatalf("Open %d: got %q, %v", i, got, err)
		}
	}
	if w, u := e.w.wraps.Load(), e.w.unwraps.Load(); w != 1 || u != 0 {
		t.Errorf("after the first burst: %d wraps and %d unwraps, want 1 and 0", w, u)
	}
	e.now.Add(int64(2 * time.Minute))
	for range 3 {
		if _, err := sh.Open(ctx, "psn-1", sealed[0]); err != nil {
			t.Fatal(err)
		}
	}
	if u := e.w.unwraps.Load(); u != 1 {
		t.Errorf("after expiry: %d unwraps, want 1", u)
	}
	if err := sh.Erase(ctx, "psn-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := sh.Open(ctx, "psn-1", sealed[0]); !errors.Is(err, audit.ErrErased) {
		t.Errorf("Open after Erase, key cached before: got %v, want ErrErased", err)
	}

	// With no cache, every use unwraps.
	nc := e.shredder(t, -1)
	c, err := nc.Seal(ctx, "psn-2", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	before := e.w.unwraps.Load()
	for range 3 {
		if _, err := nc.Open(ctx, "psn-2", c); err != nil {
			t.Fatal(err)
		}
	}
	if u := e.w.unwraps.Load() - before; u != 3 {
		t.Errorf("without a cache: %d unwraps for 3 opens, want 3", u)
	}
}

// TestShredderBinding: details open only for the subject they were sealed
// for, and only unaltered; a wrapped key moved to another subject does not
// unwrap.
func TestShredderBinding(t *testing.T) {
	ctx := t.Context()
	e := newShredEnv(t)
	sh := e.shredder(t, 0)
	a, err := sh.Seal(ctx, "psn-a", []byte("Ana"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sh.Seal(ctx, "psn-b", []byte("Bruno")); err != nil {
		t.Fatal(err)
	}
	if _, err := sh.Open(ctx, "psn-b", a); !errors.Is(err, audit.ErrCorrupt) || !errors.Is(err, dek.ErrOpen) {
		t.Errorf("Open of a's details as b: got %v, want ErrCorrupt and dek.ErrOpen", err)
	}
	bad := bytes.Clone(a)
	bad[len(bad)-1] ^= 1
	if _, err := sh.Open(ctx, "psn-a", bad); !errors.Is(err, audit.ErrCorrupt) {
		t.Errorf("Open of altered details: got %v, want ErrCorrupt", err)
	}
	if _, err := sh.Open(ctx, "psn-nobody", a); !errors.Is(err, audit.ErrNotFound) {
		t.Errorf("Open for a subject without a key: got %v, want ErrNotFound", err)
	}
	// b's row holding a's wrapped key: a fresh Shredder cannot unwrap it.
	e.store.mu.Lock()
	e.store.keys["psn-b"] = e.store.keys["psn-a"]
	e.store.mu.Unlock()
	if _, err := e.shredder(t, 0).Open(ctx, "psn-b", a); !errors.Is(err, keys.ErrUnwrap) {
		t.Errorf("Open with a wrapped key moved between subjects: got %v, want keys.ErrUnwrap", err)
	}
}

func TestShredderLimits(t *testing.T) {
	ctx := t.Context()
	sh := newShredEnv(t).shredder(t, 0)
	if _, err := sh.Seal(ctx, "", []byte("x")); !errors.Is(err, audit.ErrInvalidEntry) {
		t.Errorf("Seal without a subject: got %v, want ErrInvalidEntry", err)
	}
	if _, err := sh.Seal(ctx, "psn-1", make([]byte, audit.MaxPlainDetails+1)); !errors.Is(err, audit.ErrInvalidEntry) {
		t.Errorf("Seal of too long details: got %v, want ErrInvalidEntry", err)
	}
	c, err := sh.Seal(ctx, "psn-1", make([]byte, audit.MaxPlainDetails))
	if err != nil {
		t.Fatal(err)
	}
	e := audit.Entry{Time: time.Now(), Actor: audit.Actor{Kind: audit.ActorSystem, ID: "t"}, Action: "a.b",
		Subject: "psn-1", Outcome: audit.Allowed, Details: c}
	if err := e.Validate(); err != nil {
		t.Errorf("entry with the longest sealed details: %v", err)
	}
	if c, err := sh.Seal(ctx, "psn-1", nil); c != nil || err != nil {
		t.Errorf("Seal of no details: got %x, %v; want nil, nil", c, err)
	}
	if p, err := sh.Open(ctx, "psn-1", nil); p != nil || err != nil {
		t.Errorf("Open of no details: got %q, %v; want nil, nil", p, err)
	}
}

// TestShredderConcurrentFirstSeal: concurrent first seals in one Shredder
// share one key creation.
func TestShredderConcurrentFirstSeal(t *testing.T) {
	ctx := t.Context()
	e := newShredEnv(t)
	sh := e.shredder(t, 0)
	var wg sync.WaitGroup
	out := make([][]byte, 32)
	errs := make([]error, len(out))
	for i := range out {
		wg.Go(func() { out[i], errs[i] = sh.Seal(ctx, "psn-1", []byte("x")) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Seal %d: %v", i, err)
		}
	}
	if w := e.w.wraps.Load(); w != 1 {
		t.Errorf("%d keys wrapped, want 1", w)
	}
	for _, c := range out {
		if _, err := e.shredder(t, 0).Open(ctx, "psn-1", c); err != nil {
			t.Fatal(err)
		}
	}
}

// blockingWrapper holds UnwrapKey until release is closed.
type blockingWrapper struct {
	keys.Wrapper
	entered chan struct{}
	release chan struct{}
}

func (b *blockingWrapper) UnwrapKey(ctx context.Context, ring string, wrapped, aad []byte) ([]byte, error) {
	close(b.entered)
	<-b.release
	return b.Wrapper.UnwrapKey(ctx, ring, wrapped, aad)
}

// TestShredderEraseDuringLoad: a key unwrapped while an Erase ran is not
// cached, so the erasure holds for every later call.
func TestShredderEraseDuringLoad(t *testing.T) {
	ctx := t.Context()
	e := newShredEnv(t)
	c, err := e.shredder(t, 0).Seal(ctx, "psn-1", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	bw := &blockingWrapper{Wrapper: e.w, entered: make(chan struct{}), release: make(chan struct{})}
	sh, err := audit.NewShredder(audit.ShredderConfig{Keys: e.store, Wrapper: bw, CacheTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { _, err := sh.Open(ctx, "psn-1", c); done <- err }()
	<-bw.entered
	if err := sh.Erase(ctx, "psn-1"); err != nil {
		t.Fatal(err)
	}
	close(bw.release)
	if err := <-done; err != nil {
		t.Fatalf("Open begun before the Erase: %v", err)
	}
	if _, err := sh.Open(ctx, "psn-1", c); !errors.Is(err, audit.ErrErased) {
		t.Errorf("Open after the Erase: got %v, want ErrErased", err)
	}
}

// TestShredderData: SealData takes data of any length; what it sealed opens
// only for its subject and label, not as a detail nor a detail as data,
// and never again once the subject is erased.
func TestShredderData(t *testing.T) {
	ctx := t.Context()
	sh := newShredEnv(t).shredder(t, time.Minute)
	big := bytes.Repeat([]byte("credential "), 10000)
	c, err := sh.SealData(ctx, "psn-1", "wallet/credential/a", big)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(c, []byte("credential")) {
		t.Fatal("the sealed data holds its plaintext")
	}
	if got, err := sh.OpenData(ctx, "psn-1", "wallet/credential/a", c); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("OpenData: %d bytes, %v", len(got), err)
	}
	if _, err := sh.Seal(ctx, "psn-2", []byte("make psn-2's key")); err != nil {
		t.Fatal(err)
	}
	for name, open := range map[string]func() ([]byte, error){
		"another label":   func() ([]byte, error) { return sh.OpenData(ctx, "psn-1", "wallet/credential/b", c) },
		"another subject": func() ([]byte, error) { return sh.OpenData(ctx, "psn-2", "wallet/credential/a", c) },
		"as a detail":     func() ([]byte, error) { return sh.Open(ctx, "psn-1", c) },
		"shifted label":   func() ([]byte, error) { return sh.OpenData(ctx, "psn-", "1wallet/credential/a", c) },
	} {
		if _, err := open(); !errors.Is(err, audit.ErrCorrupt) && !errors.Is(err, audit.ErrNotFound) {
			t.Errorf("%s: %v, want it refused", name, err)
		}
	}
	d, err := sh.Seal(ctx, "psn-1", []byte("a detail"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sh.OpenData(ctx, "psn-1", "", d); !errors.Is(err, audit.ErrCorrupt) {
		t.Errorf("a detail opened as data: %v", err)
	}
	if err := sh.Erase(ctx, "psn-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := sh.OpenData(ctx, "psn-1", "wallet/credential/a", c); !errors.Is(err, audit.ErrErased) {
		t.Errorf("after erasure: %v, want ErrErased", err)
	}
	if _, err := sh.SealData(ctx, "psn-1", "wallet/credential/a", big); !errors.Is(err, audit.ErrErased) {
		t.Errorf("SealData after erasure: %v, want ErrErased", err)
	}
}
