package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/journeys/delivery"
)

const schemaV1 = `
CREATE TABLE journeys_deliveries (
	id TEXT PRIMARY KEY,
	dedupe TEXT NOT NULL UNIQUE,
	citizen_id TEXT NOT NULL,
	channel TEXT NOT NULL,
	urgent INTEGER NOT NULL,
	agency TEXT NOT NULL,
	purpose TEXT NOT NULL,
	legal_basis TEXT NOT NULL,
	payload {BLOB},
	status TEXT NOT NULL,
	attempts INTEGER NOT NULL,
	next_at BIGINT NOT NULL,
	lease TEXT NOT NULL,
	reason TEXT NOT NULL,
	created BIGINT NOT NULL,
	done BIGINT
);
CREATE INDEX journeys_deliveries_due ON journeys_deliveries (next_at) WHERE status = 'pending';
CREATE INDEX journeys_deliveries_citizen ON journeys_deliveries (citizen_id);
CREATE TABLE journeys_delivery_prefs (
	citizen_id TEXT PRIMARY KEY,
	channels TEXT NOT NULL,
	lang TEXT NOT NULL,
	quiet_from INTEGER NOT NULL,
	quiet_to INTEGER NOT NULL,
	zone TEXT NOT NULL,
	contacts {BLOB} NOT NULL,
	updated BIGINT NOT NULL
);
`

// schemaV2 keeps the ledger's question of each delivery (asked again
// before each attempt) and finds an agency's dead letters.
const schemaV2 = `
ALTER TABLE journeys_deliveries ADD COLUMN purpose_id TEXT NOT NULL DEFAULT '';
ALTER TABLE journeys_deliveries ADD COLUMN categories TEXT NOT NULL DEFAULT '';
CREATE INDEX journeys_deliveries_dead ON journeys_deliveries (agency, done DESC, id DESC) WHERE status = 'dead';
`

// Migrations creates the outbox's tables.
var Migrations = []db.Migration{{
	Room:     "journeys-delivery",
	Version:  1,
	SQLite:   db.Schema(schemaV1, db.SQLite),
	Postgres: db.Schema(schemaV1, db.Postgres),
}, {
	Room:     "journeys-delivery",
	Version:  2,
	SQLite:   db.Schema(schemaV2, db.SQLite),
	Postgres: db.Schema(schemaV2, db.Postgres),
}}

// TxAppender appends audit entries inside a transaction.
type TxAppender interface {
	AppendTx(ctx context.Context, tx *sql.Tx, entries ...audit.Entry) error
}

// Store implements delivery.Store.
type Store struct {
	db  *db.DB
	log TxAppender
}

var _ delivery.Store = (*Store)(nil)

// New returns a store on d whose changes append their entries to log.
func New(d *db.DB, log TxAppender) *Store { return &Store{db: d, log: log} }

func (s *Store) Enqueue(ctx context.Context, ds []delivery.Delivery, entries ...audit.Entry) ([]string, error) {
	var ids []string
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		ids, err = s.EnqueueTx(ctx, tx, ds, entries...)
		return err
	})
	return ids, err
}

// EnqueueTx is Enqueue inside tx, a transaction on the store's database,
// for a caller that records its own change in it too.
func (s *Store) EnqueueTx(ctx context.Context, tx *sql.Tx, ds []delivery.Delivery, entries ...audit.Entry) ([]string, error) {
	ids := make([]string, len(ds))
	fresh := false
	for i, d := range ds {
		res, err := s.db.ExecCached(ctx, tx, `INSERT INTO journeys_deliveries (id, dedupe, citizen_id, channel, urgent, agency, purpose,
			legal_basis, payload, status, attempts, next_at, lease, reason, created, purpose_id, categories)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', 0, $10, '', '', $11, $12, $13)
			ON CONFLICT (dedupe) DO NOTHING`, d.ID, d.Dedupe, d.CitizenID, string(d.Channel), boolInt(d.Urgent), d.Agency, d.Purpose,
			d.LegalBasis, d.Payload, db.Micros(d.NextAt), db.Micros(d.Created), d.PurposeID, strings.Join(d.Categories, ","))
		if err != nil {
			return nil, err
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, err
		} else if n == 1 {
			ids[i], fresh = d.ID, true
			continue
		}
		if err := tx.QueryRowContext(ctx, `SELECT id FROM journeys_deliveries WHERE dedupe = $1`, d.Dedupe).Scan(&ids[i]); err != nil {
			return nil, err
		}
	}
	if !fresh {
		return ids, nil
	}
	return ids, s.log.AppendTx(ctx, tx, entries...)
}

