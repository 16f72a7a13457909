package db

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Bulk is one bulk-loading transaction (DB.Load).
type Bulk struct {
	d   *DB
	ctx context.Context
	tx  *sql.Tx // SQLite
	pg  pgx.Tx  // PostgreSQL
}

// Load runs fn in one transaction on one connection, committing when fn
// returns nil and rolling back otherwise: the way to write many rows at
// once — COPY on PostgreSQL, prepared multi-row INSERTs on SQLite — for
// seeding and imports, not for request paths.
func (d *DB) Load(ctx context.Context, fn func(b *Bulk) error) error {
	if d.Dialect == Postgres {
		conn, err := d.Conn(ctx)
		if err != nil {
			return fmt.Errorf("db: load: %w", err)
		}
		defer conn.Close()
		return conn.Raw(func(dc any) error {
			c, ok := dc.(*stdlib.Conn)
			if !ok {
				return fmt.Errorf("db: load: driver connection %T is not pgx's", dc)
			}
			tx, err := c.Conn().Begin(ctx)
			if err != nil {
				return fmt.Errorf("db: load: begin: %w", err)
			}
			if err := fn(&Bulk{d: d, ctx: ctx, pg: tx}); err != nil {
				_ = tx.Rollback(ctx)
				return err
			}
			if err := tx.Commit(ctx); err != nil {
				return fmt.Errorf("db: load: commit: %w", err)
			}
			return nil
		})
	}
	return d.InTx(ctx, func(tx *sql.Tx) error { return fn(&Bulk{d: d, ctx: ctx, tx: tx}) })
}

// Insert writes rows of len(cols) values each (flattened, row after row)
// into table.
func (b *Bulk) Insert(table string, cols []string, rows []any) error {
	n := len(cols)
	if n == 0 || len(rows)%n != 0 {
		return fmt.Errorf("db: load %s: %d values are not rows of %d", table, len(rows), n)
	}
	if len(rows) == 0 {
		return nil
	}
	if b.pg != nil {
		_, err := b.pg.CopyFrom(b.ctx, pgx.Identifier{table}, cols, pgx.CopyFromSlice(len(rows)/n, func(i int) ([]any, error) {
			return rows[i*n : (i+1)*n], nil
		}))
		if err != nil {
			return fmt.Errorf("db: load %s: %w", table, err)
		}
		return nil
	}
	prefix := "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES "
	if err := b.d.InsertRows(b.ctx, b.tx, prefix, "", n, rows); err != nil {
		return fmt.Errorf("db: load %s: %w", table, err)
	}
	return nil
}

// Exec runs one statement in the transaction and returns the number of
// rows it affected.
func (b *Bulk) Exec(query string, args ...any) (int64, error) {
	if b.pg != nil {
		tag, err := b.pg.Exec(b.ctx, query, args...)
		if err != nil {
			return 0, err
		}
		return tag.RowsAffected(), nil
	}
	res, err := b.tx.ExecContext(b.ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
