package consent

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cedula/cedula/audit"
)

// Defaults of Config.
const (
	// DefaultLease is how long a replica trusts its cache after its last
	// successful sync, and so about the longest a change waits for a
	// replica that stopped answering.
	DefaultLease = time.Second
	// DefaultSyncInterval is how often a replica reads the change feed.
	DefaultSyncInterval = 20 * time.Millisecond
	// DefaultCacheSize is the most record projections a replica caches.
	DefaultCacheSize = 1 << 20
	// preloadPage is how many records one read of a preload returns.
	preloadPage = 10_000
)

// Config configures a Service. Store, Audit and Pseudonym are required.
type Config struct {
	// Store holds the registry, the ledger and the replica rows.
	Store Store
	// Audit receives an entry for every change (with AppendTx, inside the
	// change's transaction: Audit must live in Store's database) and for
	// every decision (with Append).
	Audit audit.Appender
	// Pseudonym maps a citizen ID to the citizen's audit pseudonym (pass
	// audit.Pseudonyms.Of).
	Pseudonym func(citizenID string) string
	// Effects is told of every change that ends processing; nil for none.
	Effects Effects
	// Logger receives failures of the sync loop and of Effects; nil
	// discards. Lines never carry a citizen ID or pseudonym.
	Logger *slog.Logger
	// Now is the clock of events and decisions; nil means time.Now.
	Now func() time.Time
	// Lease is how long the cache is trusted after a successful sync; 0
	// means DefaultLease. A change waits at most about Lease·1.2 for
	// replicas that do not confirm it.
	Lease time.Duration
	// SyncInterval is how often the change feed is read; 0 means
	// DefaultSyncInterval. It must be at most Lease/4.
	SyncInterval time.Duration
	// CacheSize bounds the cached projections; 0 means DefaultCacheSize.
	// Ignored with Preload.
	CacheSize int
	// Preload makes the cache complete: New reads every record of the
	// ledger into it (Ledger.ScanRecords, 10,000 records a read) before it
	// returns, and from then on a record the cache does not hold does not
	// exist, so that every decision — on any citizen, not only the ones
	// decided on lately — is answered from memory while the lease holds.
	// A changed record is marked unknown in the cache and read again from
	// the database at its next decision.
	//
	// The cache is then unbounded and holds some 290 bytes of live heap a
	// record: 1.4 GiB for the 5,000,000 records of a million citizens with
	// five purposes. New reads them in about 36 s from SQLite and 25 s
	// from PostgreSQL on two cores (BenchmarkDecide in consent/sqlstore,
	// core/uniform-preloaded); plan the memory and the start-up for it.
	// If the replica is ever fenced (see the package documentation), its
	// cache is emptied and stops being complete: from then on it caches as
	// without Preload, never evicting, and says so once in the log.
	Preload bool
	// ReplicaID names this replica's row; "" picks a random one. Two live
	// Services must never share one.
	ReplicaID string
}

// Service applies the consent rules: it records changes as events (with
// their audit entries, atomically), answers Decide from an in-process cache
// kept coherent across replicas, and runs the scheduler's jobs. Create it
// with New and stop it with Close. Its methods are safe for concurrent use.
type Service struct {
	store     Store
	audit     audit.Appender
	pseudonym func(string) string
	effects   Effects
	log       *slog.Logger
	now       func() time.Time

	lease, margin, interval, poll time.Duration
	id                            string

	// base is the origin of mono, the monotonic clock of leases.
	base time.Time
	// leaseUntil is the mono time until which the cache may be used.
	leaseUntil atomic.Int64
	// seen is the ledger position the cache reflects.
	seen atomic.Int64

	regMu   sync.Mutex // serialises writers of reg
	reg     atomic.Pointer[registry]
	cache   *cache
	preload bool

	stop   context.CancelFunc
	done   chan struct{}
	closed atomic.Bool

	stats stats
}

// stats are the counters behind Stats.
type stats struct {
	hits, misses, direct                atomic.Uint64
	syncs, syncFailures, fenced, relost atomic.Uint64
	awaits, awaitLease                  atomic.Uint64
	effectFailures, conflicts           atomic.Uint64
}