const deliveryColumns = `id, dedupe, citizen_id, channel, urgent, agency, purpose, legal_basis, payload, status, attempts, next_at, reason, created, done, purpose_id, categories`

// Claim leases due deliveries. On PostgreSQL the rows are picked once,
// in a materialized CTE, with FOR UPDATE SKIP LOCKED, so that concurrent
// claims take different rows rather than wait for each other (a LIMIT in
// an IN subquery is not enough there: the planner may run the subquery
// again for every row, and rows this statement locked are skipped by the
// next run, so the claim would take them all). SQLite runs one writer at
// a time and evaluates the IN subquery once.
func (s *Store) Claim(ctx context.Context, now, until time.Time, lease string, n int) ([]delivery.Delivery, error) {
	query := `UPDATE journeys_deliveries SET next_at = $2, lease = $3, attempts = attempts + 1
		WHERE status = 'pending' AND next_at <= $1 AND id IN (SELECT id FROM journeys_deliveries
			WHERE status = 'pending' AND next_at <= $1 ORDER BY next_at LIMIT $4)
		RETURNING ` + deliveryColumns
	if s.db.Dialect == db.Postgres {
		query = `WITH picked AS MATERIALIZED (SELECT id FROM journeys_deliveries
			WHERE status = 'pending' AND next_at <= $1 ORDER BY next_at LIMIT $4 FOR UPDATE SKIP LOCKED)
		UPDATE journeys_deliveries d SET next_at = $2, lease = $3, attempts = d.attempts + 1
		FROM picked WHERE d.id = picked.id AND d.status = 'pending' AND d.next_at <= $1
		RETURNING d.` + strings.ReplaceAll(deliveryColumns, ", ", ", d.")
	}
	return s.deliveries(ctx, query, db.Micros(now), db.Micros(until), lease, n)
}

// deliveries runs query, which returns deliveryColumns.
func (s *Store) deliveries(ctx context.Context, query string, args ...any) ([]delivery.Delivery, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []delivery.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func scanDelivery(row interface{ Scan(...any) error }) (delivery.Delivery, error) {
	var d delivery.Delivery
	var channel, status string
	var urgent int
	var next, created int64
	var done sql.NullInt64
	var categories string
	if err := row.Scan(&d.ID, &d.Dedupe, &d.CitizenID, &channel, &urgent, &d.Agency, &d.Purpose, &d.LegalBasis, &d.Payload,
		&status, &d.Attempts, &next, &d.Reason, &created, &done, &d.PurposeID, &categories); err != nil {
		return d, err
	}
	if categories != "" {
		d.Categories = strings.Split(categories, ",")
	}
	d.Channel, d.Status, d.Urgent = delivery.Channel(channel), delivery.Status(status), urgent != 0
	d.NextAt, d.Created, d.Done = db.FromMicros(next), db.FromMicros(created), db.FromMicros(done.Int64)
	return d, nil
}

func (s *Store) Sent(ctx context.Context, id, lease string, at time.Time, entries ...audit.Entry) error {
	return s.settle(ctx, `status = 'sent', payload = NULL, done = $3, reason = ''`, id, lease, entries, db.Micros(at))
}

func (s *Store) Retry(ctx context.Context, id, lease string, next time.Time, reason string, entries ...audit.Entry) error {
	return s.settle(ctx, `next_at = $3, reason = $4`, id, lease, entries, db.Micros(next), reason)
}

func (s *Store) Dead(ctx context.Context, id, lease string, at time.Time, reason string, entries ...audit.Entry) error {
	return s.settle(ctx, `status = 'dead', done = $3, reason = $4`, id, lease, entries, db.Micros(at), reason)
}

func (s *Store) Cancel(ctx context.Context, id, lease string, at time.Time, entries ...audit.Entry) error {
	return s.settle(ctx, `status = 'cancelled', payload = NULL, done = $3, reason = 'consent ended'`, id, lease, entries, db.Micros(at))
}

func (s *Store) DeadLetters(ctx context.Context, agency string, before delivery.Cursor, n int) ([]delivery.Delivery, error) {
	query := `SELECT ` + deliveryColumns + ` FROM journeys_deliveries WHERE status = 'dead' AND agency = $1`
	args := []any{agency}
	if before.ID != "" {
		query += ` AND (done < $2 OR (done = $2 AND id < $3))`
		args = append(args, db.Micros(before.Done), before.ID)
	}
	query += fmt.Sprintf(` ORDER BY done DESC, id DESC LIMIT %d`, n)
	return s.deliveries(ctx, query, args...)
}

func (s *Store) Requeue(ctx context.Context, agency, id string, now time.Time, entries ...audit.Entry) error {
	return s.deadLetter(ctx, `status = 'pending', attempts = 0, next_at = $3, done = NULL, reason = ''`, agency, id, entries, db.Micros(now))
}

func (s *Store) Discard(ctx context.Context, agency, id string, at time.Time, entries ...audit.Entry) error {
	return s.deadLetter(ctx, `status = 'discarded', payload = NULL, done = $3`, agency, id, entries, db.Micros(at))
}

// deadLetter changes (set, whose parameters start at $3) agency's dead
// letter id that kept its payload, with entries.
func (s *Store) deadLetter(ctx context.Context, set, agency, id string, entries []audit.Entry, args ...any) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE journeys_deliveries SET `+set+`, lease = ''
			WHERE id = $1 AND agency = $2 AND status = 'dead' AND payload IS NOT NULL`, append([]any{id, agency}, args...)...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			var found int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM journeys_deliveries WHERE id = $1 AND agency = $2`, id, agency).Scan(&found)
			if errors.Is(err, sql.ErrNoRows) {
				return delivery.ErrNotFound
			} else if err != nil {
				return err
			}
			return delivery.ErrConflict
		}
		return s.log.AppendTx(ctx, tx, entries...)
	})
}

