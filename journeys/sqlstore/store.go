// Package sqlstore keeps the journeys room's records in SQLite or
// PostgreSQL (room "journeys"): for now the seals of the messages sent to
// citizens — the code's MAC, the agency, the time and the signed seal, no
// personal data.
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
	"github.com/cedula/cedula/journeys"
)

const schemaV1 = `
CREATE TABLE journeys_seals (
	code_mac {BLOB} PRIMARY KEY,
	agency TEXT NOT NULL,
	sent BIGINT NOT NULL,
	seal TEXT NOT NULL
);
CREATE INDEX journeys_seals_sent ON journeys_seals (sent);
`

// schemaV2 adds journeys' definitions, citizens' ways through them, and
// the attributes agencies push (sealed under each citizen's data key).
const schemaV2 = `
CREATE TABLE journeys_definitions (
	id TEXT PRIMARY KEY,
	agency TEXT NOT NULL,
	definition TEXT NOT NULL,
	updated BIGINT NOT NULL
);
CREATE TABLE journeys_enrolments (
	journey TEXT NOT NULL,
	citizen_id TEXT NOT NULL,
	step INTEGER NOT NULL,
	status TEXT NOT NULL,
	next_at BIGINT NOT NULL,
	asked TEXT NOT NULL,
	response TEXT NOT NULL,
	started BIGINT NOT NULL,
	PRIMARY KEY (journey, citizen_id)
);
CREATE INDEX journeys_enrolments_due ON journeys_enrolments (next_at) WHERE status = 'active';
CREATE INDEX journeys_enrolments_citizen ON journeys_enrolments (citizen_id);
CREATE TABLE journeys_attributes (
	citizen_id TEXT NOT NULL,
	agency TEXT NOT NULL,
	sealed {BLOB} NOT NULL,
	updated BIGINT NOT NULL,
	PRIMARY KEY (citizen_id, agency)
);
`

// schemaV3 adds alerts (no personal data: what agencies published) and
// the locations citizens share for targeted alerts (sealed).
const schemaV3 = `
CREATE TABLE journeys_alerts (
	key TEXT PRIMARY KEY,
	agency TEXT NOT NULL,
	status TEXT NOT NULL,
	mode TEXT NOT NULL,
	purpose TEXT NOT NULL,
	sent BIGINT NOT NULL,
	expires BIGINT NOT NULL,
	notice TEXT NOT NULL,
	updated BIGINT NOT NULL
);
CREATE INDEX journeys_alerts_updated ON journeys_alerts (updated);
CREATE TABLE journeys_locations (
	citizen_id TEXT PRIMARY KEY,
	sealed {BLOB} NOT NULL,
	updated BIGINT NOT NULL
);
`

// schemaV4 records the scheduled runs taken, so that one replica runs
// each.
const schemaV4 = `
CREATE TABLE journeys_runs (
	journey TEXT NOT NULL,
	day TEXT NOT NULL,
	taken BIGINT NOT NULL,
	PRIMARY KEY (journey, day)
);
`

// schemaV5 marks a scheduled run done: a run taken but not done by a
// replica that died is taken again once its lease passed.
const schemaV5 = `
ALTER TABLE journeys_runs ADD COLUMN done BIGINT;
`

// Migrations creates the room's tables.
var Migrations = []db.Migration{{
	Room:     "journeys",
	Version:  1,
	SQLite:   db.Schema(schemaV1, db.SQLite),
	Postgres: db.Schema(schemaV1, db.Postgres),
}, {
	Room:     "journeys",
	Version:  2,
	SQLite:   db.Schema(schemaV2, db.SQLite),
	Postgres: db.Schema(schemaV2, db.Postgres),
}, {
	Room:     "journeys",
	Version:  3,
	SQLite:   db.Schema(schemaV3, db.SQLite),
	Postgres: db.Schema(schemaV3, db.Postgres),
}, {
	Room:     "journeys",
	Version:  4,
	SQLite:   db.Schema(schemaV4, db.SQLite),
	Postgres: db.Schema(schemaV4, db.Postgres),
}, {
	Room:     "journeys",
	Version:  5,
	SQLite:   db.Schema(schemaV5, db.SQLite),
	Postgres: db.Schema(schemaV5, db.Postgres),
}}

