package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver
)

// Dialect names the SQL dialect of an open database.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is an open database and its dialect.
type DB struct {
	*sql.DB
	Dialect Dialect
	stmts   sync.Map // query → *sql.Stmt
	// stopCheckpoints ends the SQLite WAL checkpointer (checkpoint.go).
	stopCheckpoints func()
	// writes is SQLite's write lock as this process takes it (WriteLock).
	writes chan struct{}
}

// ExecCached runs query through a statement prepared once per database
// (and once per connection by database/sql), for hot paths where parsing
// the SQL each time would cost more than running it: in tx, or on the
// database when tx is nil.
//
// Inside a transaction, the first use runs the query unprepared and
// prepares it in the background: preparing needs a connection of its own,
// which, inside a SQLite write transaction with every other connection
// waiting for the write lock, would never come. Outside one, it is
// prepared at once (Prepared).
func (d *DB) ExecCached(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if tx == nil {
		st, err := d.Prepared(ctx, query)
		if err != nil {
			return nil, err
		}
		return st.ExecContext(ctx, args...)
	}
	if st := d.cachedStmt(query); st != nil {
		res, err := tx.StmtContext(ctx, st).ExecContext(ctx, args...)
		if !foreignTx(err) {
			return res, err
		}
	}
	return tx.ExecContext(ctx, query, args...)
}

// QueryCached is ExecCached for a query that returns rows.
func (d *DB) QueryCached(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	if tx == nil {
		st, err := d.Prepared(ctx, query)
		if err != nil {
			return nil, err
		}
		return st.QueryContext(ctx, args...)
	}
	if st := d.cachedStmt(query); st != nil {
		rows, err := tx.StmtContext(ctx, st).QueryContext(ctx, args...)
		if !foreignTx(err) {
			return rows, err
		}
	}
	return tx.QueryContext(ctx, query, args...)
}

// QueryRowCached is ExecCached for a query that returns at most one row.
// A failure to prepare is reported by the row's Scan. Unlike ExecCached
// and QueryCached, it needs tx to be a transaction of this handle (d).
func (d *DB) QueryRowCached(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	if tx == nil {
		st, err := d.Prepared(ctx, query)
		if err != nil {
			// An unprepared query reports the same error through Scan.
			return d.QueryRowContext(ctx, query, args...)
		}
		return st.QueryRowContext(ctx, args...)
	}
	if st := d.cachedStmt(query); st != nil {
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, query, args...)
}

// foreignTx reports whether err is database/sql's refusal of a statement
// prepared on another handle than the transaction's: a transaction of
// another *sql.DB on the same database may come to a store's Cached
// helpers, which then run the query unprepared.
func foreignTx(err error) bool {
	return err != nil && err.Error() == "sql: Tx.Stmt: statement from different database used"
}

// Prepared returns query prepared once per database (and, by database/sql,
// once per connection), preparing it now when it is not yet. Never call it
// inside a write transaction: preparing takes a second connection, which,
// while the transaction holds SQLite's write lock, may wait for ever on a
// pool full of writers waiting for that lock (ExecCached and QueryCached
// are for inside).
func (d *DB) Prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	if st := d.Cached(query); st != nil {
		return st, nil
	}
	st, err := d.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	for {
		v, loaded := d.stmts.LoadOrStore(query, st)
		if !loaded {
			return st, nil
		}
		if prev, _ := v.(*sql.Stmt); prev != nil {
			st.Close()
			return prev, nil
		}
		// A background preparation is under way (a nil placeholder):
		// put this one in its place.
		if d.stmts.CompareAndSwap(query, v, st) {
			return st, nil
		}
	}
}

// Cached returns query's prepared statement if there is one, else nil;
// it prepares nothing.
func (d *DB) Cached(query string) *sql.Stmt {
	v, ok := d.stmts.Load(query)
	if !ok {
		return nil
	}
	st, _ := v.(*sql.Stmt)
	return st
}

