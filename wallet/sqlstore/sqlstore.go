// Package sqlstore keeps the wallet's records in SQLite or PostgreSQL
// (room "wallet"): each held credential's owner, ID and arrival in the
// clear, everything else sealed under the owner's data key. Changes append
// their audit entries in their own transaction.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/wallet"
)

const schemaV1 = `
CREATE TABLE wallet_credentials (
	id TEXT PRIMARY KEY,
	citizen_id TEXT NOT NULL,
	received BIGINT NOT NULL,
	sealed {BLOB} NOT NULL
);
CREATE INDEX wallet_credentials_citizen ON wallet_credentials (citizen_id, received);
`

// schemaV2 keeps device-bound acceptances waiting for the phone's
// signatures (wallet.PendingStore).
const schemaV2 = `
CREATE TABLE wallet_pending (
	id TEXT PRIMARY KEY,
	citizen_id TEXT NOT NULL,
	expires BIGINT NOT NULL,
	sealed {BLOB} NOT NULL
);
CREATE INDEX wallet_pending_expires ON wallet_pending (expires);
`

// schemaV3 keeps each citizen's presentation history
// (wallet.PresentationStore): owner, ID and time in the clear, the rest
// sealed.
const schemaV3 = `
CREATE TABLE wallet_presentations (
	id TEXT PRIMARY KEY,
	citizen_id TEXT NOT NULL,
	at BIGINT NOT NULL,
	sealed {BLOB} NOT NULL
);
CREATE INDEX wallet_presentations_citizen ON wallet_presentations (citizen_id, at);
`

// Migrations creates the wallet's tables. Changes append audit entries in
// their transactions, so the database needs audit/sqlstore.Migrations too.
var Migrations = []db.Migration{{
	Room:     "wallet",
	Version:  1,
	SQLite:   db.Schema(schemaV1, db.SQLite),
	Postgres: db.Schema(schemaV1, db.Postgres),
}, {
	Room:     "wallet",
	Version:  2,
	SQLite:   db.Schema(schemaV2, db.SQLite),
	Postgres: db.Schema(schemaV2, db.Postgres),
}, {
	Room:     "wallet",
	Version:  3,
	SQLite:   db.Schema(schemaV3, db.SQLite),
	Postgres: db.Schema(schemaV3, db.Postgres),
}, {
	Room:     "wallet",
	Version:  4,
	SQLite:   db.Schema(schemaV4, db.SQLite),
	Postgres: db.Schema(schemaV4, db.Postgres),
}, {
	Room:     "wallet",
	Version:  5,
	SQLite:   db.Schema(schemaV5, db.SQLite),
	Postgres: db.Schema(schemaV5, db.Postgres),
}, {
	Room:     "wallet",
	Version:  6,
	SQLite:   db.Schema(schemaV6, db.SQLite),
	Postgres: db.Schema(schemaV6, db.Postgres),
}, {
	Room:     "wallet",
	Version:  7,
	SQLite:   db.Schema(schemaV7, db.SQLite),
	Postgres: db.Schema(schemaV7, db.Postgres),
}}

// schemaV7 gives each summary its credential's arrival and an index by
// owner and arrival, so that a list reads the summaries alone, in order,
// without reaching the credentials' rows (ListCredentials).
const schemaV7 = `
ALTER TABLE wallet_summaries ADD COLUMN received BIGINT NOT NULL DEFAULT 0;
UPDATE wallet_summaries SET received = (SELECT c.received FROM wallet_credentials c WHERE c.id = wallet_summaries.id);
CREATE INDEX wallet_summaries_citizen ON wallet_summaries (citizen_id, received);
`

// schemaV5 keeps the issuances issuers deferred (wallet.DeferredStore):
// owner, ID, when next due and expiry in the clear, the transaction and
// its keys sealed.
const schemaV5 = `
CREATE TABLE wallet_deferred (
	id TEXT PRIMARY KEY,
	citizen_id TEXT NOT NULL,
	due BIGINT NOT NULL,
	expires BIGINT NOT NULL,
	sealed {BLOB} NOT NULL
);
CREATE INDEX wallet_deferred_citizen ON wallet_deferred (citizen_id);
CREATE INDEX wallet_deferred_due ON wallet_deferred (due);
`

// schemaV4 keeps each credential's summary, sealed apart (wallet.Record),
// in a table of its own: a list then reads what it shows alone — in
// SQLite a column after a large value is reached only through that
// value's overflow pages. Older credentials have none; the wallet makes
// it from the whole record.
const schemaV4 = `
CREATE TABLE wallet_summaries (
	id TEXT PRIMARY KEY,
	citizen_id TEXT NOT NULL,
	summary {BLOB} NOT NULL
);
`

