package audittest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cedula/cedula/audit"
)

// Env is a store under test and what the suite needs around it.
type Env struct {
	// Log is an empty log.
	Log audit.Log
	// Checkpoints stores Log's checkpoints (usually the same store).
	Checkpoints audit.Checkpoints
	// DB is the database Log lives in. The suite creates a table of its
	// own there (audittest_changes) and begins transactions on DB to write
	// an audited change and its entry with AppendTx.
	DB *sql.DB
	// Replica, when not nil, opens another log over the same database, with
	// its own connections, as a second `cedula serve` would.
	Replica func(t *testing.T) audit.Log
}

// RunLogTests runs the conformance suite. newLog is called once per
// subtest and must return a fresh, empty store, registering its clean-up
// with t.Cleanup.
func RunLogTests(t *testing.T, newLog func(t *testing.T) Env) {
	for _, st := range []struct {
		name string
		run  func(t *testing.T, newLog func(t *testing.T) Env)
	}{
		{"Empty", testEmpty},
		{"AppendReadBack", testAppendReadBack},
		{"AppendStampsZeroTime", testAppendStampsZeroTime},
		{"AppendInvalidAppendsNothing", testAppendInvalid},
		{"AppendNothing", testAppendNothing},
		{"EntriesRanges", testEntriesRanges},
		{"LeafIndex", testLeafIndex},
		{"ConcurrentAppendsGapFree", testConcurrentAppends},
		{"EntriesAbout", testEntriesAbout},
		{"Search", testSearch},

		{"AppendTxCommit", testAppendTxCommit},
		{"AppendTxRollbackLeavesNoEntryNoGap", testAppendTxRollback},
		{"AppendTxFailedChange", testAppendTxFailedChange},
		{"AppendTxInvalid", testAppendTxInvalid},
		{"AppendTxConcurrentWithAppend", testAppendTxConcurrent},
		{"TwoReplicas", testReplicas},
		{"SequenceTx", testSequenceTx},
		{"SequenceTxConcurrent", testSequenceTxConcurrent},
		{"AppendFollowsCommitOrder", testAppendFollowsCommitOrder},

		{"ProofsVerify", testProofs},
		{"ProofBadRequests", testProofBadRequests},
		{"PropertyRandomAppends", testProperty},

		{"CheckpointStore", testCheckpointStore},
		{"CheckpointerPublishesConsistentCheckpoints", testCheckpointer},
		{"CheckpointerIdle", testCheckpointerIdle},
		{"CheckpointerRefusesForeignCheckpoint", testCheckpointerForeign},
		{"CheckpointerRefusesFork", testCheckpointerFork},
		{"CheckpointersOnTwoReplicas", testCheckpointerReplicas},
	} {
		t.Run(st.name, func(t *testing.T) { st.run(t, newLog) })
	}
}

// baseTime is close to the wall clock, in a non-UTC zone, with a
// nanosecond part that the store must drop.
func baseTime() time.Time {
	return time.Now().Truncate(time.Second).Add(123456789 * time.Nanosecond).In(time.FixedZone("UYT", -3*60*60))
}

var (
	kinds    = []audit.ActorKind{audit.ActorCitizen, audit.ActorClient, audit.ActorDPO, audit.ActorSystem}
	actions  = []string{"consent.decide", "oidc.token", "credential.present", "audit.search", "passkey.add"}
	outcomes = []audit.Outcome{audit.Allowed, audit.Denied, audit.Failed}
)

