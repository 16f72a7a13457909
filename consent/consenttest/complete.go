package consenttest

import (
	"context"
	"testing"

	"github.com/cedula/cedula/consent"
)

// testCompleteCache: a replica that preloaded the ledger (Config.Preload)
// answers from memory both for the records it holds and for citizens
// without a record; a record created or changed on any replica after the
// preload is read from the database once the change returns — never taken
// for "no consent".
func testCompleteCache(t *testing.T, env Env) {
	if env.Replica == nil {
		t.Skip("the store offers no second replica (Env.Replica is nil)")
	}
	f := newFixture(t, env)
	ctx := context.Background()
	sub := func(name string) string { return "citizen-" + f.tag + "-" + name }
	for _, c := range []struct{ op, subject, kind string }{
		{"give", sub("given"), kindConsent},
		{"give", sub("withdrawn"), kindConsent},
		{"withdraw", sub("withdrawn"), kindConsent},
		{"object", sub("objected"), kindObjectable},
	} {
		_, err := f.op(ctx, f.svc, c.op, f.req(c.subject, c.kind))
		must(t, err, c.op)
	}
	store, log := env.Replica(t)
	b := service(t, store, log, f.clock, nil, true)
	if st := b.Stats(); !st.Complete || st.CacheEntries < 3 {
		t.Fatalf("B after its preload: got complete %v with %d entries, want complete with at least the 3 records", st.Complete, st.CacheEntries)
	}

	// fromMemory decides q on B and checks that no database was read: no
	// cache miss. A decision taken while B's lease had lapsed (a slow sync
	// round) reads the database as it must; it is tried again.
	fromMemory := func(t *testing.T, q consent.Query) consent.Decision {
		t.Helper()
		for range 10 {
			before := b.Stats()
			d, err := b.DecideUnaudited(ctx, q)
			must(t, err, "Decide on B")
			after := b.Stats()
			if after.CacheMisses != before.CacheMisses {
				t.Errorf("Decide on B: got a cache miss, want an answer from memory")
				return d
			}
			if after.Direct == before.Direct {
				return d
			}
		}
		t.Errorf("Decide on B: the lease never held for 10 decisions")
		return consent.Decision{}
	}

	for _, tc := range []struct {
		name, subject, kind string
		allow               bool
		reason              consent.Reason
	}{
		{"given before the preload", sub("given"), kindConsent, true, consent.ReasonConsent},
		{"withdrawn before the preload", sub("withdrawn"), kindConsent, false, consent.ReasonWithdrawn},
		{"objected before the preload", sub("objected"), kindObjectable, false, consent.ReasonObjected},
		{"never created, consent", sub("never"), kindConsent, false, consent.ReasonNoConsent},
		{"never created, public task with profiling", sub("never"), kindObjectable, true, consent.ReasonLegalBasis},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d := fromMemory(t, f.query(tc.subject, tc.kind)); d.Allow != tc.allow || d.Reason != tc.reason {
				t.Errorf("Decide on B: got %v, %s; want %v, %s", d.Allow, d.Reason, tc.allow, tc.reason)
			}
		})
	}

	svcs := []*consent.Service{f.svc, b}
	for _, tc := range []struct {
		name, op, subject, kind string
		writer                  int // 0: A, 1: B
		allow                   bool
		reason                  consent.Reason
	}{
		{"created on A", "give", sub("late"), kindConsent, 0, true, consent.ReasonConsent},
		{"withdrawn on A", "withdraw", sub("given"), kindConsent, 0, false, consent.ReasonWithdrawn},
		{"given again on A", "give", sub("withdrawn"), kindConsent, 0, true, consent.ReasonConsent},
		{"objection created on A", "object", sub("late-objection"), kindObjectable, 0, false, consent.ReasonObjected},
		{"created on B", "give", sub("own"), kindConsent, 1, true, consent.ReasonConsent},
		{"withdrawn on B", "withdraw", sub("own"), kindConsent, 1, false, consent.ReasonWithdrawn},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := f.op(ctx, svcs[tc.writer], tc.op, f.req(tc.subject, tc.kind))
			must(t, err, tc.op)
			q := f.query(tc.subject, tc.kind)
			before := b.Stats()
			for round := range 2 { // the second answer comes from the cache, once the lease holds
				d, err := b.DecideUnaudited(ctx, q)
				must(t, err, "Decide on B")
				if d.Allow != tc.allow || d.Reason != tc.reason || d.Record != rec.Ref() {
					t.Fatalf("Decide on B (round %d) after %s returned: got %v, %s on %v; want %v, %s on %v",
						round, tc.op, d.Allow, d.Reason, d.Record, tc.allow, tc.reason, rec.Ref())
				}
				if round == 0 {
					if after := b.Stats(); after.CacheMisses+after.Direct == before.CacheMisses+before.Direct {
						t.Errorf("Decide on B after %s: answered from memory, want a database read (the record changed)", tc.op)
					}
				}
			}
		})
	}
	if !b.Stats().Complete {
		t.Errorf("B: no longer complete, want complete (it was never fenced)")
	}
}
