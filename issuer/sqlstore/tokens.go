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
	"github.com/cedula/cedula/issuer"
)

// ---- authorization requests

func (s *Store) CreateAuthRequest(ctx context.Context, r issuer.AuthRequest) error {
	r.Created, r.AuthTime = norm(r.Created), norm(r.AuthTime)
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("create auth request: %w", err)
	}
	_, err = s.db.ExecCached(ctx, nil, `INSERT INTO issuer_auth_requests (id, data, code, created) VALUES ($1, $2, NULL, $3)`,
		r.ID, string(data), us(r.Created))
	if err != nil {
		return exists("create auth request", err)
	}
	return nil
}

// authRequest reads the authorization request where holds, in tx (or
// on the database when tx is nil).
func (s *Store) authRequest(ctx context.Context, tx *sql.Tx, where string, arg any) (issuer.AuthRequest, error) {
	var data string
	var code sql.NullString
	if err := s.db.QueryRowCached(ctx, tx, `SELECT data, code FROM issuer_auth_requests WHERE `+where, arg).Scan(&data, &code); err != nil {
		return issuer.AuthRequest{}, notFound("auth request", err)
	}
	var r issuer.AuthRequest
	if err := json.Unmarshal([]byte(data), &r); err != nil {
		return r, fmt.Errorf("auth request: decode: %w", err)
	}
	r.Code = code.String
	return r, nil
}

func (s *Store) AuthRequest(ctx context.Context, id string) (issuer.AuthRequest, error) {
	return s.authRequest(ctx, nil, `id = $1`, id)
}

func (s *Store) AuthRequestByCode(ctx context.Context, codeHash string) (issuer.AuthRequest, error) {
	return s.authRequest(ctx, nil, `code = $1`, codeHash)
}

func (s *Store) CompleteAuthRequest(ctx context.Context, id, citizenID, subject string, amr []string, authTime time.Time) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		r, err := s.authRequest(ctx, tx, `id = $1`, id)
		if err != nil {
			return err
		}
		r.CitizenID, r.Subject, r.AMR, r.AuthTime, r.Done = citizenID, subject, amr, norm(authTime), true
		data, err := json.Marshal(r)
		if err != nil {
			return err
		}
		_, err = s.db.ExecCached(ctx, tx, `UPDATE issuer_auth_requests SET data = $2 WHERE id = $1`, id, string(data))
		if err != nil {
			return fmt.Errorf("complete auth request: %w", err)
		}
		return s.record(ctx, tx, s.entry(ctx, issuer.ActionAuthorize, client(r.ClientID), citizenID, audit.Allowed, issuer.ScopeCategories(r.Scopes)))
	})
}

func (s *Store) SaveCode(ctx context.Context, id string, codeHash string) error {
	res, err := s.db.ExecCached(ctx, nil, `UPDATE issuer_auth_requests SET code = $2 WHERE id = $1`, id, codeHash)
	if err != nil {
		return exists("save code", err)
	}
	return affected("save code", res)
}

