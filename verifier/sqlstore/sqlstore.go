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

// Migrations creates the verifier's tables.
var Migrations = []db.Migration{{
	Room:     "verifier",
	Version:  1,
	SQLite:   db.Schema(schemaV1, db.SQLite),
	Postgres: db.Schema(schemaV1, db.Postgres),
}}

// TxAppender appends audit entries inside a transaction.
type TxAppender interface {
	AppendTx(ctx context.Context, tx *sql.Tx, entries ...audit.Entry) error
}

// Store implements verifier.Store.
type Store struct {
	db  *db.DB
	log TxAppender
}

// New returns a store on d whose changes append their entries to log.
func New(d *db.DB, log TxAppender) *Store { return &Store{db: d, log: log} }

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

func (s *Store) Finish(ctx context.Context, id string, st verifier.Status, f *verifier.Failure, result []byte, at time.Time, entries ...audit.Entry) error {
	var failure any
	if f != nil {
		b, err := json.Marshal(f)
		if err != nil {
			return err
		}
		failure = string(b)
	}
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		// Compare-and-set: of two answers, one ends the request.
		res, err := tx.ExecContext(ctx, `UPDATE verifier_requests SET status = $2, failure = $3, result = $4, answered = $5
			WHERE id = $1 AND status IN ($6, $7) AND expires > $5`, id, string(st), failure, result, db.Micros(at),
			string(verifier.StatusPending), string(verifier.StatusFetched))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return verifier.ErrClosed
		}
		return s.log.AppendTx(ctx, tx, entries...)
	})
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

func (s *Store) Expire(ctx context.Context, t, dropBefore time.Time) (int, int, error) {
	var expired, dropped int64
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE verifier_requests SET status = $1 WHERE status IN ($2, $3) AND expires <= $4`,
			string(verifier.StatusExpired), string(verifier.StatusPending), string(verifier.StatusFetched), db.Micros(t))
		if err != nil {
			return err
		}
		if expired, err = res.RowsAffected(); err != nil {
			return err
		}
		res, err = tx.ExecContext(ctx, `UPDATE verifier_requests SET result = NULL WHERE answered < $1 AND result IS NOT NULL`, db.Micros(dropBefore))
		if err != nil {
			return err
		}
		dropped, err = res.RowsAffected()
		return err
	})
	return int(expired), int(dropped), err
}
