package sqlstore

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cedula/cedula/internal/db"
)

// The leaf-hash index (LeafIndex) is a log-structured merge of sorted
// runs, so that indexing an entry costs the same in a log of ten million
// entries as in an empty one.
//
// Leaf hashes are random. Kept in one B-tree keyed by hash, as migrations
// 6 to 8 kept them, every indexed entry landed on a random page of an
// index that grows with the log: once the index outgrew the database's
// cache, each entry cost a page read and a page written to the WAL, and
// at ten million entries the indexer took a third of the server's CPU and
// held SQLite's write lock for hundreds of milliseconds a round (tokens
// per second fell by a third and their p99 went from 50 to 300 ms).
//
// Since migration 9, each indexing round writes its leaf keys, sorted, as
// a new run: rows (run, k, idx) of audit_leaf_runs, whose key begins with
// the run, so a round's rows append at the end of the B-tree, a handful of
// pages whatever the log's size. audit_leaf_levels lists the runs and
// their levels (a run of n keys is at level levelOf(n) or above). When
// leafFanout runs share a level they are merged into one run of the next
// level, a few thousand keys a transaction (the smallest keys of the
// inputs move to the output, in order), so no transaction holds the
// write lock for long; a key is in exactly one run at any time, so a
// lookup in the middle of a merge finds it. An entry is rewritten once
// per level, sequentially: log_64 of the log's size over the base run's
// times in all (about twice at ten million). A wide fanout keeps those
// rewrites — the whole cost of the index at scale — few: with 8, each key
// moved about five times at ten million and the merges took a fifth of the
// token server's CPU. A lookup probes each run by its primary key: at most
// 63 a level, a few hundred in all, a millisecond for an endpoint that
// proves entries by their hash.
// leafFanout is how many runs of a level are merged into one (a variable
// so that tests can see merges of merges without thousands of runs).
var leafFanout = 64

const (
	// leafBaseRun is the size of the runs of level 0; a run of n keys is
	// at level log_leafFanout(n / leafBaseRun).
	leafBaseRun = 1024
	// leafLevels bounds the levels (leafBaseRun·leafFanout^leafLevels is
	// far beyond any log).
	leafLevels = 16
)

// leafMergeChunk bounds the keys a merge transaction moves from each input
// (about leafFanout times as many in all): on SQLite a few milliseconds
// of the one write lock; on PostgreSQL, where a merge locks only the
// watermark's row, more keys for fewer round trips. Tests make it small.
var leafMergeChunk = map[db.Dialect]int{db.SQLite: 64, db.Postgres: 1024}

// levelOf is the level of a run of n keys: the largest L with
// leafBaseRun·leafFanout^L ≤ n (0 for smaller runs).
func levelOf(n int64) int {
	l := 0
	for size := int64(leafBaseRun) * int64(leafFanout); size <= n && l < leafLevels; size *= int64(leafFanout) {
		l++
	}
	return l
}

// levelCase is levelOf as an SQL expression of the count n, for the
// migration that turns the old index into a run.
func levelCase(n string) string {
	var b strings.Builder
	b.WriteString("CASE")
	size := int64(leafBaseRun) * int64(leafFanout)
	for l := 0; l < leafLevels; l++ {
		fmt.Fprintf(&b, " WHEN %s < %d THEN %d", n, size, l)
		size *= int64(leafFanout)
	}
	fmt.Fprintf(&b, " ELSE %d END", leafLevels)
	return b.String()
}

// schemaV9 replaces audit_leaves by the runs (see above); the old index
// becomes run 1, at the level its size gives.
func schemaV9(d db.Dialect) string {
	withoutRowid := ""
	if d == db.SQLite {
		withoutRowid = " WITHOUT ROWID"
	}
	return db.Schema(`
CREATE TABLE audit_leaf_runs (
	run BIGINT NOT NULL,
	k {BLOB} NOT NULL,
	idx BIGINT NOT NULL,
	PRIMARY KEY (run, k, idx)
)`+withoutRowid+`;
CREATE TABLE audit_leaf_levels (
	run BIGINT PRIMARY KEY,
	level INTEGER NOT NULL,
	into_run BIGINT
);
INSERT INTO audit_leaf_runs (run, k, idx) SELECT 1, k, idx FROM audit_leaves ORDER BY k, idx;
INSERT INTO audit_leaf_levels (run, level) SELECT 1, `+levelCase("n")+` FROM (SELECT count(*) AS n FROM audit_leaves) AS c WHERE n > 0;
DROP TABLE audit_leaves;
`, d)
}

// The statements of the leaf-hash index.
const (
	insertLeafRun = `INSERT INTO audit_leaf_runs (run, k, idx) VALUES `
	newLeafRun    = `INSERT INTO audit_leaf_levels (run, level) SELECT coalesce(max(run), 0) + 1, $1 FROM audit_leaf_levels RETURNING run`
	leafLookup    = `SELECT l.idx FROM audit_leaf_runs AS l JOIN audit_entries AS e ON e.idx = l.idx
WHERE l.run IN (SELECT run FROM audit_leaf_levels) AND l.k = $1 AND e.leaf_hash = $2 ORDER BY l.idx LIMIT 1`
)

// leafKey is one key of the leaf-hash index.
type leafKey struct {
	k   []byte
	idx int64
}

func compareLeafKeys(a, b leafKey) int {
	return cmp.Or(bytes.Compare(a.k, b.k), cmp.Compare(a.idx, b.idx))
}

