package sqlstore

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/db"
)

// LoadProgress reports how far a Load has come.
type LoadProgress struct {
	// Phase is "entries" while entries are written, "indexes" while they
	// are indexed.
	Phase       string
	Done, Total int64
}

// loadChunk is how many entries one transaction of Load writes, and how
// many entries its indexing phase reads at a time.
const loadChunk = 1 << 15

// Load appends n entries — entry(0), …, entry(n-1), each stamped with the
// time it carries (or now) — to the log in d in bulk, with their stored
// hashes and every index (leaf hashes, subjects, search), as Append would
// one by one and the indexer after it: for seeding benchmark databases and
// importing logs, far faster than appending. It needs the log to itself:
// no store may append to it or index it meanwhile (no server may run).
//
// It drains the outbox and brings the indexes up to date first. Entries
// are then written in transactions of loadChunk entries, each leaving a
// valid log whose head has moved; then every index is written in one more
// transaction, the leaf-hash and subject keys sorted (so each B-tree fills
// in order) and, when the load more than doubles the log, the search
// index's secondary indexes dropped and built again after. An interrupted
// Load leaves a valid log; the indexer of the next store indexes what the
// last transaction did not.
func Load(ctx context.Context, d *db.DB, n int64, entry func(i int64) (audit.Entry, error), progress func(LoadProgress)) error {
	if progress == nil {
		progress = func(LoadProgress) {}
	}
	st := New(d)
	err := st.Flush(ctx)
	if err == nil {
		err = st.catchUp(ctx)
	}
	st.Close()
	if err != nil {
		return fmt.Errorf("audit: load: %w", err)
	}
	s := &Store{db: d, now: time.Now}
	if err := s.loadEntries(ctx, n, entry, progress); err != nil {
		return fmt.Errorf("audit: load: %w", err)
	}
	if err := s.indexAll(ctx, progress); err != nil {
		return fmt.Errorf("audit: load: %w", err)
	}
	return nil
}

// loadedChunk is one transaction's worth of entries, hashed.
type loadedChunk struct {
	base, size int64
	rows       []any  // of audit_entries, entryCols values each
	front      []byte // the frontier of the tree of size (headfrontier.go)
}

