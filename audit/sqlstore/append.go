package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/db"
)

// appendReq is one Append call, or (data nil) a request to drain the
// outbox. The sequencing goroutine sets first (or drained) before the
// caller's Do returns.
type appendReq struct {
	data    [][]byte
	first   int64
	drain   bool
	drained int
}

// encode validates entries and returns their canonical encodings, stamping
// zero times with the store's clock.
func (s *Store) encode(entries []audit.Entry) ([][]byte, error) {
	out := make([][]byte, len(entries))
	var now time.Time
	for i, e := range entries {
		if e.Time.IsZero() {
			if now.IsZero() {
				now = s.now()
			}
			e.Time = now
		}
		b, err := e.Canonical()
		if err != nil {
			return nil, fmt.Errorf("audit: append entry %d of %d: %w", i+1, len(entries), err)
		}
		out[i] = b
	}
	return out, nil
}

// Append implements audit.Appender.
func (s *Store) Append(ctx context.Context, entries ...audit.Entry) (int64, error) {
	if len(entries) == 0 {
		return s.Size(ctx)
	}
	data, err := s.encode(entries)
	if err != nil {
		return 0, err
	}
	r := &appendReq{data: data}
	if err := s.do(ctx, r); err != nil {
		return 0, fmt.Errorf("audit: append: %w", err)
	}
	return r.first, nil
}

// do hands r to the sequencing goroutine and waits for its outcome.
func (s *Store) do(ctx context.Context, r *appendReq) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return audit.ErrClosed
	}
	s.inflight.Add(1)
	s.mu.RUnlock()
	defer s.inflight.Done()
	err := s.group.Do(ctx, r)
	if errors.Is(err, db.ErrClosed) {
		return audit.ErrClosed
	}
	return err
}

// AppendTx implements audit.Appender: it inserts the entries' canonical
// encodings into the outbox inside tx.
func (s *Store) AppendTx(ctx context.Context, tx *sql.Tx, entries ...audit.Entry) error {
	data, err := s.encode(entries)
	if err != nil {
		return err
	}
	// Through statements prepared on the store's handle (db.InsertRows);
	// a transaction of another handle runs them unprepared.
	args := make([]any, len(data))
	for i, d := range data {
		args[i] = d
	}
	if err := s.insertRows(ctx, tx, `INSERT INTO audit_pending (data) VALUES `, 1, args); err != nil {
		return fmt.Errorf("audit: append in transaction: %w", err)
	}
	return nil
}

// Flush implements audit.Log.
func (s *Store) Flush(ctx context.Context) error {
	var last sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT max(id) FROM audit_pending`).Scan(&last); err != nil {
		return fmt.Errorf("audit: flush: %w", err)
	}
	if !last.Valid {
		return nil
	}
	for {
		if err := s.do(ctx, &appendReq{drain: true}); err != nil {
			return fmt.Errorf("audit: flush: %w", err)
		}
		var left int
		err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM audit_pending WHERE id <= $1 LIMIT 1) AS p`, last.Int64).Scan(&left)
		if err != nil {
			return fmt.Errorf("audit: flush: %w", err)
		}
		if left == 0 {
			return nil
		}
	}
}

// pollOutbox drains the outbox whenever it holds rows, checking every
// poll interval, until ctx ends.
func (s *Store) pollOutbox(ctx context.Context) {
	defer close(s.pollDone)
	t := time.NewTicker(s.poll)
	defer t.Stop()
	for tick := 1; ; tick++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if tick%indexEvery == 0 {
			s.indexPending(ctx)
		}
		for {
			var one int
			err := s.db.QueryRowCached(ctx, nil, `SELECT 1 FROM audit_pending LIMIT 1`).Scan(&one)
			if err != nil {
				break // none (sql.ErrNoRows), or the database is away: try again at the next tick
			}
			r := &appendReq{drain: true}
			if err := s.do(ctx, r); err != nil || r.drained < maxDrain {
				break
			}
		}
	}
}

// flush is the db.Group flush function: it sequences a group of requests in
// one transaction. A failure fails every request of the group: nothing of
// it was committed (or, when the commit itself failed, its outcome is
// unknown, as for any transaction).
func (s *Store) flush(reqs []*appendReq) []error {
	errs := make([]error, len(reqs))
	if err := s.sequence(context.Background(), reqs); err != nil {
		s.frontierSize = -1
		for i := range errs {
			errs[i] = err
		}
	}
	return errs
}

