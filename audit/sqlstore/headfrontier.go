package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/db"
)

// On PostgreSQL the head row also holds the frontier of the tree of its
// size — the roots of its complete subtrees, all that extending the tree
// needs — with the size it belongs to (migration 10). A transaction that
// numbers entries (SequenceTx: the token endpoint's group, which numbers
// its entries inside its own transaction) can then do it in one statement
// when it guesses the head right: an UPDATE of the head guarded by the
// size and frontier it expects — the ones it last wrote — and by an empty
// outbox, and the INSERT of the entries conditional on that UPDATE, as
// sequenceFast does for Append. Before, it took five round trips while it
// held the head's lock: the lock, the outbox, the frontier's hashes, the
// entries, the new size. When the guess is wrong — another replica or the
// outbox moved the head, or the transaction that wrote the guess rolled
// back — the statement changes nothing, and the locked path reads the
// head (the frontier with it) and goes on as before.
//
// The pair is consistent because every writer of the size writes the
// frontier in the same UPDATE, and a reader trusts the frontier only when
// frontier_size equals size: a replica of an older version, which moves the
// size alone, leaves a frontier no one trusts.
const schemaV10Postgres = `
ALTER TABLE audit_head ADD COLUMN frontier BYTEA;
ALTER TABLE audit_head ADD COLUMN frontier_size BIGINT;
`

// frontierIndexes returns the stored-hash indexes of the frontier of the
// tree of size, in increasing order.
func frontierIndexes(size int64) ([]int64, error) {
	r := &indexRecorder{}
	if _, err := tlog.TreeHash(size, r); err != nil {
		return nil, err
	}
	slices.Sort(r.indexes)
	return slices.Compact(r.indexes), nil
}

// indexRecorder answers every read with zero hashes and notes the indexes.
type indexRecorder struct{ indexes []int64 }

func (r *indexRecorder) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	r.indexes = append(r.indexes, indexes...)
	return make([]tlog.Hash, len(indexes)), nil
}

// encodeFrontier returns the frontier of size, from front, as the head row
// holds it: its hashes in the order of their indexes.
func encodeFrontier(size int64, front map[int64]tlog.Hash) ([]byte, error) {
	idx, err := frontierIndexes(size)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(idx)*tlog.HashSize)
	for _, x := range idx {
		h, ok := front[x]
		if !ok {
			return nil, fmt.Errorf("frontier of %d lacks stored hash %d", size, x)
		}
		out = append(out, h[:]...)
	}
	return out, nil
}

// decodeFrontier reads a frontier encoded by encodeFrontier; false when
// blob is not one of size.
func decodeFrontier(size int64, blob []byte) (map[int64]tlog.Hash, bool) {
	idx, err := frontierIndexes(size)
	if err != nil || len(blob) != len(idx)*tlog.HashSize {
		return nil, false
	}
	front := make(map[int64]tlog.Hash, len(idx))
	for i, x := range idx {
		var h tlog.Hash
		copy(h[:], blob[i*tlog.HashSize:])
		front[x] = h
	}
	return front, true
}

// headGuess is what SequenceTx expects the head to be: the size and
// frontier it last wrote.
type headGuess struct {
	size  int64 // -1: no guess
	front map[int64]tlog.Hash
}

// guessedAppend is a group of entries numbered from the guessed head: the
// arguments of appendGuessed.
type guessedAppend struct {
	newSize int64
	front   map[int64]tlog.Hash // of the tree of newSize
	args    []any
}

// guessAppend numbers data from the guessed head; false when there is no
// guess, or it lacks a hash.
func (s *Store) guessAppend(data [][]byte) (guessedAppend, bool, error) {
	s.guessMu.Lock()
	g := s.guess
	s.guessMu.Unlock()
	if g.size < 0 {
		return guessedAppend{}, false, nil
	}
	base := g.size
	mem := maps.Clone(g.front)
	rows, err := hashLeaves(base, data, &recorder{mem: mem, got: map[int64]tlog.Hash{}}, mem)
	if err != nil {
		return guessedAppend{}, false, nil // the guess lacks a hash
	}
	newSize := base + int64(len(data))
	front, err := frontier(newSize, mem)
	if err != nil {
		return guessedAppend{}, false, err
	}
	oldBlob, err := encodeFrontier(base, g.front)
	if err != nil {
		return guessedAppend{}, false, nil
	}
	newBlob, err := encodeFrontier(newSize, front)
	if err != nil {
		return guessedAppend{}, false, err
	}
	// The entries' columns as arrays (unnest), so that the statement's
	// text, and the plan PostgreSQL keeps for it, is one whatever the
	// group's size.
	idx := make([]int64, len(data))
	leaves, datas, hashes := make([][]byte, len(data)), make([][]byte, len(data)), make([][]byte, len(data))
	for r := range data {
		row := rows[entryCols*r : entryCols*(r+1)]
		idx[r], leaves[r], datas[r], hashes[r] = row[0].(int64), row[1].([]byte), row[2].([]byte), row[3].([]byte)
	}
	return guessedAppend{newSize: newSize, front: front,
		args: []any{newSize, newBlob, base, oldBlob, idx, leaves, datas, hashes}}, true, nil
}

