package consenttest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cedula/cedula/consent"
)

// twoReplicas returns the fixture's Service and a second one over another
// Store and Log on the same database.
func twoReplicas(t *testing.T, env Env) (*fixture, []*consent.Service) {
	t.Helper()
	if env.Replica == nil {
		t.Skip("the store offers no second replica (Env.Replica is nil)")
	}
	f := newFixture(t, env)
	store, log := env.Replica(t)
	b := service(t, store, log, f.clock, nil, env.Preload)
	return f, []*consent.Service{f.svc, b}
}

// testCrossReplica: a replica with the record in its cache denies as soon
// as a change made on the other replica returns, and sees a new notice
// version as soon as PutPurpose returns.
func testCrossReplica(t *testing.T, env Env) {
	f, svcs := twoReplicas(t, env)
	ctx := context.Background()
	subject := "citizen-" + f.tag
	r, q := f.req(subject, kindConsent), f.query(subject, kindConsent)
	for i := range 12 {
		writer := svcs[i%2]
		_, err := writer.Give(ctx, r)
		must(t, err, "Give")
		for j, s := range svcs {
			for range 2 { // the second answer comes from the cache
				if d, err := s.DecideUnaudited(ctx, q); err != nil || !d.Allow {
					t.Fatalf("round %d, replica %d, after Give: got %+v, %v; want allowed", i, j, d, err)
				}
			}
		}
		w, err := writer.Withdraw(ctx, r)
		must(t, err, "Withdraw")
		for j, s := range svcs {
			d, err := s.Decide(ctx, q)
			if err != nil || d.Allow || d.Reason != consent.ReasonWithdrawn || d.Record != w.Ref() {
				t.Fatalf("round %d, replica %d, after Withdraw on replica %d: got %+v, %v; want denied, withdrawn, resting on %s",
					i, j, i%2, d, err, w.Ref())
			}
		}
	}
	for j, s := range svcs {
		if st := s.Stats(); st.CacheHits == 0 {
			t.Errorf("replica %d: no cache hits; the test did not exercise the cache", j)
		}
	}

	// A new notice on one replica: the other denies at once.
	_, err := svcs[1].Give(ctx, r)
	must(t, err, "Give")
	for _, s := range svcs {
		if d, _ := s.DecideUnaudited(ctx, q); !d.Allow {
			t.Fatalf("before the new notice: got %s, want allowed", d.Reason)
		}
	}
	p := f.purposes[kindConsent]
	p.NoticeVersion = "n2"
	_, err = svcs[0].PutPurpose(ctx, p)
	must(t, err, "PutPurpose")
	for j, s := range svcs {
		if d, err := s.DecideUnaudited(ctx, q); err != nil || d.Allow || d.Reason != consent.ReasonRenewal {
			t.Errorf("replica %d after the new notice: got %+v, %v; want denied, renewal_required", j, d, err)
		}
	}
}

