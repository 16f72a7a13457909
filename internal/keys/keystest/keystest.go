package keystest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
)

// Algs are the algorithms every backend supports.
var Algs = []keys.Alg{keys.ES256, keys.EdDSA, keys.RS256}

// LongRing is a ring the managers under test keep retired keys of for
// LongRetention instead of Retention (a ring retention override).
const (
	LongRing      = "long-lived"
	LongRetention = 1000 * time.Hour
)

// RunManagerTests runs the conformance suite. newManager is called once per
// subtest with that subtest's t and must return a manager over an empty
// store of its own (a fresh file, a fresh Vault key prefix), built with
// retention Retention, LongRetention for the ring LongRing, and clock
// Clock(t).Now.
func RunManagerTests(t *testing.T, newManager func(t *testing.T) keys.Manager) {
	t.Run("ActiveCreatesOnceThenReturnsSameKey", func(t *testing.T) { testActive(t, newManager) })
	t.Run("SignaturesVerifyWithJWKS", func(t *testing.T) { testSignVerify(t, newManager) })
	t.Run("SignRejectsWrongHash", func(t *testing.T) { testSignOpts(t, newManager) })
	t.Run("RotateRetainsThenDrops", func(t *testing.T) { testRotate(t, newManager) })
	t.Run("RotateTwice", func(t *testing.T) { testRotateTwice(t, newManager) })
	t.Run("RotateCreatesMissingRing", func(t *testing.T) { testRotateNew(t, newManager) })
	t.Run("OtherAlgRejected", func(t *testing.T) { testOtherAlg(t, newManager) })
	t.Run("BadRingNames", func(t *testing.T) { testBadNames(t, newManager) })
	t.Run("ConcurrentActiveYieldsOneKey", func(t *testing.T) { testConcurrent(t, newManager) })
	t.Run("RingsAndUnknownRing", func(t *testing.T) { testRings(t, newManager) })
	t.Run("RingRetention", func(t *testing.T) { testRingRetention(t, newManager) })
}