// TxAppender appends audit entries inside a transaction.
type TxAppender interface {
	AppendTx(ctx context.Context, tx *sql.Tx, entries ...audit.Entry) error
}

// Store implements journeys.Store.
type Store struct {
	db  *db.DB
	log TxAppender
}

// New returns a store on d whose changes append their entries to log.
func New(d *db.DB, log TxAppender) *Store { return &Store{db: d, log: log} }

var _ journeys.Store = (*Store)(nil)

func (s *Store) PutSeal(ctx context.Context, r journeys.SealRecord) error {
	_, err := s.db.ExecCached(ctx, nil, `INSERT INTO journeys_seals (code_mac, agency, sent, seal) VALUES ($1, $2, $3, $4)`,
		r.CodeMAC, r.Agency, db.Micros(r.Sent), r.Seal)
	return err
}

func (s *Store) Seal(ctx context.Context, codeMAC []byte) (journeys.SealRecord, error) {
	r := journeys.SealRecord{CodeMAC: codeMAC}
	var sent int64
	err := s.db.QueryRowCached(ctx, nil, `SELECT agency, sent, seal FROM journeys_seals WHERE code_mac = $1`, codeMAC).Scan(&r.Agency, &sent, &r.Seal)
	if errors.Is(err, sql.ErrNoRows) {
		return r, journeys.ErrNotFound
	} else if err != nil {
		return r, err
	}
	r.Sent = db.FromMicros(sent)
	return r, nil
}

func (s *Store) PutJourney(ctx context.Context, d journeys.Definition, entries ...audit.Entry) error {
	b, err := json.Marshal(d.Journey)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO journeys_definitions (id, agency, definition, updated) VALUES ($1, $2, $3, $4)
			ON CONFLICT (id) DO UPDATE SET definition = excluded.definition, updated = excluded.updated WHERE journeys_definitions.agency = excluded.agency`,
			d.Journey.ID, d.Journey.Agency, string(b), db.Micros(d.Updated)); err != nil {
			return err
		}
		return s.log.AppendTx(ctx, tx, entries...)
	})
}

func (s *Store) DeleteJourney(ctx context.Context, agency, id string, entries ...audit.Entry) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM journeys_definitions WHERE id = $1 AND agency = $2`, id, agency)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return journeys.ErrNotFound
		}
		if _, err := tx.ExecContext(ctx, `UPDATE journeys_enrolments SET status = $2 WHERE journey = $1 AND status = $3`,
			id, string(journeys.StatusDone), string(journeys.StatusActive)); err != nil {
			return err
		}
		return s.log.AppendTx(ctx, tx, entries...)
	})
}

func (s *Store) Journeys(ctx context.Context) ([]journeys.Definition, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT definition, updated FROM journeys_definitions ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []journeys.Definition
	for rows.Next() {
		var def string
		var updated int64
		if err := rows.Scan(&def, &updated); err != nil {
			return nil, err
		}
		var d journeys.Definition
		if err := json.Unmarshal([]byte(def), &d.Journey); err != nil {
			return nil, fmt.Errorf("journeys: a stored definition: %w", err)
		}
		d.Updated = db.FromMicros(updated)
		out = append(out, d)
	}
	return out, rows.Err()
}

