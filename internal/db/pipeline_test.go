package db_test

import (
	"context"
	"testing"

	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/internal/db/dbtest"
)

// TestPipeline: statements run in one transaction and report the rows
// they affected; when one fails nothing of the transaction is committed,
// and the connection serves the next pipeline.
func TestPipeline(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		if _, err := d.ExecContext(ctx, `CREATE TABLE pipe (n BIGINT PRIMARY KEY)`); err != nil {
			t.Fatal(err)
		}
		count := func() int {
			var n int
			if err := d.QueryRowContext(ctx, `SELECT count(*) FROM pipe`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		got, err := d.Pipeline(ctx,
			db.Statement{SQL: `INSERT INTO pipe (n) VALUES ($1), ($2)`, Args: []any{1, 2}},
			db.Statement{SQL: `UPDATE pipe SET n = n + 10 WHERE n >= $1`, Args: []any{1}})
		if err != nil || len(got) != 2 || got[0] != 2 || got[1] != 2 || count() != 2 {
			t.Fatalf("Pipeline: %v, %v, %d rows; want [2 2], nil, 2 rows", got, err, count())
		}
		bads := []db.Statement{
			{SQL: `INSERT INTO pipe (n) VALUES ($1)`, Args: []any{11}}, // taken
			{SQL: `UPDATE no_such_table SET n = 1`},
		}
		if d.Dialect == db.Postgres {
			// How a statement stops its transaction on purpose.
			bads = append(bads, db.Statement{SQL: `SELECT 1 / (SELECT count(*)::int FROM pipe WHERE n < 0)`})
		}
		for _, bad := range bads {
			_, err := d.Pipeline(ctx, db.Statement{SQL: `INSERT INTO pipe (n) VALUES ($1)`, Args: []any{3}}, bad)
			if err == nil || count() != 2 {
				t.Errorf("Pipeline with %q failing: %v, %d rows; want an error and the 2 rows before", bad.SQL, err, count())
			}
		}
		if _, err := d.Pipeline(ctx, db.Statement{SQL: `INSERT INTO pipe (n) VALUES ($1)`, Args: []any{4}}); err != nil || count() != 3 {
			t.Errorf("Pipeline after failures: %v, %d rows; want nil and 3 rows", err, count())
		}
	})
}