// sequence numbers the outbox rows and then the requests' entries, in one
// transaction holding the head lock: entries committed through the outbox
// before an Append began come before it, so the log's order follows the
// order of commits. On PostgreSQL a group first tries sequenceFast, which
// applies only while the outbox is empty.
func (s *Store) sequence(ctx context.Context, reqs []*appendReq) error {
	drain, total := false, 0
	for _, r := range reqs {
		drain = drain || r.drain
		total += len(r.data)
	}
	if !drain && s.frontierSize >= 0 {
		var done bool
		var err error
		switch {
		case s.db.Dialect == db.Postgres && total <= rowsPerInsert:
			done, err = s.sequenceFast(ctx, reqs)
		case s.db.Dialect == db.SQLite:
			done, err = s.sequenceView(ctx, reqs)
		}
		if done || err != nil {
			return err
		}
		s.frontierSize = -1 // another replica moved the head
	}
	lock := s.lockHead()
	// Prepare the statements of this transaction before it starts (see
	// Store.stmt); with outbox rows the row count is known only inside.
	if !drain && s.db.Dialect == db.SQLite {
		for _, q := range []string{lock, updateHead} {
			if _, err := s.stmt(ctx, q); err != nil {
				return fmt.Errorf("prepare: %w", err)
			}
		}
	}

	unlock, err := s.db.WriteLock(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()

	// The head lock: every index assignment, in every replica, runs
	// between this statement and the commit. On SQLite the immediate
	// transaction holds the database's write lock already.
	var base int64
	if err := s.inTx(ctx, tx, lock).QueryRowContext(ctx).Scan(&base); err != nil {
		return fmt.Errorf("lock head: %w", err)
	}

	pendingIDs, leaves, err := s.takePending(ctx, tx)
	if err != nil {
		return err
	}
	nPending := len(pendingIDs)
	leaves = number(reqs, base+int64(len(leaves)), leaves)
	if len(leaves) == 0 {
		return nil
	}

	// Stored hashes (tlog.StoredHashes) of the new leaves. They need the
	// frontier of the tree of size base — the roots of its complete
	// subtrees — which TreeHash(base) reads; after that, everything comes
	// from the hashes this batch computes.
	hr := &batchHashes{s: s, ctx: ctx, tx: tx, mem: make(map[int64]tlog.Hash, 2*len(leaves)+64)}
	if s.frontierSize == base {
		maps.Copy(hr.mem, s.frontier)
	} else if c := s.committedFront(base); c != nil {
		maps.Copy(hr.mem, c)
	} else if _, err := tlog.TreeHash(base, hr); err != nil {
		return fmt.Errorf("frontier of %d: %w", base, err)
	}
	if err := s.writeLeaves(ctx, tx, base, leaves, hr); err != nil {
		return err
	}
	if err := s.deletePending(ctx, tx, pendingIDs); err != nil {
		return err
	}
	newSize := base + int64(len(leaves))
	if _, err := s.updateHead(ctx, tx, newSize, hr.mem); err != nil {
		return fmt.Errorf("update head: %w", err)
	}
	front, err := frontier(newSize, hr.mem)
	if err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	for _, r := range reqs {
		if r.drain {
			r.drained = nPending
		}
	}
	s.frontierSize, s.frontier = newSize, front
	s.setCommitted(newSize, front)
	return nil
}

// takePendingQuery reads the oldest outbox rows; one constant string, so
// that both drivers keep it prepared.
var takePendingQuery = `SELECT id, data FROM audit_pending ORDER BY id LIMIT ` + fmt.Sprint(maxDrain)

// takePending reads up to maxDrain outbox rows, oldest first, in tx
// (which holds the head lock).
func (s *Store) takePending(ctx context.Context, tx *sql.Tx) (ids []any, leaves [][]byte, err error) {
	rows, err := s.db.QueryCached(ctx, tx, takePendingQuery)
	if err != nil {
		return nil, nil, fmt.Errorf("read outbox: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var data []byte
		if err := rows.Scan(&id, &data); err != nil {
			return nil, nil, fmt.Errorf("read outbox: %w", err)
		}
		ids = append(ids, id)
		leaves = append(leaves, data)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("read outbox: %w", err)
	}
	return ids, leaves, nil
}

// deletePending deletes the outbox rows ids, numbered in tx.
func (s *Store) deletePending(ctx context.Context, tx *sql.Tx, ids []any) error {
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), 256)]
		ids = ids[len(chunk):]
		res, err := s.db.ExecCached(ctx, tx, `DELETE FROM audit_pending WHERE id IN (`+inList(len(chunk))+`)`, chunk...)
		if err != nil {
			return fmt.Errorf("delete outbox rows: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != int64(len(chunk)) {
			// Another sequencer took them: impossible under the head lock.
			return fmt.Errorf("delete outbox rows: %d of %d deleted (%v)", n, len(chunk), err)
		}
	}
	return nil
}

