package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/cedula/cedula/internal/db"
	mobileapi "github.com/cedula/cedula/mobile-api"
)

// Migrations create the room's tables.
var Migrations = []db.Migration{{Room: "mobile", Version: 1,
	SQLite: `CREATE TABLE mobile_idempotency (
	citizen TEXT NOT NULL,
	idem_key TEXT NOT NULL,
	body_hash BLOB NOT NULL,
	response BLOB,
	created BIGINT NOT NULL,
	PRIMARY KEY (citizen, idem_key)
) WITHOUT ROWID;
CREATE INDEX mobile_idempotency_created ON mobile_idempotency (created);`,
	Postgres: `CREATE TABLE mobile_idempotency (
	citizen TEXT COLLATE "C" NOT NULL,
	idem_key TEXT COLLATE "C" NOT NULL,
	body_hash BYTEA NOT NULL,
	response BYTEA,
	created BIGINT NOT NULL,
	PRIMARY KEY (citizen, idem_key)
);
CREATE INDEX mobile_idempotency_created ON mobile_idempotency (created);`},
	{Room: "mobile", Version: 2,
		SQLite: `CREATE TABLE mobile_devices (
	citizen TEXT NOT NULL,
	id TEXT NOT NULL,
	platform TEXT NOT NULL,
	sealed BLOB NOT NULL,
	created BIGINT NOT NULL,
	PRIMARY KEY (citizen, id)
) WITHOUT ROWID;`,
		Postgres: `CREATE TABLE mobile_devices (
	citizen TEXT COLLATE "C" NOT NULL,
	id TEXT COLLATE "C" NOT NULL,
	platform TEXT NOT NULL,
	sealed BYTEA NOT NULL,
	created BIGINT NOT NULL,
	PRIMARY KEY (citizen, id)
);`}}

// Store is the idempotency records and the devices registered for push in
// a database with Migrations applied.
// Several Stores, in one process or several replicas, may share it.
type Store struct{ db *db.DB }

var (
	_ mobileapi.IdempotencyStore = (*Store)(nil)
	_ mobileapi.DeviceStore      = (*Store)(nil)
)

// New returns a store over d.
func New(d *db.DB) *Store { return &Store{db: d} }

// Reserve implements mobileapi.IdempotencyStore. It runs in one
// transaction: the insert of a pending record either wins the key or
// (ON CONFLICT DO NOTHING, after waiting for a concurrent insert to
// commit) leaves the record another request holds, which it returns.
func (s *Store) Reserve(ctx context.Context, r mobileapi.Reservation) (rec mobileapi.IdempotencyRecord, reserved bool, err error) {
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM mobile_idempotency WHERE citizen = $1 AND idem_key = $2
			AND (created < $3 OR (response IS NULL AND created < $4))`,
			r.CitizenID, r.Key, db.Micros(r.Expired), db.Micros(r.Abandoned)); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO mobile_idempotency (citizen, idem_key, body_hash, created)
			VALUES ($1, $2, $3, $4) ON CONFLICT (citizen, idem_key) DO NOTHING`, r.CitizenID, r.Key, r.Hash, db.Micros(r.Now))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 1 {
			reserved = true
			rec = mobileapi.IdempotencyRecord{Hash: r.Hash, Created: db.FromMicros(db.Micros(r.Now))}
			return nil
		}
		var created int64
		if err := tx.QueryRowContext(ctx, `SELECT body_hash, response, created FROM mobile_idempotency WHERE citizen = $1 AND idem_key = $2`,
			r.CitizenID, r.Key).Scan(&rec.Hash, &rec.Sealed, &created); err != nil {
			return err
		}
		rec.Created = db.FromMicros(created)
		return nil
	})
	if err != nil {
		return mobileapi.IdempotencyRecord{}, false, fmt.Errorf("mobile/sqlstore: reserve: %w", err)
	}
	return rec, reserved, nil
}

// Complete implements mobileapi.IdempotencyStore.
func (s *Store) Complete(ctx context.Context, citizenID, key string, sealed []byte) error {
	if sealed == nil {
		sealed = []byte{}
	}
	if _, err := s.exec(ctx, `UPDATE mobile_idempotency SET response = $3 WHERE citizen = $1 AND idem_key = $2 AND response IS NULL`,
		citizenID, key, sealed); err != nil {
		return fmt.Errorf("mobile/sqlstore: complete: %w", err)
	}
	return nil
}

