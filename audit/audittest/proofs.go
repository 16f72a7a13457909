package audittest

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/cedula/cedula/audit"
)

// waitLimit bounds how long a test waits for something a store does by
// itself (sequencing its outbox, a checkpoint) before it fails.
const waitLimit = 30 * time.Second

func sleep(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Millisecond):
	}
}

var hasher = rfc6962.DefaultHasher

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// oracle holds, for a sequence of leaves, the leaf hashes and the root of
// every prefix, computed by transparency-dev/merkle's compact ranges — an
// implementation independent of the tlog package the stores use.
type oracle struct {
	leaves [][]byte // leaf hashes
	roots  [][]byte // roots[m] is the root of the first m leaves
	rng    *compact.Range
}

func newOracle() *oracle {
	f := &compact.RangeFactory{Hash: hasher.HashChildren}
	return &oracle{roots: [][]byte{hasher.EmptyRoot()}, rng: f.NewEmptyRange(0)}
}

func (o *oracle) add(t testing.TB, data []byte) {
	t.Helper()
	lh := hasher.HashLeaf(data)
	o.leaves = append(o.leaves, lh)
	must(t, o.rng.Append(lh, nil), "compact.Append")
	root, err := o.rng.GetRootHash(nil)
	must(t, err, "compact.GetRootHash")
	o.roots = append(o.roots, root)
}

func oracleOf(t testing.TB, recs []audit.Record) *oracle {
	o := newOracle()
	for _, r := range recs {
		o.add(t, r.Data)
	}
	return o
}

func hashes(p []tlog.Hash) [][]byte {
	out := make([][]byte, len(p))
	for i := range p {
		out[i] = p[i][:]
	}
	return out
}

// checkRoot compares the store's root of the first m entries with the
// oracle's.
func checkRoot(t testing.TB, l audit.Reader, o *oracle, m int64) bool {
	t.Helper()
	root, err := audit.TreeHash(context.Background(), l, m)
	if err != nil {
		t.Errorf("TreeHash(%d): %v", m, err)
		return false
	}
	if string(root[:]) != string(o.roots[m]) {
		t.Errorf("TreeHash(%d): got %x, want %x (recomputed from the entries)", m, root[:], o.roots[m])
		return false
	}
	return true
}

// checkInclusion proves entry i in the tree of m entries and verifies the
// proof with transparency-dev/merkle against the oracle's root and leaf.
func checkInclusion(t testing.TB, l audit.Reader, o *oracle, i, m int64) bool {
	t.Helper()
	p, err := audit.ProveInclusion(context.Background(), l, i, m)
	if err != nil {
		t.Errorf("ProveInclusion(%d, %d): %v", i, m, err)
		return false
	}
	if err := proof.VerifyInclusion(hasher, uint64(i), uint64(m), o.leaves[i], hashes(p), o.roots[m]); err != nil {
		t.Errorf("inclusion proof of %d in %d: transparency-dev/merkle says %v", i, m, err)
		return false
	}
	return true
}

// checkConsistency proves m1 → m2 and verifies it independently.
func checkConsistency(t testing.TB, l audit.Reader, o *oracle, m1, m2 int64) bool {
	t.Helper()
	p, err := audit.ProveConsistency(context.Background(), l, m1, m2)
	if err != nil {
		t.Errorf("ProveConsistency(%d, %d): %v", m1, m2, err)
		return false
	}
	if err := proof.VerifyConsistency(hasher, uint64(m1), uint64(m2), hashes(p), o.roots[m1], o.roots[m2]); err != nil {
		t.Errorf("consistency proof %d→%d: transparency-dev/merkle says %v", m1, m2, err)
		return false
	}
	return true
}

// checkTree recomputes the tree of recs independently and checks the
// store's root and a sample of proofs against it.
func checkTree(t testing.TB, l audit.Reader, recs []audit.Record) {
	t.Helper()
	o := oracleOf(t, recs)
	n := int64(len(recs))
	if !checkRoot(t, l, o, n) {
		return
	}
	r := rand.New(rand.NewPCG(uint64(n), 7))
	for range 50 {
		if n == 0 {
			break
		}
		m := 1 + r.Int64N(n)
		if !checkInclusion(t, l, o, r.Int64N(m), m) || !checkConsistency(t, l, o, r.Int64N(m+1), m) {
			return
		}
	}
}

