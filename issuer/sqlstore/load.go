package sqlstore

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/issuer"
)

// LoadedCitizen is a citizen as LoadCitizens writes one: the citizen,
// their passkeys and the pairwise subjects by which sectors know them.
type LoadedCitizen struct {
	Citizen  issuer.Citizen
	Passkeys []issuer.Passkey
	Subjects []Subject
}

// Subject is the identifier by which a sector knows a citizen
// (issuer.Subjects).
type Subject struct{ Sector, Sub string }

// loadChunk is how many rows one transaction of LoadCitizens writes.
const loadChunk = 1 << 15

// LoadCitizens writes m citizens — citizen(0), …, citizen(m-1) — with their
// passkeys and subjects, in bulk: for seeding benchmark databases. It
// writes no audit entry (audit/sqlstore.Load writes a log in bulk).
//
// Each table is written in key order, in transactions of loadChunk rows —
// the citizens first, then the passkeys, then the subjects, so that an
// interrupted load leaves citizens who have not enrolled yet, never a row
// without its citizen — and citizen is called once per table: it must
// return the same citizen every time it is given the same i.
func LoadCitizens(ctx context.Context, d *db.DB, m int, citizen func(i int) LoadedCitizen, progress func(table string, done, total int)) error {
	if progress == nil {
		progress = func(string, int, int) {}
	}
	type row struct {
		key1, key2 []byte
		values     []any
	}
	tables := []struct {
		name string
		cols []string
		rows func(c LoadedCitizen) []row
	}{
		{"issuer_citizens", []string{"id", "given_name", "family_name", "birthdate", "email", "locale", "created"},
			func(lc LoadedCitizen) []row {
				c := lc.Citizen
				return []row{{key1: []byte(c.ID), values: []any{c.ID, c.GivenName, c.FamilyName, c.Birthdate, c.Email, c.Locale, us(c.Created)}}}
			}},
		{"issuer_passkeys", []string{"id", "citizen_id", "name", "public_key", "attestation_type", "aaguid", "sign_count",
			"backup_eligible", "backup_state", "transports", "created", "last_used"},
			func(lc LoadedCitizen) []row {
				out := make([]row, 0, len(lc.Passkeys))
				for _, p := range lc.Passkeys {
					out = append(out, row{key1: p.ID, values: []any{p.ID, lc.Citizen.ID, p.Name, p.PublicKey, p.AttestationType, p.AAGUID,
						int64(p.SignCount), b2i(p.BackupEligible), b2i(p.BackupState), jsonList(p.Transports), us(p.Created), us(p.LastUsed)}})
				}
				return out
			}},
		{"issuer_subjects", []string{"sector", "sub", "citizen_id"},
			func(lc LoadedCitizen) []row {
				out := make([]row, 0, len(lc.Subjects))
				for _, s := range lc.Subjects {
					out = append(out, row{key1: []byte(s.Sector), key2: []byte(s.Sub), values: []any{s.Sector, s.Sub, lc.Citizen.ID}})
				}
				return out
			}},
	}
	for _, t := range tables {
		var rows []row
		for i := range m {
			rows = append(rows, t.rows(citizen(i))...)
		}
		slices.SortFunc(rows, func(a, b row) int {
			return cmp.Or(bytes.Compare(a.key1, b.key1), bytes.Compare(a.key2, b.key2))
		})
		for done := 0; done < len(rows); {
			chunk := rows[done:min(len(rows), done+loadChunk)]
			flat := make([]any, 0, len(t.cols)*len(chunk))
			for _, r := range chunk {
				flat = append(flat, r.values...)
			}
			if err := d.Load(ctx, func(b *db.Bulk) error { return b.Insert(t.name, t.cols, flat) }); err != nil {
				return fmt.Errorf("load citizens: %w", err)
			}
			done += len(chunk)
			progress(t.name, done, len(rows))
		}
	}
	return nil
}