// writeLeaves stores leaves numbered from base — entries and stored
// hashes — reading earlier hashes through hr. The indexer indexes them
// later (indexer.go).
func (s *Store) writeLeaves(ctx context.Context, tx *sql.Tx, base int64, leaves [][]byte, hr *batchHashes) error {
	rows, err := hashLeaves(base, leaves, hr, hr.mem)
	if err != nil {
		return err
	}
	if err := s.insertRows(ctx, tx, insertEntries, entryCols, rows); err != nil {
		return fmt.Errorf("insert entries: %w", err)
	}
	return nil
}

// SequenceTx implements audit.TxSequencer: it gives entries their indices
// inside tx, a transaction of the handle the store was opened on, holding
// the log's head lock until tx ends (on SQLite tx holds the write lock
// already). Outbox rows committed before come first (up to maxDrain), so
// the log's order follows the order of commits. The frontier of the tree
// comes from the database through tx — on PostgreSQL from the head row —
// or from a tree of that size known to have committed, so a transaction
// that rolls back leaves no trace anywhere. On PostgreSQL it first tries
// one statement that guesses the head (headfrontier.go).
func (s *Store) SequenceTx(ctx context.Context, tx *sql.Tx, entries ...audit.Entry) (int64, error) {
	first, _, err := s.SequenceTxDone(ctx, tx, entries...)
	return first, err
}

// SequenceTxDone is SequenceTx for a caller that then reports through done
// whether tx committed. On SQLite the store keeps the frontier of the tree
// a committed call made — a committed tree of a given size never changes —
// and the next call that finds the head at that size reads none of the
// frontier's hashes from the database (a 10-million-entry log's tokens
// spent a tenth of their audit time there). done is nil when err is not.
func (s *Store) SequenceTxDone(ctx context.Context, tx *sql.Tx, entries ...audit.Entry) (first int64, done func(committed bool), err error) {
	first, size, front, err := s.sequenceTx(ctx, tx, entries)
	if err != nil {
		return 0, nil, err
	}
	return first, func(committed bool) {
		if committed && front != nil {
			s.setCommitted(size, front)
		}
	}, nil
}

// sequenceTx is SequenceTx; on SQLite it also returns the size and the
// frontier of the tree it made (nil when it made none).
func (s *Store) sequenceTx(ctx context.Context, tx *sql.Tx, entries []audit.Entry) (first, size int64, front map[int64]tlog.Hash, err error) {
	var data [][]byte
	if len(entries) > 0 {
		if data, err = s.encode(entries); err != nil {
			return 0, 0, nil, err
		}
	}
	if s.db.Dialect == db.Postgres && len(data) > 0 {
		if first, ok, err := s.sequenceTxFast(ctx, tx, data); err != nil || ok {
			return first, 0, nil, err
		}
	}
	var base int64
	if s.db.Dialect == db.Postgres {
		var blob []byte
		var blobSize sql.NullInt64
		if err := s.db.QueryRowCached(ctx, tx, lockHeadFrontier).Scan(&base, &blob, &blobSize); err != nil {
			return 0, 0, nil, fmt.Errorf("audit: lock head: %w", err)
		}
		front = headFrontier(base, blob, blobSize)
	} else {
		if err := s.db.QueryRowCached(ctx, tx, s.lockHead()).Scan(&base); err != nil {
			return 0, 0, nil, fmt.Errorf("audit: lock head: %w", err)
		}
		front = s.committedFront(base)
	}
	if len(data) == 0 {
		return base, 0, nil, nil
	}
	// Entries committed earlier through the outbox come first, so that
	// the log's order follows the order of commits.
	ids, leaves, err := s.takePending(ctx, tx)
	if err != nil {
		return 0, 0, nil, fmt.Errorf("audit: %w", err)
	}
	first = base + int64(len(leaves))
	leaves = append(leaves, data...)
	hr := &batchHashes{s: s, ctx: ctx, tx: tx, mem: make(map[int64]tlog.Hash, 2*len(leaves)+64)}
	maps.Copy(hr.mem, front)
	if _, err := tlog.TreeHash(base, hr); err != nil {
		return 0, 0, nil, fmt.Errorf("audit: frontier of %d: %w", base, err)
	}
	if err := s.writeLeaves(ctx, tx, base, leaves, hr); err != nil {
		return 0, 0, nil, fmt.Errorf("audit: %w", err)
	}
	if err := s.deletePending(ctx, tx, ids); err != nil {
		return 0, 0, nil, fmt.Errorf("audit: %w", err)
	}
	newSize := base + int64(len(leaves))
	newFront, err := s.updateHead(ctx, tx, newSize, hr.mem)
	if err != nil {
		return 0, 0, nil, fmt.Errorf("audit: update head: %w", err)
	}
	if newFront != nil {
		s.setGuess(newSize, newFront)
		return first, 0, nil, nil
	}
	if newFront, err = frontier(newSize, hr.mem); err != nil {
		return 0, 0, nil, fmt.Errorf("audit: %w", err)
	}
	return first, newSize, newFront, nil
}

