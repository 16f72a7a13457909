package audittest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"golang.org/x/mod/sumdb/note"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/keys/localkeys"
)

// Origin is the origin the suite's checkpoints name.
const Origin = "audit.cedula.test/log"

// keystore returns a local keystore in dir (a fresh folder per test, or a
// shared one for two "replicas").
func keystore(t testing.TB, dir string) keys.Manager {
	t.Helper()
	m, err := localkeys.Open(filepath.Join(dir, "keystore.json"), localkeys.WithKEK(make([]byte, 32)),
		localkeys.WithReloadInterval(0))
	must(t, err, "open keystore")
	return m
}

func newCheckpointer(t testing.TB, l audit.Reader, cs audit.Checkpoints, km keys.Manager) *audit.Checkpointer {
	t.Helper()
	cp, err := audit.NewCheckpointer(audit.CheckpointerConfig{
		Origin: Origin, Log: l, Store: cs, Keys: km, Interval: 2 * time.Millisecond,
	})
	must(t, err, "NewCheckpointer")
	return cp
}

func testCheckpointStore(t *testing.T, newLog func(*testing.T) Env) {
	ctx := t.Context()
	cs := newLog(t).Checkpoints
	_, err := cs.LatestCheckpoint(ctx)
	wantErr(t, "LatestCheckpoint of none", err, audit.ErrNotFound)
	_, err = cs.CheckpointAt(ctx, 0)
	wantErr(t, "CheckpointAt(0) of none", err, audit.ErrNotFound)
	mk := func(size int64, note string) audit.Checkpoint {
		return audit.Checkpoint{Origin: Origin, Size: size, Root: sha256.Sum256([]byte(fmt.Sprint(size))),
			Note: []byte(note), Time: baseTime().Add(time.Duration(size) * time.Second)}
	}
	for _, c := range []audit.Checkpoint{mk(0, "zero\n"), mk(5, "five\n"), mk(3, "three\n\x00\xff")} {
		must(t, cs.AddCheckpoint(ctx, c), fmt.Sprintf("AddCheckpoint(%d)", c.Size))
	}
	check := func(op string, got audit.Checkpoint, want audit.Checkpoint) {
		t.Helper()
		want.Time = want.Time.UTC().Truncate(time.Microsecond)
		if got.Origin != want.Origin || got.Size != want.Size || got.Root != want.Root ||
			string(got.Note) != string(want.Note) || !got.Time.Equal(want.Time) || got.Time.Location() != time.UTC {
			t.Errorf("%s: got %+v, want %+v", op, got, want)
		}
	}
	latest, err := cs.LatestCheckpoint(ctx)
	must(t, err, "LatestCheckpoint")
	check("LatestCheckpoint", latest, mk(5, "five\n"))
	at, err := cs.CheckpointAt(ctx, 3)
	must(t, err, "CheckpointAt(3)")
	check("CheckpointAt(3)", at, mk(3, "three\n\x00\xff"))
	_, err = cs.CheckpointAt(ctx, 4)
	wantErr(t, "CheckpointAt(4)", err, audit.ErrNotFound)

	// The same size again: the same root is fine (another replica signed
	// it too) and the first note stays; another root is a fork.
	must(t, cs.AddCheckpoint(ctx, mk(5, "five again\n")), "AddCheckpoint(5) again")
	at, err = cs.CheckpointAt(ctx, 5)
	must(t, err, "CheckpointAt(5)")
	check("CheckpointAt(5) after a second add", at, mk(5, "five\n"))
	fork := mk(5, "fork\n")
	fork.Root[0] ^= 1
	wantErr(t, "AddCheckpoint of another root at size 5", cs.AddCheckpoint(ctx, fork), audit.ErrInconsistent)
}

// verifyCheckpoint opens c with vkey through x/mod's note package directly
// and checks its text and root against the oracle.
func verifyCheckpoint(t testing.TB, c audit.Checkpoint, vkey string, o *oracle) {
	t.Helper()
	v, err := note.NewVerifier(vkey)
	must(t, err, "NewVerifier")
	n, err := note.Open(c.Note, note.VerifierList(v))
	if err != nil {
		t.Errorf("checkpoint %d: note.Open: %v", c.Size, err)
		return
	}
	root := o.roots[c.Size]
	want := fmt.Sprintf("%s\n%d\n%s\n", Origin, c.Size, b64(root))
	if n.Text != want {
		t.Errorf("checkpoint %d text: got %q, want %q", c.Size, n.Text, want)
	}
	if string(c.Root[:]) != string(root) {
		t.Errorf("checkpoint %d root: got %x, want %x", c.Size, c.Root[:], root)
	}
}

// checkChain checks each checkpoint signed, and consistent with the one
// before, independently.
func checkChain(t testing.TB, l audit.Reader, cps []audit.Checkpoint, vkey string, o *oracle) {
	t.Helper()
	for i, c := range cps {
		verifyCheckpoint(t, c, vkey, o)
		if i == 0 {
			continue
		}
		prev := cps[i-1]
		p, err := audit.ProveConsistency(context.Background(), l, prev.Size, c.Size)
		must(t, err, "ProveConsistency")
		if err := proof.VerifyConsistency(hasher, uint64(prev.Size), uint64(c.Size), hashes(p), prev.Root[:], c.Root[:]); err != nil {
			t.Errorf("checkpoints %d→%d: consistency: %v", prev.Size, c.Size, err)
		}
	}
}

