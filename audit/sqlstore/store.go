package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/db"
)

// Defaults of the options.
const (
	// DefaultPollInterval is how often a Store looks for outbox rows that
	// AppendTx callers committed.
	DefaultPollInterval = 10 * time.Millisecond
	// DefaultMaxGroup is the most Append calls one transaction carries.
	DefaultMaxGroup = 256
	// maxDrain is the most outbox rows one transaction numbers.
	maxDrain = 1024
	// rowsPerInsert is the most rows one INSERT statement carries (3
	// parameters each: well under both dialects' limits).
	rowsPerInsert = 128
)

// Store is an audit log in SQLite or PostgreSQL. It implements audit.Log
// and audit.Checkpoints.
type Store struct {
	db    *db.DB
	now   func() time.Time
	poll  time.Duration
	group *db.Group[*appendReq]

	stopGroup, stopPoll context.CancelFunc
	pollDone            chan struct{} // closed when the poller has ended

	// mu guards closed; inflight counts group requests under way. Close
	// stops new requests, waits for those under way, and only then stops
	// the group: a db.Group request sent after its loop ended would wait
	// for ever.
	mu       sync.RWMutex
	closed   bool
	inflight sync.WaitGroup

	// frontier caches, for the one goroutine that sequences, the hashes
	// needed to extend the tree of size frontierSize.
	frontierSize int64
	frontier     map[int64]tlog.Hash

	indexMu sync.Mutex // one indexing transaction of this store at a time

	// guess is the head SequenceTx expects on PostgreSQL (headfrontier.go);
	// committed, on SQLite, the largest tree known to have committed, with
	// its frontier (shared by every writer of this store; read-only maps).
	guessMu   sync.Mutex
	guess     headGuess
	committed headGuess
	txFast    atomic.Uint64 // SequenceTx calls done in one statement
}

var (
	_ audit.Log         = (*Store)(nil)
	_ audit.Checkpoints = (*Store)(nil)
)

// Option configures New.
type Option func(*options)

type options struct {
	now      func() time.Time
	poll     time.Duration
	maxGroup int
}

// WithClock sets the clock that stamps entries given without a time.
// Default time.Now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithPollInterval sets how often the store looks for committed outbox
// rows; default DefaultPollInterval.
func WithPollInterval(d time.Duration) Option { return func(o *options) { o.poll = d } }

// WithMaxGroup sets the most Append calls one transaction carries; default
// DefaultMaxGroup.
func WithMaxGroup(n int) Option { return func(o *options) { o.maxGroup = n } }

// New returns a store over d, which must have Migrations applied, and starts
// its sequencing goroutine and outbox poller; Close stops them. Several
// Stores — in one process or in several replicas — may share a database.
func New(d *db.DB, opts ...Option) *Store {
	o := options{now: time.Now, poll: DefaultPollInterval, maxGroup: DefaultMaxGroup}
	for _, opt := range opts {
		opt(&o)
	}
	if o.poll <= 0 {
		o.poll = DefaultPollInterval
	}
	groupCtx, stopGroup := context.WithCancel(context.Background())
	pollCtx, stopPoll := context.WithCancel(context.Background())
	s := &Store{db: d, now: o.now, poll: o.poll, stopGroup: stopGroup, stopPoll: stopPoll,
		pollDone: make(chan struct{}), frontierSize: -1, guess: headGuess{size: -1}, committed: headGuess{size: -1}}
	s.group = db.NewGroup(groupCtx, o.maxGroup, s.flush)
	go s.pollOutbox(pollCtx)
	return s
}

// Close stops the store's goroutines once the appends under way are
// done; appends after Close fail with audit.ErrClosed. Entries committed
// with AppendTx but not yet sequenced stay in the outbox for the next
// store. The database stays open.
func (s *Store) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	s.stopPoll()
	<-s.pollDone
	s.inflight.Wait()
	s.stopGroup()
}

// GroupCommits reports how many sequencing transactions ran and how many
// requests (Append calls and outbox drains) they carried.
func (s *Store) GroupCommits() (transactions, requests uint64) { return s.group.Stats() }

// stmt returns query prepared once on the database (db.Prepared). The
// read paths vary only with the number of hashes they ask for. Never used
// inside a transaction.
func (s *Store) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	return s.db.Prepared(ctx, query)
}

// inList returns "$1, $2, …, $n".
func inList(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", i)
	}
	return b.String()
}