// Stats are counters of a Service since New, for metrics and tests.
type Stats struct {
	// CacheHits and CacheMisses count projections Decide found or did not
	// find in the cache; Direct counts those it read from the database
	// because the lease had lapsed.
	CacheHits, CacheMisses, Direct uint64
	// CacheEntries is the number of cached projections now, records
	// marked unknown included.
	CacheEntries int
	// Complete reports whether the cache holds every record, so that one
	// it does not hold does not exist (Config.Preload; it ends when the
	// cache is emptied). CacheHits count those absences.
	Complete bool
	// Syncs counts successful sync rounds, SyncFailures failed ones.
	Syncs, SyncFailures uint64
	// Fenced counts replicas this one fenced; Relost counts the times it
	// found itself fenced and cleared its cache.
	Fenced, Relost uint64
	// Awaits counts changes that waited for replicas; AwaitLease those
	// that had to wait for a lease to run out.
	Awaits, AwaitLease uint64
	// EffectFailures counts failed Effects calls; Conflicts the retries
	// after losing a race on a record.
	EffectFailures, Conflicts uint64
}

// registry is the purpose registry as a replica holds it: the latest
// version of each purpose. It is replaced, never changed.
type registry struct {
	m map[string]*Purpose
}

// New checks cfg, loads the registry, registers the replica and starts its
// sync loop. It reports every problem of cfg at once, wrapped in ErrInvalid.
func New(ctx context.Context, cfg Config) (*Service, error) {
	var problems []error
	if cfg.Store == nil {
		problems = append(problems, errors.New("no store"))
	}
	if cfg.Audit == nil {
		problems = append(problems, errors.New("no audit log"))
	}
	if cfg.Pseudonym == nil {
		problems = append(problems, errors.New("no pseudonym function"))
	}
	if cfg.Lease == 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.SyncInterval == 0 {
		cfg.SyncInterval = min(DefaultSyncInterval, cfg.Lease/4)
	}
	if cfg.Lease < 0 {
		problems = append(problems, fmt.Errorf("lease %v is negative", cfg.Lease))
	}
	if cfg.SyncInterval <= 0 || cfg.SyncInterval > cfg.Lease/4 {
		problems = append(problems, fmt.Errorf("sync interval %v is not in (0, lease/4 = %v]", cfg.SyncInterval, cfg.Lease/4))
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	if cfg.CacheSize < 0 {
		problems = append(problems, fmt.Errorf("cache size %d is negative", cfg.CacheSize))
	}
	if cfg.Preload {
		cfg.CacheSize = 0 // unbounded: a complete cache never evicts
	}
	if cfg.ReplicaID == "" {
		cfg.ReplicaID = newID()
	} else if !validToken(cfg.ReplicaID, MaxIDLen) {
		problems = append(problems, fmt.Errorf("replica ID %.80q is not a token of at most %d bytes", cfg.ReplicaID, MaxIDLen))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: consent service: %w", ErrInvalid, errors.Join(problems...))
	}
	s := &Service{
		store: cfg.Store, audit: cfg.Audit, pseudonym: cfg.Pseudonym, effects: cfg.Effects,
		log: cfg.Logger, now: cfg.Now,
		lease: cfg.Lease, margin: cfg.Lease / 5, interval: cfg.SyncInterval,
		poll: max(time.Millisecond, cfg.SyncInterval/8),
		id:   cfg.ReplicaID, base: time.Now(), cache: newCache(cfg.CacheSize), preload: cfg.Preload,
		done: make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	start := s.register
	if s.preload {
		start = s.preloadAndRegister
	}
	if err := start(ctx); err != nil {
		return nil, err
	}
	loopCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stop = stop
	go s.loop(loopCtx)
	return s, nil
}

// register (re)starts the replica: it reads the head, empties the cache,
// reloads the registry and writes the replica row, and from then on the
// cache may be used. The head is read before the cache is emptied: every
// fill after that reads the database after every change up to the head,
// and fills begun before are dropped (cache epochs), so the cache reflects
// every change up to the head without applying them one by one.
func (s *Service) register(ctx context.Context) error {
	t0 := s.mono()
	head, err := s.store.Head(ctx)
	if err != nil {
		return fmt.Errorf("consent: register replica: %w", err)
	}
	s.clearCache(ctx, "the replica registers anew")
	if err := s.loadRegistry(ctx); err != nil {
		return fmt.Errorf("consent: register replica: %w", err)
	}
	if err := s.store.Register(ctx, s.id, head); err != nil {
		return fmt.Errorf("consent: register replica: %w", err)
	}
	s.seen.Store(head)
	s.leaseUntil.Store(int64(t0 + s.lease))
	return nil
}

// preloadAndRegister starts the replica with a complete cache (Config.
// Preload): it reads the head, reloads the registry, reads every record
// into the cache, declares the cache complete and writes the replica row
// with the head read first; then one sync round replays the changes made
// during the scan and grants the first lease.
//
// Why the cache is then complete and current: a record the scan missed
// was created after the page covering its key was read, so after the
// head, and that change is replayed, leaving the record marked unknown;
// so is every change to a record the scan read. The row is written only
// after the scan, so a long scan never gets the replica fenced, and
// writers that committed meanwhile did not wait for it; hence no lease
// until that first round, whose head is read after the row was written:
// every change that did not wait for this replica is at most that head.
func (s *Service) preloadAndRegister(ctx context.Context) error {
	began := time.Now()
	head, err := s.store.Head(ctx)
	if err != nil {
		return fmt.Errorf("consent: preload: %w", err)
	}
	s.cache.clear()
	if err := s.loadRegistry(ctx); err != nil {
		return fmt.Errorf("consent: preload: %w", err)
	}
	var after Key
	n := 0
	for {
		recs, err := s.store.ScanRecords(ctx, after, preloadPage)
		if err != nil {
			return fmt.Errorf("consent: preload: %w", err)
		}
		for i := range recs {
			k := recs[i].Key
			// Records come by subject: a citizen's records share one copy
			// of the ID, and purposes and controllers are few.
			if k.Subject == after.Subject {
				k.Subject = after.Subject
			}
			k.Controller, k.Purpose = internString(k.Controller), internString(k.Purpose)
			s.cache.load(k, projOf(recs[i]))
			after = k
		}
		n += len(recs)
		if len(recs) < preloadPage {
			break
		}
	}
	s.cache.setComplete()
	if err := s.store.Register(ctx, s.id, head); err != nil {
		return fmt.Errorf("consent: register replica: %w", err)
	}
	s.seen.Store(head)
	if _, err := s.sync(ctx, -s.lease); err != nil {
		// The loop tries again; until a round succeeds there is no lease
		// and decisions read the database.
		s.log.WarnContext(ctx, "consent: first sync after the preload failed", "err", err)
	}
	s.log.InfoContext(ctx, "consent: cache preloaded", "records", n, "took", time.Since(began).Round(time.Millisecond))
	return nil
}

// clearCache empties the cache; when that ends complete mode (Preload),
// it says so — once, as the cache never becomes complete again.
func (s *Service) clearCache(ctx context.Context, why string) {
	if s.cache.clear() && !s.closed.Load() {
		s.log.WarnContext(ctx, "consent: the cache was emptied and is no longer complete; records it does not hold are read from the database",
			"why", why)
	}
}

// Close stops the sync loop and removes the replica's row, so that changes
// no longer wait for it. Calls after Close fail with ErrClosed.
func (s *Service) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.leaseUntil.Store(0)
	s.stop()
	<-s.done
	s.cache.clear()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.store.Deregister(ctx, s.id); err != nil {
		return fmt.Errorf("consent: close: %w", err)
	}
	return nil
}

// ReplicaID returns the ID of the replica's row.
func (s *Service) ReplicaID() string { return s.id }

// Stats returns the counters.
func (s *Service) Stats() Stats {
	return Stats{
		CacheHits: s.stats.hits.Load(), CacheMisses: s.stats.misses.Load(), Direct: s.stats.direct.Load(),
		CacheEntries: s.cache.len(), Complete: s.cache.complete.Load(),
		Syncs: s.stats.syncs.Load(), SyncFailures: s.stats.syncFailures.Load(),
		Fenced: s.stats.fenced.Load(), Relost: s.stats.relost.Load(),
		Awaits: s.stats.awaits.Load(), AwaitLease: s.stats.awaitLease.Load(),
		EffectFailures: s.stats.effectFailures.Load(), Conflicts: s.stats.conflicts.Load(),
	}
}

// mono is the monotonic clock of leases.
func (s *Service) mono() time.Duration { return time.Since(s.base) }

// leased reports whether the cache and the in-memory registry may be used.
func (s *Service) leased() bool { return int64(s.mono()) < s.leaseUntil.Load() }

// loadRegistry reloads the in-memory registry from the store, keeping any
// later version a concurrent PutPurpose of this replica put there.
func (s *Service) loadRegistry(ctx context.Context) error {
	ps, err := s.store.ListPurposes(ctx)
	if err != nil {
		return err
	}
	m := make(map[string]*Purpose, len(ps))
	for i := range ps {
		m[ps[i].ID] = &ps[i]
	}
	s.regMu.Lock()
	defer s.regMu.Unlock()
	if old := s.reg.Load(); old != nil {
		for id, p := range old.m {
			if cur, ok := m[id]; !ok || cur.Version < p.Version {
				m[id] = p
			}
		}
	}
	s.reg.Store(&registry{m: m})
	return nil
}

// setPurpose puts p in the in-memory registry unless a later version of
// it is there already (a sync round and a local PutPurpose may race).
func (s *Service) setPurpose(p Purpose) {
	s.regMu.Lock()
	defer s.regMu.Unlock()
	old := s.reg.Load()
	if cur, ok := old.m[p.ID]; ok && cur.Version >= p.Version {
		return
	}
	m := make(map[string]*Purpose, len(old.m)+1)
	for k, v := range old.m {
		m[k] = v
	}
	m[p.ID] = &p
	s.reg.Store(&registry{m: m})
}

// purpose returns the latest version of id: from the registry while the
// lease holds, from the store otherwise. ok is false for an unknown ID.
func (s *Service) purpose(ctx context.Context, id string) (*Purpose, bool, error) {
	if s.leased() {
		p, ok := s.reg.Load().m[id]
		return p, ok, nil
	}
	p, err := s.store.Purpose(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return &p, true, nil
}

// Purpose returns the latest version of the purpose id, or ErrNotFound.
func (s *Service) Purpose(ctx context.Context, id string) (Purpose, error) {
	p, ok, err := s.purpose(ctx, id)
	switch {
	case err != nil:
		return Purpose{}, fmt.Errorf("consent: purpose: %w", err)
	case !ok:
		return Purpose{}, fmt.Errorf("consent: purpose %.80q: %w", id, ErrNotFound)
	}
	return *p, nil
}

// Purposes returns the latest version of every purpose, by ID.
func (s *Service) Purposes(ctx context.Context) ([]Purpose, error) {
	ps, err := s.store.ListPurposes(ctx)
	if err != nil {
		return nil, fmt.Errorf("consent: purposes: %w", err)
	}
	return ps, nil
}

// ActionPurpose is the audit action of a new purpose version; its actor is
// the one audit.ActorFrom finds in the context, else the system actor
// RegistryActor.
const (
	ActionPurpose = "consent.purpose"
	RegistryActor = "consent-registry"
)

// PutPurpose stores p as the next version of p.ID (its Version is ignored)
// and returns the stored version. When the latest version already says the
// same (Purpose.Same) it stores nothing and returns that one, so loading
// an unchanged registry file changes nothing. Like every change it returns
// once every replica uses the new version. Records under an older notice
// stop counting at once (Decide); NoticeChanged marks them.
func (s *Service) PutPurpose(ctx context.Context, p Purpose) (Purpose, error) {
	if s.closed.Load() {
		return Purpose{}, ErrClosed
	}
	p.Version, p.Created = 0, time.Time{}
	if err := p.Validate(); err != nil {
		return Purpose{}, err
	}
	for range maxAttempts {
		latest, err := s.store.Purpose(ctx, p.ID)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return Purpose{}, fmt.Errorf("consent: put purpose: %w", err)
		case latest.Same(p):
			return latest, nil
		}
		p.Version = latest.Version + 1
		// The new version and its audit entry commit together.
		actor, ok := audit.ActorFrom(ctx)
		if !ok {
			actor = audit.Actor{Kind: audit.ActorSystem, ID: RegistryActor}
		}
		entry := audit.Entry{Actor: actor, Action: ActionPurpose, Purpose: p.DPV, LegalBasis: string(p.LegalBasis),
			ConsentRecord: AuditRecord(p.ID, p.Version, Ref{}), Categories: p.Categories, Outcome: audit.Allowed,
			RequestID: audit.RequestIDFrom(ctx)}
		pos, err := s.store.PutPurpose(ctx, p, func(tx *sql.Tx) error { return s.audit.AppendTx(ctx, tx, entry) })
		if errors.Is(err, ErrConflict) {
			s.stats.conflicts.Add(1)
			continue
		}
		if err != nil {
			return Purpose{}, fmt.Errorf("consent: put purpose: %w", err)
		}
		committed := s.mono()
		stored, err := s.store.PurposeVersion(context.WithoutCancel(ctx), p.ID, p.Version)
		if err != nil {
			stored = p // committed; only the read-back failed
		}
		s.setPurpose(stored)
		s.await(pos, committed)
		return stored, nil
	}
	return Purpose{}, fmt.Errorf("consent: put purpose %q: %w", p.ID, ErrConflict)
}

// idEncoding is base64 over the URL-safe characters in ASCII order, so
// that IDs sort as their bytes do.
var idEncoding = base64.NewEncoding("-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz").WithPadding(base64.NoPadding)

// newID returns a record or replica ID: 48 bits of time (ms) then 96
// random bits, 24 URL-safe characters. IDs made later sort later, so new
// records land at the end of the index on their ID.
func newID() string {
	var b [18]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixMilli())<<16)
	rand.Read(b[6:])
	return idEncoding.EncodeToString(b[:])
}
