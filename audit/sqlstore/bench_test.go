package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/audit/sqlstore"
	"github.com/cedula/cedula/internal/bench"
	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/internal/db/dbtest"
)

// Benchmarks. Run them with
//
//	go test -run '^$' -bench . -benchtime 5s ./audit/sqlstore/
//
// with CEDULA_TEST_POSTGRES set for the PostgreSQL ones. They report
// durable appends per second next to F, the bare fdatasync rate of the same
// disk measured in the same run, and their ratio (xF); and the p50/p99
// latency of inclusion proofs in a log of 10,000,000 entries.

// fsyncStats writes 64 bytes and fdatasyncs a small file in dir for d and
// returns the syncs per second and the median sync time.
func fsyncStats(tb testing.TB, dir string, d time.Duration) (perSec float64, median time.Duration) {
	tb.Helper()
	f, err := os.Create(filepath.Join(dir, "fsync.probe"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64)
	var lat []time.Duration
	start := time.Now()
	for time.Since(start) < d {
		t0 := time.Now()
		buf[0]++
		if _, err := f.WriteAt(buf, 0); err != nil {
			tb.Fatal(err)
		}
		if err := fdatasync(f); err != nil {
			tb.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	return float64(len(lat)) / time.Since(start).Seconds(), lat[len(lat)/2]
}

// BenchmarkFdatasync is F alone: write 64 bytes and fdatasync, serially.
func BenchmarkFdatasync(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "fsync.probe"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		buf[0] = byte(i)
		if _, err := f.WriteAt(buf, 0); err != nil {
			b.Fatal(err)
		}
		if err := fdatasync(f); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "syncs/s")
}

// BenchmarkAppend measures durable appends (Append returns after the
// commit's fsync) of one entry per call, by 1 and by 64 concurrent callers,
// on SQLite and PostgreSQL. Before each run it measures F for a second on
// the same file system and reports appends/s, F, xF = appends/s ÷ F, and
// the append latency p50/p99 beside the median fsync.
func BenchmarkAppend(b *testing.B) {
	backends := []struct {
		name string
		open func(b *testing.B) *db.DB
	}{
		{"sqlite", func(b *testing.B) *db.DB { return dbtest.SQLite(b, sqlstore.Migrations) }},
		{"postgres", func(b *testing.B) *db.DB { return dbtest.Postgres(b, sqlstore.Migrations) }},
	}
	for _, be := range backends {
		for _, conc := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/c%d", be.name, conc), func(b *testing.B) {
				d := be.open(b)
				s := sqlstore.New(d)
				defer s.Close()
				f, fsyncMedian := fsyncStats(b, b.TempDir(), time.Second)
				e := entry(0)
				var n atomic.Int64
				b.ResetTimer()
				all, elapsed, err := bench.Loop(context.Background(), b.N, conc, func(ctx context.Context, _ int) error {
					e := e
					e.RequestID = fmt.Sprint("bench-", n.Add(1))
					_, err := s.Append(ctx, e)
					return err
				})
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				rate := float64(len(all)) / elapsed.Seconds()
				b.ReportMetric(rate, "appends/s")
				b.ReportMetric(f, "F/s")
				b.ReportMetric(rate/f, "xF")
				b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
				b.ReportMetric(float64(fsyncMedian.Microseconds())/1000, "fsync-p50-ms")
				tx, reqs := s.GroupCommits()
				b.ReportMetric(float64(reqs)/float64(max(tx, 1)), "appends/tx")
			})
		}
	}
}

// BenchmarkInsertFloor is the smallest durable write each database does:
// one 300-byte row inserted into an otherwise empty table in autocommit,
// serially — what an append at concurrency 1 could cost if the log were
// that one row and nothing else. Next to F it shows how much of F a
// database's commit path leaves.
func BenchmarkInsertFloor(b *testing.B) {
	for _, be := range []struct {
		name string
		open func(b *testing.B) *db.DB
	}{
		{"sqlite", func(b *testing.B) *db.DB { return dbtest.SQLite(b) }},
		{"postgres", func(b *testing.B) *db.DB { return dbtest.Postgres(b) }},
	} {
		b.Run(be.name, func(b *testing.B) {
			d := be.open(b)
			f, _ := fsyncStats(b, b.TempDir(), time.Second)
			if _, err := d.Exec(`CREATE TABLE floor_rows (id BIGINT PRIMARY KEY, data ` + map[db.Dialect]string{db.SQLite: "BLOB", db.Postgres: "BYTEA"}[d.Dialect] + ` NOT NULL)`); err != nil {
				b.Fatal(err)
			}
			st, err := d.Prepared(b.Context(), `INSERT INTO floor_rows (id, data) VALUES ($1, $2)`)
			if err != nil {
				b.Fatal(err)
			}
			data := make([]byte, 300)
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := st.Exec(i, data); err != nil {
					b.Fatal(err)
				}
			}
			rate := float64(b.N) / b.Elapsed().Seconds()
			b.ReportMetric(rate, "inserts/s")
			b.ReportMetric(f, "F/s")
			b.ReportMetric(rate/f, "xF")
		})
	}
}