// insertLeafRun writes keys as a new run in tx (whose writer holds the
// watermark's lock): sorted, at the level their number gives.
func (s *Store) insertLeafRun(ctx context.Context, tx *sql.Tx, keys []leafKey) error {
	if len(keys) == 0 {
		return nil
	}
	slices.SortFunc(keys, compareLeafKeys)
	var run int64
	if err := s.db.QueryRowCached(ctx, tx, newLeafRun, levelOf(int64(len(keys)))).Scan(&run); err != nil {
		return fmt.Errorf("new leaf run: %w", err)
	}
	args := make([]any, 0, 3*len(keys))
	for _, x := range keys {
		args = append(args, run, x.k, x.idx)
	}
	if err := s.insertRows(ctx, tx, insertLeafRun, 3, args); err != nil {
		return fmt.Errorf("insert leaf run: %w", err)
	}
	return nil
}

// compactLeaves runs merge steps until about budget keys have moved or no
// level needs merging. Each step is its own transaction.
func (s *Store) compactLeaves(ctx context.Context, budget int) error {
	for moved := 0; moved < budget; {
		n, err := s.mergeStep(ctx)
		if err != nil {
			return fmt.Errorf("audit: merge leaf runs: %w", err)
		}
		if n == 0 {
			return nil
		}
		moved += n
	}
	return nil
}

// mergeStep moves keys of the merge under way — or of a new one, when a
// level holds leafFanout runs — into its output run, in one transaction
// holding the watermark's lock (one indexer or merger at a time, across
// replicas): every key up to the least of the inputs' leafMergeChunk-th
// keys (all that is left, once no input has that many), so that no key
// left behind in an input is smaller than one moved; the database moves
// them (an UPDATE of their run), none passes through here. It returns how
// many keys moved: 0 when there is nothing to merge.
func (s *Store) mergeStep(ctx context.Context) (int, error) {
	s.indexMu.Lock()
	defer s.indexMu.Unlock()
	moved := 0
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		moved = 0
		lock := selectWatermark
		if s.db.Dialect == db.Postgres {
			lock += ` FOR UPDATE`
		}
		var w int64
		if err := s.db.QueryRowCached(ctx, tx, lock).Scan(&w); err != nil {
			return fmt.Errorf("lock watermark: %w", err)
		}
		out, inputs, err := s.mergeUnderWay(ctx, tx)
		if err != nil || out == 0 {
			return err
		}
		var bound leafKey
		bounded := false
		for _, in := range inputs {
			var x leafKey
			err := s.db.QueryRowCached(ctx, tx, `SELECT k, idx FROM audit_leaf_runs WHERE run = $1 ORDER BY k, idx LIMIT 1 OFFSET $2`,
				in, leafMergeChunk[s.db.Dialect]-1).Scan(&x.k, &x.idx)
			if errors.Is(err, sql.ErrNoRows) {
				continue // fewer keys left than a chunk
			}
			if err != nil {
				return err
			}
			if !bounded || compareLeafKeys(x, bound) < 0 {
				bound, bounded = x, true
			}
		}
		for _, in := range inputs {
			var res sql.Result
			if bounded {
				res, err = s.db.ExecCached(ctx, tx, `UPDATE audit_leaf_runs SET run = $1 WHERE run = $2 AND (k < $3 OR (k = $3 AND idx <= $4))`,
					out, in, bound.k, bound.idx)
			} else {
				res, err = s.db.ExecCached(ctx, tx, `UPDATE audit_leaf_runs SET run = $1 WHERE run = $2`, out, in)
			}
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			moved += int(n)
		}
		if !bounded {
			// Every input is empty now: the output is a run like any other.
			_, err := s.db.ExecCached(ctx, tx, `DELETE FROM audit_leaf_levels WHERE into_run = $1`, out)
			return err
		}
		return nil
	})
	return moved, err
}

// mergeUnderWay returns the output and input runs of the merge under way,
// starting one when no merge is and some level holds leafFanout runs (the
// oldest of the lowest such level, into a new run of the next level); out
// is 0 when there is nothing to merge.
func (s *Store) mergeUnderWay(ctx context.Context, tx *sql.Tx) (out int64, inputs []int64, err error) {
	readRuns := func(query string, args ...any) ([]int64, error) {
		rows, err := s.db.QueryCached(ctx, tx, query, args...)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var runs []int64
		for rows.Next() {
			var r int64
			if err := rows.Scan(&r); err != nil {
				return nil, err
			}
			runs = append(runs, r)
		}
		return runs, rows.Err()
	}
	outs, err := readRuns(`SELECT DISTINCT into_run FROM audit_leaf_levels WHERE into_run IS NOT NULL`)
	if err != nil || len(outs) > 1 {
		return 0, nil, cmp.Or(err, fmt.Errorf("%d merges under way, want at most one", len(outs)))
	}
	if len(outs) == 1 {
		inputs, err := readRuns(`SELECT run FROM audit_leaf_levels WHERE into_run = $1 ORDER BY run`, outs[0])
		return outs[0], inputs, err
	}
	var level int
	err = s.db.QueryRowCached(ctx, tx, `SELECT level FROM audit_leaf_levels GROUP BY level HAVING count(*) >= $1 ORDER BY level LIMIT 1`, leafFanout).Scan(&level)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, err
	}
	if inputs, err = readRuns(`SELECT run FROM audit_leaf_levels WHERE level = $1 ORDER BY run LIMIT `+fmt.Sprint(leafFanout), level); err != nil {
		return 0, nil, err
	}
	if err := s.db.QueryRowCached(ctx, tx, newLeafRun, level+1).Scan(&out); err != nil {
		return 0, nil, err
	}
	// The inputs are the oldest runs of their level: those up to the
	// newest input.
	_, err = s.db.ExecCached(ctx, tx, `UPDATE audit_leaf_levels SET into_run = $1 WHERE level = $2 AND run <= $3`, out, level, inputs[len(inputs)-1])
	return out, inputs, err
}
