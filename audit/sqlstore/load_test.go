package sqlstore_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/audit/sqlstore"
	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/internal/db/dbtest"
)

// loadEntry is entry i of TestLoadMatchesAppend: subjects, actors and
// actions vary, some entries have no subject, and some hold strings with
// escapes (indexed through the JSON decoder rather than the layout scan).
func loadEntry(i int64) audit.Entry {
	e := audit.Entry{
		Time:      time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond),
		Actor:     audit.Actor{Kind: audit.ActorClient, ID: fmt.Sprint("agency-", i%7)},
		Action:    []string{"oidc.token", "consent.decide", "passkey.login", "session.start"}[i%4],
		Subject:   fmt.Sprint("psn-", (i*7919)%503),
		Purpose:   "dpv:ServiceProvision",
		Outcome:   audit.Allowed,
		RequestID: fmt.Sprint("req-", i),
	}
	if i%5 == 0 {
		e.Subject = ""
	}
	if i%11 == 0 {
		e.Actor = audit.Actor{Kind: audit.ActorCitizen, ID: e.Subject + "x"}
	}
	if i%97 == 0 {
		e.RequestID = "req \"quoted\"\n"
	}
	return e
}

// TestLoadMatchesAppend: a log loaded in bulk holds exactly what the same
// entries appended one group at a time and indexed by the indexer hold —
// every entry row with its stored hashes, every row of the three indexes,
// the watermark — with the search index's secondary indexes as migration 4
// made them, whether the load starts on a small log (which it more than
// doubles: those indexes are dropped and built again) or on a larger one.
func TestLoadMatchesAppend(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, loaded *db.DB) {
		ctx := context.Background()
		appended := dbtest.SQLite(t, sqlstore.Migrations)
		if loaded.Dialect == db.Postgres {
			appended = dbtest.Postgres(t, sqlstore.Migrations)
		}
		indexesBefore := indexDefs(t, loaded)
		app := sqlstore.New(appended)
		t.Cleanup(app.Close)
		appendAll := func(from, to int64) {
			for start := from; start < to; start += 1000 {
				var batch []audit.Entry
				for i := start; i < min(to, start+1000); i++ {
					batch = append(batch, loadEntry(i))
				}
				if _, err := app.Append(ctx, batch...); err != nil {
					t.Fatal(err)
				}
			}
			// A lookup brings the indexer up to date.
			if _, err := app.LeafIndex(ctx, audit.LeafHash([]byte("none"))); err == nil {
				t.Fatal("LeafIndex of an absent leaf: no error")
			}
		}
		load := func(from, to int64) {
			var last sqlstore.LoadProgress
			err := sqlstore.Load(ctx, loaded, to-from, func(i int64) (audit.Entry, error) { return loadEntry(from + i), nil },
				func(p sqlstore.LoadProgress) { last = p })
			if err != nil {
				t.Fatal(err)
			}
			if last.Phase != "indexes" || last.Done != last.Total || last.Total != to-from {
				t.Errorf("last progress %+v, want the indexes of all %d entries done", last, to-from)
			}
		}
		// A few entries appended to both, then a load that more than
		// doubles the log and crosses transactions, then a small one.
		pre := sqlstore.New(loaded)
		for i := range int64(3) {
			if _, err := pre.Append(ctx, loadEntry(i)); err != nil {
				t.Fatal(err)
			}
		}
		pre.Close()
		appendAll(0, 3)
		load(3, 40_003)
		appendAll(3, 40_003)
		load(40_003, 40_103)
		appendAll(40_003, 40_103)

		for _, q := range []string{
			`SELECT idx, leaf_hash, data, hashes FROM audit_entries ORDER BY idx`,
			`SELECT idx, time, actor_kind, actor_id, action, purpose, outcome FROM audit_index ORDER BY idx`,
			`SELECT subject, idx FROM audit_subjects ORDER BY subject, idx`,
			`SELECT k, idx FROM audit_leaf_runs ORDER BY k, idx`,
			`SELECT size FROM audit_indexed`,
			`SELECT size FROM audit_head`,
		} {
			a, na := digest(t, loaded, q)
			b, nb := digest(t, appended, q)
			if a != b || na != nb {
				t.Errorf("%s: loaded %d rows (%s), appended %d rows (%s); want the same rows", q, na, a[:12], nb, b[:12])
			}
		}
		if got := indexDefs(t, loaded); !slices.Equal(got, indexesBefore) {
			t.Errorf("indexes after the load:\n%v\nwant as migrated:\n%v", got, indexesBefore)
		}
	}, sqlstore.Migrations)
}

// digest returns a hash of the rows query returns, and their number.
func digest(t *testing.T, d *db.DB, query string) (string, int) {
	t.Helper()
	rows, err := d.QueryContext(context.Background(), query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	h := sha256.New()
	n := 0
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			fmt.Fprintf(h, "%T:%v|", normal(v), normal(v))
		}
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil)), n
}

// normal gives a value read from either database one form.
func normal(v any) any {
	switch x := v.(type) {
	case []byte:
		return hex.EncodeToString(x)
	case int32:
		return int64(x)
	}
	return v
}

// indexDefs lists the definitions of the audit tables' indexes.
func indexDefs(t *testing.T, d *db.DB) []string {
	t.Helper()
	q := `SELECT coalesce(sql, name) FROM sqlite_master WHERE type = 'index' AND tbl_name LIKE 'audit%' ORDER BY name`
	if d.Dialect == db.Postgres {
		q = `SELECT indexdef FROM pg_indexes WHERE tablename LIKE 'audit%' ORDER BY indexname`
	}
	rows, err := d.QueryContext(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if len(out) < 4 {
		t.Fatalf("%d indexes on the audit tables, want the search index's four at least", len(out))
	}
	return out
}
