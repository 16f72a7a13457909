// Package sqlstore keeps the verifier's presentation requests in SQLite
// or PostgreSQL (room "verifier"): each request's query, nonce, state
// and status in the clear — none of them personal data — and its result,
// the claims a citizen presented, sealed by the verifier (nil once
// dropped).
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/verifier"
)

const schemaV1 = `
CREATE TABLE verifier_requests (
	id TEXT PRIMARY KEY,
	client_id TEXT NOT NULL,
	purpose TEXT NOT NULL,
	categories TEXT NOT NULL,
	dcql TEXT NOT NULL,
	nonce TEXT NOT NULL,
	state TEXT NOT NULL,
	response_mode TEXT NOT NULL,
	status TEXT NOT NULL,
	failure TEXT,
	created BIGINT NOT NULL,
	expires BIGINT NOT NULL,
	answered BIGINT,
	result {BLOB}
);
CREATE INDEX verifier_requests_client ON verifier_requests (client_id, created);
CREATE INDEX verifier_requests_open ON verifier_requests (status, expires);
CREATE INDEX verifier_requests_answered ON verifier_requests (answered);
`

// schemaV2 adds agencies' webhooks and the outbox of their notices
// (sealed; dropped once delivered or given up).
const schemaV2 = `
CREATE TABLE verifier_webhooks (
	client_id TEXT PRIMARY KEY,
	url TEXT NOT NULL,
	updated BIGINT NOT NULL
);
CREATE TABLE verifier_deliveries (
	id TEXT PRIMARY KEY,
	request_id TEXT NOT NULL,
	client_id TEXT NOT NULL,
	url TEXT NOT NULL,
	sealed {BLOB},
	attempts INTEGER NOT NULL,
	next_at BIGINT NOT NULL,
	created BIGINT NOT NULL,
	delivered BIGINT,
	given_up BIGINT
);
CREATE INDEX verifier_deliveries_due ON verifier_deliveries (next_at) WHERE delivered IS NULL AND given_up IS NULL;
CREATE INDEX verifier_deliveries_request ON verifier_deliveries (request_id);
`

// Migrations creates the verifier's tables.
var Migrations = []db.Migration{{
	Room:     "verifier",
	Version:  1,
	SQLite:   db.Schema(schemaV1, db.SQLite),
	Postgres: db.Schema(schemaV1, db.Postgres),
}, {
	Room:     "verifier",
	Version:  2,
	SQLite:   db.Schema(schemaV2, db.SQLite),
	Postgres: db.Schema(schemaV2, db.Postgres),
}}

// TxAppender appends audit entries inside a transaction.
type TxAppender interface {
	AppendTx(ctx context.Context, tx *sql.Tx, entries ...audit.Entry) error
}

// Store implements verifier.Store.
type Store struct {
	db       *db.DB
	log      TxAppender
	finishes *db.Group[*finish]
	cancel   context.CancelFunc
}

// New returns a store on d whose changes append their entries to log.
// Answers are group-committed: those that come together share one
// transaction (one fsync). Close stops the group's writer.
func New(d *db.DB, log TxAppender) *Store {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Store{db: d, log: log, cancel: cancel}
	s.finishes = db.NewGroup(ctx, 128, s.flushFinishes)
	return s
}

// Close stops the store's group-commit writer; the database stays open.
func (s *Store) Close() { s.cancel() }

var _ verifier.Store = (*Store)(nil)

func (s *Store) CreateRequest(ctx context.Context, r verifier.Request, entries ...audit.Entry) error {
	cats, err := json.Marshal(r.Categories)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO verifier_requests (id, client_id, purpose, categories, dcql, nonce, state,
			response_mode, status, created, expires) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			r.ID, r.ClientID, r.Purpose, string(cats), string(r.DCQL), r.Nonce, r.State, r.ResponseMode, string(r.Status),
			db.Micros(r.Created), db.Micros(r.Expires)); err != nil {
			return err
		}
		return s.log.AppendTx(ctx, tx, entries...)
	})
}

