package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/cedula/cedula/issuer"
)

// Back-channel logout bookkeeping (OIDC Back-Channel Logout 1.0): which
// clients each login session logged in to, and the outbox of the
// notifications that a session's end owes them. Both are written in the
// transaction of the change that causes them, so a session cannot end
// without its notifications being queued, and a crash loses none.

// addSessionClient records that login session sid logged the citizen in
// to clientID.
func addSessionClient(ctx context.Context, tx *sql.Tx, sid, clientID, citizenID string) error {
	if sid == "" {
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO issuer_session_clients (sid, client_id, citizen_id) VALUES ($1, $2, $3)
		ON CONFLICT (sid, client_id) DO NOTHING`, sid, clientID, citizenID)
	if err != nil {
		return fmt.Errorf("session client: %w", err)
	}
	return nil
}

// endLoginSessions ends those of sids (login sessions of citizenID) that
// have no session row left: a logout is queued for every client each
// logged in to, and the session's clients are forgotten. A SID that still
// has a row (the citizen re-authenticated and the new cookie carries it
// on) has not ended.
func (s *Store) endLoginSessions(ctx context.Context, tx *sql.Tx, citizenID string, sids ...string) error {
	now := time.Now()
	for _, sid := range sids {
		if sid == "" {
			continue
		}
		var live int
		err := tx.QueryRowContext(ctx, `SELECT count(*) FROM issuer_sessions WHERE sid = $1`, sid).Scan(&live)
		if err != nil {
			return err
		}
		if live > 0 {
			continue
		}
		clients, err := sessionClients(ctx, tx, `sid = $1`, sid)
		if err != nil {
			return err
		}
		for _, c := range clients {
			if err := queueLogout(ctx, tx, issuer.Logout{ClientID: c.clientID, CitizenID: citizenID, SID: sid, Created: now}); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM issuer_session_clients WHERE sid = $1`, sid); err != nil {
			return err
		}
	}
	return nil
}

// endGrantSessions ends the sessions clientID (every client when empty)
// holds with citizenID: a logout is queued for each login session the
// client logged in through, and one without a SID for a client that holds
// live tokens but logged in through none (a grant older than its session,
// say); the client's session records are forgotten.
func (s *Store) endGrantSessions(ctx context.Context, tx *sql.Tx, citizenID, clientID string) error {
	now := time.Now()
	clients, err := sessionClients(ctx, tx, `citizen_id = $1 AND ($2 = '' OR client_id = $2)`, citizenID, clientID)
	if err != nil {
		return err
	}
	told := map[string]bool{}
	for _, c := range clients {
		if err := queueLogout(ctx, tx, issuer.Logout{ClientID: c.clientID, CitizenID: citizenID, SID: c.sid, Created: now}); err != nil {
			return err
		}
		told[c.clientID] = true
	}
	holders, err := grantClients(ctx, tx, citizenID, now)
	if err != nil {
		return err
	}
	for _, id := range holders {
		if told[id] || (clientID != "" && id != clientID) {
			continue
		}
		if err := queueLogout(ctx, tx, issuer.Logout{ClientID: id, CitizenID: citizenID, Created: now}); err != nil {
			return err
		}
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM issuer_session_clients WHERE citizen_id = $1 AND ($2 = '' OR client_id = $2)`, citizenID, clientID)
	return err
}

type sessionClient struct{ sid, clientID string }

func sessionClients(ctx context.Context, q queryer, where string, args ...any) ([]sessionClient, error) {
	rows, err := q.QueryContext(ctx, `SELECT sid, client_id FROM issuer_session_clients WHERE `+where+` ORDER BY client_id, sid`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []sessionClient
	for rows.Next() {
		var c sessionClient
		if err := rows.Scan(&c.sid, &c.clientID); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func queueLogout(ctx context.Context, tx *sql.Tx, l issuer.Logout) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO issuer_logouts (client_id, citizen_id, sid, created, attempts, next_attempt)
		VALUES ($1, $2, $3, $4, 0, $4)`, l.ClientID, l.CitizenID, l.SID, us(l.Created))
	if err != nil {
		return fmt.Errorf("queue logout: %w", err)
	}
	return nil
}

func (s *Store) ClaimLogouts(ctx context.Context, now time.Time, lease time.Duration, max int) ([]issuer.Logout, error) {
	// The outer condition is checked again on the row a concurrent claimer
	// may have just leased (PostgreSQL re-evaluates it on the updated
	// row), so two replicas never both claim a notification.
	rows, err := s.db.QueryContext(ctx, `UPDATE issuer_logouts SET attempts = attempts + 1, next_attempt = $1
		WHERE next_attempt <= $2 AND id IN (SELECT id FROM issuer_logouts WHERE next_attempt <= $2 ORDER BY next_attempt, id LIMIT $3)
		RETURNING id, client_id, citizen_id, sid, created, attempts`, us(now.Add(lease)), us(now), max)
	if err != nil {
		return nil, fmt.Errorf("claim logouts: %w", err)
	}
	defer rows.Close()
	var out []issuer.Logout
	for rows.Next() {
		var l issuer.Logout
		var created int64
		if err := rows.Scan(&l.ID, &l.ClientID, &l.CitizenID, &l.SID, &created, &l.Attempts); err != nil {
			return nil, fmt.Errorf("claim logouts: %w", err)
		}
		l.Created = tm(created)
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim logouts: %w", err)
	}
	return out, nil
}

func (s *Store) FinishLogout(ctx context.Context, id int64) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM issuer_logouts WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("finish logout: %w", err)
	}
	return affected("finish logout", res)
}

func (s *Store) RetryLogout(ctx context.Context, id int64, at time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE issuer_logouts SET next_attempt = $2 WHERE id = $1`, id, us(at))
	if err != nil {
		return fmt.Errorf("retry logout: %w", err)
	}
	return affected("retry logout", res)
}
