// Package sqlstore keeps the citizens' inboxes in SQLite or PostgreSQL
// (room "inbox"): each message's number, ID, owner and times in the clear,
// its texts sealed under the owner's data key.
//
// Numbers come from one counter row, incremented in the transaction that
// adds the message: the row stays locked until that transaction ends, so
// messages commit in the order of their numbers and a reader of the feed
// never sees a number before a lower one.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/wallet/inbox"
)

const schemaV1 = `
CREATE TABLE inbox_head (
	id INTEGER PRIMARY KEY,
	seq BIGINT NOT NULL
);
INSERT INTO inbox_head (id, seq) VALUES (1, 0);
CREATE TABLE inbox_messages (
	seq BIGINT PRIMARY KEY,
	id TEXT NOT NULL UNIQUE,
	citizen_id TEXT NOT NULL,
	at BIGINT NOT NULL,
	read_at BIGINT,
	acked_at BIGINT,
	dedupe TEXT,
	sealed {BLOB} NOT NULL
);
CREATE INDEX inbox_messages_citizen ON inbox_messages (citizen_id, seq);
CREATE UNIQUE INDEX inbox_messages_dedupe ON inbox_messages (citizen_id, dedupe);
`

// Migrations creates the inbox's tables.
var Migrations = []db.Migration{{
	Room:     "inbox",
	Version:  1,
	SQLite:   db.Schema(schemaV1, db.SQLite),
	Postgres: db.Schema(schemaV1, db.Postgres),
}}

// Store implements inbox.Store.
type Store struct{ db *db.DB }

// New returns a store on d.
func New(d *db.DB) *Store { return &Store{db: d} }

var _ inbox.Store = (*Store)(nil)

var errDuplicate = errors.New("inbox: duplicate")

func (s *Store) Add(ctx context.Context, r inbox.Row) (int64, bool, error) {
	var seq int64
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `UPDATE inbox_head SET seq = seq + 1 WHERE id = 1 RETURNING seq`).Scan(&seq); err != nil {
			return err
		}
		var dedupe any
		if r.Dedupe != "" {
			dedupe = r.Dedupe
			// After the counter's lock: a concurrent add of the same note
			// has committed or not started.
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM inbox_messages WHERE citizen_id = $1 AND dedupe = $2`, r.CitizenID, r.Dedupe).Scan(&one)
			if err == nil {
				return errDuplicate
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO inbox_messages (seq, id, citizen_id, at, dedupe, sealed) VALUES ($1, $2, $3, $4, $5, $6)`,
			seq, r.ID, r.CitizenID, r.At.UnixMicro(), dedupe, r.Sealed)
		return err
	})
	switch {
	case errors.Is(err, errDuplicate) || (err != nil && db.IsUniqueViolation(err) && r.Dedupe != ""):
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("inbox: add: %w", err)
	}
	return seq, true, nil
}

const columns = `seq, id, citizen_id, at, read_at, acked_at, dedupe, sealed`

func (s *Store) Messages(ctx context.Context, citizenID string, before int64, limit int, unread bool) ([]inbox.Row, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	q := `SELECT ` + columns + ` FROM inbox_messages WHERE citizen_id = $1 AND seq < $2`
	if unread {
		q += ` AND read_at IS NULL`
	}
	return s.query(ctx, q+` ORDER BY seq DESC LIMIT $3`, citizenID, before, limit)
}

func (s *Store) Message(ctx context.Context, citizenID, id string) (inbox.Row, error) {
	rs, err := s.query(ctx, `SELECT `+columns+` FROM inbox_messages WHERE citizen_id = $1 AND id = $2`, citizenID, id)
	if err != nil {
		return inbox.Row{}, err
	}
	if len(rs) == 0 {
		return inbox.Row{}, inbox.ErrNotFound
	}
	return rs[0], nil
}

func (s *Store) After(ctx context.Context, citizenID string, after int64, limit int) ([]inbox.Row, error) {
	return s.query(ctx, `SELECT `+columns+` FROM inbox_messages WHERE citizen_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
		citizenID, after, limit)
}

func (s *Store) Feed(ctx context.Context, after int64, limit int) ([]inbox.Row, error) {
	return s.query(ctx, `SELECT `+columns+` FROM inbox_messages WHERE seq > $1 ORDER BY seq LIMIT $2`, after, limit)
}

func (s *Store) Head(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT seq FROM inbox_head WHERE id = 1`).Scan(&n); err != nil {
		return 0, fmt.Errorf("inbox: head: %w", err)
	}
	return n, nil
}

func (s *Store) Mark(ctx context.Context, citizenID, id string, at time.Time, ack bool) (inbox.Row, error) {
	q := `UPDATE inbox_messages SET read_at = COALESCE(read_at, $1) WHERE citizen_id = $2 AND id = $3 RETURNING ` + columns
	if ack {
		q = `UPDATE inbox_messages SET read_at = COALESCE(read_at, $1), acked_at = COALESCE(acked_at, $1)
			WHERE citizen_id = $2 AND id = $3 RETURNING ` + columns
	}
	rs, err := s.query(ctx, q, at.UnixMicro(), citizenID, id)
	if err != nil {
		return inbox.Row{}, err
	}
	if len(rs) == 0 {
		return inbox.Row{}, inbox.ErrNotFound
	}
	return rs[0], nil
}

// DeleteCitizen deletes the citizen's inbox (their erasure).
func (s *Store) DeleteCitizen(ctx context.Context, citizenID string) (int, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM inbox_messages WHERE citizen_id = $1`, citizenID)
	if err != nil {
		return 0, fmt.Errorf("inbox: delete citizen: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

func (s *Store) query(ctx context.Context, q string, args ...any) ([]inbox.Row, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("inbox: %w", err)
	}
	defer rows.Close()
	var out []inbox.Row
	for rows.Next() {
		var r inbox.Row
		var at int64
		var read, acked sql.NullInt64
		var dedupe sql.NullString
		if err := rows.Scan(&r.Seq, &r.ID, &r.CitizenID, &at, &read, &acked, &dedupe, &r.Sealed); err != nil {
			return nil, fmt.Errorf("inbox: %w", err)
		}
		r.At, r.Dedupe = time.UnixMicro(at).UTC(), dedupe.String
		if read.Valid {
			r.ReadAt = time.UnixMicro(read.Int64).UTC()
		}
		if acked.Valid {
			r.AckedAt = time.UnixMicro(acked.Int64).UTC()
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("inbox: %w", err)
	}
	return out, nil
}