// schemaV6 keeps what the wallet watches of each credential
// (wallet.WatchStore): where its status is listed, when it expires and
// when the citizen is to be warned of it, the status last seen and
// whether they were warned — in
// the clear, so that a sweep needs no citizen's key; no claim is here.
const schemaV6 = `
CREATE TABLE wallet_watch (
	id TEXT PRIMARY KEY,
	citizen_id TEXT NOT NULL,
	iss TEXT NOT NULL,
	list_uri TEXT NOT NULL,
	idx BIGINT NOT NULL,
	expires BIGINT NOT NULL,
	warn_at BIGINT NOT NULL,
	status TEXT NOT NULL,
	warned INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX wallet_watch_citizen ON wallet_watch (citizen_id);
CREATE INDEX wallet_watch_list ON wallet_watch (list_uri);
CREATE INDEX wallet_watch_warn ON wallet_watch (warned, warn_at);
`

// TxAppender appends audit entries inside a transaction (audit.Appender's
// AppendTx).
type TxAppender interface {
	AppendTx(ctx context.Context, tx *sql.Tx, entries ...audit.Entry) error
}

// Store implements wallet.Store.
type Store struct {
	db  *db.DB
	log TxAppender
}

// New returns a store on d whose changes append their entries to log.
func New(d *db.DB, log TxAppender) *Store { return &Store{db: d, log: log} }

var (
	_ wallet.Store             = (*Store)(nil)
	_ wallet.PendingStore      = (*Store)(nil)
	_ wallet.PresentationStore = (*Store)(nil)
	_ wallet.WatchStore        = (*Store)(nil)
	_ wallet.DeferredStore     = (*Store)(nil)
)

const deferredColumns = `id, citizen_id, due, expires, sealed`

func scanDeferred(row scanner) (wallet.DeferredRecord, error) {
	var r wallet.DeferredRecord
	var due, expires int64
	if err := row.Scan(&r.ID, &r.CitizenID, &due, &expires, &r.Sealed); err != nil {
		return r, err
	}
	r.Due, r.Expires = time.UnixMicro(due).UTC(), time.UnixMicro(expires).UTC()
	return r, nil
}

func (s *Store) PutDeferred(ctx context.Context, r wallet.DeferredRecord) error {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO wallet_deferred (`+deferredColumns+`) VALUES ($1, $2, $3, $4, $5)`,
		r.ID, r.CitizenID, r.Due.UnixMicro(), r.Expires.UnixMicro(), r.Sealed); err != nil {
		return fmt.Errorf("wallet: put deferred: %w", err)
	}
	return nil
}

func (s *Store) ListDeferred(ctx context.Context, citizenID string, now time.Time) ([]wallet.DeferredRecord, error) {
	return s.deferred(ctx, `SELECT `+deferredColumns+` FROM wallet_deferred WHERE citizen_id = $1 AND expires > $2 ORDER BY id`,
		citizenID, now.UnixMicro())
}

// ClaimDeferred moves a due record's time in one statement, so that of
// two concurrent claims (in any replica) one gets it.
func (s *Store) ClaimDeferred(ctx context.Context, citizenID, id string, now, until time.Time) (wallet.DeferredRecord, bool, error) {
	r, err := scanDeferred(s.db.QueryRowContext(ctx, `UPDATE wallet_deferred SET due = $1
		WHERE id = $2 AND citizen_id = $3 AND due <= $4 AND expires > $4 RETURNING `+deferredColumns,
		until.UnixMicro(), id, citizenID, now.UnixMicro()))
	if err == nil {
		return r, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return r, false, fmt.Errorf("wallet: claim deferred: %w", err)
	}
	r, err = scanDeferred(s.db.QueryRowContext(ctx, `SELECT `+deferredColumns+` FROM wallet_deferred
		WHERE id = $1 AND citizen_id = $2 AND expires > $3`, id, citizenID, now.UnixMicro()))
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, wallet.ErrNotFound
	}
	if err != nil {
		return r, false, fmt.Errorf("wallet: claim deferred: %w", err)
	}
	return r, false, nil
}

func (s *Store) UpdateDeferred(ctx context.Context, r wallet.DeferredRecord) error {
	res, err := s.db.ExecContext(ctx, `UPDATE wallet_deferred SET due = $1, sealed = $2 WHERE id = $3 AND citizen_id = $4`,
		r.Due.UnixMicro(), r.Sealed, r.ID, r.CitizenID)
	if err != nil {
		return fmt.Errorf("wallet: update deferred: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return wallet.ErrNotFound
	}
	return nil
}

func (s *Store) DeleteDeferred(ctx context.Context, citizenID, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM wallet_deferred WHERE id = $1 AND citizen_id = $2`, id, citizenID)
	if err != nil {
		return fmt.Errorf("wallet: delete deferred: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return wallet.ErrNotFound
	}
	return nil
}

