package keystest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/keys/dek"
)

// RunWrapperTests is the conformance suite of keys.Wrapper. newStore is
// called once per subtest with that subtest's t; it sets up a fresh, empty
// store of the subtest's own (a keystore file in t.TempDir(), a fresh Vault
// key prefix) and returns open, each call of which opens another Wrapper
// instance on that same store — another Manager, as another replica would.
//
//	keystest.RunWrapperTests(t, func(t *testing.T) func() keys.Wrapper {
//		path, kek := filepath.Join(t.TempDir(), "keystore.json"), newKEK(t)
//		return func() keys.Wrapper {
//			m, err := localkeys.Open(path, localkeys.WithKEK(kek))
//			if err != nil {
//				t.Fatal(err)
//			}
//			return m
//		}
//	})
//
// When the instances are also keys.Managers, the suite checks that wrapping
// rings stay apart from signing rings.
func RunWrapperTests(t *testing.T, newStore func(t *testing.T) (open func() keys.Wrapper)) {
	t.Run("RoundTrip", func(t *testing.T) { testWrapRoundTrip(t, newStore(t)) })
	t.Run("NilAndEmptyAADAreTheSame", func(t *testing.T) { testWrapEmptyAAD(t, newStore(t)) })
	t.Run("AADBinding", func(t *testing.T) { testWrapAAD(t, newStore(t)) })
	t.Run("RingBinding", func(t *testing.T) { testWrapRing(t, newStore(t)) })
	t.Run("TamperDetected", func(t *testing.T) { testWrapTamper(t, newStore(t)) })
	t.Run("BadInput", func(t *testing.T) { testWrapBadInput(t, newStore(t)) })
	t.Run("RotationKeepsOldBlobs", func(t *testing.T) { testWrapRotate(t, newStore(t)) })
	t.Run("SecondInstanceUnwraps", func(t *testing.T) { testWrapSecondInstance(t, newStore(t)) })
	t.Run("FirstUseRace", func(t *testing.T) { testWrapFirstUseRace(t, newStore(t)) })
	t.Run("Concurrent", func(t *testing.T) { testWrapConcurrent(t, newStore(t)) })
	t.Run("CancelledContext", func(t *testing.T) { testWrapCancelled(t, newStore(t)) })
	t.Run("ApartFromSigningRings", func(t *testing.T) { testWrapApartFromSigning(t, newStore(t)) })
}

func mustWrap(t *testing.T, w keys.Wrapper, ring string, k dek.Key, aad []byte) []byte {
	t.Helper()
	b, err := w.WrapKey(context.Background(), ring, k, aad)
	if err != nil {
		t.Fatalf("WrapKey(%q): %v", ring, err)
	}
	return b
}