func (s *Store) Request(ctx context.Context, id string) (verifier.Request, error) {
	var r verifier.Request
	var cats, dcql, status string
	var failure sql.NullString
	var created, expires int64
	var answered sql.NullInt64
	err := s.db.QueryRowCached(ctx, nil, `SELECT id, client_id, purpose, categories, dcql, nonce, state, response_mode, status,
		failure, created, expires, answered, result FROM verifier_requests WHERE id = $1`, id).Scan(&r.ID, &r.ClientID, &r.Purpose,
		&cats, &dcql, &r.Nonce, &r.State, &r.ResponseMode, &status, &failure, &created, &expires, &answered, &r.Result)
	if errors.Is(err, sql.ErrNoRows) {
		return r, verifier.ErrNotFound
	} else if err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(cats), &r.Categories); err != nil {
		return r, fmt.Errorf("verifier: request %s: categories: %w", id, err)
	}
	r.DCQL, r.Status = json.RawMessage(dcql), verifier.Status(status)
	if failure.Valid {
		r.Failure = &verifier.Failure{}
		if err := json.Unmarshal([]byte(failure.String), r.Failure); err != nil {
			return r, fmt.Errorf("verifier: request %s: failure: %w", id, err)
		}
	}
	r.Created, r.Expires = db.FromMicros(created), db.FromMicros(expires)
	if answered.Valid {
		r.Answered = db.FromMicros(answered.Int64)
	}
	return r, nil
}

func (s *Store) MarkFetched(ctx context.Context, id string) error {
	_, err := s.db.ExecCached(ctx, nil, `UPDATE verifier_requests SET status = $2 WHERE id = $1 AND status = $3`,
		id, string(verifier.StatusFetched), string(verifier.StatusPending))
	return err
}

// finish is one answer waiting for its group's transaction.
type finish struct {
	id      string
	status  string
	failure any
	result  []byte
	at      int64
	notice  *verifier.Delivery
	entries []audit.Entry
}

func (s *Store) Finish(ctx context.Context, id string, st verifier.Status, f *verifier.Failure, result []byte, at time.Time, notice *verifier.Delivery, entries ...audit.Entry) error {
	var failure any
	if f != nil {
		b, err := json.Marshal(f)
		if err != nil {
			return err
		}
		failure = string(b)
	}
	return s.finishes.Do(ctx, &finish{id: id, status: string(st), failure: failure, result: result, at: db.Micros(at), notice: notice, entries: entries})
}

// flushFinishes writes a group of answers in one transaction: each
// compare-and-set on its request's status (of two answers to one request,
// even in one group, one ends it: the other gets ErrClosed and writes
// nothing), its notice, and the entries of those that ended their
// requests.
func (s *Store) flushFinishes(fs []*finish) []error {
	ctx := context.Background()
	errs := make([]error, len(fs))
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		var entries []audit.Entry
		for i, f := range fs {
			res, err := s.db.ExecCached(ctx, tx, `UPDATE verifier_requests SET status = $2, failure = $3, result = $4, answered = $5
				WHERE id = $1 AND status IN ($6, $7) AND expires > $5`, f.id, f.status, f.failure, f.result, f.at,
				string(verifier.StatusPending), string(verifier.StatusFetched))
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				errs[i] = verifier.ErrClosed
				continue
			}
			if err := s.queue(ctx, tx, f.notice); err != nil {
				return err
			}
			entries = append(entries, f.entries...)
		}
		return s.log.AppendTx(ctx, tx, entries...)
	})
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
	}
	return errs
}