// lockHeadFrontier locks PostgreSQL's head row and reads it whole.
const lockHeadFrontier = `SELECT size, frontier, frontier_size FROM audit_head WHERE id = 1 FOR UPDATE`

// updateHead writes the new size in tx and, on PostgreSQL, the frontier
// of the tree of that size, which mem must hold; it returns that frontier
// (nil on SQLite).
func (s *Store) updateHead(ctx context.Context, tx *sql.Tx, size int64, mem map[int64]tlog.Hash) (map[int64]tlog.Hash, error) {
	if s.db.Dialect != db.Postgres {
		_, err := s.db.ExecCached(ctx, tx, updateHead, size)
		return nil, err
	}
	front, err := frontier(size, mem)
	if err != nil {
		return nil, err
	}
	blob, err := encodeFrontier(size, front)
	if err != nil {
		return nil, err
	}
	_, err = s.db.ExecCached(ctx, tx, `UPDATE audit_head SET size = $1, frontier = $2, frontier_size = $1 WHERE id = 1`, size, blob)
	return front, err
}

// number gives each request its first index, from next on, and returns
// leaves followed by the requests' entries.
func number(reqs []*appendReq, next int64, leaves [][]byte) [][]byte {
	for _, r := range reqs {
		r.first = next
		next += int64(len(r.data))
		leaves = append(leaves, r.data...)
	}
	return leaves
}

// hashLeaves computes the stored hashes of leaves numbered from base,
// reading earlier hashes through hr and adding the new ones to mem, and
// returns the flattened rows of audit_entries (entryCols values each).
func hashLeaves(base int64, leaves [][]byte, hr tlog.HashReader, mem map[int64]tlog.Hash) (rows []any, err error) {
	rows = make([]any, 0, entryCols*len(leaves))
	for i, data := range leaves {
		n := base + int64(i)
		leaf := tlog.RecordHash(data)
		hs, err := tlog.StoredHashesForRecordHash(n, leaf, hr)
		if err != nil {
			return nil, fmt.Errorf("hashes of leaf %d: %w", n, err)
		}
		first := tlog.StoredHashIndex(0, n)
		blob := make([]byte, 0, len(hs)*tlog.HashSize)
		for j, h := range hs {
			mem[first+int64(j)] = h
			blob = append(blob, h[:]...)
		}
		rows = append(rows, n, leaf[:], data, blob)
	}
	return rows, nil
}

// frontier returns the hashes TreeHash(size) reads — the roots of the
// complete subtrees of the tree of size — which the next transaction
// needs to extend it; mem must hold them all.
func frontier(size int64, mem map[int64]tlog.Hash) (map[int64]tlog.Hash, error) {
	front := &recorder{mem: mem, got: make(map[int64]tlog.Hash, 64)}
	if _, err := tlog.TreeHash(size, front); err != nil {
		return nil, fmt.Errorf("frontier of %d: %w", size, err)
	}
	return front.got, nil
}