// newEntry returns the i-th test entry tagged tag; its RequestID,
// "tag/i", identifies it. Every seventh has awkward strings, every third
// encrypted-looking details.
func newEntry(tag string, i int) audit.Entry {
	e := audit.Entry{
		Time:          baseTime().Add(time.Duration(i) * time.Millisecond),
		Actor:         audit.Actor{Kind: kinds[i%len(kinds)], ID: fmt.Sprintf("actor-%s-%d", tag, i%5)},
		Action:        actions[i%len(actions)],
		Subject:       fmt.Sprintf("psn-%s-%d", tag, i%11),
		Purpose:       "dpv:ServiceProvision",
		LegalBasis:    "consent",
		ConsentRecord: fmt.Sprintf("cr-%d", i%13),
		Categories:    []string{"identity", "address", "age"}[:i%4%3+1],
		Outcome:       outcomes[i%len(outcomes)],
		RequestID:     fmt.Sprintf("%s/%d", tag, i),
	}
	slices.Reverse(e.Categories) // the store must sort them
	if i%7 == 3 {
		e.Subject = "psn \"Núñez\" \\ </script>\n\t\u2028\u0000é"
		e.Purpose = "dpv:Purpose/ñ"
	}
	if i%3 == 1 {
		e.Details = []byte{0x00, byte(i), 0xff, 0x10, byte(i >> 8)}
	}
	return e
}

// stored returns e as a store hands it back: UTC to the microsecond,
// sorted categories.
func stored(e audit.Entry) audit.Entry {
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	e.Categories = slices.Sorted(slices.Values(e.Categories))
	if len(e.Details) == 0 {
		e.Details = nil
	}
	if len(e.Categories) == 0 {
		e.Categories = nil
	}
	return e
}

func must(t testing.TB, err error, op string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
}

// wantErr reports unless errors.Is(err, want); want nil means success.
func wantErr(t testing.TB, op string, err, want error) bool {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v, want %v", op, err, want)
		return false
	}
	return true
}

// checkEntry compares the entry of rec with want field by field.
func checkEntry(t testing.TB, rec audit.Record, want audit.Entry) {
	t.Helper()
	got, err := rec.Entry()
	if err != nil {
		t.Errorf("record %d: %v", rec.Index, err)
		return
	}
	want = stored(want)
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := range wv.NumField() {
		name := wv.Type().Field(i).Name
		if g, w := gv.Field(i).Interface(), wv.Field(i).Interface(); !reflect.DeepEqual(g, w) {
			t.Errorf("record %d %s: got %v, want %v", rec.Index, name, g, w)
		}
	}
	if got.Time.Location() != time.UTC {
		t.Errorf("record %d Time: got zone %v, want UTC", rec.Index, got.Time.Location())
	}
	canon, err := want.Canonical()
	must(t, err, "Canonical")
	if string(rec.Data) != string(canon) {
		t.Errorf("record %d Data: got %s, want %s", rec.Index, rec.Data, canon)
	}
}

// readAll returns every record of the log, checking indices.
func readAll(t testing.TB, l audit.Reader) []audit.Record {
	t.Helper()
	ctx := context.Background()
	n, err := l.Size(ctx)
	must(t, err, "Size")
	var out []audit.Record
	for start := int64(0); start < n; start += audit.MaxEntries {
		recs, err := l.Entries(ctx, start, min(n, start+audit.MaxEntries))
		must(t, err, fmt.Sprintf("Entries(%d, …)", start))
		out = append(out, recs...)
	}
	for i, r := range out {
		if r.Index != int64(i) {
			t.Fatalf("record %d has index %d", i, r.Index)
		}
	}
	return out
}

// requestIDs parses records and returns their request IDs in log order.
func requestIDs(t testing.TB, recs []audit.Record) []string {
	t.Helper()
	out := make([]string, len(recs))
	for i, r := range recs {
		e, err := r.Entry()
		must(t, err, fmt.Sprintf("parse record %d", r.Index))
		out[i] = e.RequestID
	}
	return out
}

// together runs fn(0) … fn(n-1) in n goroutines released at once and
// returns their errors by index.
func together(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

func firstErr(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// groupStats is implemented by stores that group-commit.
type groupStats interface {
	GroupCommits() (transactions, requests uint64)
}

func logGroupStats(t testing.TB, l audit.Log) {
	if g, ok := l.(groupStats); ok {
		tx, reqs := g.GroupCommits()
		t.Logf("group commit: %d requests in %d transactions", reqs, tx)
	}
}
