package sqlstore_test

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	auditsql "github.com/cedula/cedula/audit/sqlstore"
	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/consent/sqlstore"
	"github.com/cedula/cedula/internal/bench"
	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/internal/db/dbtest"
)

// Benchmarks. Run them with
//
//	go test -run '^$' -bench Decide -benchtime 2s ./consent/sqlstore/
//
// with CEDULA_TEST_POSTGRES set for the PostgreSQL ones. The ledger holds
// 1,000,000 citizens × 5 purposes: 5,000,000 records and their events
// (given, some withdrawn or refused). The SQLite database is built once and
// kept under os.UserCacheDir()/cedula/bench (a few GB; delete it to
// rebuild); PostgreSQL is loaded with COPY into a fresh database per run.
//
// They report the p50 and p99 latency of one decision, in µs:
//
//	core/hot      DecideUnaudited on a hot set of 100,000 citizens whose
//	              projections are all cached (warmed first)
//	core/uniform  DecideUnaudited on citizens drawn uniformly from the
//	              million, cache cold at the start: mostly database reads
//	core/uniform-preloaded
//	              the same on a second replica whose cache is complete
//	              (Config.Preload): every decision from memory; it also
//	              reports the preload's time (preload-s) and the live heap
//	              it added (heap-MiB, B/record)
//	audited/c1    Decide (with its durable audit append) on the hot set,
//	              one caller
//	audited/c16   the same, 16 concurrent callers (group commit)
//
// BenchmarkChange (below) measures what a change costs with two replicas.

const (
	benchCitizens = 1_000_000
	benchHot      = 100_000
	benchVersion  = "v1" // bump when the schema or the data changes
)

// benchPurposes are the five purposes, by ID (the order of the primary
// key): all rest on consent, one with a retention.
func benchPurposes() []consent.Purpose {
	var ps []consent.Purpose
	for i, id := range []string{"bench-alerts", "bench-benefits", "bench-journeys", "bench-tax", "bench-transport"} {
		ps = append(ps, consent.Purpose{
			ID: id, Version: 1,
			Name:        consent.Text{ES: "Prueba " + id, EN: "Bench " + id},
			Description: consent.Text{ES: "Propósito de la prueba de rendimiento.", EN: "Benchmark purpose."},
			Controller:  fmt.Sprintf("agency-%d", i), LegalBasis: consent.Consent,
			Categories: []string{"identity", "contact", "address"},
			DPV:        "dpv:ServiceProvision", NoticeVersion: "n1",
			NoticeURL: "https://bench.example.gub.uy/notice",
		})
	}
	ps[3].Retention = 10 * 365 * 24 * time.Hour
	return ps
}

// benchSubjects returns the citizen IDs, sorted: 256-bit random values in
// base64url, like issuer.NewCitizenID, from a fixed seed so that a kept
// database matches.
func benchSubjects() []string {
	r := rand.New(rand.NewChaCha8([32]byte{'c', 'e', 'd', 'u', 'l', 'a'}))
	out := make([]string, benchCitizens)
	b := make([]byte, 32)
	for i := range out {
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		out[i] = base64.RawURLEncoding.EncodeToString(b)
	}
	slices.Sort(out)
	return out
}

var (
	subjectsOnce sync.Once
	subjects     []string
)

func allSubjects() []string {
	subjectsOnce.Do(func() { subjects = benchSubjects() })
	return subjects
}

var idEncoding = base64.NewEncoding("-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz").WithPadding(base64.NoPadding)

const (
	benchRecordCols = "subject, purpose, controller, id, seq, state, purpose_version, notice_version, legal_basis, categories, method, created, updated, given, expires"
	benchEventCols  = "pos, record_id, seq, event_type, subject, controller, purpose, purpose_version, notice_version, legal_basis, categories, method, actor_kind, actor_id, at, expires"
)