// testConcurrentReplicas: goroutines on two replicas give and withdraw the
// same consent. No acknowledged event is lost and none appears that was
// not acknowledged; the final state is the last event's; and every
// decision taken after a withdrawal was acknowledged, on either replica,
// denies — or rests on a consent given after that withdrawal.
func testConcurrentReplicas(t *testing.T, env Env) {
	f, svcs := twoReplicas(t, env)
	ctx := context.Background()
	subject := "citizen-" + f.tag
	r, q := f.req(subject, kindConsent), f.query(subject, kindConsent)
	type ack struct {
		seq int64
		typ consent.EventType
	}
	var mu sync.Mutex
	var acks []ack
	const goroutines, ops = 6, 12
	errs := make([]error, goroutines)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := range goroutines {
		wg.Go(func() {
			<-start
			svc := svcs[g%2]
			for op := range ops {
				if (g+op)%2 == 0 {
					rec, err := svc.Give(ctx, r)
					switch {
					case errors.Is(err, consent.ErrConflict):
						continue
					case err != nil:
						errs[g] = fmt.Errorf("give: %w", err)
						return
					}
					mu.Lock()
					acks = append(acks, ack{rec.Seq, consent.Given})
					mu.Unlock()
					continue
				}
				rec, err := svc.Withdraw(ctx, r)
				switch {
				case errors.Is(err, consent.ErrConflict), errors.Is(err, consent.ErrTransition):
					continue
				case err != nil:
					errs[g] = fmt.Errorf("withdraw: %w", err)
					return
				}
				mu.Lock()
				acks = append(acks, ack{rec.Seq, consent.Withdrawn})
				mu.Unlock()
				for j, s := range svcs {
					d, err := s.Decide(ctx, q)
					if err != nil {
						errs[g] = fmt.Errorf("decide on replica %d: %w", j, err)
						return
					}
					if d.Allow && d.Record.Seq <= rec.Seq {
						errs[g] = fmt.Errorf("replica %d allowed on %s after withdrawal #%d was acknowledged", j, d.Record, rec.Seq)
						return
					}
				}
			}
		})
	}
	close(start)
	wg.Wait()
	for g, err := range errs {
		if err != nil {
			t.Errorf("goroutine %d: %v", g, err)
		}
	}
	hist, err := svcs[0].History(ctx, subject)
	must(t, err, "History")
	slices.SortFunc(acks, func(a, b ack) int { return int(a.seq - b.seq) })
	if len(hist) != len(acks) {
		t.Errorf("History: got %d events, want the %d acknowledged", len(hist), len(acks))
	}
	for i := range min(len(hist), len(acks)) {
		if hist[i].Seq != acks[i].seq || hist[i].Type != acks[i].typ {
			t.Errorf("event %d: got #%d %s, acknowledged #%d %s", i, hist[i].Seq, hist[i].Type, acks[i].seq, acks[i].typ)
		}
	}
	if len(hist) == 0 {
		t.Fatal("no events")
	}
	last := hist[len(hist)-1]
	rec, err := svcs[1].Record(ctx, subject, r.Purpose)
	must(t, err, "Record")
	if rec.State != consent.State(last.Type) || rec.Seq != last.Seq {
		t.Errorf("final record: got %s #%d, want the last event's %s #%d", rec.State, rec.Seq, last.Type, last.Seq)
	}
	for j, s := range svcs {
		d, err := s.Decide(ctx, q)
		must(t, err, "Decide")
		if d.Allow != (last.Type == consent.Given) || d.Record.Seq != last.Seq {
			t.Errorf("replica %d final decision: got %v on %s, want %v on #%d", j, d.Allow, d.Record, last.Type == consent.Given, last.Seq)
		}
	}
	t.Logf("%d events acknowledged; conflicts retried: %d and %d", len(acks), svcs[0].Stats().Conflicts, svcs[1].Stats().Conflicts)
}

// testDeadReplica: a registered replica that never syncs holds a change
// up only until its heartbeat is a lease old, and is then fenced.
func testDeadReplica(t *testing.T, env Env) {
	f := newFixture(t, env)
	ctx := context.Background()
	ghost := "ghost-" + f.tag
	must(t, env.Store.Register(ctx, ghost, 0), "Register the ghost")
	time.Sleep(testLease / 2) // the ghost is fenceable well before the change's lease bound
	subject := "citizen-" + f.tag
	_, err := f.svc.Give(ctx, f.req(subject, kindConsent))
	must(t, err, "Give")
	rs, err := env.Store.ListReplicas(ctx)
	must(t, err, "ListReplicas")
	for _, r := range rs {
		if r.ID == ghost {
			t.Errorf("ghost replica still registered after a change")
		}
	}
	if st := f.svc.Stats(); st.Fenced != 1 {
		t.Errorf("Stats.Fenced: got %d, want 1", st.Fenced)
	}
	if d, err := f.svc.Decide(ctx, f.query(subject, kindConsent)); err != nil || !d.Allow {
		t.Errorf("Decide: got %+v, %v; want allowed", d, err)
	}
}