func (s *Store) Enrol(ctx context.Context, e journeys.Enrolment, entries ...audit.Entry) (bool, error) {
	enrolled := false
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		// A citizen who finished a journey may enter it again; one on it
		// stays where they are.
		res, err := tx.ExecContext(ctx, `INSERT INTO journeys_enrolments (journey, citizen_id, step, status, next_at, asked, response, started)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (journey, citizen_id) DO UPDATE SET step = excluded.step, status = excluded.status, next_at = excluded.next_at,
				asked = excluded.asked, response = excluded.response, started = excluded.started
			WHERE journeys_enrolments.status <> 'active'`,
			e.Journey, e.CitizenID, e.Step, string(e.Status), db.Micros(e.NextAt), e.Asked, e.Response, db.Micros(e.Started))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		enrolled = true
		return s.log.AppendTx(ctx, tx, entries...)
	})
	return enrolled, err
}

const enrolmentCols = `journey, citizen_id, step, status, next_at, asked, response, started`

func scanEnrolments(rows *sql.Rows) ([]journeys.Enrolment, error) {
	defer rows.Close()
	var out []journeys.Enrolment
	for rows.Next() {
		var e journeys.Enrolment
		var status string
		var next, started int64
		if err := rows.Scan(&e.Journey, &e.CitizenID, &e.Step, &status, &next, &e.Asked, &e.Response, &started); err != nil {
			return nil, err
		}
		e.Status, e.NextAt, e.Started = journeys.Status(status), db.FromMicros(next), db.FromMicros(started)
		out = append(out, e)
	}
	return out, rows.Err()
}

func (s *Store) Due(ctx context.Context, now time.Time, limit int) ([]journeys.Enrolment, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+enrolmentCols+` FROM journeys_enrolments WHERE status = 'active' AND next_at <= $1
		ORDER BY next_at LIMIT $2`, db.Micros(now), limit)
	if err != nil {
		return nil, err
	}
	return scanEnrolments(rows)
}

func (s *Store) Enrolments(ctx context.Context, citizenID string) ([]journeys.Enrolment, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+enrolmentCols+` FROM journeys_enrolments WHERE citizen_id = $1 ORDER BY journey`, citizenID)
	if err != nil {
		return nil, err
	}
	return scanEnrolments(rows)
}

func (s *Store) Update(ctx context.Context, e journeys.Enrolment, from int, entries ...audit.Entry) (bool, error) {
	updated := false
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE journeys_enrolments SET step = $3, status = $4, next_at = $5, asked = $6, response = $7
			WHERE journey = $1 AND citizen_id = $2 AND step = $8 AND status = 'active'`,
			e.Journey, e.CitizenID, e.Step, string(e.Status), db.Micros(e.NextAt), e.Asked, e.Response, from)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		updated = true
		return s.log.AppendTx(ctx, tx, entries...)
	})
	return updated, err
}

func (s *Store) PutAttributes(ctx context.Context, citizenID, agency string, sealed []byte, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO journeys_attributes (citizen_id, agency, sealed, updated) VALUES ($1, $2, $3, $4)
		ON CONFLICT (citizen_id, agency) DO UPDATE SET sealed = excluded.sealed, updated = excluded.updated`,
		citizenID, agency, sealed, db.Micros(at))
	return err
}

func (s *Store) AttributesOf(ctx context.Context, citizenID string) (map[string][]byte, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT agency, sealed FROM journeys_attributes WHERE citizen_id = $1`, citizenID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var agency string
		var sealed []byte
		if err := rows.Scan(&agency, &sealed); err != nil {
			return nil, err
		}
		out[agency] = sealed
	}
	return out, rows.Err()
}

func (s *Store) StepCounts(ctx context.Context, journey string) (map[int]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT step, COUNT(*) FROM journeys_enrolments WHERE journey = $1 AND status = 'active' GROUP BY step`, journey)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int]int{}
	for rows.Next() {
		var step, n int
		if err := rows.Scan(&step, &n); err != nil {
			return nil, err
		}
		out[step] = n
	}
	return out, rows.Err()
}