// benchRows calls record for each of the 5,000,000 records in primary-key
// order and event for each of their events; events take positions after
// first. It returns the last position.
func benchRows(first int64, record func(row []any) error, event func(row []any) error) (int64, error) {
	ps := benchPurposes()
	r := rand.New(rand.NewPCG(7, 11))
	created := time.Now().Add(-30 * 24 * time.Hour).UnixMicro()
	pos := first
	idb := make([]byte, 18)
	seq := uint64(0)
	for i, s := range allSubjects() {
		for j, p := range ps {
			// Like the Service's record IDs: an increasing prefix (there the
			// time), random bits, in an encoding that sorts as the bytes.
			seq++
			binary.BigEndian.PutUint64(idb, seq<<16)
			for k := 6; k < len(idb); k++ {
				idb[k] = byte(r.Uint32())
			}
			id := idEncoding.EncodeToString(idb)
			var expires int64
			if p.Retention > 0 {
				expires = created + p.Retention.Microseconds()
			}
			events := []string{"given"}
			switch x := r.IntN(100); {
			case x < 8:
				events = append(events, "withdrawn")
			case x < 15:
				events = []string{"refused"}
			}
			last := events[len(events)-1]
			recExpires, given := expires, created
			if last != "given" {
				recExpires = 0
			}
			if last == "refused" {
				given = 0
			}
			updated := created + int64(len(events)-1)*1000
			if err := record([]any{s, p.ID, p.Controller, id, int64(len(events)), last, 1, "n1", "consent",
				`["identity","contact","address"]`, "web", created, updated, given, recExpires}); err != nil {
				return 0, err
			}
			for n, typ := range events {
				pos++
				exp := int64(0)
				if typ == "given" {
					exp = expires
				}
				if err := event([]any{pos, id, int64(n + 1), typ, s, p.Controller, p.ID, 1, "n1", "consent",
					`["identity","contact","address"]`, "web", "citizen", fmt.Sprintf("psn-%d-%d", i, j), created + int64(n)*1000, exp}); err != nil {
					return 0, err
				}
			}
		}
	}
	return pos, nil
}

// putBenchPurposes stores the purposes (positions 1 to 5).
func putBenchPurposes(ctx context.Context, d *db.DB) (int64, error) {
	s := sqlstore.New(d)
	defer s.Close()
	var last int64
	for _, p := range benchPurposes() {
		pos, err := s.PutPurpose(ctx, p)
		if err != nil {
			return 0, err
		}
		last = pos
	}
	return last, nil
}

var sqliteBench struct {
	once sync.Once
	path string
	err  error
}

// benchSQLite returns the path of the kept SQLite benchmark database,
// building it the first time (a few minutes).
func benchSQLite(b *testing.B) string {
	sqliteBench.once.Do(func() {
		dir, err := os.UserCacheDir()
		if err != nil {
			sqliteBench.err = err
			return
		}
		dir = filepath.Join(dir, "cedula", "bench")
		path := filepath.Join(dir, "consent-1m-"+benchVersion+".db")
		sqliteBench.path = path
		if _, err := os.Stat(path); err == nil {
			return
		}
		start := time.Now()
		sqliteBench.err = buildSQLite(path)
		b.Logf("built the SQLite benchmark ledger in %v: %s", time.Since(start).Round(time.Second), path)
	})
	if sqliteBench.err != nil {
		b.Fatal(sqliteBench.err)
	}
	return sqliteBench.path
}