// testRingRetention: a ring with its own retention keeps its retired key
// published after the default retention has dropped another ring's.
func testRingRetention(t *testing.T, newManager func(*testing.T) keys.Manager) {
	ctx := context.Background()
	m := newManager(t)
	long1 := mustActive(t, m, LongRing, keys.EdDSA)
	short1 := mustActive(t, m, "short-lived", keys.EdDSA)
	long2, err := m.Rotate(ctx, LongRing, keys.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	short2, err := m.Rotate(ctx, "short-lived", keys.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	Clock(t).Add(Retention + time.Minute)
	if got, want := kids(mustVerification(t, m, LongRing)), []string{long2.ID(), long1.ID()}; !slices.Equal(got, want) {
		t.Errorf("long-lived ring after the default retention: got %v, want %v", got, want)
	}
	if got, want := kids(mustVerification(t, m, "short-lived")), []string{short2.ID()}; !slices.Equal(got, want) {
		t.Errorf("other ring after the default retention: got %v, want %v (retired %s dropped)", got, want, short1.ID())
	}
	Clock(t).Add(LongRetention)
	if got, want := kids(mustVerification(t, m, LongRing)), []string{long2.ID()}; !slices.Equal(got, want) {
		t.Errorf("long-lived ring after its own retention: got %v, want %v", got, want)
	}
}

func ringFor(alg keys.Alg) string { return "ring-" + strings.ToLower(string(alg)) }

func testActive(t *testing.T, newManager func(*testing.T) keys.Manager) {
	for _, alg := range Algs {
		t.Run(string(alg), func(t *testing.T) {
			ctx := context.Background()
			m := newManager(t)
			ring := ringFor(alg)
			k1, err := m.Active(ctx, ring, alg)
			if err != nil {
				t.Fatalf("Active(%q, %s): %v", ring, alg, err)
			}
			if k1.Alg() != alg {
				t.Errorf("Alg() = %s, want %s", k1.Alg(), alg)
			}
			if k1.ID() == "" {
				t.Errorf("ID() is empty")
			}
			checkPublicType(t, alg, k1.Public())
			k2, err := m.Active(ctx, ring, alg)
			if err != nil {
				t.Fatalf("second Active: %v", err)
			}
			if k2.ID() != k1.ID() {
				t.Errorf("second Active: got kid %q, want %q", k2.ID(), k1.ID())
			}
			pubs, err := m.Verification(ctx, ring)
			if err != nil {
				t.Fatalf("Verification: %v", err)
			}
			if got := kids(pubs); !slices.Equal(got, []string{k1.ID()}) {
				t.Fatalf("Verification: got kids %v, want [%s]", got, k1.ID())
			}
			p := pubs[0]
			if p.Alg != alg || !p.Retired.IsZero() || p.Created.IsZero() {
				t.Errorf("Verification[0]: got alg %s created %v retired %v, want %s, non-zero, zero", p.Alg, p.Created, p.Retired, alg)
			}
			if !samePublic(p.Key, k1.Public()) {
				t.Errorf("Verification[0].Key differs from Active().Public()")
			}
		})
	}
}

func testSignVerify(t *testing.T, newManager func(*testing.T) keys.Manager) {
	for _, alg := range Algs {
		t.Run(string(alg), func(t *testing.T) {
			ctx := context.Background()
			m := newManager(t)
			ring := ringFor(alg)
			k := mustActive(t, m, ring, alg)
			jwks := mustJWKS(t, m, ring)
			payload := []byte(`{"iss":"https://cedula.test","sub":"keystest","alg":"` + string(alg) + `"}`)
			tok, err := jose.Sign(ctx, k, payload, map[string]any{"typ": "JWT"})
			if err != nil {
				t.Fatalf("jose.Sign: %v", err)
			}
			got, err := jose.Verify([]byte(tok), jwks, alg)
			if err != nil {
				t.Fatalf("jose.Verify against the ring's JWKS: %v", err)
			}
			if string(got) != string(payload) {
				t.Errorf("payload: got %s, want %s", got, payload)
			}

			// The raw signature honours Key.Sign's contract (DER for ECDSA).
			msg := []byte("keystest message")
			digest, opts := msg, crypto.SignerOpts(crypto.Hash(0))
			if alg.Hash() != 0 {
				h := sha256.Sum256(msg)
				digest, opts = h[:], crypto.SHA256
			}
			sig, err := k.Sign(ctx, digest, opts)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if err := verifyRaw(k.Public(), digest, sig); err != nil {
				t.Errorf("raw signature: %v", err)
			}

			// A tampered token and a foreign key set must fail, or the
			// checks above prove nothing.
			parts := strings.Split(tok, ".")
			changed := strings.Replace(string(payload), "keystest", "keystesu", 1)
			tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(changed)) + "." + parts[2]
			if _, err := jose.Verify([]byte(tampered), jwks, alg); err == nil {
				t.Errorf("jose.Verify accepted a tampered payload")
			}
			other := mustActive(t, m, ring+"-other", alg)
			otherJWKS, err := jose.JWKS(keys.PublicKey{ID: k.ID(), Alg: alg, Key: other.Public()})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := jose.Verify([]byte(tok), otherJWKS, alg); err == nil {
				t.Errorf("jose.Verify accepted a token under another key with the same kid")
			}
		})
	}
}

func testSignOpts(t *testing.T, newManager func(*testing.T) keys.Manager) {
	ctx := context.Background()
	m := newManager(t)
	h := sha256.Sum256([]byte("x"))
	tests := []struct {
		alg    keys.Alg
		digest []byte
		opts   crypto.SignerOpts
	}{
		{keys.ES256, h[:], crypto.Hash(0)},
		{keys.ES256, h[:], crypto.SHA384},
		{keys.ES256, h[:16], crypto.SHA256},
		{keys.RS256, h[:], crypto.SHA512},
		{keys.EdDSA, h[:], crypto.SHA256},
	}
	for _, tc := range tests {
		k := mustActive(t, m, ringFor(tc.alg), tc.alg)
		if sig, err := k.Sign(ctx, tc.digest, tc.opts); err == nil {
			t.Errorf("%s Sign(%d-byte digest, hash %v): got %d-byte signature, want an error", tc.alg, len(tc.digest), tc.opts.HashFunc(), len(sig))
		}
	}
}

func testRotate(t *testing.T, newManager func(*testing.T) keys.Manager) {
	for _, alg := range Algs {
		t.Run(string(alg), func(t *testing.T) {
			ctx := context.Background()
			m := newManager(t)
			clock := Clock(t)
			ring := ringFor(alg)
			k1 := mustActive(t, m, ring, alg)
			tok1, err := jose.Sign(ctx, k1, []byte(`{"n":1}`), nil)
			if err != nil {
				t.Fatal(err)
			}
			clock.Add(time.Minute)
			k2, err := m.Rotate(ctx, ring, alg)
			if err != nil {
				t.Fatalf("Rotate: %v", err)
			}
			if k2.ID() == k1.ID() {
				t.Fatalf("Rotate kept kid %q", k1.ID())
			}
			if got := mustActive(t, m, ring, alg).ID(); got != k2.ID() {
				t.Errorf("Active after Rotate: got kid %q, want %q", got, k2.ID())
			}

			pubs := mustVerification(t, m, ring)
			if got, want := kids(pubs), []string{k2.ID(), k1.ID()}; !slices.Equal(got, want) {
				t.Fatalf("Verification after Rotate: got %v, want %v (newest first)", got, want)
			}
			if !pubs[0].Retired.IsZero() {
				t.Errorf("active key Retired = %v, want zero", pubs[0].Retired)
			}
			if pubs[1].Retired.IsZero() || pubs[1].Retired.Before(pubs[1].Created) {
				t.Errorf("retired key: Created %v, Retired %v; want Retired set and not before Created", pubs[1].Created, pubs[1].Retired)
			}

			// A token signed before the rotation, and one signed after it
			// by a Key obtained before it, still verify within retention.
			tok1b, err := jose.Sign(ctx, k1, []byte(`{"n":2}`), nil)
			if err != nil {
				t.Fatalf("Sign with the retired key: %v", err)
			}
			tok2, err := jose.Sign(ctx, k2, []byte(`{"n":3}`), nil)
			if err != nil {
				t.Fatal(err)
			}
			clock.Add(Retention - 2*time.Minute)
			jwks := mustJWKS(t, m, ring)
			for i, tok := range []string{tok1, tok1b, tok2} {
				if _, err := jose.Verify([]byte(tok), jwks, alg); err != nil {
					t.Errorf("token %d within retention: %v", i, err)
				}
			}

			clock.Add(3 * time.Minute) // past the retention of k1
			pubs = mustVerification(t, m, ring)
			if got, want := kids(pubs), []string{k2.ID()}; !slices.Equal(got, want) {
				t.Fatalf("Verification after retention: got %v, want %v", got, want)
			}
			jwks = mustJWKS(t, m, ring)
			if _, err := jose.Verify([]byte(tok1), jwks, alg); err == nil {
				t.Errorf("token of a key retired longer than the retention still verifies")
			}
			if _, err := jose.Verify([]byte(tok2), jwks, alg); err != nil {
				t.Errorf("token of the active key: %v", err)
			}
		})
	}
}

// testRotateTwice: every key retired within the retention is published, and
// they all leave once it has passed.
func testRotateTwice(t *testing.T, newManager func(*testing.T) keys.Manager) {
	ctx := context.Background()
	m := newManager(t)
	k1 := mustActive(t, m, "twice", keys.ES256)
	k2, err := m.Rotate(ctx, "twice", keys.ES256)
	if err != nil {
		t.Fatal(err)
	}
	k3, err := m.Rotate(ctx, "twice", keys.ES256)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := kids(mustVerification(t, m, "twice")), []string{k3.ID(), k2.ID(), k1.ID()}; !slices.Equal(got, want) {
		t.Errorf("Verification after two rotations: got %v, want %v", got, want)
	}
	Clock(t).Add(Retention + time.Minute)
	if got, want := kids(mustVerification(t, m, "twice")), []string{k3.ID()}; !slices.Equal(got, want) {
		t.Errorf("Verification after the retention: got %v, want %v", got, want)
	}
}

func testRotateNew(t *testing.T, newManager func(*testing.T) keys.Manager) {
	ctx := context.Background()
	m := newManager(t)
	k, err := m.Rotate(ctx, "fresh", keys.EdDSA)
	if err != nil {
		t.Fatalf("Rotate of a missing ring: %v", err)
	}
	if got := mustActive(t, m, "fresh", keys.EdDSA).ID(); got != k.ID() {
		t.Errorf("Active: got %q, want %q", got, k.ID())
	}
	if got := kids(mustVerification(t, m, "fresh")); !slices.Equal(got, []string{k.ID()}) {
		t.Errorf("Verification: got %v, want [%s]", got, k.ID())
	}
}

func testOtherAlg(t *testing.T, newManager func(*testing.T) keys.Manager) {
	ctx := context.Background()
	m := newManager(t)
	k := mustActive(t, m, "sig", keys.ES256)
	tests := []struct {
		name string
		call func() error
	}{
		{"Active EdDSA", func() error { _, err := m.Active(ctx, "sig", keys.EdDSA); return err }},
		{"Active RS256", func() error { _, err := m.Active(ctx, "sig", keys.RS256); return err }},
		{"Rotate EdDSA", func() error { _, err := m.Rotate(ctx, "sig", keys.EdDSA); return err }},
		{"Active HS256", func() error { _, err := m.Active(ctx, "other", "HS256"); return err }},
		{"Active none", func() error { _, err := m.Active(ctx, "other", "none"); return err }},
		{"Active empty", func() error { _, err := m.Active(ctx, "other", ""); return err }},
		{"Rotate ES512", func() error { _, err := m.Rotate(ctx, "other", "ES512"); return err }},
	}
	for _, tc := range tests {
		if err := tc.call(); !errors.Is(err, keys.ErrUnsupportedAlg) {
			t.Errorf("%s: got error %v, want ErrUnsupportedAlg", tc.name, err)
		}
	}
	if got := kids(mustVerification(t, m, "sig")); !slices.Equal(got, []string{k.ID()}) {
		t.Errorf("ring after rejected calls: got kids %v, want [%s]", got, k.ID())
	}
	if got := kids(mustVerification(t, m, "other")); len(got) != 0 {
		t.Errorf("ring \"other\" after rejected calls: got kids %v, want none", got)
	}
}

func testBadNames(t *testing.T, newManager func(*testing.T) keys.Manager) {
	ctx := context.Background()
	m := newManager(t)
	for _, name := range []string{"", "OIDC", "a/b", "../x", "a b", "ring_1", "ring.1", "é", strings.Repeat("a", 65)} {
		if _, err := m.Active(ctx, name, keys.ES256); !errors.Is(err, keys.ErrBadName) {
			t.Errorf("Active(%q): got error %v, want ErrBadName", name, err)
		}
		if _, err := m.Rotate(ctx, name, keys.ES256); !errors.Is(err, keys.ErrBadName) {
			t.Errorf("Rotate(%q): got error %v, want ErrBadName", name, err)
		}
		if _, err := m.Verification(ctx, name); !errors.Is(err, keys.ErrBadName) {
			t.Errorf("Verification(%q): got error %v, want ErrBadName", name, err)
		}
	}
	rings, err := m.Rings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rings) != 0 {
		t.Errorf("Rings after rejected names: got %v, want none", rings)
	}
	// The longest valid name works.
	if _, err := m.Active(ctx, strings.Repeat("a", 64), keys.EdDSA); err != nil {
		t.Errorf("Active with a 64-character name: %v", err)
	}
}