// storedCheckpoints returns every stored checkpoint up to size, in order.
func storedCheckpoints(t testing.TB, cs audit.Checkpoints, size int64) []audit.Checkpoint {
	t.Helper()
	var out []audit.Checkpoint
	for s := int64(0); s <= size; s++ {
		c, err := cs.CheckpointAt(context.Background(), s)
		if err == nil {
			out = append(out, c)
		}
	}
	return out
}

// waitCheckpoint waits until the latest checkpoint covers want entries.
func waitCheckpoint(t testing.TB, cs audit.Checkpoints, want int64) audit.Checkpoint {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	for {
		c, err := cs.LatestCheckpoint(ctx)
		if err == nil && c.Size >= want {
			return c
		}
		if ctx.Err() != nil {
			t.Fatalf("latest checkpoint: got size %d (%v), want %d: Run did not publish", c.Size, err, want)
		}
		sleep(ctx)
	}
}

func testCheckpointer(t *testing.T, newLog func(*testing.T) Env) {
	env := newLog(t)
	l, cs := env.Log, env.Checkpoints
	km := keystore(t, t.TempDir())
	cp := newCheckpointer(t, l, cs, km)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- cp.Run(ctx) }()
	waitCheckpoint(t, cs, 0)
	var total int64
	for round := range 6 {
		var es []audit.Entry
		for j := range round*7 + 1 {
			es = append(es, newEntry(fmt.Sprintf("cp%d", round), j))
		}
		_, err := l.Append(t.Context(), es...)
		must(t, err, "Append")
		total += int64(len(es))
		if c := waitCheckpoint(t, cs, total); c.Size != total {
			t.Fatalf("latest checkpoint: got size %d, want %d", c.Size, total)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: got %v, want nil after cancel", err)
	}
	vkeys, err := cp.VerifierKeys(t.Context())
	must(t, err, "VerifierKeys")
	if len(vkeys) != 1 || !strings.HasPrefix(vkeys[0], Origin+"+") {
		t.Fatalf("VerifierKeys: got %q, want one key named %s", vkeys, Origin)
	}
	cps := storedCheckpoints(t, cs, total)
	if len(cps) < 7 || cps[0].Size != 0 || cps[len(cps)-1].Size != total {
		t.Errorf("stored checkpoints: got sizes %v, want 0, each round's size, …, %d", sizesOf(cps), total)
	}
	checkChain(t, l, cps, vkeys[0], oracleOf(t, readAll(t, l)))
}

func sizesOf(cps []audit.Checkpoint) []int64 {
	var out []int64
	for _, c := range cps {
		out = append(out, c.Size)
	}
	return out
}

// testCheckpointerIdle: the empty log gets a checkpoint; without new
// entries no new one is signed.
func testCheckpointerIdle(t *testing.T, newLog func(*testing.T) Env) {
	ctx := t.Context()
	env := newLog(t)
	cp := newCheckpointer(t, env.Log, env.Checkpoints, keystore(t, t.TempDir()))
	c0, err := cp.Checkpoint(ctx)
	must(t, err, "Checkpoint of the empty log")
	if c0.Size != 0 || c0.Root != audit.EmptyRoot {
		t.Errorf("Checkpoint of the empty log: got size %d root %s, want 0 and %s", c0.Size, c0.Root, audit.EmptyRoot)
	}
	_, err = env.Log.Append(ctx, newEntry("idle", 0))
	must(t, err, "Append")
	c1, err := cp.Checkpoint(ctx)
	must(t, err, "Checkpoint")
	c2, err := cp.Checkpoint(ctx)
	must(t, err, "Checkpoint again")
	if c1.Size != 1 || string(c2.Note) != string(c1.Note) {
		t.Errorf("Checkpoint twice without appends: got sizes %d, %d and notes equal %v; want 1, 1, true",
			c1.Size, c2.Size, string(c2.Note) == string(c1.Note))
	}
	// A second Checkpointer (another replica, or a restart) takes over.
	other := newCheckpointer(t, env.Log, env.Checkpoints, keystore(t, t.TempDir()))
	_, err = other.Checkpoint(ctx)
	wantErr(t, "Checkpoint with a keystore lacking the log's key", err, audit.ErrBadSignature)
}

// foreignSigner is a note signer with a key the log does not hold.
func foreignSigner(t testing.TB) note.Signer {
	t.Helper()
	skey, _, err := note.GenerateKey(rand.Reader, Origin)
	must(t, err, "GenerateKey")
	s, err := note.NewSigner(skey)
	must(t, err, "NewSigner")
	return s
}