func (s *Store) DueDeferred(ctx context.Context, now time.Time, limit int) ([]wallet.DeferredRecord, error) {
	return s.deferred(ctx, `SELECT `+deferredColumns+` FROM wallet_deferred WHERE due <= $1 AND expires > $1 ORDER BY due, id LIMIT $2`,
		now.UnixMicro(), limit)
}

func (s *Store) deferred(ctx context.Context, q string, args ...any) ([]wallet.DeferredRecord, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("wallet: list deferred: %w", err)
	}
	defer rows.Close()
	var out []wallet.DeferredRecord
	for rows.Next() {
		r, err := scanDeferred(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// PutPresentation stores a history row, the credentials' new use counts
// and the audit entries in one transaction.
func (s *Store) PutPresentation(ctx context.Context, r wallet.PresentationRecord, used []wallet.Record, entries ...audit.Entry) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO wallet_presentations (id, citizen_id, at, sealed) VALUES ($1, $2, $3, $4)`,
			r.ID, r.CitizenID, r.At.UnixMicro(), r.Sealed); err != nil {
			return fmt.Errorf("wallet: put presentation: %w", err)
		}
		for _, u := range used {
			if _, err := tx.ExecContext(ctx, `UPDATE wallet_credentials SET sealed = $1 WHERE id = $2 AND citizen_id = $3`,
				u.Sealed, u.ID, r.CitizenID); err != nil {
				return fmt.Errorf("wallet: put presentation: %w", err)
			}
		}
		return s.log.AppendTx(ctx, tx, entries...)
	})
}

func (s *Store) ListPresentations(ctx context.Context, citizenID string) ([]wallet.PresentationRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, citizen_id, at, sealed FROM wallet_presentations
		WHERE citizen_id = $1 ORDER BY at DESC, id`, citizenID)
	if err != nil {
		return nil, fmt.Errorf("wallet: list presentations: %w", err)
	}
	defer rows.Close()
	var out []wallet.PresentationRecord
	for rows.Next() {
		var r wallet.PresentationRecord
		var at int64
		if err := rows.Scan(&r.ID, &r.CitizenID, &at, &r.Sealed); err != nil {
			return nil, err
		}
		r.At = time.UnixMicro(at).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s *Store) PutPending(ctx context.Context, r wallet.PendingRecord) error {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO wallet_pending (id, citizen_id, expires, sealed) VALUES ($1, $2, $3, $4)`,
		r.ID, r.CitizenID, r.Expires.UnixMicro(), r.Sealed); err != nil {
		return fmt.Errorf("wallet: put pending: %w", err)
	}
	return nil
}

// TakePending deletes and returns the record in one statement, so that of
// two concurrent takes (in any replica) one gets it. Expired records are
// not found, and go with the next DeleteExpiredPending.
func (s *Store) TakePending(ctx context.Context, citizenID, id string, now time.Time) (wallet.PendingRecord, error) {
	var r wallet.PendingRecord
	var expires int64
	err := s.db.QueryRowContext(ctx, `DELETE FROM wallet_pending WHERE id = $1 AND citizen_id = $2
		RETURNING id, citizen_id, expires, sealed`, id, citizenID).Scan(&r.ID, &r.CitizenID, &expires, &r.Sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return r, wallet.ErrNotFound
	}
	if err != nil {
		return r, fmt.Errorf("wallet: take pending: %w", err)
	}
	r.Expires = time.UnixMicro(expires).UTC()
	if !now.Before(r.Expires) {
		return wallet.PendingRecord{}, wallet.ErrNotFound
	}
	return r, nil
}

// DeleteExpiredPending deletes the pending acceptances and authorizations,
// and the deferred issuances, expired at now.
func (s *Store) DeleteExpiredPending(ctx context.Context, now time.Time) (int, error) {
	n := 0
	for _, q := range []string{`DELETE FROM wallet_pending WHERE expires <= $1`, `DELETE FROM wallet_deferred WHERE expires <= $1`} {
		res, err := s.db.ExecContext(ctx, q, now.UnixMicro())
		if err != nil {
			return n, fmt.Errorf("wallet: delete expired pending: %w", err)
		}
		c, _ := res.RowsAffected()
		n += int(c)
	}
	return n, nil
}

func (s *Store) PutCredential(ctx context.Context, r wallet.Record, entries ...audit.Entry) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO wallet_credentials (id, citizen_id, received, sealed) VALUES ($1, $2, $3, $4)`,
			r.ID, r.CitizenID, r.Received.UnixMicro(), r.Sealed); err != nil {
			return fmt.Errorf("wallet: put credential: %w", err)
		}
		if len(r.Summary) > 0 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO wallet_summaries (id, citizen_id, received, summary) VALUES ($1, $2, $3, $4)`,
				r.ID, r.CitizenID, r.Received.UnixMicro(), r.Summary); err != nil {
				return fmt.Errorf("wallet: put credential: %w", err)
			}
		}
		if w := r.Watch; w != nil {
			if _, err := tx.ExecContext(ctx, `INSERT INTO wallet_watch (id, citizen_id, iss, list_uri, idx, expires, warn_at, status)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, r.ID, r.CitizenID, w.Iss, w.ListURI, w.Index, micros(w.Expires), micros(w.WarnAt),
				string(w.Status)); err != nil {
				return fmt.Errorf("wallet: put credential: %w", err)
			}
		}
		return s.log.AppendTx(ctx, tx, entries...)
	})
}