// Size implements audit.Reader.
func (s *Store) Size(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.QueryRowCached(ctx, nil, `SELECT size FROM audit_head WHERE id = 1`).Scan(&n); err != nil {
		return 0, fmt.Errorf("audit: size: %w", err)
	}
	return n, nil
}

// Entries implements audit.Reader.
func (s *Store) Entries(ctx context.Context, start, end int64) ([]audit.Record, error) {
	switch {
	case start < 0 || start > end:
		return nil, fmt.Errorf("audit: entries [%d, %d): %w", start, end, audit.ErrBadRange)
	case end-start > audit.MaxEntries:
		return nil, fmt.Errorf("audit: entries [%d, %d): %w: at most %d at once", start, end, audit.ErrBadRange, audit.MaxEntries)
	}
	n, err := s.Size(ctx)
	if err != nil {
		return nil, err
	}
	if end > n {
		return nil, fmt.Errorf("audit: entries [%d, %d): %w: the log has %d entries", start, end, audit.ErrOutOfRange, n)
	}
	if start == end {
		return []audit.Record{}, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT idx, data FROM audit_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx`, start, end)
	if err != nil {
		return nil, fmt.Errorf("audit: entries: %w", err)
	}
	defer rows.Close()
	out := make([]audit.Record, 0, end-start)
	for rows.Next() {
		var r audit.Record
		if err := rows.Scan(&r.Index, &r.Data); err != nil {
			return nil, fmt.Errorf("audit: entries: %w", err)
		}
		if want := start + int64(len(out)); r.Index != want {
			return nil, fmt.Errorf("audit: entries: %w: entry %d is missing", audit.ErrCorrupt, want)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: entries: %w", err)
	}
	if int64(len(out)) != end-start {
		return nil, fmt.Errorf("audit: entries: %w: entry %d is missing", audit.ErrCorrupt, start+int64(len(out)))
	}
	return out, nil
}

// LeafIndex implements audit.Reader through the leaf-hash index's runs,
// which the indexer keeps (leaves.go): it catches the indexer up first, so
// an entry appended before the call is found.
func (s *Store) LeafIndex(ctx context.Context, leaf audit.Hash) (int64, error) {
	if err := s.catchUp(ctx); err != nil {
		return 0, fmt.Errorf("audit: leaf %s: %w", leaf, err)
	}
	var idx int64
	err := s.db.QueryRowCached(ctx, nil, leafLookup, leaf[:leafKeySize], leaf[:]).Scan(&idx)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("audit: leaf %s: %w", leaf, audit.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("audit: leaf %s: %w", leaf, err)
	}
	return idx, nil
}

// ReadHashes implements audit.Reader.
func (s *Store) ReadHashes(ctx context.Context, indexes []int64) ([]audit.Hash, error) {
	hs, missing, err := s.readHashes(ctx, nil, indexes)
	if err != nil {
		return nil, err
	}
	if missing >= 0 {
		n, err := s.Size(ctx)
		if err != nil {
			return nil, err
		}
		if missing >= n {
			return nil, fmt.Errorf("audit: read hashes: %w: leaf %d, the log has %d entries", audit.ErrOutOfRange, missing, n)
		}
		return nil, fmt.Errorf("audit: read hashes: %w: hashes of leaf %d are missing", audit.ErrCorrupt, missing)
	}
	return hs, nil
}

// maxLeaf bounds the leaves ReadHashes looks up, far beyond any real log,
// so that the index arithmetic cannot overflow.
const maxLeaf = 1 << 56

// hashLoc is where a stored hash lives: the leaf it was written with and its
// position among that leaf's stored hashes (its level in the tree).
type hashLoc struct {
	leaf  int64
	level int
}

func locate(index int64) (hashLoc, bool) {
	if index < 0 || index > 2*maxLeaf {
		return hashLoc{}, false
	}
	// The hash (level, n) is written with the last leaf of its subtree,
	// ((n+1) << level) - 1, at position level (tlog.StoredHashes).
	level, n := tlog.SplitStoredHashIndex(index)
	if level > 56 || n >= maxLeaf>>level {
		return hashLoc{}, false
	}
	return hashLoc{leaf: ((n + 1) << level) - 1, level: level}, true
}

// readHashes reads the stored hashes with the given indexes through tx (or
// the database when tx is nil). missing is the first leaf whose row is
// absent, or -1.
func (s *Store) readHashes(ctx context.Context, tx *sql.Tx, indexes []int64) (out []audit.Hash, missing int64, err error) {
	locs := make([]hashLoc, len(indexes))
	leaves := make([]any, 0, len(indexes))
	seen := make(map[int64]bool, len(indexes))
	for i, x := range indexes {
		loc, ok := locate(x)
		if !ok {
			return nil, -1, fmt.Errorf("audit: read hashes: %w: stored hash index %d", audit.ErrOutOfRange, x)
		}
		locs[i] = loc
		if !seen[loc.leaf] {
			seen[loc.leaf] = true
			leaves = append(leaves, loc.leaf)
		}
	}
	rowsOf := make(map[int64][]byte, len(leaves))
	for len(leaves) > 0 {
		chunk := leaves[:min(len(leaves), 256)]
		leaves = leaves[len(chunk):]
		q := `SELECT idx, hashes FROM audit_entries WHERE idx IN (` + inList(len(chunk)) + `)`
		var rows *sql.Rows
		var err error
		if tx != nil {
			rows, err = s.db.QueryCached(ctx, tx, q, chunk...)
		} else {
			var st *sql.Stmt
			if st, err = s.stmt(ctx, q); err == nil {
				rows, err = st.QueryContext(ctx, chunk...)
			}
		}
		if err != nil {
			return nil, -1, fmt.Errorf("audit: read hashes: %w", err)
		}
		for rows.Next() {
			var leaf int64
			var hs []byte
			if err := rows.Scan(&leaf, &hs); err != nil {
				rows.Close()
				return nil, -1, fmt.Errorf("audit: read hashes: %w", err)
			}
			if hs != nil { // NULL: the row lost its hashes, as good as missing
				rowsOf[leaf] = hs
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, -1, fmt.Errorf("audit: read hashes: %w", err)
		}
	}
	out = make([]audit.Hash, len(indexes))
	for i, loc := range locs {
		hs, ok := rowsOf[loc.leaf]
		if !ok {
			return nil, loc.leaf, nil
		}
		if len(hs) < (loc.level+1)*tlog.HashSize {
			return nil, -1, fmt.Errorf("audit: read hashes: %w: leaf %d holds %d bytes of hashes, want at least %d",
				audit.ErrCorrupt, loc.leaf, len(hs), (loc.level+1)*tlog.HashSize)
		}
		copy(out[i][:], hs[loc.level*tlog.HashSize:])
	}
	return out, -1, nil
}

var _ audit.SubjectIndex = (*Store)(nil)

// EntriesAbout implements audit.SubjectIndex through the audit_subjects
// index: one range scan of (subject, idx) and a primary-key lookup per
// record.
func (s *Store) EntriesAbout(ctx context.Context, subject string, after int64, limit int) ([]audit.Record, int64, error) {
	switch {
	case subject == "":
		return nil, 0, fmt.Errorf("audit: entries about a subject: %w: no subject", audit.ErrBadRange)
	case limit < 1 || limit > audit.MaxEntries:
		return nil, 0, fmt.Errorf("audit: entries about a subject: %w: limit %d, want 1 to %d", audit.ErrBadRange, limit, audit.MaxEntries)
	case after < 0:
		return nil, 0, fmt.Errorf("audit: entries about a subject: %w: cursor %d", audit.ErrBadRange, after)
	}
	if err := s.catchUp(ctx); err != nil {
		return nil, 0, fmt.Errorf("audit: entries about a subject: %w", err)
	}
	below := after
	if below == 0 {
		below = maxLeaf
	}
	rows, err := s.db.QueryContext(ctx, `SELECT e.idx, e.data FROM audit_subjects AS x JOIN audit_entries AS e ON e.idx = x.idx
WHERE x.subject = $1 AND x.idx < $2 ORDER BY x.idx DESC LIMIT $3`, []byte(subject), below, limit+1)
	if err != nil {
		return nil, 0, fmt.Errorf("audit: entries about a subject: %w", err)
	}
	defer rows.Close()
	out := make([]audit.Record, 0, min(limit, 64))
	more := false
	for rows.Next() {
		if len(out) == limit {
			more = true
			break
		}
		var r audit.Record
		if err := rows.Scan(&r.Index, &r.Data); err != nil {
			return nil, 0, fmt.Errorf("audit: entries about a subject: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("audit: entries about a subject: %w", err)
	}
	var next int64
	if more {
		next = out[len(out)-1].Index
	}
	return out, next, nil
}