// appendGuessed is the statement that appends a guessedAppend: the head
// moves, and the entries go in, only if it is as guessed and the outbox
// is empty. Its result is that of its last part: appendGuessedRows or
// appendGuessedOrFail.
const appendGuessed = `WITH h AS (UPDATE audit_head SET size = $1, frontier = $2, frontier_size = $1
	WHERE id = 1 AND size = $3 AND frontier_size = $3 AND frontier = $4 AND NOT EXISTS (SELECT 1 FROM audit_pending) RETURNING size),
e AS (INSERT INTO audit_entries (idx, leaf_hash, data, hashes)
	SELECT * FROM unnest($5::bigint[], $6::bytea[], $7::bytea[], $8::bytea[]) WHERE EXISTS (SELECT 1 FROM h))
`

const (
	// appendGuessedRows ends appendGuessed with one row when it
	// appended, none when the guess was wrong.
	appendGuessedRows = appendGuessed + `SELECT size FROM h`
	// appendGuessedOrFail ends it with an error (division by zero) when
	// the guess was wrong, which aborts the transaction.
	appendGuessedOrFail = appendGuessed + `SELECT 1 / (SELECT count(*)::int FROM h)`
)

// sequenceTxFast numbers data in tx in one statement, guessing the head
// (see above); false when the guess was wrong and nothing was written.
func (s *Store) sequenceTxFast(ctx context.Context, tx *sql.Tx, data [][]byte) (first int64, ok bool, err error) {
	g, ok, err := s.guessAppend(data)
	if err != nil || !ok {
		return 0, false, err
	}
	res, err := s.db.ExecCached(ctx, tx, appendGuessedRows, g.args...)
	if err != nil {
		return 0, false, fmt.Errorf("audit: append in transaction: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return 0, false, err
	}
	s.setGuess(g.newSize, g.front)
	s.txFast.Add(1)
	return g.args[2].(int64), true, nil
}

// SequenceStatement returns a statement that numbers entries, guessing
// the head (see above), for a caller that runs it with statements of its
// own in one transaction it sends at once (db.Pipeline): the statement
// fails, and with it the transaction, when the guess is wrong — the
// caller then takes SequenceTx's way. Call done with whether the
// transaction committed. ok is false when there is no guess, and always
// on SQLite: use SequenceTx.
func (s *Store) SequenceStatement(entries ...audit.Entry) (st db.Statement, done func(committed bool), ok bool, err error) {
	if s.db.Dialect != db.Postgres || len(entries) == 0 {
		return db.Statement{}, nil, false, nil
	}
	data, err := s.encode(entries)
	if err != nil {
		return db.Statement{}, nil, false, err
	}
	g, ok, err := s.guessAppend(data)
	if err != nil || !ok {
		return db.Statement{}, nil, false, err
	}
	return db.Statement{SQL: appendGuessedOrFail, Args: g.args}, func(committed bool) {
		if committed {
			s.setGuess(g.newSize, g.front)
			s.txFast.Add(1)
		}
	}, true, nil
}

// setGuess records the head a transaction wrote, for the next SequenceTx.
func (s *Store) setGuess(size int64, front map[int64]tlog.Hash) {
	s.guessMu.Lock()
	s.guess = headGuess{size: size, front: front}
	s.guessMu.Unlock()
}

// headFrontier returns the frontier the head row holds for size, or nil
// when it holds none for that size.
func headFrontier(size int64, blob []byte, blobSize sql.NullInt64) map[int64]tlog.Hash {
	if !blobSize.Valid || blobSize.Int64 != size {
		return nil
	}
	front, ok := decodeFrontier(size, blob)
	if !ok {
		return nil
	}
	return front
}

// setCommitted records the frontier of a tree that committed, on SQLite
// (PostgreSQL's head row holds its own).
func (s *Store) setCommitted(size int64, front map[int64]tlog.Hash) {
	if s.db.Dialect != db.SQLite {
		return
	}
	s.guessMu.Lock()
	if size > s.committed.size {
		s.committed = headGuess{size: size, front: front}
	}
	s.guessMu.Unlock()
}

// committedFront returns the frontier of the committed tree of size, or
// nil when the store does not hold it. It is the same in every replica:
// the log only grows, so the tree of a size, once committed, is fixed.
func (s *Store) committedFront(size int64) map[int64]tlog.Hash {
	s.guessMu.Lock()
	defer s.guessMu.Unlock()
	if s.committed.size != size {
		return nil
	}
	return s.committed.front
}
