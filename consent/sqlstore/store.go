package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/internal/db"
)

// Store is the consent ledger in SQLite or PostgreSQL. It implements
// consent.Store.
type Store struct {
	db  *db.DB
	now func() time.Time
	// dbNow is the SQL expression of the database clock in Unix µs.
	dbNow string
}

var _ consent.Store = (*Store)(nil)

// Option configures New.
type Option func(*Store)

// WithClock sets the clock that stamps stored purpose versions; default
// time.Now. Replica heartbeats always use the database clock.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// New returns a store over d, which must have Migrations applied. Several
// Stores — in one process or in several replicas — may share a database.
func New(d *db.DB, opts ...Option) *Store {
	s := &Store{db: d, now: time.Now}
	switch d.Dialect {
	case db.Postgres:
		s.dbNow = `CAST(extract(epoch FROM clock_timestamp()) * 1000000 AS BIGINT)`
	default:
		s.dbNow = `CAST(unixepoch('subsec') * 1000000 AS INTEGER)`
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Close does nothing: the prepared statements belong to the database
// (db.Prepared), which stays open.
func (s *Store) Close() {}

// stmt returns query prepared once on the database (db.Prepared). Never
// used inside a transaction.
func (s *Store) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	return s.db.Prepared(ctx, query)
}

func (s *Store) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := s.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (s *Store) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := s.stmt(ctx, q)
	if err != nil {
		return s.db.QueryRowContext(ctx, q, args...) // unprepared: the Row reports any failure
	}
	return st.QueryRowContext(ctx, args...)
}

// Lists of categories are stored as JSON arrays.

func encodeList(l []string) string {
	if l == nil {
		l = []string{}
	}
	b, _ := json.Marshal(l)
	return string(b)
}

func decodeList(s string) ([]string, error) {
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, fmt.Errorf("stored list %.40q: %w", s, err)
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l, nil
}

// micros converts t to stored form (0 for the zero time).
func micros(t time.Time) int64 { return db.Micros(t) }

func fromMicros(v int64) time.Time { return db.FromMicros(v) }

// bumpHead advances the ledger head by n inside tx and returns the new
// head. The row lock it takes is held until tx ends, so positions are
// handed out in commit order, across replicas: once a position is
// visible, every position below it is too.
func bumpHead(ctx context.Context, tx *sql.Tx, n int) (int64, error) {
	var pos int64
	if err := tx.QueryRowContext(ctx, `UPDATE consent_head SET pos = pos + $1 WHERE id = 1 RETURNING pos`, n).Scan(&pos); err != nil {
		return 0, fmt.Errorf("advance the head: %w", err)
	}
	return pos, nil
}
