package db

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
)

// MaxInsertRows is the most rows InsertRows puts in one statement.
const MaxInsertRows = 128

// InsertRows inserts rows of cols values each (args holds them flattened,
// row after row) in tx with multi-row INSERT statements: prefix is the
// statement up to VALUES included ("INSERT INTO t (a, b) VALUES "), suffix
// what follows the rows ("" or, say, an ON CONFLICT clause).
//
// Statements hold 128, 64, 32, … or 1 rows — the binary decomposition of
// the row count — so that a handful of statements per table, prepared once
// (ExecCached), serve every batch size: parsing a statement with hundreds
// of parameters costs more than running it.
func (d *DB) InsertRows(ctx context.Context, tx *sql.Tx, prefix, suffix string, cols int, args []any) error {
	if cols <= 0 || len(args)%cols != 0 {
		return fmt.Errorf("db: insert rows: %d values are not rows of %d", len(args), cols)
	}
	for rows := len(args) / cols; rows > 0; {
		n := MaxInsertRows
		for n > rows {
			n /= 2
		}
		if _, err := d.ExecCached(ctx, tx, prefix+d.Placeholders(n, cols)+suffix, args[:n*cols]...); err != nil {
			return err
		}
		args, rows = args[n*cols:], rows-n
	}
	return nil
}

// placeholderKey names one Placeholders result.
type placeholderKey struct {
	dialect    Dialect
	rows, cols int
}

var placeholderCache sync.Map // placeholderKey → string

// Placeholders returns the VALUES lists of rows × cols parameters, in
// order: "($1, $2), ($3, $4)" on PostgreSQL, "(?, ?), (?, ?)" on SQLite,
// whose driver looks each $N up among all of a statement's parameters when
// it parses it (100 rows of 16 parsed 14 times slower with $N than with ?).
func (d *DB) Placeholders(rows, cols int) string {
	key := placeholderKey{d.Dialect, rows, cols}
	if v, ok := placeholderCache.Load(key); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	for r := range rows {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for c := range cols {
			if c > 0 {
				b.WriteString(", ")
			}
			n++
			if d.Dialect == SQLite {
				b.WriteByte('?')
			} else {
				fmt.Fprintf(&b, "$%d", n)
			}
		}
		b.WriteByte(')')
	}
	s := b.String()
	if rows <= MaxInsertRows {
		placeholderCache.Store(key, s)
	}
	return s
}