// extension is a group numbered from the cached frontier: its rows and the
// frontier of the tree it makes.
type extension struct {
	base, newSize int64
	n             int
	rows          []any // of audit_entries, entryCols values each
	front         map[int64]tlog.Hash
}

// extend numbers reqs from the size this store last wrote and computes
// their rows from its cached frontier alone; false if the frontier lacks a
// hash they need.
func (s *Store) extend(reqs []*appendReq) (extension, bool) {
	base := s.frontierSize
	leaves := number(reqs, base, nil)
	mem := maps.Clone(s.frontier)
	rows, err := hashLeaves(base, leaves, &recorder{mem: mem, got: map[int64]tlog.Hash{}}, mem)
	if err != nil {
		return extension{}, false
	}
	newSize := base + int64(len(leaves))
	front, err := frontier(newSize, mem)
	if err != nil {
		return extension{}, false
	}
	return extension{base: base, newSize: newSize, n: len(leaves), rows: rows, front: front}, true
}

// sequenceFast appends the requests' entries on PostgreSQL in one
// statement, outside an explicit transaction (so one round trip and one
// commit): it assumes the head is still at the size this store last wrote
// (whose frontier it holds), and makes every part of the statement
// conditional on it. The UPDATE of the head row takes its lock and, if
// another replica moved the head meanwhile, matches no row (PostgreSQL
// re-checks the condition on the newest row version after waiting for the
// lock); then nothing is inserted and sequenceFast returns false, and the
// caller takes the locked path. Indices stay gap-free and unique for the
// same reason as there: they are assigned from the head under its lock.
func (s *Store) sequenceFast(ctx context.Context, reqs []*appendReq) (bool, error) {
	g, ok := s.extend(reqs)
	if !ok {
		return false, nil // the cached frontier lacks a hash: take the locked path
	}
	base, newSize, front, n := g.base, g.newSize, g.front, g.n
	var q strings.Builder
	// The UPDATE matches only while the outbox is empty, so that rows
	// committed there before come first (through the locked path).
	blob, err := encodeFrontier(newSize, front)
	if err != nil {
		return false, err
	}
	q.WriteString(`WITH h AS (UPDATE audit_head SET size = $1, frontier = $3, frontier_size = $1 WHERE id = 1 AND size = $2
	AND NOT EXISTS (SELECT 1 FROM audit_pending) RETURNING size),
e AS (INSERT INTO audit_entries (idx, leaf_hash, data, hashes) SELECT v.i, v.l, v.d, v.hs FROM (VALUES `)
	args := make([]any, 0, 3+entryCols*n)
	args = append(args, newSize, base, blob)
	for r := range n {
		if r > 0 {
			q.WriteString(", ")
		}
		p := len(args)
		fmt.Fprintf(&q, "($%d::bigint, $%d::bytea, $%d::bytea, $%d::bytea)", p+1, p+2, p+3, p+4)
		args = append(args, g.rows[entryCols*r:entryCols*(r+1)]...)
	}
	q.WriteString(`) AS v(i, l, d, hs) WHERE EXISTS (SELECT 1 FROM h))
SELECT size FROM h`)
	res, err := s.db.ExecContext(ctx, q.String(), args...)
	if err != nil {
		return false, fmt.Errorf("insert: %w", err)
	}
	if rows, err := res.RowsAffected(); err != nil || rows != 1 {
		return false, err
	}
	s.frontierSize, s.frontier = newSize, front
	return true, nil
}

// sequenceView appends the requests' entries on SQLite through the view
// audit_append (migrations.go, versions 6 and 7), whose trigger writes each
// entry's row (hashes included; the head is a view over the entries) and
// refuses unless the head is at that entry's index and the outbox is empty. A group that fits
// one statement runs in autocommit — one call, one commit; a larger one
// runs its statements in one transaction. When the trigger refuses
// (another process appended since this store last did), nothing was
// written and sequenceView returns false: the caller takes the locked
// path, which reads the head and drains the outbox.
func (s *Store) sequenceView(ctx context.Context, reqs []*appendReq) (bool, error) {
	g, ok := s.extend(reqs)
	if !ok {
		return false, nil // the cached frontier lacks a hash: take the locked path
	}
	newSize, front, args, n := g.newSize, g.front, g.rows, g.n
	var err error
	if n <= db.MaxInsertRows && n&(n-1) == 0 {
		var st *sql.Stmt
		if st, err = s.stmt(ctx, appendView+s.db.Placeholders(n, entryCols)); err == nil {
			var unlock func()
			if unlock, err = s.db.WriteLock(ctx); err == nil {
				_, err = st.ExecContext(ctx, args...)
				unlock()
			}
		}
	} else {
		err = s.db.InTx(ctx, func(tx *sql.Tx) error {
			return s.insertRows(ctx, tx, appendView, entryCols, args)
		})
	}
	if err != nil {
		if strings.Contains(err.Error(), headMoved) {
			return false, nil
		}
		return false, fmt.Errorf("append: %w", err)
	}
	s.frontierSize, s.frontier = newSize, front
	s.setCommitted(newSize, front)
	return true, nil
}

