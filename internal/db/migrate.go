package db

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
)

// Migration is one versioned schema change of one room. Versions of a room
// start at 1 and increase by one; a migration once released never changes.
type Migration struct {
	Room    string
	Version int
	// SQLite and Postgres hold the statements for each dialect. When they
	// are the same, set both.
	SQLite   string
	Postgres string
}

const migrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	room TEXT NOT NULL,
	version INTEGER NOT NULL,
	applied_at BIGINT NOT NULL,
	PRIMARY KEY (room, version)
)`

// Migrate applies every migration not yet applied, in version order per
// room, each in its own transaction together with its bookkeeping row.
// Several replicas may call it at once: on PostgreSQL an advisory lock
// serialises them, on SQLite the immediate transaction does.
func (d *DB) Migrate(ctx context.Context, migrations ...[]Migration) (applied int, err error) {
	var all []Migration
	for _, set := range migrations {
		all = append(all, set...)
	}
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].Room != all[j].Room {
			return all[i].Room < all[j].Room
		}
		return all[i].Version < all[j].Version
	})
	conn, err := d.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("db: migrate: %w", err)
	}
	defer conn.Close()
	if d.Dialect == Postgres {
		// Arbitrary constant identifying Cedula's migration lock.
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(7305210041)`); err != nil {
			return 0, fmt.Errorf("db: migrate lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(7305210041)`)
	}
	if _, err := conn.ExecContext(ctx, migrationsTable); err != nil {
		return 0, fmt.Errorf("db: migrate: %w", err)
	}
	for _, m := range all {
		stmt := m.SQLite
		if d.Dialect == Postgres {
			stmt = m.Postgres
		}
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return applied, fmt.Errorf("db: migrate %s/%d: %w", m.Room, m.Version, err)
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE room = $1 AND version = $2`, m.Room, m.Version).Scan(&n); err != nil {
			tx.Rollback()
			return applied, fmt.Errorf("db: migrate %s/%d: %w", m.Room, m.Version, err)
		}
		if n > 0 {
			tx.Rollback()
			continue
		}
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			tx.Rollback()
			return applied, fmt.Errorf("db: migrate %s/%d: %w", m.Room, m.Version, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (room, version, applied_at) VALUES ($1, $2, $3)`, m.Room, m.Version, nowUnix()); err != nil {
			tx.Rollback()
			return applied, fmt.Errorf("db: migrate %s/%d: %w", m.Room, m.Version, err)
		}
		if err := tx.Commit(); err != nil {
			return applied, fmt.Errorf("db: migrate %s/%d: %w", m.Room, m.Version, err)
		}
		applied++
	}
	return applied, nil
}

// Version returns the highest applied version of room, 0 when none.
func (d *DB) Version(ctx context.Context, room string) (int, error) {
	var v sql.NullInt64
	err := d.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations WHERE room = $1`, room).Scan(&v)
	return int(v.Int64), err
}
