// Package sqlstore keeps the journeys room's records in SQLite or
// PostgreSQL (room "journeys"): for now the seals of the messages sent to
// citizens — the code's MAC, the agency, the time and the signed seal, no
// personal data.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"

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

// Migrations creates the room's tables.
var Migrations = []db.Migration{{
	Room:     "journeys",
	Version:  1,
	SQLite:   db.Schema(schemaV1, db.SQLite),
	Postgres: db.Schema(schemaV1, db.Postgres),
}}

// Store implements journeys.SealStore.
type Store struct{ db *db.DB }

// New returns a store on d.
func New(d *db.DB) *Store { return &Store{db: d} }

var _ journeys.SealStore = (*Store)(nil)

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