func (s *Store) ListCredentials(ctx context.Context, citizenID string) ([]wallet.Record, error) {
	// A list shows the summaries, and the whole records are large
	// (wallet.Store): the summaries are read alone, by the index of their
	// owner and arrival, and beside them — in the same statement, so the
	// same snapshot — how many credentials the citizen holds. Only when
	// some have no summary (stored before summaries existed) are the
	// credentials read, each whole where it has none.
	rows, err := s.db.QueryCached(ctx, nil, `SELECT s.id, s.citizen_id, s.received, NULL, s.summary,
		(SELECT count(*) FROM wallet_credentials c WHERE c.citizen_id = $1)
		FROM wallet_summaries s WHERE s.citizen_id = $1 ORDER BY s.received DESC, s.id`, citizenID)
	if err != nil {
		return nil, fmt.Errorf("wallet: list credentials: %w", err)
	}
	out, held, err := scanList(rows)
	if err != nil || (len(out) > 0 && held == len(out)) {
		return out, err
	}
	rows, err = s.db.QueryCached(ctx, nil, `SELECT c.id, c.citizen_id, c.received, CASE WHEN s.summary IS NULL THEN c.sealed END, s.summary, 0
		FROM wallet_credentials c LEFT JOIN wallet_summaries s ON s.id = c.id
		WHERE c.citizen_id = $1 ORDER BY c.received DESC, c.id`, citizenID)
	if err != nil {
		return nil, fmt.Errorf("wallet: list credentials: %w", err)
	}
	out, _, err = scanList(rows)
	return out, err
}

// scanList reads the records of a list, and the count of credentials the
// first row carries.
func scanList(rows *sql.Rows) ([]wallet.Record, int, error) {
	defer rows.Close()
	var out []wallet.Record
	var held int
	for rows.Next() {
		var r wallet.Record
		var received int64
		if err := rows.Scan(&r.ID, &r.CitizenID, &received, &r.Sealed, &r.Summary, &held); err != nil {
			return nil, 0, fmt.Errorf("wallet: list credentials: %w", err)
		}
		r.Received = time.UnixMicro(received).UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("wallet: list credentials: %w", err)
	}
	return out, held, nil
}

func (s *Store) GetCredential(ctx context.Context, citizenID, id string) (wallet.Record, error) {
	r, err := scan(s.db.QueryRowContext(ctx, `SELECT c.id, c.citizen_id, c.received, c.sealed, s.summary
		FROM wallet_credentials c LEFT JOIN wallet_summaries s ON s.id = c.id
		WHERE c.id = $1 AND c.citizen_id = $2`, id, citizenID))
	if errors.Is(err, sql.ErrNoRows) {
		return wallet.Record{}, wallet.ErrNotFound
	}
	return r, err
}