func mustUnwrap(t *testing.T, w keys.Wrapper, ring string, wrapped []byte, aad []byte, want dek.Key) {
	t.Helper()
	got, err := w.UnwrapKey(context.Background(), ring, wrapped, aad)
	if err != nil {
		t.Fatalf("UnwrapKey(%q): %v", ring, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("UnwrapKey(%q): got another key than was wrapped", ring)
	}
}

// refuses checks that UnwrapKey fails with ErrUnwrap and returns no bytes.
func refuses(t *testing.T, w keys.Wrapper, what, ring string, wrapped, aad []byte) {
	t.Helper()
	got, err := w.UnwrapKey(context.Background(), ring, wrapped, aad)
	if !errors.Is(err, keys.ErrUnwrap) || got != nil {
		t.Errorf("%s: got %d bytes, error %v; want no bytes and ErrUnwrap", what, len(got), err)
	}
}

func testWrapRoundTrip(t *testing.T, open func() keys.Wrapper) {
	w := open()
	k := dek.New()
	aad := []byte("audit/subject/p-123")
	a := mustWrap(t, w, "audit", k, aad)
	b := mustWrap(t, w, "audit", k, aad)
	if bytes.Equal(a, b) {
		t.Errorf("two wraps of one key are equal; want a fresh nonce each time")
	}
	for _, s := range [][]byte{k, []byte(hex.EncodeToString(k)), []byte(base64.StdEncoding.EncodeToString(k)), []byte(base64.RawURLEncoding.EncodeToString(k))} {
		if bytes.Contains(a, s) {
			t.Errorf("wrapped form contains the data key")
		}
	}
	mustUnwrap(t, w, "audit", a, aad, k)
	mustUnwrap(t, w, "audit", b, aad, k)
	// The wrapped DEK works as a DEK after the round trip.
	got, err := w.UnwrapKey(context.Background(), "audit", a, aad)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := dek.Seal(k, []byte("Ana Pérez"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := dek.Open(dek.Key(got), sealed, nil); err != nil || string(pt) != "Ana Pérez" {
		t.Errorf("dek.Open with the unwrapped key: got %q, %v", pt, err)
	}
}

func testWrapEmptyAAD(t *testing.T, open func() keys.Wrapper) {
	w := open()
	k := dek.New()
	mustUnwrap(t, w, "r", mustWrap(t, w, "r", k, nil), []byte{}, k)
	mustUnwrap(t, w, "r", mustWrap(t, w, "r", k, []byte{}), nil, k)
}

func testWrapAAD(t *testing.T, open func() keys.Wrapper) {
	w := open()
	k := dek.New()
	aad := []byte("subject:p-1")
	b := mustWrap(t, w, "audit", k, aad)
	refuses(t, w, "other aad", "audit", b, []byte("subject:p-2"))
	refuses(t, w, "aad with a trailing byte", "audit", b, append(slices.Clone(aad), 0))
	refuses(t, w, "aad prefix", "audit", b, aad[:len(aad)-1])
	refuses(t, w, "no aad", "audit", b, nil)
	bNone := mustWrap(t, w, "audit", k, nil)
	refuses(t, w, "aad where none was bound", "audit", bNone, aad)
	mustUnwrap(t, w, "audit", b, aad, k)
}

func testWrapRing(t *testing.T, open func() keys.Wrapper) {
	w := open()
	k := dek.New()
	a := mustWrap(t, w, "ring-a", k, nil)
	mustWrap(t, w, "ring-b", dek.New(), nil) // ring-b exists
	refuses(t, w, "blob of ring-a under ring-b", "ring-b", a, nil)
	refuses(t, w, "blob of ring-a under a ring never used", "ring-c", a, nil)
	refuses(t, w, "blob of ring-a under a ring never used, again", "ring-c", a, nil)
	mustUnwrap(t, w, "ring-a", a, nil, k)
}

func testWrapTamper(t *testing.T, open func() keys.Wrapper) {
	w := open()
	k := dek.New()
	aad := []byte("x")
	b := mustWrap(t, w, "audit", k, aad)
	for i := range b {
		for _, bit := range []byte{0x01, 0x40} {
			c := slices.Clone(b)
			c[i] ^= bit
			refuses(t, w, fmt.Sprintf("byte %d ^ %#x", i, bit), "audit", c, aad)
		}
	}
	other := mustWrap(t, w, "audit", dek.New(), aad)
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"truncated by one", b[:len(b)-1]},
		{"first half", b[:len(b)/2]},
		{"extra byte", append(slices.Clone(b), 'A')},
		{"extra block", append(slices.Clone(b), b...)},
		{"spliced with another blob", append(slices.Clone(b[:len(b)/2]), other[len(other)/2:]...)},
		{"text", []byte("hello")},
		{"transit ciphertext of nothing", []byte("vault:v1:")},
		{"transit ciphertext, version 0", []byte("vault:v0:AAAA")},
		{"transit ciphertext, version 99", []byte("vault:v99:" + base64.StdEncoding.EncodeToString(make([]byte, 60)))},
		{"transit ciphertext, bad base64", []byte("vault:v1:@@@@")},
		{"all zero", make([]byte, len(b))},
		{"long", bytes.Repeat([]byte{'A'}, 1<<16)},
	} {
		refuses(t, w, tc.name, "audit", tc.b, aad)
	}
	mustUnwrap(t, w, "audit", b, aad, k)
}

func testWrapBadInput(t *testing.T, open func() keys.Wrapper) {
	ctx := context.Background()
	w := open()
	for _, n := range []int{0, 16, 31, 33, 64} {
		got, err := w.WrapKey(ctx, "r", make([]byte, n), nil)
		if err == nil || got != nil {
			t.Errorf("WrapKey of a %d-byte key: got %d bytes, %v; want an error", n, len(got), err)
		}
	}
	b := mustWrap(t, w, "r", dek.New(), nil)
	for _, name := range []string{"", "Audit", "a/b", "../x", "a.wrap", "a b", "ring_1", "é", strings.Repeat("a", 65)} {
		if _, err := w.WrapKey(ctx, name, dek.New(), nil); !errors.Is(err, keys.ErrBadName) {
			t.Errorf("WrapKey(%q): got %v, want ErrBadName", name, err)
		}
		if got, err := w.UnwrapKey(ctx, name, b, nil); !errors.Is(err, keys.ErrBadName) || got != nil {
			t.Errorf("UnwrapKey(%q): got %d bytes, %v; want ErrBadName", name, len(got), err)
		}
		if err := w.RotateWrapKey(ctx, name); !errors.Is(err, keys.ErrBadName) {
			t.Errorf("RotateWrapKey(%q): got %v, want ErrBadName", name, err)
		}
	}
	long := strings.Repeat("a", 64)
	k := dek.New()
	mustUnwrap(t, w, long, mustWrap(t, w, long, k, nil), nil, k)
}

func testWrapRotate(t *testing.T, open func() keys.Wrapper) {
	ctx := context.Background()
	w := open()
	type blob struct {
		k   dek.Key
		aad []byte
		b   []byte
	}
	var blobs []blob
	add := func(i int) {
		t.Helper()
		k, aad := dek.New(), []byte(fmt.Sprintf("entry-%d", i))
		blobs = append(blobs, blob{k, aad, mustWrap(t, w, "audit", k, aad)})
	}
	add(0)
	for i := 1; i <= 3; i++ {
		if err := w.RotateWrapKey(ctx, "audit"); err != nil {
			t.Fatalf("RotateWrapKey #%d: %v", i, err)
		}
		add(i)
	}
	for i, bl := range blobs {
		got, err := w.UnwrapKey(ctx, "audit", bl.b, bl.aad)
		if err != nil || !bytes.Equal(got, bl.k) {
			t.Errorf("blob wrapped after %d rotations: got %v; want the key back", i, err)
		}
		refuses(t, w, fmt.Sprintf("blob %d with another entry's aad", i), "audit", bl.b, []byte("entry-x"))
	}
	// Another instance, opened after the rotations, reads every version.
	w2 := open()
	for i, bl := range blobs {
		if got, err := w2.UnwrapKey(ctx, "audit", bl.b, bl.aad); err != nil || !bytes.Equal(got, bl.k) {
			t.Errorf("new instance, blob %d: got %v; want the key back", i, err)
		}
	}
	// Rotating a ring that never wrapped creates it.
	if err := w.RotateWrapKey(ctx, "fresh"); err != nil {
		t.Fatalf("RotateWrapKey of an unused ring: %v", err)
	}
	k := dek.New()
	mustUnwrap(t, w, "fresh", mustWrap(t, w, "fresh", k, nil), nil, k)
}

// testWrapSecondInstance: what one instance wraps, another on the same
// store unwraps, including under a version the other rotated to a moment
// ago.
func testWrapSecondInstance(t *testing.T, open func() keys.Wrapper) {
	ctx := context.Background()
	w1, w2 := open(), open()
	k1 := dek.New()
	b1 := mustWrap(t, w1, "audit", k1, []byte("a"))
	mustUnwrap(t, w2, "audit", b1, []byte("a"), k1)
	refuses(t, w2, "second instance, wrong aad", "audit", b1, []byte("b"))

	if err := w2.RotateWrapKey(ctx, "audit"); err != nil {
		t.Fatal(err)
	}
	k2 := dek.New()
	b2 := mustWrap(t, w2, "audit", k2, []byte("a"))
	mustUnwrap(t, w1, "audit", b2, []byte("a"), k2) // at once: no waiting for a refresh
	mustUnwrap(t, w1, "audit", b1, []byte("a"), k1)
	k3 := dek.New()
	mustUnwrap(t, w2, "audit", mustWrap(t, w1, "audit", k3, nil), nil, k3)
}

// testWrapFirstUseRace: instances that all wrap under a new ring at once
// end up with one wrapping key, so each unwraps what the others wrapped.
func testWrapFirstUseRace(t *testing.T, open func() keys.Wrapper) {
	ctx := context.Background()
	const n = 8
	ws := make([]keys.Wrapper, n)
	for i := range ws {
		ws[i] = open()
	}
	ks, bs, errs := make([]dek.Key, n), make([][]byte, n), make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		ks[i] = dek.New()
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			bs[i], errs[i] = ws[i].WrapKey(ctx, "race", ks[i], nil)
		}()
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("instance %d WrapKey: %v", i, errs[i])
		}
	}
	for i := range n {
		for j := range n {
			if got, err := ws[j].UnwrapKey(ctx, "race", bs[i], nil); err != nil || !bytes.Equal(got, ks[i]) {
				t.Errorf("instance %d unwrapping instance %d's blob: %v", j, i, err)
			}
		}
	}
}