// testCheckpointerForeign: a checkpoint signed by another key turns up in
// the store; the Checkpointer refuses to sign on top of it.
func testCheckpointerForeign(t *testing.T, newLog func(*testing.T) Env) {
	ctx := t.Context()
	env := newLog(t)
	l, cs := env.Log, env.Checkpoints
	km := keystore(t, t.TempDir())
	cp := newCheckpointer(t, l, cs, km)
	for i := range 3 {
		_, err := l.Append(ctx, newEntry("f", i))
		must(t, err, "Append")
	}
	_, err := cp.Checkpoint(ctx)
	must(t, err, "Checkpoint")
	for i := 3; i < 5; i++ {
		_, err := l.Append(ctx, newEntry("f", i))
		must(t, err, "Append")
	}
	root, err := audit.TreeHash(ctx, l, 5)
	must(t, err, "TreeHash")
	msg, err := audit.SignCheckpoint(Origin, 5, root, foreignSigner(t))
	must(t, err, "SignCheckpoint")
	must(t, cs.AddCheckpoint(ctx, audit.Checkpoint{Origin: Origin, Size: 5, Root: root, Note: msg, Time: time.Now()}), "AddCheckpoint")
	_, err = l.Append(ctx, newEntry("f", 5))
	must(t, err, "Append")
	for _, c := range []*audit.Checkpointer{cp, newCheckpointer(t, l, cs, km)} {
		_, err = c.Checkpoint(ctx)
		wantErr(t, "Checkpoint over a foreign checkpoint", err, audit.ErrBadSignature)
	}
	_, err = cs.CheckpointAt(ctx, 6)
	wantErr(t, "CheckpointAt(6)", err, audit.ErrNotFound)
}

// testCheckpointerFork: the log's own key signed a checkpoint of a history
// the stored tree no longer has (a rewritten log). The Checkpointer
// refuses to sign anything more.
func testCheckpointerFork(t *testing.T, newLog func(*testing.T) Env) {
	ctx := t.Context()
	env := newLog(t)
	l, cs := env.Log, env.Checkpoints
	km := keystore(t, t.TempDir())
	for i := range 4 {
		_, err := l.Append(ctx, newEntry("fk", i))
		must(t, err, "Append")
	}
	// The root of another history of 4 entries.
	o := newOracle()
	for i := range 4 {
		data, err := newEntry("other", i).Canonical()
		must(t, err, "Canonical")
		o.add(t, data)
	}
	var forked audit.Hash
	copy(forked[:], o.roots[4])
	key, err := km.Active(ctx, audit.CheckpointRing, keys.EdDSA)
	must(t, err, "Active")
	signer, err := audit.NoteSigner(ctx, Origin, key)
	must(t, err, "NoteSigner")
	msg, err := audit.SignCheckpoint(Origin, 4, forked, signer)
	must(t, err, "SignCheckpoint")
	must(t, cs.AddCheckpoint(ctx, audit.Checkpoint{Origin: Origin, Size: 4, Root: forked, Note: msg, Time: time.Now()}), "AddCheckpoint")
	_, err = l.Append(ctx, newEntry("fk", 4))
	must(t, err, "Append")
	cp := newCheckpointer(t, l, cs, km)
	_, err = cp.Checkpoint(ctx)
	wantErr(t, "Checkpoint over a forked history", err, audit.ErrInconsistent)
	_, err = cs.CheckpointAt(ctx, 5)
	wantErr(t, "CheckpointAt(5)", err, audit.ErrNotFound)
}

// testCheckpointerReplicas: two replicas, each with its own log handle,
// Checkpointer and keystore handle on one keystore file, run while both
// append. Every stored checkpoint verifies and extends the one before.
func testCheckpointerReplicas(t *testing.T, newLog func(*testing.T) Env) {
	env := newLog(t)
	logs := []audit.Log{env.Log, env.Log}
	if env.Replica != nil {
		logs[1] = env.Replica(t)
	}
	dir := t.TempDir()
	km0 := keystore(t, dir)
	// Create the ring first, so that both replicas sign with one key.
	_, err := km0.Active(t.Context(), audit.CheckpointRing, keys.EdDSA)
	must(t, err, "Active")
	cps := []*audit.Checkpointer{
		newCheckpointer(t, logs[0], env.Checkpoints, km0),
		newCheckpointer(t, logs[1], env.Checkpoints, keystore(t, dir)),
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for _, cp := range cps {
		wg.Go(func() { cp.Run(ctx) })
	}
	const goroutines, appends = 8, 25
	errs := together(goroutines, func(g int) error {
		for i := range appends {
			if _, err := logs[g%2].Append(ctx, newEntry(fmt.Sprintf("cr%d", g), i)); err != nil {
				return err
			}
		}
		return nil
	})
	must(t, firstErr(errs), "Append")
	total := int64(goroutines * appends)
	waitCheckpoint(t, env.Checkpoints, total)
	cancel()
	wg.Wait()
	vkeys, err := cps[0].VerifierKeys(t.Context())
	must(t, err, "VerifierKeys")
	stored := storedCheckpoints(t, env.Checkpoints, total)
	if len(stored) < 2 {
		t.Errorf("stored checkpoints: got sizes %v, want several", sizesOf(stored))
	}
	checkChain(t, logs[1], stored, vkeys[0], oracleOf(t, readAll(t, logs[0])))
}