func (s *Store) PutAlert(ctx context.Context, r journeys.AlertRecord, keys []string, status string, entries ...audit.Entry) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO journeys_alerts (key, agency, status, mode, purpose, sent, expires, notice, updated)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, r.Key, r.Agency, r.Status, r.Mode, r.Purpose, db.Micros(r.Sent), micros(r.Expires),
			string(r.Notice), db.Micros(r.Updated)); err != nil {
			return fmt.Errorf("journeys: alert %s: %w", r.Key, err)
		}
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, `UPDATE journeys_alerts SET status = $3, updated = $4 WHERE key = $1 AND agency = $2`,
				k, r.Agency, status, db.Micros(r.Updated)); err != nil {
				return err
			}
		}
		return s.log.AppendTx(ctx, tx, entries...)
	})
}

// micros is t's microseconds, 0 for the zero time.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return db.Micros(t)
}

const alertCols = `key, agency, status, mode, purpose, sent, expires, notice, updated`

func scanAlert(sc interface{ Scan(...any) error }) (journeys.AlertRecord, error) {
	var r journeys.AlertRecord
	var sent, expires, updated int64
	var notice string
	if err := sc.Scan(&r.Key, &r.Agency, &r.Status, &r.Mode, &r.Purpose, &sent, &expires, &notice, &updated); err != nil {
		return r, err
	}
	r.Sent, r.Updated, r.Notice = db.FromMicros(sent), db.FromMicros(updated), []byte(notice)
	if expires != 0 {
		r.Expires = db.FromMicros(expires)
	}
	return r, nil
}

func (s *Store) Alert(ctx context.Context, key string) (journeys.AlertRecord, error) {
	r, err := scanAlert(s.db.QueryRowContext(ctx, `SELECT `+alertCols+` FROM journeys_alerts WHERE key = $1`, key))
	if errors.Is(err, sql.ErrNoRows) {
		return r, journeys.ErrNotFound
	}
	return r, err
}

func (s *Store) AlertsSince(ctx context.Context, t time.Time) ([]journeys.AlertRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+alertCols+` FROM journeys_alerts WHERE updated >= $1 ORDER BY updated, key`, db.Micros(t))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []journeys.AlertRecord
	for rows.Next() {
		r, err := scanAlert(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s *Store) PutLocation(ctx context.Context, citizenID string, sealed []byte, at time.Time) error {
	if sealed == nil {
		_, err := s.db.ExecContext(ctx, `DELETE FROM journeys_locations WHERE citizen_id = $1`, citizenID)
		return err
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO journeys_locations (citizen_id, sealed, updated) VALUES ($1, $2, $3)
		ON CONFLICT (citizen_id) DO UPDATE SET sealed = excluded.sealed, updated = excluded.updated`, citizenID, sealed, db.Micros(at))
	return err
}

func (s *Store) Locations(ctx context.Context, fn func(citizenID string, sealed []byte) error) error {
	after := ""
	for {
		rows, err := s.db.QueryContext(ctx, `SELECT citizen_id, sealed FROM journeys_locations WHERE citizen_id > $1 ORDER BY citizen_id LIMIT 500`, after)
		if err != nil {
			return err
		}
		type row struct {
			id     string
			sealed []byte
		}
		var page []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.sealed); err != nil {
				rows.Close()
				return err
			}
			page = append(page, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range page {
			if err := fn(r.id, r.sealed); err != nil {
				return err
			}
		}
		if len(page) < 500 {
			return nil
		}
		after = page[len(page)-1].id
	}
}

func (s *Store) TakeRun(ctx context.Context, journey, day string, at, stale time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `INSERT INTO journeys_runs (journey, day, taken) VALUES ($1, $2, $3)
		ON CONFLICT (journey, day) DO UPDATE SET taken = excluded.taken
		WHERE journeys_runs.done IS NULL AND journeys_runs.taken < $4`, journey, day, db.Micros(at), db.Micros(stale))
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func (s *Store) FinishRun(ctx context.Context, journey, day string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE journeys_runs SET done = $3 WHERE journey = $1 AND day = $2`, journey, day, db.Micros(at))
	return err
}