func (s *Store) DeleteAuthRequest(ctx context.Context, id string) error {
	_, err := s.db.ExecCached(ctx, nil, `DELETE FROM issuer_auth_requests WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete auth request: %w", err)
	}
	return nil
}

func (s *Store) DeleteAuthRequestsBefore(ctx context.Context, t time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM issuer_auth_requests WHERE created < $1`, us(t))
	if err != nil {
		return 0, fmt.Errorf("delete auth requests: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// ---- tokens

const (
	insertAccessPrefix = `INSERT INTO issuer_access_tokens (id, client_id, citizen_id, refresh_token_id, data, expiration, revoked) VALUES `
	insertAccessSQL    = insertAccessPrefix + `($1, $2, $3, $4, $5, $6, $7)`
)

func (s *Store) insertAccess(ctx context.Context, tx *sql.Tx, t issuer.AccessToken) error {
	t.Expiration = norm(t.Expiration)
	data, err := json.Marshal(t)
	if err != nil {
		return err
	}
	_, err = s.db.ExecCached(ctx, tx, insertAccessSQL, t.ID, t.ClientID, t.CitizenID, t.RefreshTokenID, string(data), us(t.Expiration), b2i(t.Revoked))
	if err != nil {
		return exists("create access token", err)
	}
	return nil
}

func (s *Store) insertRefresh(ctx context.Context, tx *sql.Tx, t issuer.RefreshToken) error {
	t.AuthTime, t.Created, t.Expiration = norm(t.AuthTime), norm(t.Created), norm(t.Expiration)
	data, err := json.Marshal(t)
	if err != nil {
		return err
	}
	_, err = s.db.ExecCached(ctx, tx, `INSERT INTO issuer_refresh_tokens (id, family_id, client_id, citizen_id, data, expiration, used, revoked)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, t.ID, t.FamilyID, t.ClientID, t.CitizenID, string(data), us(t.Expiration), b2i(t.Used), b2i(t.Revoked))
	if err != nil {
		return exists("create refresh token", err)
	}
	return nil
}

// accessReq is one access token waiting for its group, with its entry.
type accessReq struct {
	t issuer.AccessToken
	e audit.Entry
}

// tokenEntry is the entry of t's issuance.
func (s *Store) tokenEntry(ctx context.Context, action string, t issuer.AccessToken) audit.Entry {
	return s.entry(ctx, action, client(t.ClientID), t.CitizenID, audit.Allowed, issuer.ScopeCategories(t.Scopes))
}

// CreateAccessToken is the token endpoint's one write. Concurrent tokens
// are inserted together, with one multi-row INSERT and their audit
// entries in one transaction (one commit) per group; the call returns
// once its group is durable.
func (s *Store) CreateAccessToken(ctx context.Context, t issuer.AccessToken) error {
	return s.access.Do(ctx, accessReq{t: t, e: s.tokenEntry(ctx, issuer.ActionToken, t)})
}

// maxAccessGroup bounds a group: 7 parameters a row stays far below both
// databases' parameter limits.
const maxAccessGroup = 256

func (s *Store) flushAccess(reqs []accessReq) []error {
	errs := make([]error, len(reqs))
	ctx := context.Background()
	args := make([]any, 0, 7*len(reqs))
	entries := make([]audit.Entry, len(reqs))
	for i, r := range reqs {
		t := r.t
		t.Expiration = norm(t.Expiration)
		data, err := json.Marshal(t)
		if err != nil {
			errs[i] = err
			return s.flushAccessOneByOne(reqs, errs)
		}
		args = append(args, t.ID, t.ClientID, t.CitizenID, t.RefreshTokenID, string(data), us(t.Expiration), b2i(t.Revoked))
		entries[i] = r.e
	}
	if s.db.Dialect == db.Postgres && s.flushAccessPipelined(ctx, args, entries) {
		return errs
	}
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		if err := s.db.InsertRows(ctx, tx, insertAccessPrefix, "", 7, args); err != nil {
			return err
		}
		if !TokenAudit {
			return nil // the benchmark-only build (tokenaudit_noaudit.go)
		}
		return s.recordLast(ctx, tx, entries...)
	})
	if err != nil {
		// A row the database refused (a duplicate ID, say) must fail alone.
		return s.flushAccessOneByOne(reqs, errs)
	}
	return errs
}

// insertAccessArrays inserts access tokens given as one array per column,
// whatever their number, in one statement of one text (PostgreSQL).
const insertAccessArrays = `INSERT INTO issuer_access_tokens (id, client_id, citizen_id, refresh_token_id, data, expiration, revoked)
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::int[])`

// flushAccessPipelined writes a group on PostgreSQL as one transaction
// sent at once (db.Pipeline): the tokens' INSERT and the statement that
// numbers their entries, guessing the log's head (audit/sqlstore
// SequenceStatement) — one round trip where the transaction took six. It
// reports whether the group committed; when not (no guess, a wrong one,
// a refused row), nothing did, and the caller writes the group the usual
// way. args holds the tokens' rows, 7 values each.
func (s *Store) flushAccessPipelined(ctx context.Context, args []any, entries []audit.Entry) bool {
	n := len(args) / 7
	cols := [7][]any{}
	for c := range cols {
		cols[c] = make([]any, n)
		for r := range n {
			cols[c][r] = args[7*r+c]
		}
	}
	stmts := []db.Statement{{SQL: insertAccessArrays, Args: []any{
		toArray[string](cols[0]), toArray[string](cols[1]), toArray[string](cols[2]), toArray[string](cols[3]),
		toArray[string](cols[4]), toArray[int64](cols[5]), toArray[int](cols[6])}}}
	var done func(bool)
	if TokenAudit && s.audit != nil {
		seq, ok := s.audit.(statementSequencer)
		if !ok {
			return false
		}
		st, d, ok, err := seq.SequenceStatement(entries...)
		if err != nil || !ok {
			return false
		}
		stmts, done = append(stmts, st), d
	}
	_, err := s.db.Pipeline(ctx, stmts...)
	if done != nil {
		done(err == nil)
	}
	if err == nil {
		s.pipelined.Add(1)
	}
	return err == nil
}

// toArray converts values known to be Ts.
func toArray[T any](v []any) []T {
	out := make([]T, len(v))
	for i, x := range v {
		out[i] = x.(T)
	}
	return out
}

// flushAccessOneByOne inserts each token with its entry in its own
// transaction, so that each caller gets its own outcome.
func (s *Store) flushAccessOneByOne(reqs []accessReq, errs []error) []error {
	ctx := context.Background()
	for i, r := range reqs {
		if errs[i] != nil {
			continue
		}
		errs[i] = s.db.InTx(ctx, func(tx *sql.Tx) error {
			if err := s.insertAccess(ctx, tx, r.t); err != nil {
				return err
			}
			return s.record(ctx, tx, r.e)
		})
	}
	return errs
}

func (s *Store) AccessToken(ctx context.Context, id string) (issuer.AccessToken, error) {
	var data string
	var revoked int
	err := s.db.QueryRowCached(ctx, nil, `SELECT data, revoked FROM issuer_access_tokens WHERE id = $1`, id).Scan(&data, &revoked)
	if err != nil {
		return issuer.AccessToken{}, notFound("access token", err)
	}
	var t issuer.AccessToken
	if err := json.Unmarshal([]byte(data), &t); err != nil {
		return t, fmt.Errorf("access token: decode: %w", err)
	}
	t.Revoked = revoked == 1
	return t, nil
}

func (s *Store) CreateRefreshToken(ctx context.Context, rt issuer.RefreshToken, at issuer.AccessToken) error {
	e := s.tokenEntry(ctx, issuer.ActionToken, at)
	return s.batch.Do(ctx, func(tx *sql.Tx) error {
		if err := s.insertRefresh(ctx, tx, rt); err != nil {
			return err
		}
		if err := s.insertAccess(ctx, tx, at); err != nil {
			return err
		}
		return s.record(ctx, tx, e)
	})
}

func (s *Store) RefreshToken(ctx context.Context, id string) (issuer.RefreshToken, error) {
	return s.refreshToken(ctx, nil, id)
}

// refreshToken reads refresh token id in tx (or on the database when tx is
// nil).
func (s *Store) refreshToken(ctx context.Context, tx *sql.Tx, id string) (issuer.RefreshToken, error) {
	var data string
	var used, revoked int
	err := s.db.QueryRowCached(ctx, tx, `SELECT data, used, revoked FROM issuer_refresh_tokens WHERE id = $1`, id).Scan(&data, &used, &revoked)
	if err != nil {
		return issuer.RefreshToken{}, notFound("refresh token", err)
	}
	var t issuer.RefreshToken
	if err := json.Unmarshal([]byte(data), &t); err != nil {
		return t, fmt.Errorf("refresh token: decode: %w", err)
	}
	t.Used, t.Revoked = used == 1, revoked == 1
	return t, nil
}

func (s *Store) RotateRefreshToken(ctx context.Context, oldID string, next issuer.RefreshToken, at issuer.AccessToken) error {
	var family string
	e := s.tokenEntry(ctx, issuer.ActionRefresh, at)
	err := s.batch.Do(ctx, func(tx *sql.Tx) error {
		// The conditional UPDATE is the single point that decides which of
		// two concurrent presentations wins (RFC 9700 §4.14.2).
		res, err := s.db.ExecCached(ctx, tx, `UPDATE issuer_refresh_tokens SET used = 1 WHERE id = $1 AND used = 0 AND revoked = 0`, oldID)
		if err != nil {
			return fmt.Errorf("rotate refresh token: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			old, err := s.refreshToken(ctx, tx, oldID)
			if err != nil {
				return err
			}
			family = old.FamilyID
			return issuer.ErrReused
		}
		if err := s.insertRefresh(ctx, tx, next); err != nil {
			return err
		}
		if err := s.insertAccess(ctx, tx, at); err != nil {
			return err
		}
		return s.record(ctx, tx, e)
	})
	if errors.Is(err, issuer.ErrReused) {
		// The refused presentation and the revocation it causes are
		// recorded together, in the revocation's transaction.
		e.Outcome = audit.Denied
		if rerr := s.revokeFamily(ctx, family, e); rerr != nil {
			return fmt.Errorf("rotate refresh token: revoke family after reuse: %w", rerr)
		}
		return fmt.Errorf("rotate refresh token: %w", issuer.ErrReused)
	}
	return err
}

func (s *Store) RevokeAccessToken(ctx context.Context, id string) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		var clientID, citizenID string
		err := tx.QueryRowContext(ctx, `UPDATE issuer_access_tokens SET revoked = 1 WHERE id = $1 RETURNING client_id, citizen_id`, id).
			Scan(&clientID, &citizenID)
		if err != nil {
			return notFound("revoke access token", err)
		}
		return s.record(ctx, tx, s.entry(ctx, issuer.ActionRevoke, actorOr(ctx, client(clientID)), citizenID, audit.Allowed, nil))
	})
}

func (s *Store) RevokeFamily(ctx context.Context, familyID string) error {
	return s.revokeFamily(ctx, familyID)
}

// revokeFamily revokes the family and records first (when given) and the
// revocation.
func (s *Store) revokeFamily(ctx context.Context, familyID string, first ...audit.Entry) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		var clientID, citizenID string
		err := tx.QueryRowContext(ctx, `SELECT client_id, citizen_id FROM issuer_refresh_tokens WHERE family_id = $1 LIMIT 1`, familyID).
			Scan(&clientID, &citizenID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // no such family: nothing to revoke, nothing to record
		}
		if err != nil {
			return fmt.Errorf("revoke family: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE issuer_refresh_tokens SET revoked = 1 WHERE family_id = $1`, familyID); err != nil {
			return fmt.Errorf("revoke family: %w", err)
		}
		_, err = tx.ExecContext(ctx, `UPDATE issuer_access_tokens SET revoked = 1 WHERE refresh_token_id IN
			(SELECT id FROM issuer_refresh_tokens WHERE family_id = $1)`, familyID)
		if err != nil {
			return fmt.Errorf("revoke family: %w", err)
		}
		entries := append(first, s.entry(ctx, issuer.ActionRevoke, actorOr(ctx, client(clientID)), citizenID, audit.Allowed, nil))
		return s.record(ctx, tx, entries...)
	})
}