func testConcurrent(t *testing.T, newManager func(*testing.T) keys.Manager) {
	ctx := context.Background()
	m := newManager(t)
	const n = 16
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			k, err := m.Active(ctx, "busy", keys.ES256)
			if err == nil {
				ids[i] = k.ID()
			}
			errs[i] = err
		}()
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("goroutine %d: %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Errorf("goroutine %d: got kid %q, want %q", i, ids[i], ids[0])
		}
	}
	if got := kids(mustVerification(t, m, "busy")); !slices.Equal(got, []string{ids[0]}) {
		t.Errorf("Verification: got %v, want [%s]", got, ids[0])
	}
}

func testRings(t *testing.T, newManager func(*testing.T) keys.Manager) {
	ctx := context.Background()
	m := newManager(t)
	rings, err := m.Rings(ctx)
	if err != nil {
		t.Fatalf("Rings: %v", err)
	}
	if len(rings) != 0 {
		t.Fatalf("Rings of an empty store: got %v, want none", rings)
	}
	pubs, err := m.Verification(ctx, "nothing-here")
	if err != nil || len(pubs) != 0 {
		t.Errorf("Verification of an unknown ring: got %v, %v; want empty, nil", kids(pubs), err)
	}
	mustActive(t, m, "receipts", keys.EdDSA)
	mustActive(t, m, "audit", keys.ES256)
	if _, err := m.Rotate(ctx, "audit", keys.ES256); err != nil {
		t.Fatal(err)
	}
	rings, err = m.Rings(ctx)
	if err != nil {
		t.Fatalf("Rings: %v", err)
	}
	slices.Sort(rings)
	if want := []string{"audit", "receipts"}; !slices.Equal(rings, want) {
		t.Errorf("Rings: got %v, want %v", rings, want)
	}
}