// Release implements mobileapi.IdempotencyStore.
func (s *Store) Release(ctx context.Context, citizenID, key string) error {
	if _, err := s.exec(ctx, `DELETE FROM mobile_idempotency WHERE citizen = $1 AND idem_key = $2 AND response IS NULL`,
		citizenID, key); err != nil {
		return fmt.Errorf("mobile/sqlstore: release: %w", err)
	}
	return nil
}

// Purge deletes the records created before before (Reserve already
// ignores them; this gives their space back) and says how many. The
// wiring runs it now and then, on one replica.
func (s *Store) Purge(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.exec(ctx, `DELETE FROM mobile_idempotency WHERE created < $1`, db.Micros(before))
	if err != nil {
		return 0, fmt.Errorf("mobile/sqlstore: purge: %w", err)
	}
	return res.RowsAffected()
}

// DeleteCitizen deletes the citizen's rows — devices and kept answers —
// at their erasure (sealed under the key erasure destroys, they could no
// longer be read anyway) and says how many.
func (s *Store) DeleteCitizen(ctx context.Context, citizenID string) (int64, error) {
	var n int64
	for _, q := range []string{`DELETE FROM mobile_devices WHERE citizen = $1`, `DELETE FROM mobile_idempotency WHERE citizen = $1`} {
		res, err := s.exec(ctx, q, citizenID)
		if err != nil {
			return n, fmt.Errorf("mobile/sqlstore: delete citizen: %w", err)
		}
		c, _ := res.RowsAffected()
		n += c
	}
	return n, nil
}

// AddDevice implements mobileapi.DeviceStore: the count and the insert in
// one transaction, so that a citizen's devices stay within max (on
// PostgreSQL, two concurrent registrations may each see max-1).
func (s *Store) AddDevice(ctx context.Context, d mobileapi.PushDevice, max int) error {
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM mobile_devices WHERE citizen = $1`, d.CitizenID).Scan(&n); err != nil {
			return err
		}
		if n >= max {
			return mobileapi.ErrTooManyDevices
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO mobile_devices (citizen, id, platform, sealed, created) VALUES ($1, $2, $3, $4, $5)`,
			d.CitizenID, d.ID, d.Platform, d.Sealed, db.Micros(d.Created))
		return err
	})
	if err != nil {
		return fmt.Errorf("mobile/sqlstore: add device: %w", err)
	}
	return nil
}

// Devices implements mobileapi.DeviceStore.
func (s *Store) Devices(ctx context.Context, citizenID string) ([]mobileapi.PushDevice, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, platform, sealed, created FROM mobile_devices WHERE citizen = $1`, citizenID)
	if err != nil {
		return nil, fmt.Errorf("mobile/sqlstore: devices: %w", err)
	}
	defer rows.Close()
	var out []mobileapi.PushDevice
	for rows.Next() {
		d := mobileapi.PushDevice{CitizenID: citizenID}
		var created int64
		if err := rows.Scan(&d.ID, &d.Platform, &d.Sealed, &created); err != nil {
			return nil, fmt.Errorf("mobile/sqlstore: devices: %w", err)
		}
		d.Created = db.FromMicros(created)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mobile/sqlstore: devices: %w", err)
	}
	return out, nil
}

// DeleteDevice implements mobileapi.DeviceStore.
func (s *Store) DeleteDevice(ctx context.Context, citizenID, id string) error {
	res, err := s.exec(ctx, `DELETE FROM mobile_devices WHERE citizen = $1 AND id = $2`, citizenID, id)
	if err != nil {
		return fmt.Errorf("mobile/sqlstore: delete device: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("mobile/sqlstore: delete device: %w", err)
	} else if n == 0 {
		return fmt.Errorf("mobile/sqlstore: delete device: %w", mobileapi.ErrNotFound)
	}
	return nil
}

// exec runs a write in autocommit, under the handle's write lock
// (db.WriteLock).
func (s *Store) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	unlock, err := s.db.WriteLock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return s.db.ExecContext(ctx, q, args...)
}
