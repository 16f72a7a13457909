package audit_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/cedula/cedula/audit"
)

var hasher = rfc6962.DefaultHasher

// roots returns the root of every prefix of leaves, computed by
// transparency-dev/merkle, independently of tlog.
func roots(t testing.TB, leaves [][]byte) [][]byte {
	f := &compact.RangeFactory{Hash: hasher.HashChildren}
	r := f.NewEmptyRange(0)
	out := [][]byte{hasher.EmptyRoot()}
	for _, l := range leaves {
		if err := r.Append(hasher.HashLeaf(l), nil); err != nil {
			t.Fatal(err)
		}
		root, err := r.GetRootHash(nil)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, root)
	}
	return out
}

func bs(p []tlog.Hash) [][]byte {
	out := make([][]byte, len(p))
	for i := range p {
		out[i] = p[i][:]
	}
	return out
}

func hashOf(b []byte) audit.Hash {
	var h audit.Hash
	copy(h[:], b)
	return h
}

func leafData(i int) []byte { return fmt.Appendf(nil, "leaf %d", i) }

// TestProofsExhaustive: for every tree size up to 70, every root, every
// inclusion proof and every consistency proof computed over a Reader
// verifies with transparency-dev/merkle and with this package's checkers.
func TestProofsExhaustive(t *testing.T) {
	ctx := context.Background()
	m := newMemLog()
	const n = 70
	var leaves [][]byte
	for i := range n {
		leaves = append(leaves, leafData(i))
	}
	m.add(leaves...)
	rs := roots(t, leaves)
	for size := int64(0); size <= n; size++ {
		root, err := audit.TreeHash(ctx, m, size)
		if err != nil {
			t.Fatal(err)
		}
		if string(root[:]) != string(rs[size]) {
			t.Fatalf("TreeHash(%d): got %x, want %x", size, root[:], rs[size])
		}
		for i := range size {
			p, err := audit.ProveInclusion(ctx, m, i, size)
			if err != nil {
				t.Fatal(err)
			}
			leaf := hasher.HashLeaf(leaves[i])
			if err := proof.VerifyInclusion(hasher, uint64(i), uint64(size), leaf, bs(p), rs[size]); err != nil {
				t.Fatalf("inclusion %d in %d: %v", i, size, err)
			}
			if err := audit.CheckInclusion(p, i, size, hashOf(leaf), root); err != nil {
				t.Fatalf("CheckInclusion %d in %d: %v", i, size, err)
			}
		}
		for old := range size + 1 {
			p, err := audit.ProveConsistency(ctx, m, old, size)
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyConsistency(hasher, uint64(old), uint64(size), bs(p), rs[old], rs[size]); err != nil {
				t.Fatalf("consistency %d→%d: %v", old, size, err)
			}
			if err := audit.CheckConsistency(p, old, hashOf(rs[old]), size, root); err != nil {
				t.Fatalf("CheckConsistency %d→%d: %v", old, size, err)
			}
		}
	}
}

// TestProofsRandom: random logs of 1 to 2000 leaves, random proofs.
func TestProofsRandom(t *testing.T) {
	ctx := context.Background()
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	for range 10 {
		n := 1 + r.IntN(2000)
		m := newMemLog()
		var leaves [][]byte
		for i := range n {
			leaves = append(leaves, leafData(i))
		}
		// Add in random batches: the stored hashes must not depend on them.
		for lo := 0; lo < n; {
			hi := min(n, lo+1+r.IntN(100))
			m.add(leaves[lo:hi]...)
			lo = hi
		}
		rs := roots(t, leaves)
		for range 200 {
			size := 1 + r.Int64N(int64(n))
			i := r.Int64N(size)
			p, err := audit.ProveInclusion(ctx, m, i, size)
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyInclusion(hasher, uint64(i), uint64(size), hasher.HashLeaf(leaves[i]), bs(p), rs[size]); err != nil {
				t.Fatalf("n=%d: inclusion %d in %d: %v", n, i, size, err)
			}
			old := r.Int64N(size + 1)
			cp, err := audit.ProveConsistency(ctx, m, old, size)
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyConsistency(hasher, uint64(old), uint64(size), bs(cp), rs[old], rs[size]); err != nil {
				t.Fatalf("n=%d: consistency %d→%d: %v", n, old, size, err)
			}
		}
	}
}