// testProofs: a log of 37 entries; every root, every inclusion proof of
// every entry in every tree size, every consistency proof, verified
// independently; by leaf hash too; and tampered proofs fail.
func testProofs(t *testing.T, newLog func(*testing.T) Env) {
	ctx := t.Context()
	l := newLog(t).Log
	const n = 37
	var es []audit.Entry
	for i := range n {
		es = append(es, newEntry("p", i))
	}
	// In uneven batches, so that the tree grows across transactions.
	for lo := 0; lo < n; {
		hi := min(n, lo+1+lo%5)
		_, err := l.Append(ctx, es[lo:hi]...)
		must(t, err, "Append")
		lo = hi
	}
	recs := readAll(t, l)
	o := oracleOf(t, recs)
	for m := int64(0); m <= n; m++ {
		if !checkRoot(t, l, o, m) {
			t.FailNow()
		}
		for i := int64(0); i < m; i++ {
			if !checkInclusion(t, l, o, i, m) {
				t.FailNow()
			}
		}
		for m1 := int64(0); m1 <= m; m1++ {
			if !checkConsistency(t, l, o, m1, m) {
				t.FailNow()
			}
		}
	}
	for i := int64(0); i < n; i++ {
		var leaf audit.Hash
		copy(leaf[:], o.leaves[i])
		got, p, err := audit.ProveInclusionByHash(ctx, l, leaf, n)
		must(t, err, fmt.Sprintf("ProveInclusionByHash(leaf %d)", i))
		if got != i {
			t.Errorf("ProveInclusionByHash(leaf %d): got index %d, want %d", i, got, i)
		}
		if err := proof.VerifyInclusion(hasher, uint64(i), n, o.leaves[i], hashes(p), o.roots[n]); err != nil {
			t.Errorf("inclusion proof of leaf %d by hash: %v", i, err)
		}
		// Our own checker agrees.
		var root audit.Hash
		copy(root[:], o.roots[n])
		if err := audit.CheckInclusion(p, i, n, leaf, root); err != nil {
			t.Errorf("CheckInclusion(leaf %d): %v", i, err)
		}
	}

	// The checks can fail: a proof with one bit flipped, or checked
	// against another leaf, does not verify.
	p, err := audit.ProveInclusion(ctx, l, 5, n)
	must(t, err, "ProveInclusion")
	p[2][0] ^= 1
	if err := proof.VerifyInclusion(hasher, 5, n, o.leaves[5], hashes(p), o.roots[n]); err == nil {
		t.Errorf("tampered inclusion proof: got it verified, want a failure")
	}
	p[2][0] ^= 1
	if err := proof.VerifyInclusion(hasher, 5, n, o.leaves[6], hashes(p), o.roots[n]); err == nil {
		t.Errorf("inclusion proof of 5 checked against leaf 6: got it verified, want a failure")
	}
	cp, err := audit.ProveConsistency(ctx, l, 11, n)
	must(t, err, "ProveConsistency")
	cp[0][31] ^= 0x80
	if err := proof.VerifyConsistency(hasher, 11, n, hashes(cp), o.roots[11], o.roots[n]); err == nil {
		t.Errorf("tampered consistency proof: got it verified, want a failure")
	}
}