// The statements of a sequencing transaction.
const (
	insertEntries = `INSERT INTO audit_entries (idx, leaf_hash, data, hashes) VALUES `
	// entryCols is the number of values of an audit_entries row.
	entryCols  = 4
	updateHead = `UPDATE audit_head SET size = $1 WHERE id = 1`
	// appendView appends entries on SQLite (sequenceView).
	appendView = `INSERT INTO audit_append (idx, leaf_hash, data, hashes) VALUES `
	// insertSubjects indexes entries by subject (audit.SubjectIndex).
	insertSubjects = `INSERT INTO audit_subjects (subject, idx) VALUES `
)

// lockHead is the statement that reads the log's size and, on
// PostgreSQL, locks the head row until the transaction ends (on SQLite an
// immediate transaction holds the database's write lock already).
func (s *Store) lockHead() string {
	if s.db.Dialect == db.Postgres {
		return `SELECT size FROM audit_head WHERE id = 1 FOR UPDATE`
	}
	return `SELECT size FROM audit_head WHERE id = 1`
}

// txStmt runs a query in a transaction, prepared or not.
type txStmt struct {
	tx    *sql.Tx
	st    *sql.Stmt
	query string
}

func (t txStmt) ExecContext(ctx context.Context, args ...any) (sql.Result, error) {
	if t.st != nil {
		return t.st.ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, t.query, args...)
}

func (t txStmt) QueryRowContext(ctx context.Context, args ...any) *sql.Row {
	if t.st != nil {
		return t.st.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, t.query, args...)
}

// inTx returns query for tx: the statement prepared before the transaction
// when there is one (bound to tx's connection by database/sql, which
// prepares it there without taking another connection), else the bare
// query.
func (s *Store) inTx(ctx context.Context, tx *sql.Tx, query string) txStmt {
	if st := s.db.Cached(query); st != nil {
		return txStmt{tx: tx, st: tx.StmtContext(ctx, st)}
	}
	return txStmt{tx: tx, query: query}
}

// insertRows inserts rows of cols values each (args flattened).
func (s *Store) insertRows(ctx context.Context, tx *sql.Tx, prefix string, cols int, args []any) error {
	return s.db.InsertRows(ctx, tx, prefix, "", cols, args)
}

// batchHashes reads stored hashes for a sequencing transaction: from the
// hashes in memory, else from the database through the transaction
// (remembering them).
type batchHashes struct {
	s   *Store
	ctx context.Context
	tx  *sql.Tx
	mem map[int64]tlog.Hash
}

func (r *batchHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	var missing []int64
	for i, x := range indexes {
		h, ok := r.mem[x]
		if !ok {
			missing = append(missing, x)
			continue
		}
		out[i] = h
	}
	if len(missing) == 0 {
		return out, nil
	}
	hs, leaf, err := r.s.readHashes(r.ctx, r.tx, missing)
	if err != nil {
		return nil, err
	}
	if leaf >= 0 {
		return nil, fmt.Errorf("%w: hashes of leaf %d are missing", audit.ErrCorrupt, leaf)
	}
	for i, x := range missing {
		r.mem[x] = hs[i]
	}
	for i, x := range indexes {
		out[i] = r.mem[x]
	}
	return out, nil
}

// recorder reads hashes from mem only and keeps those it was asked for.
type recorder struct {
	mem map[int64]tlog.Hash
	got map[int64]tlog.Hash
}

func (r *recorder) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		h, ok := r.mem[x]
		if !ok {
			return nil, fmt.Errorf("stored hash %d is not in memory", x)
		}
		out[i] = h
		r.got[x] = h
	}
	return out, nil
}
