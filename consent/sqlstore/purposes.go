package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/internal/db"
)

const purposeCols = `id, version, name_es, name_en, description_es, description_en, controller, legal_basis,
	categories, retention, dpv, notice_version, notice_url, profiling, created`

// PutPurpose implements consent.Purposes.
func (s *Store) PutPurpose(ctx context.Context, p consent.Purpose, within ...func(*sql.Tx) error) (int64, error) {
	if err := p.Validate(); err != nil {
		return 0, err
	}
	if p.Version < 1 {
		return 0, fmt.Errorf("%w: purpose %q: version %d, want 1 or more", consent.ErrInvalid, p.ID, p.Version)
	}
	var pos int64
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		var latest sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT max(version) FROM consent_purposes WHERE id = $1`, p.ID).Scan(&latest); err != nil {
			return err
		}
		if int64(p.Version) != latest.Int64+1 {
			return fmt.Errorf("%w: purpose %q: version %d stored, %d offered", consent.ErrConflict, p.ID, latest.Int64, p.Version)
		}
		var err error
		if pos, err = bumpHead(ctx, tx, 1); err != nil {
			return err
		}
		profiling := 0
		if p.Profiling {
			profiling = 1
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO consent_purposes (`+purposeCols+`, pos) VALUES `+s.db.Placeholders(1, 16),
			p.ID, p.Version, p.Name.ES, p.Name.EN, p.Description.ES, p.Description.EN, p.Controller, string(p.LegalBasis),
			encodeList(p.Categories), int64(p.Retention/time.Microsecond), p.DPV, p.NoticeVersion, p.NoticeURL, profiling,
			micros(s.now()), pos)
		if db.IsUniqueViolation(err) {
			return fmt.Errorf("%w: purpose %q version %d stored meanwhile", consent.ErrConflict, p.ID, p.Version)
		}
		if err != nil {
			return err
		}
		for _, fn := range within {
			if err := fn(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, consent.ErrConflict) {
			return 0, err
		}
		return 0, fmt.Errorf("consent: put purpose %q: %w", p.ID, err)
	}
	return pos, nil
}

func scanPurpose(sc interface{ Scan(...any) error }) (consent.Purpose, error) {
	var p consent.Purpose
	var basis, cats string
	var retention, created int64
	var profiling int
	err := sc.Scan(&p.ID, &p.Version, &p.Name.ES, &p.Name.EN, &p.Description.ES, &p.Description.EN, &p.Controller,
		&basis, &cats, &retention, &p.DPV, &p.NoticeVersion, &p.NoticeURL, &profiling, &created)
	if err != nil {
		return consent.Purpose{}, err
	}
	if p.Categories, err = decodeList(cats); err != nil {
		return consent.Purpose{}, err
	}
	p.LegalBasis = consent.LegalBasis(basis)
	p.Retention = time.Duration(retention) * time.Microsecond
	p.Profiling = profiling != 0
	p.Created = fromMicros(created)
	return p, nil
}

// Purpose implements consent.Purposes.
func (s *Store) Purpose(ctx context.Context, id string) (consent.Purpose, error) {
	p, err := scanPurpose(s.queryRow(ctx, `SELECT `+purposeCols+` FROM consent_purposes WHERE id = $1 ORDER BY version DESC LIMIT 1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return consent.Purpose{}, fmt.Errorf("consent: purpose %.80q: %w", id, consent.ErrNotFound)
	}
	if err != nil {
		return consent.Purpose{}, fmt.Errorf("consent: purpose %.80q: %w", id, err)
	}
	return p, nil
}

// PurposeVersion implements consent.Purposes.
func (s *Store) PurposeVersion(ctx context.Context, id string, v int) (consent.Purpose, error) {
	p, err := scanPurpose(s.queryRow(ctx, `SELECT `+purposeCols+` FROM consent_purposes WHERE id = $1 AND version = $2`, id, v))
	if errors.Is(err, sql.ErrNoRows) {
		return consent.Purpose{}, fmt.Errorf("consent: purpose %.80q version %d: %w", id, v, consent.ErrNotFound)
	}
	if err != nil {
		return consent.Purpose{}, fmt.Errorf("consent: purpose %.80q version %d: %w", id, v, err)
	}
	return p, nil
}

// ListPurposes implements consent.Purposes.
func (s *Store) ListPurposes(ctx context.Context) ([]consent.Purpose, error) {
	rows, err := s.query(ctx, `SELECT `+purposeCols+` FROM consent_purposes AS p
WHERE version = (SELECT max(version) FROM consent_purposes WHERE id = p.id) ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("consent: list purposes: %w", err)
	}
	defer rows.Close()
	var out []consent.Purpose
	for rows.Next() {
		p, err := scanPurpose(rows)
		if err != nil {
			return nil, fmt.Errorf("consent: list purposes: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("consent: list purposes: %w", err)
	}
	return out, nil
}