// BenchmarkAppendCeiling is what 64 concurrent appenders reach with no
// storage at all: each encodes its entry and hands it to a db.Group whose
// flush computes the leaves' stored hashes in memory, as a sequencing
// transaction does before it writes. It bounds from above what any store
// can do on this machine, next to F and 40 × F.
func BenchmarkAppendCeiling(b *testing.B) {
	f, _ := fsyncStats(b, b.TempDir(), time.Second)
	var hashes []tlog.Hash
	r := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = hashes[x]
		}
		return out, nil
	})
	var n int64
	g := db.NewGroup(b.Context(), sqlstore.DefaultMaxGroup, func(items [][]byte) []error {
		for _, data := range items {
			hs, err := tlog.StoredHashes(n, data, r)
			if err != nil {
				b.Fatal(err)
			}
			hashes = append(hashes, hs...)
			n++
		}
		return make([]error, len(items))
	})
	const conc = 64
	var seq atomic.Int64
	b.ResetTimer()
	_, elapsed, err := bench.Loop(b.Context(), b.N, conc, func(ctx context.Context, _ int) error {
		e := entry(0)
		e.RequestID = fmt.Sprint("bench-", seq.Add(1))
		data, err := e.Canonical()
		if err != nil {
			return err
		}
		return g.Do(ctx, data)
	})
	if err != nil {
		b.Fatal(err)
	}
	rate := float64(b.N) / elapsed.Seconds()
	b.ReportMetric(rate, "appends/s")
	b.ReportMetric(f, "F/s")
	b.ReportMetric(rate/f, "xF")
}

// tenMillion is the size of the large log the proof benchmark reads.
const tenMillion = 10_000_000

var (
	bigOnce  sync.Once
	bigDir   string
	bigError error
)

// TestMain removes the large benchmark database after the run, unless
// CEDULA_BENCH_10M_DIR names a folder to keep (and reuse) it in.
func TestMain(m *testing.M) {
	code := m.Run()
	if bigDir != "" && os.Getenv("CEDULA_BENCH_10M_DIR") == "" {
		os.RemoveAll(bigDir)
	}
	os.Exit(code)
}

// storedHashes computes the tlog stored hashes of n leaves (leaf i is the
// canonical entry(i)) and calls put with each leaf's hashes, in order.
func storedHashes(n int64, put func(i int64, leaf tlog.Hash, hashes []byte) error) error {
	all := make([]tlog.Hash, 0, 2*n+64)
	r := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = all[x]
		}
		return out, nil
	})
	for i := range n {
		// Distinct leaves without the cost of encoding 10M entries.
		leaf := tlog.RecordHash(fmt.Appendf(nil, "entry %d", i))
		hs, err := tlog.StoredHashesForRecordHash(i, leaf, r)
		if err != nil {
			return err
		}
		all = append(all, hs...)
		blob := make([]byte, 0, len(hs)*tlog.HashSize)
		for _, h := range hs {
			blob = append(blob, h[:]...)
		}
		if err := put(i, leaf, blob); err != nil {
			return err
		}
	}
	return nil
}

// bigSQLite returns a SQLite audit database of 10M entries whose rows hold
// their leaf hashes and stored hashes, built in bulk with
// tlog.StoredHashes, and empty data (proofs read only hashes). It takes a
// few minutes the first time.
func bigSQLite(b *testing.B) string {
	bigOnce.Do(func() {
		bigDir = os.Getenv("CEDULA_BENCH_10M_DIR")
		if bigDir == "" {
			bigDir, bigError = os.MkdirTemp("", "audit-10m-")
			if bigError != nil {
				return
			}
		}
		path := filepath.Join(bigDir, "audit.db")
		if _, err := os.Stat(path); err == nil {
			return // kept from an earlier run
		}
		start := time.Now()
		bigError = buildBig(path)
		b.Logf("built the 10M-entry SQLite log in %v", time.Since(start).Round(time.Second))
	})
	if bigError != nil {
		b.Fatal(bigError)
	}
	return filepath.Join(bigDir, "audit.db")
}