// loadEntries writes n entries from the head on. One goroutine encodes and
// hashes the entries while this one writes the previous chunk.
func (s *Store) loadEntries(ctx context.Context, n int64, entry func(i int64) (audit.Entry, error), progress func(LoadProgress)) error {
	base, err := s.Size(ctx)
	if err != nil {
		return err
	}
	hr := &batchHashes{s: s, ctx: ctx, mem: map[int64]tlog.Hash{}}
	if _, err := tlog.TreeHash(base, hr); err != nil {
		return fmt.Errorf("frontier of %d: %w", base, err)
	}
	front, err := frontier(base, hr.mem)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunks := make(chan loadedChunk, 2)
	var genErr error
	go func() {
		defer close(chunks)
		size := base
		for done := int64(0); done < n; {
			k := min(loadChunk, n-done)
			leaves := make([][]byte, k)
			now := s.now()
			for i := range leaves {
				e, err := entry(done + int64(i))
				if err != nil {
					genErr = fmt.Errorf("entry %d: %w", done+int64(i), err)
					return
				}
				if e.Time.IsZero() {
					e.Time = now
				}
				if leaves[i], err = e.Canonical(); err != nil {
					genErr = fmt.Errorf("entry %d: %w", done+int64(i), err)
					return
				}
			}
			mem := maps.Clone(front)
			rows, err := hashLeaves(size, leaves, &recorder{mem: mem, got: map[int64]tlog.Hash{}}, mem)
			if err != nil {
				genErr = err
				return
			}
			if front, err = frontier(size+k, mem); err != nil {
				genErr = err
				return
			}
			blob, err := encodeFrontier(size+k, front)
			if err != nil {
				genErr = err
				return
			}
			select {
			case chunks <- loadedChunk{base: size, size: size + k, rows: rows, front: blob}:
			case <-ctx.Done():
				return
			}
			size += k
			done += k
		}
	}()
	for c := range chunks {
		err := s.db.Load(ctx, func(b *db.Bulk) error {
			if err := b.Insert("audit_entries", []string{"idx", "leaf_hash", "data", "hashes"}, c.rows); err != nil {
				return err
			}
			if s.db.Dialect != db.Postgres {
				return nil // on SQLite the head is a view over the entries
			}
			moved, err := b.Exec(`UPDATE audit_head SET size = $1, frontier = $3, frontier_size = $1 WHERE id = 1 AND size = $2`, c.size, c.base, c.front)
			if err == nil && moved != 1 {
				err = fmt.Errorf("the head moved from %d while loading: another writer runs", c.base)
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("entries from %d: %w", c.base, err)
		}
		progress(LoadProgress{Phase: "entries", Done: c.size - base, Total: n})
	}
	return genErr
}

// searchIndexes are the secondary indexes of audit_index, as migration 4
// creates them (TestLoad checks that they come back the same).
var searchIndexes = []struct{ name, create string }{
	{"audit_index_time", `CREATE INDEX audit_index_time ON audit_index (time, idx)`},
	{"audit_index_actor", `CREATE INDEX audit_index_actor ON audit_index (actor_id, idx)`},
	{"audit_index_action", `CREATE INDEX audit_index_action ON audit_index (action, idx)`},
	{"audit_index_purpose", `CREATE INDEX audit_index_purpose ON audit_index (purpose, idx)`},
}

// loadKey is one key of the leaf-hash index (k, the first 8 bytes of the
// leaf hash, read big-endian so that integers sort as the bytes do) or a
// row of audit_subjects (k, the subject's rank among the distinct
// subjects).
type loadKey struct {
	k   uint64
	idx int64
}

func compareLoadKeys(a, b loadKey) int {
	if c := cmp.Compare(a.k, b.k); c != 0 {
		return c
	}
	return cmp.Compare(a.idx, b.idx)
}

// indexAll indexes every entry beyond the watermark in one transaction:
// the search index in entry order, then the leaf-hash and subject keys in
// key order. It writes what the indexer would (the same fieldsOf).
func (s *Store) indexAll(ctx context.Context, progress func(LoadProgress)) error {
	var w int64
	if err := s.db.QueryRowContext(ctx, selectWatermark).Scan(&w); err != nil {
		return fmt.Errorf("index watermark: %w", err)
	}
	head, err := s.Size(ctx)
	if err != nil || head <= w {
		return err
	}
	rebuild := head-w > w
	return s.db.Load(ctx, func(b *db.Bulk) error {
		if rebuild {
			for _, ix := range searchIndexes {
				if _, err := b.Exec(`DROP INDEX ` + ix.name); err != nil {
					return fmt.Errorf("drop %s: %w", ix.name, err)
				}
			}
		}
		leaves := make([]loadKey, 0, head-w)
		var subjects []loadKey // k: the subject's number in names until sorted
		numbers := map[string]uint64{}
		var names []string
		for from := w; from < head; from += loadChunk {
			to := min(head, from+loadChunk)
			index, err := s.loadIndexRows(ctx, from, to, &leaves, func(subject []byte, idx int64) {
				num, ok := numbers[string(subject)]
				if !ok {
					num = uint64(len(names))
					names = append(names, string(subject))
					numbers[names[num]] = num
				}
				subjects = append(subjects, loadKey{k: num, idx: idx})
			})
			if err != nil {
				return err
			}
			if err := b.Insert("audit_index", []string{"idx", "time", "actor_kind", "actor_id", "action", "purpose", "outcome"}, index); err != nil {
				return err
			}
			progress(LoadProgress{Phase: "indexes", Done: to - w, Total: head - w})
		}
		numbers = nil
		// The leaf keys as one run (leaves.go), at the level their number
		// gives.
		slices.SortFunc(leaves, compareLoadKeys)
		var run int64
		if err := s.db.QueryRowContext(ctx, `SELECT coalesce(max(run), 0) + 1 FROM audit_leaf_levels`).Scan(&run); err != nil {
			return fmt.Errorf("new leaf run: %w", err)
		}
		if _, err := b.Exec(`INSERT INTO audit_leaf_levels (run, level) VALUES ($1, $2)`, run, levelOf(int64(len(leaves)))); err != nil {
			return fmt.Errorf("new leaf run: %w", err)
		}
		if err := insertKeys(b, "audit_leaf_runs", []string{"run", "k", "idx"}, []any{run}, leaves, func(k uint64) []byte {
			return binary.BigEndian.AppendUint64(make([]byte, 0, leafKeySize), k)
		}); err != nil {
			return err
		}
		leaves = nil
		// Subjects in the order of their bytes: number → rank.
		order := make([]uint64, len(names))
		for i := range order {
			order[i] = uint64(i)
		}
		slices.SortFunc(order, func(a, b uint64) int { return cmp.Compare(names[a], names[b]) })
		rank := make([]uint64, len(names))
		for r, num := range order {
			rank[num] = uint64(r)
		}
		for i := range subjects {
			subjects[i].k = rank[subjects[i].k]
		}
		slices.SortFunc(subjects, compareLoadKeys)
		byRank := make([][]byte, len(names))
		for r, num := range order {
			byRank[r] = []byte(names[num])
		}
		if err := insertKeys(b, "audit_subjects", []string{"subject", "idx"}, nil, subjects, func(k uint64) []byte { return byRank[k] }); err != nil {
			return err
		}
		if rebuild {
			for _, ix := range searchIndexes {
				if _, err := b.Exec(ix.create); err != nil {
					return fmt.Errorf("create %s: %w", ix.name, err)
				}
			}
		}
		moved, err := b.Exec(`UPDATE audit_indexed SET size = $1 WHERE id = 1 AND size = $2`, head, w)
		if err == nil && moved != 1 {
			err = fmt.Errorf("the index watermark moved from %d while loading: another indexer runs", w)
		}
		return err
	})
}

// loadIndexRows reads the entries [from, to) and returns their rows of
// audit_index, appending their leaf keys to leaves and passing each
// subject to subject.
func (s *Store) loadIndexRows(ctx context.Context, from, to int64, leaves *[]loadKey, subject func([]byte, int64)) ([]any, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT idx, leaf_hash, data FROM audit_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx`, from, to)
	if err != nil {
		return nil, fmt.Errorf("read entries: %w", err)
	}
	defer rows.Close()
	index := make([]any, 0, indexCols*(to-from))
	next := from
	for rows.Next() {
		var idx int64
		var leaf, data []byte
		if err := rows.Scan(&idx, &leaf, &data); err != nil {
			return nil, fmt.Errorf("read entries: %w", err)
		}
		if idx != next || len(leaf) < leafKeySize {
			return nil, fmt.Errorf("read entries: entry %d where %d was due, leaf hash of %d bytes", idx, next, len(leaf))
		}
		next++
		f, err := fieldsOf(data)
		if err != nil {
			return nil, fmt.Errorf("index entry %d: %w", idx, err)
		}
		index = append(index, idx, f.micros, string(f.actorKind), f.actorID, f.action, f.purpose, string(f.outcome))
		*leaves = append(*leaves, loadKey{k: binary.BigEndian.Uint64(leaf[:leafKeySize]), idx: idx})
		if len(f.subject) > 0 {
			subject(f.subject, idx)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read entries: %w", err)
	}
	if next != to {
		return nil, fmt.Errorf("read entries: %d of %d", next-from, to-from)
	}
	return index, nil
}

// insertKeys writes sorted keys into table, each row the values of
// prefix, then key(k) and idx, a loadChunk of rows at a time.
func insertKeys(b *db.Bulk, table string, cols []string, prefix []any, keys []loadKey, key func(uint64) []byte) error {
	for len(keys) > 0 {
		chunk := keys[:min(len(keys), loadChunk)]
		keys = keys[len(chunk):]
		rows := make([]any, 0, len(cols)*len(chunk))
		for _, x := range chunk {
			rows = append(append(rows, prefix...), key(x.k), x.idx)
		}
		if err := b.Insert(table, cols, rows); err != nil {
			return err
		}
	}
	return nil
}
