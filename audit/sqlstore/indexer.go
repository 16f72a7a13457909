package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/cedula/cedula/internal/db"
)

// schemaV5 moves the subject and search indexes (audit_subjects,
// audit_index) out of the sequencing transaction: they are derived from
// the entries and kept up by an indexer, in large batches, behind the
// watermark audit_indexed.size — every entry below it is indexed. Queries
// first bring the watermark up to the log's size, so they see every entry
// appended before them. The entries already in the log were indexed when
// they were sequenced (and by the backfills of versions 3 and 4).
const schemaV5 = `
CREATE TABLE audit_indexed (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	size BIGINT NOT NULL CHECK (size >= 0)
);
INSERT INTO audit_indexed (id, size) SELECT 1, size FROM audit_head;
`

// selectWatermark reads the indexer's watermark.
const selectWatermark = `SELECT size FROM audit_indexed WHERE id = 1`

// indexBatch is the most entries one indexing transaction takes.
const indexBatch = 16384

// indexEvery is how many outbox polls pass between two background
// indexing rounds (a tenth of a second). While the leaf-hash index was one
// B-tree of random keys, rounds were half a second apart, so that each
// page a round dirtied there took more entries (tokens/s rose by a fifth
// from a tenth of a second); since its keys go into runs (leaves.go) a
// round writes about as many pages per entry whatever its size, and short
// rounds hold the write lock for a short while.
const indexEvery = 10

// catchUp indexes every entry in the log when it is called.
func (s *Store) catchUp(ctx context.Context) error {
	size, err := s.Size(ctx)
	if err != nil {
		return err
	}
	for {
		var w int64
		if err := s.db.QueryRowCached(ctx, nil, selectWatermark).Scan(&w); err != nil {
			return fmt.Errorf("audit: index watermark: %w", err)
		}
		if w >= size {
			return nil
		}
		if _, err := s.indexOnce(ctx); err != nil {
			return err
		}
	}
}

// indexOnce indexes up to indexBatch entries beyond the watermark and
// returns how many. It reads and decodes them first, outside any write
// transaction (a reader does not wait for SQLite's write lock, nor hold
// it), then writes the index rows in one transaction holding the
// watermark's lock, provided the watermark has not moved meanwhile (another
// replica indexed them; then it returns 0 and the caller looks again).
func (s *Store) indexOnce(ctx context.Context) (int, error) {
	s.indexMu.Lock() // one indexer per store at a time; the row lock orders replicas
	defer s.indexMu.Unlock()
	b, err := s.readBatch(ctx)
	if err != nil || b.n == 0 {
		return 0, err
	}
	moved := false
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		lock := selectWatermark
		if s.db.Dialect == db.Postgres {
			lock = selectWatermark + ` FOR UPDATE`
		}
		var w int64
		if err := s.db.QueryRowCached(ctx, tx, lock).Scan(&w); err != nil {
			return fmt.Errorf("lock watermark: %w", err)
		}
		if w != b.from {
			moved = true
			return nil
		}
		if err := s.insertLeafRun(ctx, tx, b.leaves); err != nil {
			return err
		}
		if err := s.insertRows(ctx, tx, insertSubjects, 2, b.subjects); err != nil {
			return fmt.Errorf("insert subjects: %w", err)
		}
		if err := s.insertRows(ctx, tx, insertIndex, indexCols, b.index); err != nil {
			return fmt.Errorf("insert search index: %w", err)
		}
		if _, err := s.db.ExecCached(ctx, tx, `UPDATE audit_indexed SET size = $1 WHERE id = 1`, b.from+int64(b.n)); err != nil {
			return fmt.Errorf("move watermark: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("audit: index: %w", err)
	}
	if moved {
		return 0, nil
	}
	return b.n, nil
}

// batch is a batch of entries ready to be indexed: the leaf keys and the
// flattened rows of audit_subjects and audit_index for the n entries from
// index from on.
type batch struct {
	from            int64
	n               int
	leaves          []leafKey
	subjects, index []any
}

// readBatch reads up to indexBatch entries beyond the watermark and
// computes their index rows.
func (s *Store) readBatch(ctx context.Context) (batch, error) {
	var w int64
	if err := s.db.QueryRowCached(ctx, nil, selectWatermark).Scan(&w); err != nil {
		return batch{}, fmt.Errorf("audit: index watermark: %w", err)
	}
	head, err := s.Size(ctx)
	if err != nil {
		return batch{}, err
	}
	end := min(head, w+indexBatch)
	if end <= w {
		return batch{from: w}, nil
	}
	rows, err := s.db.QueryCached(ctx, nil, `SELECT idx, leaf_hash, data FROM audit_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx`, w, end)
	if err != nil {
		return batch{}, fmt.Errorf("audit: index: read entries: %w", err)
	}
	defer rows.Close()
	leaves := make([][]byte, 0, end-w)
	keys := make([]leafKey, 0, end-w)
	for rows.Next() {
		var idx int64
		var leaf, data []byte
		if err := rows.Scan(&idx, &leaf, &data); err != nil {
			return batch{}, fmt.Errorf("audit: index: read entries: %w", err)
		}
		if idx != w+int64(len(leaves)) {
			return batch{}, fmt.Errorf("audit: index: read entries: entry %d where %d was due", idx, w+int64(len(leaves)))
		}
		if len(leaf) < leafKeySize {
			return batch{}, fmt.Errorf("audit: index: read entries: entry %d has a leaf hash of %d bytes", idx, len(leaf))
		}
		leaves = append(leaves, data)
		keys = append(keys, leafKey{k: leaf[:leafKeySize], idx: idx})
	}
	if err := rows.Err(); err != nil {
		return batch{}, fmt.Errorf("audit: index: read entries: %w", err)
	}
	if int64(len(leaves)) != end-w {
		return batch{}, fmt.Errorf("audit: index: read entries: %d of %d", len(leaves), end-w)
	}
	index, subjects, err := indexRows(w, leaves)
	if err != nil {
		return batch{}, fmt.Errorf("audit: index: %w", err)
	}
	return batch{from: w, n: len(leaves), leaves: keys, subjects: subjects, index: index}, nil
}

// indexPending runs indexing rounds until the index has caught up or an
// error stops it (to be tried again later). After each round it merges
// leaf runs (leaves.go): leafFanout keys for each key indexed — enough
// for leafFanout levels, far more than any log has — and a merge step's
// worth more, which drains a backlog when the log is quiet.
func (s *Store) indexPending(ctx context.Context) {
	for {
		n, err := s.indexOnce(ctx)
		if err == nil {
			err = s.compactLeaves(ctx, leafFanout*(n+leafMergeChunk[s.db.Dialect]))
		}
		if err != nil || n < indexBatch {
			return
		}
	}
}
