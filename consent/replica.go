package consent

import (
	"context"
	"errors"
	"time"
)

// maxCatchUp is the most changes a sync round reads at once; a replica
// further behind drops its whole cache instead — unless the cache is
// complete (Config.Preload), which is worth reading every change for, a
// page of maxCatchUp at a time.
const maxCatchUp = 4096

// loop runs sync rounds every interval until ctx ends.
func (s *Service) loop(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.interval)
	defer t.Stop()
	var lastBeat, lastLog time.Duration
	failing := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		beat, err := s.sync(ctx, lastBeat)
		if err != nil {
			if ctx.Err() == nil {
				s.stats.syncFailures.Add(1)
				// The first failure, then one line every 5 s while it lasts.
				if failing++; failing == 1 || s.mono()-lastLog >= 5*time.Second {
					lastLog = s.mono()
					s.log.WarnContext(ctx, "consent: replica sync failing; the cache is trusted only until its lease runs out",
						"err", err, "failures", failing)
				}
			}
			continue
		}
		if failing > 0 {
			s.log.InfoContext(ctx, "consent: replica sync recovered", "failures", failing)
			failing = 0
		}
		s.stats.syncs.Add(1)
		if beat > 0 {
			lastBeat = beat
		}
	}
}

// sync is one round: read the changes since the last round, drop their
// records from the cache or mark them unknown in a complete one (reload
// changed purposes), then — when something changed or the lease is a
// quarter gone — write the replica's row and extend the lease from t0,
// the round's start. It returns t0 when it wrote the row.
//
// Why the lease may start at t0: every change committed before t0 has a
// position at most the head read after t0, so it has been applied to the
// cache before the row is written. A round that started before a change
// committed gives a lease ending before commit+Lease, which is what a
// writer waits for at most.
func (s *Service) sync(ctx context.Context, lastBeat time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, s.lease)
	defer cancel()
	t0 := s.mono()
	head, err := s.store.Head(ctx)
	if err != nil {
		return 0, err
	}
	seen := s.seen.Load()
	switch {
	case head == seen:
	case head < seen || (head-seen > maxCatchUp && !s.cache.complete.Load()):
		// Far behind (or a ledger replaced under us): start afresh. A
		// complete cache is worth more than a clear: it reads every change,
		// a page at a time, unless the ledger was replaced.
		s.clearCache(ctx, "the ledger is behind the replica")
		if err := s.loadRegistry(ctx); err != nil {
			return 0, err
		}
	default:
		for from := seen; from < head; from += maxCatchUp {
			changes, err := s.store.Changes(ctx, from, min(head, from+maxCatchUp))
			if err != nil {
				return 0, err
			}
			for _, c := range changes {
				if c.Purpose != "" {
					p, err := s.store.Purpose(ctx, c.Purpose)
					if err != nil {
						return 0, err
					}
					s.setPurpose(p)
					continue
				}
				s.cache.invalidate(c.Key)
			}
			// The cache reflects every change up to here: a round that
			// fails later resumes from this page.
			s.seen.Store(min(head, from+maxCatchUp))
		}
	}
	s.seen.Store(head)
	if head == seen && t0-lastBeat < s.lease/4 {
		return 0, nil
	}
	ok, err := s.store.Heartbeat(ctx, s.id, head)
	if err != nil {
		return 0, err
	}
	if !ok {
		// Fenced: a writer gave up waiting for this replica and went on, so
		// the cache may miss changes. Start again from an empty cache.
		s.stats.relost.Add(1)
		s.log.WarnContext(ctx, "consent: replica was fenced; cache cleared", "replica", s.id)
		if err := s.register(ctx); err != nil {
			return 0, err
		}
		return s.mono(), nil
	}
	s.leaseUntil.Store(int64(t0 + s.lease))
	return t0, nil
}

// invalidate drops the records of a committed change from this replica's
// cache at once.
func (s *Service) invalidate(keys ...Key) {
	for _, k := range keys {
		s.cache.invalidate(k)
	}
}

// await returns once every other replica has applied the ledger up to pos
// — or can no longer be using a cache that misses it. committed is the
// mono time at which the change's commit returned.
//
// A replica confirms by writing seen ≥ pos. One that does not is fenced
// once its heartbeat is Lease plus a margin old on the database clock:
// its lease, which started before that heartbeat, has run out, and
// fencing (deleting its row) makes its next heartbeat fail, so it cannot
// extend the lease from a round that missed the change — it clears its
// cache instead. Whatever the database says, await returns by
// committed+Lease+margin: every lease granted by a round that started
// before the commit has ended by then, and every round that started after
// it saw the change.
func (s *Service) await(pos int64, committed time.Duration) {
	s.stats.awaits.Add(1)
	deadline := committed + s.lease + s.margin
	ctx, cancel := context.WithTimeout(context.Background(), deadline-s.mono())
	defer cancel()
	logged := false
	for {
		if s.mono() >= deadline {
			s.stats.awaitLease.Add(1)
			return
		}
		reps, err := s.store.ListReplicas(ctx)
		if err == nil {
			pending := false
			for _, r := range reps {
				if r.ID == s.id || r.Seen >= pos {
					continue
				}
				if r.Age >= s.lease+s.margin {
					fenced, err := s.store.Fence(ctx, r.ID, r.Heartbeat, s.lease+s.margin)
					if err == nil && fenced {
						s.stats.fenced.Add(1)
						s.log.Warn("consent: fenced a replica that stopped syncing", "replica", r.ID, "age", r.Age)
						continue
					}
				}
				pending = true
			}
			if !pending {
				return
			}
		} else if !logged && !errors.Is(err, context.DeadlineExceeded) {
			logged = true
			s.log.Warn("consent: reading replicas failed; waiting for their leases to run out", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(s.poll):
		}
	}
}