func testProofBadRequests(t *testing.T, newLog func(*testing.T) Env) {
	ctx := t.Context()
	l := newLog(t).Log
	const n = 10
	for i := range n {
		_, err := l.Append(ctx, newEntry("b", i))
		must(t, err, "Append")
	}
	later, err := newEntry("b", 9).Canonical() // index 9: not in the tree of 5
	must(t, err, "Canonical")
	unknown, err := newEntry("never", 0).Canonical()
	must(t, err, "Canonical")
	for _, tc := range []struct {
		name string
		call func() error
		want error
	}{
		{"inclusion: negative index", func() error { _, err := audit.ProveInclusion(ctx, l, -1, 5); return err }, audit.ErrBadRange},
		{"inclusion: index = size", func() error { _, err := audit.ProveInclusion(ctx, l, 5, 5); return err }, audit.ErrOutOfRange},
		{"inclusion: index > size", func() error { _, err := audit.ProveInclusion(ctx, l, 7, 5); return err }, audit.ErrOutOfRange},
		{"inclusion: size beyond the log", func() error { _, err := audit.ProveInclusion(ctx, l, 0, n+1); return err }, audit.ErrOutOfRange},
		{"inclusion: negative size", func() error { _, err := audit.ProveInclusion(ctx, l, 0, -1); return err }, audit.ErrBadRange},
		{"inclusion: empty tree", func() error { _, err := audit.ProveInclusion(ctx, l, 0, 0); return err }, audit.ErrOutOfRange},
		{"by hash: unknown leaf", func() error {
			_, _, err := audit.ProveInclusionByHash(ctx, l, audit.LeafHash(unknown), n)
			return err
		}, audit.ErrNotFound},
		{"by hash: leaf after the size", func() error {
			_, _, err := audit.ProveInclusionByHash(ctx, l, audit.LeafHash(later), 5)
			return err
		}, audit.ErrNotFound},
		{"by hash: size beyond the log", func() error {
			_, _, err := audit.ProveInclusionByHash(ctx, l, audit.LeafHash(later), n+1)
			return err
		}, audit.ErrOutOfRange},
		{"consistency: inverted", func() error { _, err := audit.ProveConsistency(ctx, l, 6, 3); return err }, audit.ErrBadRange},
		{"consistency: negative", func() error { _, err := audit.ProveConsistency(ctx, l, -1, 3); return err }, audit.ErrBadRange},
		{"consistency: beyond the log", func() error { _, err := audit.ProveConsistency(ctx, l, 3, n+1); return err }, audit.ErrOutOfRange},
		{"tree hash: beyond the log", func() error { _, err := audit.TreeHash(ctx, l, n+1); return err }, audit.ErrOutOfRange},
		{"tree hash: negative", func() error { _, err := audit.TreeHash(ctx, l, -1); return err }, audit.ErrBadRange},
		{"read hashes: leaf beyond the log", func() error {
			_, err := l.ReadHashes(ctx, []int64{tlog.StoredHashIndex(0, n)})
			return err
		}, audit.ErrOutOfRange},
		{"read hashes: negative index", func() error { _, err := l.ReadHashes(ctx, []int64{-1}); return err }, audit.ErrOutOfRange},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			wantErr(t, tc.name, err, tc.want)
			if bad := tc.want != audit.ErrNotFound; audit.IsBadRequest(err) != bad {
				t.Errorf("IsBadRequest(%v): got %v, want %v", err, !bad, bad)
			}
		})
	}
	// The edges that are fine.
	for _, tc := range []struct{ old, new int64 }{{0, 0}, {0, n}, {n, n}, {4, 4}} {
		p, err := audit.ProveConsistency(ctx, l, tc.old, tc.new)
		if err != nil || len(p) != 0 {
			t.Errorf("ProveConsistency(%d, %d): got %d hashes, %v; want an empty proof", tc.old, tc.new, len(p), err)
		}
	}
}

// propertySeed returns AUDITTEST_SEED when set (to replay a failure), else
// a fresh seed; the test logs it.
func propertySeed(t *testing.T) uint64 {
	if s := os.Getenv("AUDITTEST_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		must(t, err, "AUDITTEST_SEED")
		return v
	}
	return uint64(time.Now().UnixNano())
}

// testProperty appends random sequences — random sizes from 1 to 2000, in
// random batches, some through AppendTx — and checks, independently of the
// store's tlog, every root of every prefix and a large random sample of
// inclusion and consistency proofs (every entry in the final tree, plus
// random pairs).
func testProperty(t *testing.T, newLog func(*testing.T) Env) {
	seed := propertySeed(t)
	t.Logf("seed %d (set AUDITTEST_SEED=%d to replay)", seed, seed)
	r := rand.New(rand.NewPCG(seed, seed>>32|1))
	sizes := []int{1, 2, 3, 2000, 1 + r.IntN(2000), 1 + r.IntN(2000)}
	if testing.Short() {
		sizes = []int{1, 2, 3, 1 + r.IntN(300)}
	}
	for c, total := range sizes {
		t.Run(fmt.Sprintf("case%d-%d", c, total), func(t *testing.T) {
			ctx := t.Context()
			env := newLog(t)
			setupChanges(t, env)
			l := env.Log
			for appended := 0; appended < total; {
				k := min(total-appended, 1+r.IntN(64))
				var es []audit.Entry
				for j := range k {
					es = append(es, newEntry(fmt.Sprintf("pc%d", c), appended+j))
				}
				if r.IntN(8) == 0 {
					for _, e := range es {
						must(t, change(ctx, env, l, e.RequestID, e, false), "change")
					}
					must(t, l.Flush(ctx), "Flush")
				} else {
					_, err := l.Append(ctx, es...)
					must(t, err, "Append")
				}
				appended += k
			}
			recs := readAll(t, l)
			if len(recs) != total {
				t.Fatalf("Size: got %d, want %d", len(recs), total)
			}
			o := oracleOf(t, recs)
			n := int64(total)
			for m := int64(0); m <= n; m++ {
				if !checkRoot(t, l, o, m) {
					t.FailNow()
				}
			}
			for i := range n {
				if !checkInclusion(t, l, o, i, n) {
					t.FailNow()
				}
			}
			for range 300 {
				m := 1 + r.Int64N(n)
				if !checkInclusion(t, l, o, r.Int64N(m), m) {
					t.FailNow()
				}
				m1 := r.Int64N(m + 1)
				if !checkConsistency(t, l, o, m1, m) {
					t.FailNow()
				}
			}
		})
	}
}