// cachedStmt returns query's prepared statement, or nil while there is
// none yet, in which case it prepares one in the background (see
// ExecCached for why not here).
func (d *DB) cachedStmt(query string) *sql.Stmt {
	v, ok := d.stmts.Load(query)
	if !ok {
		if _, loading := d.stmts.LoadOrStore(query, nil); !loading {
			go func() {
				st, err := d.PrepareContext(context.Background(), query)
				if err != nil {
					d.stmts.CompareAndDelete(query, nil) // try again next time
					return
				}
				if !d.stmts.CompareAndSwap(query, nil, st) {
					st.Close() // Prepared put one there meanwhile
				}
			}()
		}
		return nil
	}
	st, _ := v.(*sql.Stmt)
	return st
}

// Open opens the database named by url: "postgres://…" or "postgresql://…"
// for PostgreSQL, "sqlite://PATH" or a plain file path for SQLite. A SQLite
// file's folder is created when missing. SQLite runs in WAL mode with
// synchronous=FULL so that an acknowledged write survives a crash.
func Open(ctx context.Context, url string) (*DB, error) {
	var d *DB
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		sdb, err := sql.Open("pgx", url)
		if err != nil {
			return nil, fmt.Errorf("db: open postgres: %w", err)
		}
		sdb.SetMaxOpenConns(32)
		sdb.SetMaxIdleConns(32)
		sdb.SetConnMaxIdleTime(5 * time.Minute)
		d = &DB{DB: sdb, Dialect: Postgres}
	default:
		path := strings.TrimPrefix(url, "sqlite://")
		if path == "" {
			return nil, errors.New("db: empty SQLite path")
		}
		if dir := filepath.Dir(path); dir != "" {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("db: create folder for %s: %w", path, err)
			}
		}
		// _txlock=immediate makes every transaction take the write lock at
		// BEGIN, so two writers never deadlock on a lock upgrade.
		// temp_store=MEMORY keeps statement journals (which a multi-row
		// INSERT inside a transaction needs, to undo itself alone) off the
		// disk; durability rests on the WAL alone. wal_autocheckpoint(0):
		// checkpoints run on a goroutine of their own (checkpoint.go).
		dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)" +
			"&_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)&_pragma=cache_size(-32768)" +
			"&_pragma=temp_store(MEMORY)&_pragma=wal_autocheckpoint(0)&_txlock=immediate"
		sdb, err := sql.Open("sqlite", dsn)
		if err != nil {
			return nil, fmt.Errorf("db: open sqlite: %w", err)
		}
		// SQLite serialises writers; a handful of connections lets readers
		// proceed alongside the writer in WAL mode.
		sdb.SetMaxOpenConns(8)
		sdb.SetMaxIdleConns(8)
		d = &DB{DB: sdb, Dialect: SQLite, writes: make(chan struct{}, 1)}
	}
	if err := d.PingContext(ctx); err != nil {
		d.Close()
		return nil, fmt.Errorf("db: connect: %w", err)
	}
	if d.Dialect == SQLite {
		d.startCheckpoints()
	}
	return d, nil
}

// Close stops the database's background work and closes it.
func (d *DB) Close() error {
	if d.stopCheckpoints != nil {
		d.stopCheckpoints()
	}
	return d.DB.Close()
}

// InTx runs fn inside a transaction, committing when fn returns nil and
// rolling back otherwise. On SQLite it holds WriteLock meanwhile.
func (d *DB) InTx(ctx context.Context, fn func(*sql.Tx) error) error {
	unlock, err := d.WriteLock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("db: commit: %w", err)
	}
	return nil
}

// IsUniqueViolation reports whether err is a unique-constraint violation in
// either dialect.
func IsUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "UNIQUE constraint failed") || // SQLite
		strings.Contains(s, "SQLSTATE 23505") // PostgreSQL unique_violation
}