func mustActive(t *testing.T, m keys.Manager, ring string, alg keys.Alg) keys.Key {
	t.Helper()
	k, err := m.Active(context.Background(), ring, alg)
	if err != nil {
		t.Fatalf("Active(%q, %s): %v", ring, alg, err)
	}
	return k
}

func mustVerification(t *testing.T, m keys.Manager, ring string) []keys.PublicKey {
	t.Helper()
	pubs, err := m.Verification(context.Background(), ring)
	if err != nil {
		t.Fatalf("Verification(%q): %v", ring, err)
	}
	return pubs
}

func mustJWKS(t *testing.T, m keys.Manager, ring string) []byte {
	t.Helper()
	b, err := jose.JWKS(mustVerification(t, m, ring)...)
	if err != nil {
		t.Fatalf("jose.JWKS: %v", err)
	}
	return b
}

func kids(pubs []keys.PublicKey) []string {
	out := make([]string, 0, len(pubs))
	for _, p := range pubs {
		out = append(out, p.ID)
	}
	return out
}

func checkPublicType(t *testing.T, alg keys.Alg, pub crypto.PublicKey) {
	t.Helper()
	ok := false
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		ok = alg == keys.ES256 && p.Curve == elliptic.P256()
	case ed25519.PublicKey:
		ok = alg == keys.EdDSA && len(p) == ed25519.PublicKeySize
	case *rsa.PublicKey:
		ok = alg == keys.RS256 && p.N.BitLen() == 2048
	}
	if !ok {
		t.Errorf("Public() of an %s key: got %T, want P-256, Ed25519 or RSA-2048 to match", alg, pub)
	}
}

func samePublic(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}

// verifyRaw checks a Key.Sign output with the standard library.
func verifyRaw(pub crypto.PublicKey, digest, sig []byte) error {
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(p, digest, sig) {
			return errors.New("not a valid ASN.1 DER ECDSA signature")
		}
	case ed25519.PublicKey:
		if !ed25519.Verify(p, digest, sig) {
			return errors.New("Ed25519 signature does not verify")
		}
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(p, crypto.SHA256, digest, sig); err != nil {
			return fmt.Errorf("RSA PKCS #1 v1.5: %w", err)
		}
	default:
		return fmt.Errorf("unexpected public key %T", pub)
	}
	return nil
}