func (s *Store) DeleteCredential(ctx context.Context, citizenID, id string, entries ...audit.Entry) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{`DELETE FROM wallet_summaries WHERE id = $1 AND citizen_id = $2`,
			`DELETE FROM wallet_watch WHERE id = $1 AND citizen_id = $2`} {
			if _, err := tx.ExecContext(ctx, q, id, citizenID); err != nil {
				return fmt.Errorf("wallet: delete credential: %w", err)
			}
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM wallet_credentials WHERE id = $1 AND citizen_id = $2`, id, citizenID)
		if err != nil {
			return fmt.Errorf("wallet: delete credential: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return wallet.ErrNotFound
		}
		return s.log.AppendTx(ctx, tx, entries...)
	})
}

// DeleteCitizen deletes every record of the citizen (their erasure; the
// records could no longer be opened anyway once their key is destroyed).
func (s *Store) DeleteCitizen(ctx context.Context, citizenID string) (int, error) {
	n := 0
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{`DELETE FROM wallet_pending WHERE citizen_id = $1`, `DELETE FROM wallet_presentations WHERE citizen_id = $1`,
			`DELETE FROM wallet_watch WHERE citizen_id = $1`, `DELETE FROM wallet_deferred WHERE citizen_id = $1`} {
			if _, err := tx.ExecContext(ctx, q, citizenID); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM wallet_summaries WHERE citizen_id = $1`, citizenID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM wallet_credentials WHERE citizen_id = $1`, citizenID)
		if err != nil {
			return err
		}
		c, _ := res.RowsAffected()
		n = int(c)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("wallet: delete citizen: %w", err)
	}
	return n, nil
}

type scanner interface{ Scan(...any) error }

func scan(row scanner) (wallet.Record, error) {
	var r wallet.Record
	var received int64
	if err := row.Scan(&r.ID, &r.CitizenID, &received, &r.Sealed, &r.Summary); err != nil {
		return r, err
	}
	r.Received = time.UnixMicro(received).UTC()
	return r, nil
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

const watchColumns = `id, citizen_id, iss, list_uri, idx, expires, warn_at, status, warned`

func (s *Store) Watched(ctx context.Context, citizenID string) ([]wallet.Watch, error) {
	return s.watches(ctx, `SELECT `+watchColumns+` FROM wallet_watch WHERE citizen_id = $1 ORDER BY id`, citizenID)
}

func (s *Store) WatchedOn(ctx context.Context, listURI string) ([]wallet.Watch, error) {
	return s.watches(ctx, `SELECT `+watchColumns+` FROM wallet_watch WHERE list_uri = $1 ORDER BY id`, listURI)
}

func (s *Store) WatchedLists(ctx context.Context) ([]wallet.Watch, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT iss, list_uri FROM wallet_watch WHERE list_uri <> '' AND status <> $1 ORDER BY list_uri`,
		string(wallet.StatusRevoked))
	if err != nil {
		return nil, fmt.Errorf("wallet: watched lists: %w", err)
	}
	defer rows.Close()
	var out []wallet.Watch
	for rows.Next() {
		var w wallet.Watch
		if err := rows.Scan(&w.Iss, &w.ListURI); err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

func (s *Store) Expiring(ctx context.Context, now time.Time, limit int) ([]wallet.Watch, error) {
	return s.watches(ctx, `SELECT `+watchColumns+` FROM wallet_watch WHERE warned = 0 AND warn_at > 0 AND warn_at <= $1
		ORDER BY warn_at LIMIT $2`, now.UnixMicro(), limit)
}

// SetWatchStatus changes a credential's status from from to to, in one
// statement: of two replicas seeing the same change, one does it.
func (s *Store) SetWatchStatus(ctx context.Context, id string, from, to wallet.Status) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE wallet_watch SET status = $1 WHERE id = $2 AND status = $3`, string(to), id, string(from))
	if err != nil {
		return false, fmt.Errorf("wallet: set watch status: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// SetWarned marks the credential's expiry warned, once.
func (s *Store) SetWarned(ctx context.Context, id string) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE wallet_watch SET warned = 1 WHERE id = $1 AND warned = 0`, id)
	if err != nil {
		return false, fmt.Errorf("wallet: set warned: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func (s *Store) watches(ctx context.Context, q string, args ...any) ([]wallet.Watch, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("wallet: watches: %w", err)
	}
	defer rows.Close()
	var out []wallet.Watch
	for rows.Next() {
		var w wallet.Watch
		var expires, warnAt int64
		var status string
		var warned int
		if err := rows.Scan(&w.ID, &w.CitizenID, &w.Iss, &w.ListURI, &w.Index, &expires, &warnAt, &status, &warned); err != nil {
			return nil, fmt.Errorf("wallet: watches: %w", err)
		}
		if expires > 0 {
			w.Expires = time.UnixMicro(expires).UTC()
		}
		if warnAt > 0 {
			w.WarnAt = time.UnixMicro(warnAt).UTC()
		}
		w.Status, w.Warned = wallet.Status(status), warned != 0
		out = append(out, w)
	}
	return out, rows.Err()
}