// queue adds a notice to the outbox, due at once.
func (s *Store) queue(ctx context.Context, tx *sql.Tx, d *verifier.Delivery) error {
	if d == nil {
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO verifier_deliveries (id, request_id, client_id, url, sealed, attempts, next_at, created)
		VALUES ($1, $2, $3, $4, $5, 0, $6, $6)`, d.ID, d.RequestID, d.ClientID, d.URL, d.Sealed, db.Micros(d.Created))
	return err
}

func (s *Store) Cancel(ctx context.Context, clientID, id string, at time.Time, entries ...audit.Entry) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE verifier_requests SET status = $3, answered = $4
			WHERE id = $1 AND client_id = $2 AND status IN ($5, $6)`, id, clientID, string(verifier.StatusCancelled), db.Micros(at),
			string(verifier.StatusPending), string(verifier.StatusFetched))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM verifier_requests WHERE id = $1 AND client_id = $2`, id, clientID).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return verifier.ErrNotFound
			} else if err != nil {
				return err
			}
			return verifier.ErrClosed
		}
		return s.log.AppendTx(ctx, tx, entries...)
	})
}

func (s *Store) Expiring(ctx context.Context, t time.Time, n int) ([]verifier.Request, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM verifier_requests WHERE status IN ($1, $2) AND expires <= $3 ORDER BY expires LIMIT $4`,
		string(verifier.StatusPending), string(verifier.StatusFetched), db.Micros(t), n)
	if err != nil {
		return nil, err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]verifier.Request, 0, len(ids))
	for _, id := range ids {
		r, err := s.Request(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func (s *Store) Expire(ctx context.Context, id string, notice *verifier.Delivery) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE verifier_requests SET status = $2 WHERE id = $1 AND status IN ($3, $4)`,
			id, string(verifier.StatusExpired), string(verifier.StatusPending), string(verifier.StatusFetched))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return verifier.ErrClosed
		}
		return s.queue(ctx, tx, notice)
	})
}

func (s *Store) DropResults(ctx context.Context, t time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE verifier_requests SET result = NULL WHERE answered < $1 AND result IS NOT NULL`, db.Micros(t))
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

func (s *Store) SetWebhook(ctx context.Context, clientID, url string) error {
	if url == "" {
		_, err := s.db.ExecContext(ctx, `DELETE FROM verifier_webhooks WHERE client_id = $1`, clientID)
		return err
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO verifier_webhooks (client_id, url, updated) VALUES ($1, $2, $3)
		ON CONFLICT (client_id) DO UPDATE SET url = excluded.url, updated = excluded.updated`, clientID, url, db.Micros(time.Now()))
	return err
}

func (s *Store) Webhook(ctx context.Context, clientID string) (string, error) {
	var u string
	err := s.db.QueryRowCached(ctx, nil, `SELECT url FROM verifier_webhooks WHERE client_id = $1`, clientID).Scan(&u)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return u, err
}

// ClaimDeliveries leases due notices: the outer condition on next_at is
// checked again on the row a concurrent claim updated (PostgreSQL's
// re-check of UPDATE), so two replicas never take the same notice.
func (s *Store) ClaimDeliveries(ctx context.Context, now, until time.Time, n int) ([]verifier.Delivery, error) {
	rows, err := s.db.QueryContext(ctx, `UPDATE verifier_deliveries SET next_at = $2, attempts = attempts + 1
		WHERE next_at <= $1 AND delivered IS NULL AND given_up IS NULL AND id IN (SELECT id FROM verifier_deliveries
			WHERE next_at <= $1 AND delivered IS NULL AND given_up IS NULL ORDER BY next_at LIMIT $3)
		RETURNING id, request_id, client_id, url, sealed, attempts, created`, db.Micros(now), db.Micros(until), n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []verifier.Delivery
	for rows.Next() {
		var d verifier.Delivery
		var created int64
		if err := rows.Scan(&d.ID, &d.RequestID, &d.ClientID, &d.URL, &d.Sealed, &d.Attempts, &created); err != nil {
			return nil, err
		}
		d.Created = db.FromMicros(created)
		out = append(out, d)
	}
	return out, rows.Err()
}

func (s *Store) Delivered(ctx context.Context, id string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE verifier_deliveries SET delivered = $2, sealed = NULL WHERE id = $1`, id, db.Micros(at))
	return err
}

func (s *Store) Retry(ctx context.Context, id string, next time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE verifier_deliveries SET next_at = $2 WHERE id = $1`, id, db.Micros(next))
	return err
}

func (s *Store) GiveUp(ctx context.Context, id string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE verifier_deliveries SET given_up = $2, sealed = NULL WHERE id = $1`, id, db.Micros(at))
	return err
}
