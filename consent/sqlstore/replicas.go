package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cedula/cedula/consent"
)

// Head implements consent.Replicas.
func (s *Store) Head(ctx context.Context) (int64, error) {
	var pos int64
	if err := s.queryRow(ctx, `SELECT pos FROM consent_head WHERE id = 1`).Scan(&pos); err != nil {
		return 0, fmt.Errorf("consent: head: %w", err)
	}
	return pos, nil
}

// Changes implements consent.Replicas: the events and purpose versions
// with positions in (after, upTo], from the primary key of consent_events
// and the unique index on consent_purposes.pos.
func (s *Store) Changes(ctx context.Context, after, upTo int64) ([]consent.Change, error) {
	rows, err := s.query(ctx, `SELECT pos, subject, controller, purpose, 0 FROM consent_events WHERE pos > $1 AND pos <= $2
UNION ALL
SELECT pos, '', '', id, 1 FROM consent_purposes WHERE pos > $1 AND pos <= $2
ORDER BY 1`, after, upTo)
	if err != nil {
		return nil, fmt.Errorf("consent: changes: %w", err)
	}
	defer rows.Close()
	out := make([]consent.Change, 0, max(0, min(upTo-after, 1024)))
	for rows.Next() {
		var c consent.Change
		var purpose string
		var isPurpose int
		if err := rows.Scan(&c.Pos, &c.Key.Subject, &c.Key.Controller, &purpose, &isPurpose); err != nil {
			return nil, fmt.Errorf("consent: changes: %w", err)
		}
		if isPurpose == 1 {
			c.Key, c.Purpose = consent.Key{}, purpose
		} else {
			c.Key.Purpose = purpose
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("consent: changes: %w", err)
	}
	return out, nil
}

// withNow substitutes the database clock for {NOW} in q.
func (s *Store) withNow(q string) string { return strings.ReplaceAll(q, "{NOW}", s.dbNow) }

// Register implements consent.Replicas.
func (s *Store) Register(ctx context.Context, id string, seen int64) error {
	_, err := s.db.ExecContext(ctx, s.withNow(`INSERT INTO consent_replicas (id, seen, heartbeat, registered)
VALUES ($1, $2, {NOW}, {NOW})
ON CONFLICT (id) DO UPDATE SET seen = excluded.seen, heartbeat = excluded.heartbeat`), id, seen)
	if err != nil {
		return fmt.Errorf("consent: register replica: %w", err)
	}
	return nil
}

// Heartbeat implements consent.Replicas.
func (s *Store) Heartbeat(ctx context.Context, id string, seen int64) (bool, error) {
	st, err := s.stmt(ctx, s.withNow(`UPDATE consent_replicas SET seen = $2, heartbeat = {NOW} WHERE id = $1`))
	if err != nil {
		return false, fmt.Errorf("consent: heartbeat: %w", err)
	}
	res, err := st.ExecContext(ctx, id, seen)
	if err != nil {
		return false, fmt.Errorf("consent: heartbeat: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("consent: heartbeat: %w", err)
	}
	return n == 1, nil
}

// Deregister implements consent.Replicas.
func (s *Store) Deregister(ctx context.Context, id string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM consent_replicas WHERE id = $1`, id); err != nil {
		return fmt.Errorf("consent: deregister replica: %w", err)
	}
	return nil
}

// ListReplicas implements consent.Replicas.
func (s *Store) ListReplicas(ctx context.Context) ([]consent.Replica, error) {
	rows, err := s.query(ctx, s.withNow(`SELECT id, seen, heartbeat, {NOW} - heartbeat FROM consent_replicas ORDER BY id`))
	if err != nil {
		return nil, fmt.Errorf("consent: list replicas: %w", err)
	}
	defer rows.Close()
	var out []consent.Replica
	for rows.Next() {
		var r consent.Replica
		var hb, age int64
		if err := rows.Scan(&r.ID, &r.Seen, &hb, &age); err != nil {
			return nil, fmt.Errorf("consent: list replicas: %w", err)
		}
		r.Heartbeat, r.Age = fromMicros(hb), time.Duration(age)*time.Microsecond
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("consent: list replicas: %w", err)
	}
	return out, nil
}

// Fence implements consent.Replicas: one DELETE whose condition reads the
// row and the database clock together. On PostgreSQL a concurrent
// Heartbeat holds the row lock; the DELETE waits for it and then checks
// the heartbeat it wrote, so the two cannot both succeed.
func (s *Store) Fence(ctx context.Context, id string, heartbeat time.Time, age time.Duration) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.withNow(`DELETE FROM consent_replicas WHERE id = $1 AND heartbeat = $2 AND heartbeat <= {NOW} - $3`),
		id, micros(heartbeat), int64(age/time.Microsecond))
	if err != nil {
		return false, fmt.Errorf("consent: fence replica: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("consent: fence replica: %w", err)
	}
	return n == 1, nil
}