func (s *Store) Defer(ctx context.Context, id, lease string, next time.Time) error {
	return s.settle(ctx, `next_at = $3, attempts = attempts - 1`, id, lease, nil, db.Micros(next))
}

// settle records an outcome (set, whose parameters start at $3) of a
// delivery still pending under lease, releasing the lease, with entries.
func (s *Store) settle(ctx context.Context, set, id, lease string, entries []audit.Entry, args ...any) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := s.db.ExecCached(ctx, tx, `UPDATE journeys_deliveries SET `+set+`, lease = ''
			WHERE id = $1 AND lease = $2 AND status = 'pending'`, append([]any{id, lease}, args...)...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return delivery.ErrLeaseLost
		}
		return s.log.AppendTx(ctx, tx, entries...)
	})
}

func (s *Store) Delivery(ctx context.Context, id string) (delivery.Delivery, error) {
	d, err := scanDelivery(s.db.QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM journeys_deliveries WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return d, delivery.ErrNotFound
	}
	return d, err
}

func (s *Store) PutPrefs(ctx context.Context, p delivery.PrefsRecord, entries ...audit.Entry) error {
	chans := make([]string, len(p.Channels))
	for i, ch := range p.Channels {
		chans[i] = string(ch)
	}
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO journeys_delivery_prefs (citizen_id, channels, lang, quiet_from, quiet_to, zone, contacts, updated)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (citizen_id) DO UPDATE SET channels = excluded.channels, lang = excluded.lang,
			quiet_from = excluded.quiet_from, quiet_to = excluded.quiet_to, zone = excluded.zone, contacts = excluded.contacts,
			updated = excluded.updated`, p.CitizenID, strings.Join(chans, ","), p.Lang, int(p.Quiet.From), int(p.Quiet.To), p.Zone,
			p.Sealed, db.Micros(p.Updated)); err != nil {
			return err
		}
		return s.log.AppendTx(ctx, tx, entries...)
	})
}

func (s *Store) Prefs(ctx context.Context, citizenID string) (delivery.PrefsRecord, error) {
	p := delivery.PrefsRecord{CitizenID: citizenID}
	var chans string
	var from, to int
	var updated int64
	err := s.db.QueryRowCached(ctx, nil, `SELECT channels, lang, quiet_from, quiet_to, zone, contacts, updated
		FROM journeys_delivery_prefs WHERE citizen_id = $1`, citizenID).Scan(&chans, &p.Lang, &from, &to, &p.Zone, &p.Sealed, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return p, delivery.ErrNotFound
	} else if err != nil {
		return p, err
	}
	for _, ch := range strings.Split(chans, ",") {
		if ch != "" {
			p.Channels = append(p.Channels, delivery.Channel(ch))
		}
	}
	p.Quiet = delivery.Quiet{From: delivery.Clock(from), To: delivery.Clock(to)}
	p.Updated = db.FromMicros(updated)
	return p, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (s *Store) Purge(ctx context.Context, before time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM journeys_deliveries WHERE status <> 'pending' AND done < $1`, db.Micros(before))
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