func buildSQLite(path string) error {
	ctx := context.Background()
	tmp := path + ".tmp"
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(tmp + suffix)
	}
	d, err := db.Open(ctx, tmp)
	if err != nil {
		return err
	}
	defer d.Close()
	if _, err := d.Migrate(ctx, migrations...); err != nil {
		return err
	}
	first, err := putBenchPurposes(ctx, d)
	if err != nil {
		return err
	}
	conn, err := d.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, pragma := range []string{`PRAGMA synchronous=OFF`, `PRAGMA cache_size=-524288`} {
		if _, err := conn.ExecContext(ctx, pragma); err != nil {
			return err
		}
	}
	// The migration's own index statements, dropped for the load and run
	// again after it: building an index from sorted data beats inserting
	// five million keys one by one.
	indexes, err := benchIndexes(ctx, conn, `SELECT name, sql FROM sqlite_master
WHERE type = 'index' AND tbl_name IN ('consent_records', 'consent_events') AND sql IS NOT NULL`)
	if err != nil {
		return err
	}
	// Multi-row INSERTs of 500 rows, a transaction per 200,000 records.
	type batch struct {
		cols int
		q    string
		args []any
	}
	recs := &batch{cols: 15, q: "INSERT INTO consent_records (" + benchRecordCols + ") VALUES " + benchPlaceholders(500, 15)}
	evs := &batch{cols: 16, q: "INSERT INTO consent_events (" + benchEventCols + ") VALUES " + benchPlaceholders(500, 16)}
	var tx *sql.Tx
	n := 0
	flush := func(bt *batch) error {
		if len(bt.args) == 0 {
			return nil
		}
		q := bt.q
		if rows := len(bt.args) / bt.cols; rows < 500 {
			q = q[:strings.Index(q, " VALUES ")] + " VALUES " + benchPlaceholders(rows, bt.cols)
		}
		_, err := tx.ExecContext(ctx, q, bt.args...)
		bt.args = bt.args[:0]
		return err
	}
	add := func(bt *batch, row []any) error {
		if tx == nil {
			var err error
			if tx, err = conn.BeginTx(ctx, nil); err != nil {
				return err
			}
		}
		bt.args = append(bt.args, row...)
		if len(bt.args) == 500*bt.cols {
			return flush(bt)
		}
		return nil
	}
	last, err := benchRows(first, func(row []any) error {
		if err := add(recs, row); err != nil {
			return err
		}
		if n++; n%200_000 == 0 {
			if err := flush(recs); err != nil {
				return err
			}
			if err := flush(evs); err != nil {
				return err
			}
			err := tx.Commit()
			tx = nil
			return err
		}
		return nil
	}, func(row []any) error { return add(evs, row) })
	if err != nil {
		return err
	}
	if tx != nil {
		if err := flush(recs); err != nil {
			return err
		}
		if err := flush(evs); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	for _, q := range append(indexes,
		fmt.Sprintf(`UPDATE consent_head SET pos = %d WHERE id = 1`, last),
		`ANALYZE`,
		`PRAGMA wal_checkpoint(TRUNCATE)`,
	) {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	conn.Close()
	d.Close()
	return os.Rename(tmp, path)
}

// benchIndexes drops the indexes that query lists (name, statement) and
// returns their statements.
func benchIndexes(ctx context.Context, conn *sql.Conn, query string) ([]string, error) {
	rows, err := conn.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	var names, stmts []string
	for rows.Next() {
		var name, stmt string
		if err := rows.Scan(&name, &stmt); err != nil {
			rows.Close()
			return nil, err
		}
		names, stmts = append(names, name), append(stmts, stmt)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(names) != 5 {
		return nil, fmt.Errorf("found indexes %q, want the migrations' five", names)
	}
	for _, n := range names {
		if _, err := conn.ExecContext(ctx, `DROP INDEX `+n); err != nil {
			return nil, err
		}
	}
	return stmts, nil
}

// benchPlaceholders returns rows × cols ? parameters, which the SQLite
// driver binds much faster than $N in long statements.
func benchPlaceholders(rows, cols int) string {
	var b strings.Builder
	for r := range rows {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		b.WriteString(strings.Repeat("?, ", cols-1))
		b.WriteString("?)")
	}
	return b.String()
}

// benchPostgres loads the same ledger into a fresh PostgreSQL database
// with COPY; it is dropped when b ends.
func benchPostgres(b *testing.B) *db.DB {
	d := dbtest.Postgres(b, migrations...)
	ctx := context.Background()
	start := time.Now()
	first, err := putBenchPurposes(ctx, d)
	if err != nil {
		b.Fatal(err)
	}
	conn, err := d.Conn(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	indexes, err := benchIndexes(ctx, conn, `SELECT i.indexname, i.indexdef FROM pg_indexes AS i
WHERE i.tablename IN ('consent_records', 'consent_events')
AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conname = i.indexname)`)
	if err != nil {
		b.Fatal(err)
	}
	var last int64
	err = conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		recs, evs := make(chan []any, 4096), make(chan []any, 4096)
		errc := make(chan error, 1)
		go func() {
			var err error
			last, err = benchRows(first,
				func(row []any) error { recs <- slices.Clone(row); return nil },
				func(row []any) error { evs <- slices.Clone(row); return nil })
			close(recs)
			close(evs)
			errc <- err
		}()
		copyFrom := func(table, cols string, rows chan []any) error {
			_, err := pc.CopyFrom(ctx, pgx.Identifier{table}, strings.Split(cols, ", "), pgx.CopyFromFunc(func() ([]any, error) {
				r, ok := <-rows
				if !ok {
					return nil, nil
				}
				return r, nil
			}))
			return err
		}
		// Two COPYs cannot share one connection: events go through a second.
		evErr := make(chan error, 1)
		go func() {
			c2, err := d.Conn(ctx)
			if err != nil {
				evErr <- err
				for range evs {
				}
				return
			}
			defer c2.Close()
			evErr <- c2.Raw(func(dc any) error {
				_, err := dc.(*stdlib.Conn).Conn().CopyFrom(ctx, pgx.Identifier{"consent_events"}, strings.Split(benchEventCols, ", "),
					pgx.CopyFromFunc(func() ([]any, error) {
						r, ok := <-evs
						if !ok {
							return nil, nil
						}
						return r, nil
					}))
				return err
			})
		}()
		if err := copyFrom("consent_records", benchRecordCols, recs); err != nil {
			return err
		}
		if err := <-evErr; err != nil {
			return err
		}
		return <-errc
	})
	if err != nil {
		b.Fatal(err)
	}
	// CHECKPOINT: write the loaded pages out now, not under the
	// benchmark's commits.
	for _, q := range append(indexes, fmt.Sprintf(`UPDATE consent_head SET pos = %d WHERE id = 1`, last), `VACUUM ANALYZE`, `CHECKPOINT`) {
		if _, err := d.ExecContext(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("loaded 5,000,000 records into PostgreSQL in %v", time.Since(start).Round(time.Second))
	return d
}

// BenchmarkDecide measures Decide against the ledger of a million citizens.
func BenchmarkDecide(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		d, err := db.Open(context.Background(), benchSQLite(b))
		if err != nil {
			b.Fatal(err)
		}
		defer d.Close()
		benchDecide(b, d)
	})
	b.Run("postgres", func(b *testing.B) {
		benchDecide(b, benchPostgres(b))
	})
}

func benchDecide(b *testing.B, d *db.DB) {
	ctx := context.Background()
	store := sqlstore.New(d)
	defer store.Close()
	log := auditsql.New(d)
	defer log.Close()
	svc, err := consent.New(ctx, consent.Config{
		Store: store, Audit: log, Pseudonym: func(id string) string { return "psn-" + id[:16] },
	})
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	subs := allSubjects()
	ps := benchPurposes()
	query := func(r *rand.Rand, citizens int) consent.Query {
		p := ps[r.IntN(len(ps))]
		return consent.Query{Subject: subs[r.IntN(citizens)], Controller: p.Controller, Purpose: p.ID, Categories: []string{"identity"}}
	}
	report := func(b *testing.B, lat []time.Duration) {
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
	}

	b.Run("core/uniform", func(b *testing.B) {
		r := rand.New(rand.NewPCG(1, 2))
		before := svc.Stats()
		lat := make([]time.Duration, 0, b.N)
		for b.Loop() {
			q := query(r, benchCitizens)
			t0 := time.Now()
			if _, err := svc.DecideUnaudited(ctx, q); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		report(b, lat)
		after := svc.Stats()
		hits, misses := after.CacheHits-before.CacheHits, after.CacheMisses-before.CacheMisses+after.Direct-before.Direct
		b.ReportMetric(100*float64(hits)/float64(max(1, hits+misses)), "hit-%")
	})

	b.Run("core/uniform-preloaded", func(b *testing.B) {
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		t0 := time.Now()
		pre, err := consent.New(ctx, consent.Config{
			Store: store, Audit: log, Pseudonym: func(id string) string { return "psn-" + id[:16] }, Preload: true,
		})
		if err != nil {
			b.Fatal(err)
		}
		took := time.Since(t0)
		defer pre.Close()
		runtime.GC()
		runtime.ReadMemStats(&m1)
		entries := pre.Stats().CacheEntries
		heap := float64(int64(m1.HeapAlloc) - int64(m0.HeapAlloc))
		r := rand.New(rand.NewPCG(1, 2))
		before := pre.Stats()
		lat := make([]time.Duration, 0, b.N)
		for b.Loop() {
			q := query(r, benchCitizens)
			t0 := time.Now()
			if _, err := pre.DecideUnaudited(ctx, q); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		report(b, lat)
		after := pre.Stats()
		hits, misses := after.CacheHits-before.CacheHits, after.CacheMisses-before.CacheMisses+after.Direct-before.Direct
		b.ReportMetric(100*float64(hits)/float64(max(1, hits+misses)), "hit-%")
		b.ReportMetric(took.Seconds(), "preload-s")
		b.ReportMetric(heap/(1<<20), "heap-MiB")
		b.ReportMetric(heap/float64(max(1, entries)), "B/record")
	})

	// The hot set: every projection of 100,000 citizens cached.
	var warm sync.WaitGroup
	for w := range 4 {
		warm.Go(func() {
			for i := w; i < benchHot; i += 4 {
				for _, p := range ps {
					q := consent.Query{Subject: subs[i], Controller: p.Controller, Purpose: p.ID, Categories: []string{"identity"}}
					if _, err := svc.DecideUnaudited(ctx, q); err != nil {
						b.Error(err)
						return
					}
				}
			}
		})
	}
	warm.Wait()
	b.Run("core/hot", func(b *testing.B) {
		r := rand.New(rand.NewPCG(3, 4))
		before := svc.Stats()
		lat := make([]time.Duration, 0, b.N)
		allowed := 0
		for b.Loop() {
			q := query(r, benchHot)
			t0 := time.Now()
			d, err := svc.DecideUnaudited(ctx, q)
			lat = append(lat, time.Since(t0))
			if err != nil {
				b.Fatal(err)
			}
			if d.Allow {
				allowed++
			}
		}
		report(b, lat)
		after := svc.Stats()
		b.ReportMetric(100*float64(after.CacheHits-before.CacheHits)/float64(b.N), "hit-%")
		b.ReportMetric(100*float64(allowed)/float64(b.N), "allowed-%")
	})
	b.Run("audited/c1", func(b *testing.B) {
		r := rand.New(rand.NewPCG(5, 6))
		lat := make([]time.Duration, 0, b.N)
		for b.Loop() {
			q := query(r, benchHot)
			t0 := time.Now()
			if _, err := svc.Decide(ctx, q); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		report(b, lat)
	})
	b.Run("audited/c16", func(b *testing.B) {
		const conc = 16
		rs := make([]*rand.Rand, conc)
		for g := range rs {
			rs[g] = rand.New(rand.NewPCG(7, uint64(g)))
		}
		b.ResetTimer()
		all, elapsed, err := bench.Loop(ctx, b.N, conc, func(ctx context.Context, g int) error {
			_, err := svc.Decide(ctx, query(rs[g], benchHot))
			return err
		})
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		report(b, all)
		b.ReportMetric(float64(len(all))/elapsed.Seconds(), "decisions/s")
	})
}

// BenchmarkChange measures a change acknowledged across two replicas with
// the default lease and sync interval: Give and Withdraw in turn on one
// replica, each returning once the other has dropped the record from its
// cache. It reports the p50 and p99 in ms. Run it with -benchtime 200x.
func BenchmarkChange(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), "cedula.db")
		benchChange(b, func() *db.DB { return benchOpen(b, path) })
	})
	b.Run("postgres", func(b *testing.B) {
		url := dbtest.PostgresURL(b)
		benchChange(b, func() *db.DB { return benchOpen(b, url) })
	})
}

