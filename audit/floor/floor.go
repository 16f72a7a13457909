// Package floor is the least durable work a request of Cedula's can do,
// for the ceiling benchmarks: what a request must write — its own rows
// and, where the request is audited, a tamper-evident audit entry with
// the indexes the log must keep — group-committed, and nothing else. A
// ceiling built on it tells a throughput target that this machine cannot
// reach from one the server misses.
//
// Log is the least an audit entry costs: its canonical encoding, its
// Merkle leaf and stored tree hashes (tlog.StoredHashes, the tree kept in
// memory), one row per entry (index, entry, hashes) and, with Index, the
// entry's search row with the four secondary indexes a DPO's search needs,
// its subject's row (the citizen's own activity) when it has one, and its
// leaf-hash key in one sorted run per group — all inserted in the
// caller's transaction. No outbox, no indexer of its own, no merges of
// runs, no checkpoint of the tree.
package floor

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"slices"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/db"
)

// logSchema is the log's least tables (audit/sqlstore keeps the same
// columns and indexes, schema versions 4 and 9).
var logSchema = []string{
	`CREATE TABLE floor_entries (idx BIGINT PRIMARY KEY, data {BLOB} NOT NULL, hashes {BLOB} NOT NULL)`,
}

var indexSchema = []string{
	`CREATE TABLE floor_index (idx {INDEX} PRIMARY KEY, time BIGINT NOT NULL, actor_kind TEXT NOT NULL,
		actor_id {BLOB} NOT NULL, action {BLOB} NOT NULL, purpose {BLOB} NOT NULL, outcome TEXT NOT NULL)`,
	`CREATE INDEX floor_index_time ON floor_index (time, idx)`,
	`CREATE INDEX floor_index_actor ON floor_index (actor_id, idx)`,
	`CREATE INDEX floor_index_action ON floor_index (action, idx)`,
	`CREATE INDEX floor_index_purpose ON floor_index (purpose, idx)`,
	`CREATE TABLE floor_leaf_runs (run BIGINT NOT NULL, k {BLOB} NOT NULL, idx BIGINT NOT NULL, PRIMARY KEY (run, k, idx)){WITHOUT_ROWID}`,
	`CREATE TABLE floor_subjects (subject {BLOB} NOT NULL, idx BIGINT NOT NULL, PRIMARY KEY (subject, idx)){WITHOUT_ROWID}`,
}

// Log appends audit entries at the least cost. Its methods are for one
// writer at a time (a group writer's flush).
type Log struct {
	d      *db.DB
	index  bool
	size   int64
	hashes []tlog.Hash
}

// NewLog creates the log's tables in d — with the search and leaf-hash
// indexes when index is set — and returns an empty log.
func NewLog(ctx context.Context, d *db.DB, index bool) (*Log, error) {
	schema := logSchema
	if index {
		schema = append(slices.Clip(schema), indexSchema...)
	}
	if err := Create(ctx, d, schema...); err != nil {
		return nil, err
	}
	return &Log{d: d, index: index}, nil
}

// Create runs CREATE statements written with db.Schema's placeholders.
func Create(ctx context.Context, d *db.DB, stmts ...string) error {
	for _, q := range stmts {
		if _, err := d.ExecContext(ctx, db.Schema(q, d.Dialect)); err != nil {
			return fmt.Errorf("floor: %w", err)
		}
	}
	return nil
}

// Append sequences es and inserts them in tx. It returns done, to call
// with the transaction's outcome: on a rollback the log forgets them.
func (l *Log) Append(ctx context.Context, tx *sql.Tx, es []audit.Entry) (done func(committed bool), err error) {
	size, added := l.size, 0
	undo := func(committed bool) {
		if committed {
			l.size = size
		} else {
			l.hashes = l.hashes[:len(l.hashes)-added]
		}
	}
	entries := make([]any, 0, 3*len(es))
	var rows, subjects []any
	type leafKey struct {
		k   []byte
		idx int64
	}
	var leaves []leafKey
	read := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = l.hashes[x]
		}
		return out, nil
	})
	for _, e := range es {
		enc, err := e.Canonical()
		if err != nil {
			undo(false)
			return nil, err
		}
		hs, err := tlog.StoredHashes(size, enc, read)
		if err != nil {
			undo(false)
			return nil, err
		}
		l.hashes = append(l.hashes, hs...)
		added += len(hs)
		blob := make([]byte, 0, len(hs)*tlog.HashSize)
		for _, h := range hs {
			blob = append(blob, h[:]...)
		}
		entries = append(entries, size, enc, blob)
		if l.index {
			leaf := tlog.RecordHash(enc)
			rows = append(rows, size, e.Time.UnixMicro(), string(e.Actor.Kind), []byte(e.Actor.ID), []byte(e.Action),
				[]byte(e.Purpose), string(e.Outcome))
			leaves = append(leaves, leafKey{k: leaf[:8], idx: size})
			if e.Subject != "" {
				subjects = append(subjects, []byte(e.Subject), size)
			}
		}
		size++
	}
	if len(es) == 0 {
		return undo, nil
	}
	err = l.d.InsertRows(ctx, tx, `INSERT INTO floor_entries (idx, data, hashes) VALUES `, "", 3, entries)
	if err == nil && l.index {
		err = l.d.InsertRows(ctx, tx,
			`INSERT INTO floor_index (idx, time, actor_kind, actor_id, action, purpose, outcome) VALUES `, "", 7, rows)
		if err == nil {
			slices.SortFunc(leaves, func(a, b leafKey) int { return bytes.Compare(a.k, b.k) })
			run := make([]any, 0, 3*len(leaves))
			for _, k := range leaves {
				run = append(run, l.size, k.k, k.idx)
			}
			err = l.d.InsertRows(ctx, tx, `INSERT INTO floor_leaf_runs (run, k, idx) VALUES `, "", 3, run)
		}
		if err == nil && len(subjects) > 0 {
			err = l.d.InsertRows(ctx, tx, `INSERT INTO floor_subjects (subject, idx) VALUES `, "", 2, subjects)
		}
	}
	if err != nil {
		undo(false)
		return nil, err
	}
	return undo, nil
}

// Size is the number of entries committed.
func (l *Log) Size() int64 { return l.size }

// Fill is n copies of err, a group flush's answer when the whole group
// shares one outcome.
func Fill(n int, err error) []error {
	errs := make([]error, n)
	for i := range errs {
		errs[i] = err
	}
	return errs
}