func buildBig(path string) error {
	ctx := context.Background()
	d, err := db.Open(ctx, path+".tmp")
	if err != nil {
		return err
	}
	defer d.Close()
	if _, err := d.Exec(`PRAGMA synchronous=OFF`); err != nil {
		return err
	}
	if _, err := d.Migrate(ctx, sqlstore.Migrations); err != nil {
		return err
	}
	const rows = 500
	q := `INSERT INTO audit_entries (idx, leaf_hash, data, hashes) VALUES ` + d.Placeholders(rows, 4)
	var tx *sql.Tx
	var st *sql.Stmt
	args := make([]any, 0, 4*rows)
	err = storedHashes(tenMillion, func(i int64, leaf tlog.Hash, hashes []byte) error {
		if tx == nil {
			if tx, err = d.Begin(); err != nil {
				return err
			}
			if st, err = tx.Prepare(q); err != nil {
				return err
			}
		}
		args = append(args, i, leaf[:], []byte{}, hashes)
		if len(args) < 4*rows {
			return nil
		}
		if _, err := st.Exec(args...); err != nil {
			return err
		}
		args = args[:0]
		if (i+1)%500_000 == 0 {
			st.Close()
			if err := tx.Commit(); err != nil {
				return err
			}
			tx = nil
		}
		return nil
	})
	if err != nil {
		return err
	}
	if tx != nil {
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	if len(args) > 0 {
		return fmt.Errorf("%d leaves left over", len(args)/4)
	}
	if _, err := d.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return err
	}
	d.Close()
	return os.Rename(path+".tmp", path)
}

// bigPostgres loads the same 10M leaves (hashes, empty data) into a fresh
// PostgreSQL database with COPY.
func bigPostgres(b *testing.B) *db.DB {
	d := dbtest.Postgres(b, sqlstore.Migrations)
	ctx := context.Background()
	start := time.Now()
	conn, err := d.Conn(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		rows := make(chan []any, 4096)
		errc := make(chan error, 1)
		go func() {
			errc <- storedHashes(tenMillion, func(i int64, leaf tlog.Hash, hashes []byte) error {
				rows <- []any{i, leaf[:], []byte{}, hashes}
				return nil
			})
			close(rows)
		}()
		src := pgx.CopyFromFunc(func() ([]any, error) {
			r, ok := <-rows
			if !ok {
				return nil, nil
			}
			return r, nil
		})
		if _, err := pc.CopyFrom(ctx, pgx.Identifier{"audit_entries"}, []string{"idx", "leaf_hash", "data", "hashes"}, src); err != nil {
			return err
		}
		return <-errc
	})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := d.Exec(`UPDATE audit_head SET size = $1 WHERE id = 1`, tenMillion); err != nil {
		b.Fatal(err)
	}
	if _, err := d.Exec(`VACUUM ANALYZE audit_entries`); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded 10M leaves' hashes into PostgreSQL in %v", time.Since(start).Round(time.Second))
	return d
}

var pgBig struct {
	once sync.Once
	d    *db.DB
}

// BenchmarkInclusionProof10M proves random entries of a 10,000,000-entry
// log read from the store (audit.ProveInclusion: a size check and one
// hash query), and reports the p50 and p99 latency.
func BenchmarkInclusionProof10M(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		d, err := db.Open(context.Background(), bigSQLite(b))
		if err != nil {
			b.Fatal(err)
		}
		defer d.Close()
		benchProofs(b, d)
	})
	b.Run("postgres", func(b *testing.B) {
		pgBig.once.Do(func() { pgBig.d = bigPostgres(b) })
		benchProofs(b, pgBig.d)
	})
}

func benchProofs(b *testing.B, d *db.DB) {
	s := sqlstore.New(d)
	defer s.Close()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	// Warm the cache as a long-running server's would be.
	for range 2000 {
		if _, err := audit.ProveInclusion(ctx, s, r.Int64N(tenMillion), tenMillion); err != nil {
			b.Fatal(err)
		}
	}
	root, err := audit.TreeHash(ctx, s, tenMillion)
	if err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		i := r.Int64N(tenMillion)
		t0 := time.Now()
		p, err := audit.ProveInclusion(ctx, s, i, tenMillion)
		lat = append(lat, time.Since(t0))
		if err != nil {
			b.Fatalf("proof of %d: %v", i, err)
		}
		b.StopTimer()
		if err := audit.CheckInclusion(p, i, tenMillion, tlog.RecordHash(fmt.Appendf(nil, "entry %d", i)), root); err != nil {
			b.Fatalf("proof of %d: %v", i, err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
}
