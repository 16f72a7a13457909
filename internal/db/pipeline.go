package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Statement is one statement of a Pipeline.
type Statement struct {
	SQL  string
	Args []any
}

// ErrRolledBack is returned by Pipeline when PostgreSQL answered its
// COMMIT with a rollback.
var ErrRolledBack = errors.New("db: pipeline: the transaction was rolled back")

// Pipeline runs stmts in one transaction and returns the rows each
// affected, or the first error, in which case nothing was committed (or,
// as for any commit that fails, the outcome is unknown). On PostgreSQL the
// BEGIN, the statements and the COMMIT are sent at once and answered at
// once — one round trip where a transaction through database/sql takes one
// per statement and two more — so a statement that must stop the
// transaction has to fail (an error aborts the rest and turns the COMMIT
// into a rollback). On SQLite they run in InTx.
func (d *DB) Pipeline(ctx context.Context, stmts ...Statement) ([]int64, error) {
	out := make([]int64, len(stmts))
	if d.Dialect != Postgres {
		err := d.InTx(ctx, func(tx *sql.Tx) error {
			for i, st := range stmts {
				res, err := d.ExecCached(ctx, tx, st.SQL, st.Args...)
				if err != nil {
					return err
				}
				if out[i], err = res.RowsAffected(); err != nil {
					return err
				}
			}
			return nil
		})
		return out, err
	}
	conn, err := d.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("db: pipeline: %w", err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("db: pipeline: driver connection %T is not pgx's", dc)
		}
		b := &pgx.Batch{}
		b.Queue("BEGIN")
		for _, st := range stmts {
			b.Queue(st.SQL, st.Args...)
		}
		b.Queue("COMMIT")
		br := c.Conn().SendBatch(ctx, b)
		first := func() error {
			if _, err := br.Exec(); err != nil {
				return err
			}
			for i := range stmts {
				tag, err := br.Exec()
				if err != nil {
					return err
				}
				out[i] = tag.RowsAffected()
			}
			tag, err := br.Exec()
			if err != nil {
				return err
			}
			if tag.String() != "COMMIT" {
				return ErrRolledBack
			}
			return nil
		}()
		// Close reads what is left of the answers (after an error, the
		// aborted statements' and the rollback's).
		if err := br.Close(); first == nil {
			first = err
		}
		return first
	})
	if err != nil {
		return nil, fmt.Errorf("db: pipeline: %w", err)
	}
	return out, nil
}
