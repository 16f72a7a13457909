package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/db"
)

// schemaV2 holds the subjects' wrapped data keys (audit.SubjectKeys). A row
// whose wrapped key is NULL is an erased subject: it is kept so that the
// subject never gets a key again.
const schemaV2 = `
CREATE TABLE audit_subject_keys (
	subject TEXT PRIMARY KEY,
	wrapped {BLOB},
	created BIGINT NOT NULL,
	erased BIGINT,
	CHECK ((wrapped IS NULL) = (erased IS NOT NULL))
);
`

// SubjectKeys implements audit.SubjectKeys in table audit_subject_keys
// (Migrations, version 2 of room "audit"): subject pseudonym → wrapped data
// key, created and erased times.
//
// Erasing replaces the wrapped key by NULL and stamps the erased time, in
// one statement; the row stays as the record that the subject was erased.
// Where the old bytes linger:
//
//   - SQLite: the erasing transaction runs on a connection with PRAGMA
//     secure_delete=ON, so SQLite overwrites the freed cell with zeros in
//     the page it writes; a checkpoint (PRAGMA wal_checkpoint(TRUNCATE),
//     tried at once, best effort) copies that page over the old one in the
//     database file and truncates the WAL, whose earlier frames held the old
//     page. When readers keep the checkpoint from finishing, older frames
//     stay in the WAL file until a later checkpoint overwrites or truncates
//     them.
//   - PostgreSQL: the UPDATE leaves the old row version as a dead tuple
//     until VACUUM (or autovacuum) prunes the page, and even then its bytes
//     may remain in the page's free space until reused, and in the
//     write-ahead log and WAL archives until they are recycled. Run VACUUM
//     on audit_subject_keys after a batch of erasures when that window
//     matters.
//
// In both, backups taken before the erasure hold the wrapped key until they
// expire; the wrapped key opens only with the ring's wrapping key in the
// keystore or Vault, never from the database alone.
type SubjectKeys struct {
	db  *db.DB
	now func() time.Time
}

var _ audit.SubjectKeys = (*SubjectKeys)(nil)

// NewSubjectKeys returns the subject key store over d, which must have
// Migrations applied. It starts nothing and needs no Close.
func NewSubjectKeys(d *db.DB) *SubjectKeys { return &SubjectKeys{db: d, now: time.Now} }

// SubjectKey implements audit.SubjectKeys.
func (k *SubjectKeys) SubjectKey(ctx context.Context, subject string) ([]byte, error) {
	return k.read(ctx, subject)
}

func (k *SubjectKeys) read(ctx context.Context, subject string) ([]byte, error) {
	var wrapped []byte
	var erased sql.NullInt64
	err := k.db.QueryRowContext(ctx, `SELECT wrapped, erased FROM audit_subject_keys WHERE subject = $1`, subject).Scan(&wrapped, &erased)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("audit: subject key: %w", audit.ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("audit: subject key: %w", err)
	case erased.Valid:
		return nil, fmt.Errorf("audit: subject key: %w", audit.ErrErased)
	case len(wrapped) == 0:
		return nil, fmt.Errorf("audit: subject key: %w: empty wrapped key", audit.ErrCorrupt)
	}
	return wrapped, nil
}

// CreateSubjectKey implements audit.SubjectKeys: an INSERT that does nothing
// when the subject has a row, then a read of the row. The primary key makes
// exactly one of concurrent inserts win, in any replica.
func (k *SubjectKeys) CreateSubjectKey(ctx context.Context, subject string, wrapped []byte) ([]byte, error) {
	if len(wrapped) == 0 {
		return nil, errors.New("audit: create subject key: empty wrapped key")
	}
	_, err := k.db.ExecContext(ctx, `INSERT INTO audit_subject_keys (subject, wrapped, created) VALUES ($1, $2, $3)
		ON CONFLICT (subject) DO NOTHING`, subject, wrapped, db.Micros(k.now()))
	if err != nil {
		return nil, fmt.Errorf("audit: create subject key: %w", err)
	}
	// Rows are never deleted, so the row is there: this key or an earlier.
	return k.read(ctx, subject)
}

// eraseQuery replaces the wrapped key by NULL, or records a subject that
// never had a key as erased; the first erased time stays.
const eraseQuery = `INSERT INTO audit_subject_keys (subject, wrapped, created, erased) VALUES ($1, NULL, $2, $2)
	ON CONFLICT (subject) DO UPDATE SET wrapped = NULL, erased = COALESCE(audit_subject_keys.erased, excluded.erased)`

// EraseSubjectKey implements audit.SubjectKeys.
func (k *SubjectKeys) EraseSubjectKey(ctx context.Context, subject string) error {
	now := db.Micros(k.now())
	if k.db.Dialect != db.SQLite {
		if _, err := k.db.ExecContext(ctx, eraseQuery, subject, now); err != nil {
			return fmt.Errorf("audit: erase subject key: %w", err)
		}
		return nil
	}
	conn, err := k.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("audit: erase subject key: %w", err)
	}
	defer conn.Close()
	var was int
	if err := conn.QueryRowContext(ctx, `PRAGMA secure_delete`).Scan(&was); err != nil {
		return fmt.Errorf("audit: erase subject key: %w", err)
	}
	if _, err := conn.ExecContext(ctx, `PRAGMA secure_delete = ON`); err != nil {
		return fmt.Errorf("audit: erase subject key: secure_delete: %w", err)
	}
	// Give the pooled connection back as it was (best effort: secure_delete
	// left on costs speed, not correctness).
	defer conn.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf(`PRAGMA secure_delete = %d`, was))
	if _, err := conn.ExecContext(ctx, eraseQuery, subject, now); err != nil {
		return fmt.Errorf("audit: erase subject key: %w", err)
	}
	// Move the zeroed page into the database file and drop the WAL frames
	// that held the old one. Best effort: busy readers may keep it from
	// completing, and the erasure is committed either way.
	var busy, logFrames, checkpointed int
	_ = conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &checkpointed)
	return nil
}