func TestCheckRejects(t *testing.T) {
	ctx := context.Background()
	m := newMemLog()
	var leaves [][]byte
	for i := range 20 {
		leaves = append(leaves, leafData(i))
	}
	m.add(leaves...)
	rs := roots(t, leaves)
	p, err := audit.ProveInclusion(ctx, m, 6, 20)
	if err != nil {
		t.Fatal(err)
	}
	leaf := hashOf(hasher.HashLeaf(leaves[6]))
	root := hashOf(rs[20])
	flipped := append(tlog.RecordProof(nil), p...)
	flipped[1][5] ^= 4
	cp, err := audit.ProveConsistency(ctx, m, 7, 20)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"inclusion: good", audit.CheckInclusion(p, 6, 20, leaf, root), nil},
		{"inclusion: flipped bit", audit.CheckInclusion(flipped, 6, 20, leaf, root), audit.ErrProof},
		{"inclusion: other leaf", audit.CheckInclusion(p, 6, 20, hashOf(hasher.HashLeaf(leaves[7])), root), audit.ErrProof},
		{"inclusion: other index", audit.CheckInclusion(p, 7, 20, leaf, root), audit.ErrProof},
		{"inclusion: other size", audit.CheckInclusion(p, 6, 12, leaf, root), audit.ErrProof},
		{"inclusion: short proof", audit.CheckInclusion(p[1:], 6, 20, leaf, root), audit.ErrProof},
		{"inclusion: index = size", audit.CheckInclusion(p, 20, 20, leaf, root), audit.ErrBadRange},
		{"inclusion: negative index", audit.CheckInclusion(p, -1, 20, leaf, root), audit.ErrBadRange},
		{"consistency: good", audit.CheckConsistency(cp, 7, hashOf(rs[7]), 20, root), nil},
		{"consistency: wrong old root", audit.CheckConsistency(cp, 7, hashOf(rs[8]), 20, root), audit.ErrProof},
		{"consistency: wrong new root", audit.CheckConsistency(cp, 7, hashOf(rs[7]), 20, hashOf(rs[19])), audit.ErrProof},
		{"consistency: truncated", audit.CheckConsistency(cp[:len(cp)-1], 7, hashOf(rs[7]), 20, root), audit.ErrProof},
		{"consistency: inverted", audit.CheckConsistency(cp, 20, root, 7, hashOf(rs[7])), audit.ErrBadRange},
		{"consistency: from empty", audit.CheckConsistency(nil, 0, audit.EmptyRoot, 20, root), nil},
		{"consistency: from empty, wrong root", audit.CheckConsistency(nil, 0, root, 20, root), audit.ErrProof},
		{"consistency: from empty, with hashes", audit.CheckConsistency(cp, 0, audit.EmptyRoot, 20, root), audit.ErrProof},
		{"consistency: same size", audit.CheckConsistency(nil, 20, root, 20, root), nil},
		{"consistency: same size, other root", audit.CheckConsistency(nil, 20, root, 20, hashOf(rs[7])), audit.ErrProof},
	} {
		if !errors.Is(tc.err, tc.want) || (tc.want == nil) != (tc.err == nil) {
			t.Errorf("%s: got %v, want %v", tc.name, tc.err, tc.want)
		}
	}
}

func TestEmptyRoot(t *testing.T) {
	if got, want := audit.EmptyRoot[:], hasher.EmptyRoot(); string(got) != string(want) {
		t.Errorf("EmptyRoot: got %x, want %x", got, want)
	}
}

func TestParseHash(t *testing.T) {
	h := hashOf(hasher.HashLeaf([]byte("x")))
	h[0], h[1] = 0xfb, 0xff // base64 '+' and '/' in std, '-' and '_' in URL form
	for _, tc := range []struct {
		name, s string
		ok      bool
	}{
		{"std base64", base64.StdEncoding.EncodeToString(h[:]), true},
		{"URL base64", base64.URLEncoding.EncodeToString(h[:]), true},
		{"URL base64 unpadded", base64.RawURLEncoding.EncodeToString(h[:]), true},
		{"hex", hex.EncodeToString(h[:]), true},
		{"empty", "", false},
		{"short", base64.StdEncoding.EncodeToString(h[:31]), false},
		{"long hex", hex.EncodeToString(h[:]) + "00", false},
		{"bad hex", "zz" + hex.EncodeToString(h[1:]), false},
		{"bad base64", "!" + base64.StdEncoding.EncodeToString(h[:])[1:], false},
		{"line break", base64.StdEncoding.EncodeToString(h[:])[:43] + "\n", false},
		{"std unpadded", base64.RawStdEncoding.EncodeToString(h[:]), false},
		{"non-zero padding bits", base64.StdEncoding.EncodeToString(h[:])[:42] + "B=", false},
	} {
		got, err := audit.ParseHash(tc.s)
		switch {
		case tc.ok && err != nil:
			t.Errorf("%s: ParseHash(%q): %v", tc.name, tc.s, err)
		case tc.ok && got != h:
			t.Errorf("%s: ParseHash(%q): got %s, want %s", tc.name, tc.s, got, h)
		case !tc.ok && !errors.Is(err, audit.ErrMalformed):
			t.Errorf("%s: ParseHash(%q): got %v, want ErrMalformed", tc.name, tc.s, err)
		case !tc.ok && !audit.IsBadRequest(err):
			t.Errorf("%s: IsBadRequest(%v): got false, want true", tc.name, err)
		}
	}
}