func testWrapConcurrent(t *testing.T, open func() keys.Wrapper) {
	ctx := context.Background()
	ws := []keys.Wrapper{open(), open()}
	const workers, rounds = 8, 20
	var wg sync.WaitGroup
	errc := make(chan error, workers*rounds+3)
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				k, aad := dek.New(), []byte(fmt.Sprintf("g%d-r%d", g, r))
				ring := []string{"audit", "consent"}[r%2]
				b, err := ws[g%2].WrapKey(ctx, ring, k, aad)
				if err != nil {
					errc <- fmt.Errorf("worker %d round %d WrapKey: %w", g, r, err)
					return
				}
				got, err := ws[(g+1)%2].UnwrapKey(ctx, ring, b, aad)
				if err != nil || !bytes.Equal(got, k) {
					errc <- fmt.Errorf("worker %d round %d UnwrapKey by the other instance: %v", g, r, err)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // rotations while the workers run
		defer wg.Done()
		for i := range 3 {
			if err := ws[i%2].RotateWrapKey(ctx, "audit"); err != nil {
				errc <- fmt.Errorf("RotateWrapKey: %w", err)
			}
		}
	}()
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
}

func testWrapCancelled(t *testing.T, open func() keys.Wrapper) {
	w := open()
	b := mustWrap(t, w, "r", dek.New(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := w.WrapKey(ctx, "r", dek.New(), nil); !errors.Is(err, context.Canceled) {
		t.Errorf("WrapKey with a cancelled context: got %v, want context.Canceled", err)
	}
	if got, err := w.UnwrapKey(ctx, "r", b, nil); !errors.Is(err, context.Canceled) || got != nil {
		t.Errorf("UnwrapKey with a cancelled context: got %d bytes, %v; want context.Canceled", len(got), err)
	}
	if err := w.RotateWrapKey(ctx, "r"); !errors.Is(err, context.Canceled) {
		t.Errorf("RotateWrapKey with a cancelled context: got %v, want context.Canceled", err)
	}
}

// testWrapApartFromSigning: a wrapping ring and a signing ring of one name
// are different keys, and Rings lists signing rings only.
func testWrapApartFromSigning(t *testing.T, open func() keys.Wrapper) {
	w := open()
	m, ok := w.(keys.Manager)
	if !ok {
		t.Skip("the Wrapper is not a keys.Manager")
	}
	ctx := context.Background()
	k := dek.New()
	b := mustWrap(t, w, "wrap-only", k, nil)
	if err := w.RotateWrapKey(ctx, "wrap-only"); err != nil {
		t.Fatal(err)
	}
	if rings, err := m.Rings(ctx); err != nil || len(rings) != 0 {
		t.Errorf("Rings after wrapping only: got %v, %v; want none", rings, err)
	}
	if pubs, err := m.Verification(ctx, "wrap-only"); err != nil || len(pubs) != 0 {
		t.Errorf("Verification of a wrapping ring: got %d keys, %v; want none", len(pubs), err)
	}
	// A signing ring of the same name is a new key and leaves the
	// wrapping key alone.
	if _, err := m.Active(ctx, "wrap-only", keys.EdDSA); err != nil {
		t.Fatalf("Active on a name used for wrapping: %v", err)
	}
	if _, err := m.Rotate(ctx, "wrap-only", keys.EdDSA); err != nil {
		t.Fatal(err)
	}
	mustUnwrap(t, w, "wrap-only", b, nil, k)
	if rings, err := m.Rings(ctx); err != nil || !slices.Equal(rings, []string{"wrap-only"}) {
		t.Errorf("Rings: got %v, %v; want [wrap-only] once", rings, err)
	}
	// And the other way round: wrapping under a signing ring's name.
	mustActive(t, m, "signing", keys.ES256)
	k2 := dek.New()
	mustUnwrap(t, w, "signing", mustWrap(t, w, "signing", k2, nil), nil, k2)
	if pubs := mustVerification(t, m, "signing"); len(pubs) != 1 {
		t.Errorf("Verification of a signing ring also used for wrapping: got %d keys, want 1", len(pubs))
	}
}