func (s *Store) RevokeGrant(ctx context.Context, citizenID, clientID string) (int, error) {
	var total int64
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		total = 0
		for _, table := range []string{"issuer_refresh_tokens", "issuer_access_tokens"} {
			res, err := tx.ExecContext(ctx, `UPDATE `+table+` SET revoked = 1
				WHERE citizen_id = $1 AND ($2 = '' OR client_id = $2) AND revoked = 0`, citizenID, clientID)
			if err != nil {
				return fmt.Errorf("revoke grant: %w", err)
			}
			n, _ := res.RowsAffected()
			total += n
		}
		if total == 0 {
			return nil
		}
		return s.record(ctx, tx, s.entry(ctx, issuer.ActionRevoke, actorOr(ctx, s.citizen(citizenID)), citizenID, audit.Allowed, nil))
	})
	return int(total), err
}

// deleteBatch is how many expired tokens one housekeeping transaction
// deletes: a few milliseconds of the write lock.
var deleteBatch = 2048

// DeleteTokensBefore deletes expired tokens deleteBatch at a time, oldest
// first, each batch its own transaction, through the expiry indexes
// (migration 4): however many expired since the last round, no request
// waits long for the write lock.
func (s *Store) DeleteTokensBefore(ctx context.Context, t time.Time) (int, error) {
	total := 0
	for _, table := range []string{"issuer_access_tokens", "issuer_refresh_tokens"} {
		q := `DELETE FROM ` + table + ` WHERE id IN (SELECT id FROM ` + table + ` WHERE expiration < $1 ORDER BY expiration LIMIT $2)`
		for {
			res, err := s.db.ExecCached(ctx, nil, q, us(t), deleteBatch)
			if err != nil {
				return total, fmt.Errorf("delete tokens: %w", err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return total, fmt.Errorf("delete tokens: %w", err)
			}
			total += int(n)
			if n < int64(deleteBatch) {
				break
			}
		}
	}
	return total, nil
}

func (s *Store) GrantClients(ctx context.Context, citizenID string, now time.Time) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT client_id FROM issuer_access_tokens WHERE citizen_id = $1 AND revoked = 0 AND expiration > $2
		UNION SELECT client_id FROM issuer_refresh_tokens WHERE citizen_id = $1 AND revoked = 0 AND expiration > $2
		ORDER BY client_id`, citizenID, us(now))
	if err != nil {
		return nil, fmt.Errorf("grant clients: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("grant clients: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