// testFencedReplica: a replica whose row was fenced notices at its next
// heartbeat, clears its cache and registers again, and then follows
// changes as before.
func testFencedReplica(t *testing.T, env Env) {
	f, svcs := twoReplicas(t, env)
	ctx := context.Background()
	b := svcs[1]
	subject := "citizen-" + f.tag
	r, q := f.req(subject, kindConsent), f.query(subject, kindConsent)
	_, err := svcs[0].Give(ctx, r)
	must(t, err, "Give")
	for range 2 {
		if d, err := b.DecideUnaudited(ctx, q); err != nil || !d.Allow {
			t.Fatalf("Decide on B: got %+v, %v; want allowed", d, err)
		}
	}
	must(t, env.Store.Deregister(ctx, b.ReplicaID()), "remove B's row")
	eventually(t, "B notices it was fenced", func() bool { return b.Stats().Relost >= 1 })
	eventually(t, "B registers again", func() bool {
		rs, err := env.Store.ListReplicas(ctx)
		must(t, err, "ListReplicas")
		return slices.ContainsFunc(rs, func(r consent.Replica) bool { return r.ID == b.ReplicaID() })
	})
	if st := b.Stats(); st.CacheEntries != 0 || st.Complete {
		t.Errorf("B's cache after the fence: got %d entries, complete %v; want 0, not complete (cleared, and no decision since)",
			st.CacheEntries, st.Complete)
	}
	_, err = svcs[0].Withdraw(ctx, r)
	must(t, err, "Withdraw")
	if d, err := b.Decide(ctx, q); err != nil || d.Allow {
		t.Errorf("Decide on B after the withdrawal: got %+v, %v; want denied", d, err)
	}
}

// cutStore is a real store whose replica loop can be cut off from the
// database: while cut, Head fails, so sync rounds fail and the lease is
// not renewed.
type cutStore struct {
	consent.Store
	cut atomic.Bool
}

func (c *cutStore) Head(ctx context.Context) (int64, error) {
	if c.cut.Load() {
		return 0, errors.New("network partition (test)")
	}
	return c.Store.Head(ctx)
}

// testPartitionedReplica: a replica whose sync loop cannot reach the
// database holds a cached "allowed". A withdrawal on another replica
// returns once the cut replica's heartbeat is a lease old (it is fenced),
// and by then the cut replica no longer trusts its cache: it reads the
// database and denies. When the cut heals, it finds itself fenced and
// starts afresh — or, when the withdrawal waited its lease out before it
// could be fenced, reads what it missed — and decides on the new consent.
func testPartitionedReplica(t *testing.T, env Env) {
	if env.Replica == nil {
		t.Skip("the store offers no second replica (Env.Replica is nil)")
	}
	f := newFixture(t, env)
	ctx := context.Background()
	store, log := env.Replica(t)
	cut := &cutStore{Store: store}
	b := service(t, cut, log, f.clock, nil, env.Preload)
	subject := "citizen-" + f.tag
	r, q := f.req(subject, kindConsent), f.query(subject, kindConsent)
	_, err := f.svc.Give(ctx, r)
	must(t, err, "Give")
	for range 2 {
		if d, err := b.DecideUnaudited(ctx, q); err != nil || !d.Allow {
			t.Fatalf("Decide on B: got %+v, %v; want allowed", d, err)
		}
	}
	if b.Stats().CacheHits == 0 {
		t.Fatal("B did not cache the record")
	}
	failures := b.Stats().SyncFailures
	cut.cut.Store(true)
	// A round already past the cut's check may still see the database;
	// rounds run one after another, so once one has failed, none can.
	eventually(t, "B's sync fails", func() bool { return b.Stats().SyncFailures > failures })
	_, err = f.svc.Withdraw(ctx, r)
	must(t, err, "Withdraw")
	direct := b.Stats().Direct
	if d, err := b.DecideUnaudited(ctx, q); err != nil || d.Allow {
		t.Errorf("Decide on the cut replica after the withdrawal: got %+v, %v; want denied", d, err)
	}
	if b.Stats().Direct == direct {
		t.Errorf("the cut replica answered from its cache; want a database read once its lease ran out")
	}
	st := f.svc.Stats()
	if st.Fenced+st.AwaitLease == 0 {
		t.Errorf("the withdrawal neither fenced the cut replica nor waited out its lease")
	}
	cut.cut.Store(false)
	if st.Fenced > 0 {
		eventually(t, "B finds itself fenced and registers again", func() bool { return b.Stats().Relost >= 1 })
	} else {
		// The withdrawal waited B's lease out before B's row was old
		// enough to fence (a loaded machine): B, not fenced, heals by
		// reading the changes it missed.
		syncs := b.Stats().Syncs
		eventually(t, "B syncs again", func() bool { return b.Stats().Syncs > syncs })
	}
	_, err = f.svc.Give(ctx, r)
	must(t, err, "Give again")
	if d, err := b.DecideUnaudited(ctx, q); err != nil || !d.Allow {
		t.Errorf("Decide on B after it healed: got %+v, %v; want allowed", d, err)
	}
}