func benchOpen(b *testing.B, url string) *db.DB {
	d, err := db.Open(context.Background(), url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	if _, err := d.Migrate(context.Background(), migrations...); err != nil {
		b.Fatal(err)
	}
	return d
}

func benchChange(b *testing.B, open func() *db.DB) {
	ctx := context.Background()
	var svcs []*consent.Service
	for range 2 {
		d := open()
		store, log := sqlstore.New(d), auditsql.New(d)
		b.Cleanup(store.Close)
		b.Cleanup(log.Close)
		svc, err := consent.New(ctx, consent.Config{Store: store, Audit: log, Pseudonym: func(id string) string { return "psn-" + id }})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { svc.Close() })
		svcs = append(svcs, svc)
	}
	p := benchPurposes()[0]
	if _, err := svcs[0].PutPurpose(ctx, p); err != nil {
		b.Fatal(err)
	}
	r := consent.Request{Subject: "citizen-1", Purpose: p.ID, Method: consent.MethodWeb}
	lat := make([]time.Duration, 0, b.N)
	for i := 0; b.Loop(); i++ {
		t0 := time.Now()
		var err error
		if i%2 == 0 {
			_, err = svcs[0].Give(ctx, r)
		} else {
			_, err = svcs[0].Withdraw(ctx, r)
		}
		lat = append(lat, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1e3, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1e3, "p99-ms")
}
