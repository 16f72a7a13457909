package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/db"
)

// AddCheckpoint implements audit.Checkpoints.
func (s *Store) AddCheckpoint(ctx context.Context, c audit.Checkpoint) error {
	if c.Size < 0 {
		return fmt.Errorf("audit: add checkpoint: %w: size %d", audit.ErrBadRange, c.Size)
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO audit_checkpoints (size, origin, root, note, created)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (size) DO NOTHING`,
		c.Size, c.Origin, c.Root[:], c.Note, db.Micros(c.Time))
	if err != nil {
		return fmt.Errorf("audit: add checkpoint %d: %w", c.Size, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	old, err := s.CheckpointAt(ctx, c.Size)
	if err != nil {
		return err
	}
	if old.Root != c.Root {
		return fmt.Errorf("audit: add checkpoint %d: %w: root %s, stored %s", c.Size, audit.ErrInconsistent, c.Root, old.Root)
	}
	return nil
}

// LatestCheckpoint implements audit.Checkpoints.
func (s *Store) LatestCheckpoint(ctx context.Context) (audit.Checkpoint, error) {
	return s.checkpoint(ctx, `SELECT size, origin, root, note, created FROM audit_checkpoints ORDER BY size DESC LIMIT 1`)
}

// CheckpointAt implements audit.Checkpoints.
func (s *Store) CheckpointAt(ctx context.Context, size int64) (audit.Checkpoint, error) {
	return s.checkpoint(ctx, `SELECT size, origin, root, note, created FROM audit_checkpoints WHERE size = $1`, size)
}

func (s *Store) checkpoint(ctx context.Context, query string, args ...any) (audit.Checkpoint, error) {
	var c audit.Checkpoint
	var root []byte
	var created int64
	err := s.db.QueryRowContext(ctx, query, args...).Scan(&c.Size, &c.Origin, &root, &c.Note, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("audit: checkpoint: %w", audit.ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("audit: checkpoint: %w", err)
	}
	if len(root) != len(c.Root) {
		return c, fmt.Errorf("audit: checkpoint %d: %w: root of %d bytes", c.Size, audit.ErrCorrupt, len(root))
	}
	copy(c.Root[:], root)
	c.Time = db.FromMicros(created)
	return c, nil
}
