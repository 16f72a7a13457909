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
	var redeemed int
	if err := s.db.QueryRowCached(ctx, tx, `SELECT data, code, redeemed FROM issuer_auth_requests WHERE `+where, arg).Scan(&data, &code, &redeemed); err != nil {
		return issuer.AuthRequest{}, notFound("auth request", err)
	}
	var r issuer.AuthRequest
	if err := json.Unmarshal([]byte(data), &r); err != nil {
		return r, fmt.Errorf("auth request: decode: %w", err)
	}
	r.Code, r.Redeemed = code.String, redeemed == 1
	return r, nil
}

func (s *Store) AuthRequest(ctx context.Context, id string) (issuer.AuthRequest, error) {
	return s.authRequest(ctx, nil, `id = $1`, id)
}

func (s *Store) AuthRequestByCode(ctx context.Context, codeHash string) (issuer.AuthRequest, error) {
	return s.authRequest(ctx, nil, `code = $1`, codeHash)
}

func (s *Store) CompleteAuthRequest(ctx context.Context, id string, c issuer.Completion) error {
	citizenID, sid := c.CitizenID, c.SessionID
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		r, err := s.authRequest(ctx, tx, `id = $1`, id)
		if err != nil {
			return err
		}
		r.CitizenID, r.Subject, r.SessionID, r.AMR, r.AuthTime, r.Done = citizenID, c.Subject, sid, c.AMR, norm(c.AuthTime), true
		r.Verification = c.Verification
		r.Code, r.Redeemed = "", false // columns, not data
		data, err := json.Marshal(r)
		if err != nil {
			return err
		}
		_, err = s.db.ExecCached(ctx, tx, `UPDATE issuer_auth_requests SET data = $2 WHERE id = $1`, id, string(data))
		if err != nil {
			return fmt.Errorf("complete auth request: %w", err)
		}
		if err := addSessionClient(ctx, tx, sid, r.ClientID, citizenID); err != nil {
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
	insertAccessPrefix = `INSERT INTO issuer_access_tokens (id, client_id, citizen_id, refresh_token_id, data, expiration, revoked, family_id) VALUES `
	insertAccessSQL    = insertAccessPrefix + `($1, $2, $3, $4, $5, $6, $7, $8)`
	accessCols         = 8
)

func (s *Store) insertAccess(ctx context.Context, tx *sql.Tx, t issuer.AccessToken) error {
	t.Expiration = norm(t.Expiration)
	data, err := json.Marshal(t)
	if err != nil {
		return err
	}
	_, err = s.db.ExecCached(ctx, tx, insertAccessSQL, t.ID, t.ClientID, t.CitizenID, t.RefreshTokenID, string(data), us(t.Expiration), b2i(t.Revoked), t.FamilyID)
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

// maxAccessGroup bounds a group: 8 parameters a row stays far below both
// databases' parameter limits.
const maxAccessGroup = 256

func (s *Store) flushAccess(reqs []accessReq) []error {
	errs := make([]error, len(reqs))
	ctx := context.Background()
	args := make([]any, 0, accessCols*len(reqs))
	entries := make([]audit.Entry, len(reqs))
	for i, r := range reqs {
		t := r.t
		t.Expiration = norm(t.Expiration)
		data, err := json.Marshal(t)
		if err != nil {
			errs[i] = err
			return s.flushAccessOneByOne(reqs, errs)
		}
		args = append(args, t.ID, t.ClientID, t.CitizenID, t.RefreshTokenID, string(data), us(t.Expiration), b2i(t.Revoked), t.FamilyID)
		entries[i] = r.e
	}
	if s.db.Dialect == db.Postgres && s.flushAccessPipelined(ctx, args, entries) {
		return errs
	}
	var done func(committed bool)
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		if err := s.db.InsertRows(ctx, tx, insertAccessPrefix, "", accessCols, args); err != nil {
			return err
		}
		if !TokenAudit {
			return nil // the benchmark-only build (tokenaudit_noaudit.go)
		}
		var err error
		done, err = s.recordLast(ctx, tx, entries...)
		return err
	})
	if done != nil {
		done(err == nil)
	}
	if err != nil {
		// A row the database refused (a duplicate ID, say) must fail alone.
		return s.flushAccessOneByOne(reqs, errs)
	}
	return errs
}

// insertAccessArrays inserts access tokens given as one array per column,
// whatever their number, in one statement of one text (PostgreSQL).
const insertAccessArrays = `INSERT INTO issuer_access_tokens (id, client_id, citizen_id, refresh_token_id, data, expiration, revoked, family_id)
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::int[], $8::text[])`

// flushAccessPipelined writes a group on PostgreSQL as one transaction
// sent at once (db.Pipeline): the tokens' INSERT and the statement that
// numbers their entries, guessing the log's head (audit/sqlstore
// SequenceStatement) — one round trip where the transaction took six. It
// reports whether the group committed; when not (no guess, a wrong one,
// a refused row), nothing did, and the caller writes the group the usual
// way. args holds the tokens' rows, 7 values each.
func (s *Store) flushAccessPipelined(ctx context.Context, args []any, entries []audit.Entry) bool {
	n := len(args) / accessCols
	cols := [accessCols][]any{}
	for c := range cols {
		cols[c] = make([]any, n)
		for r := range n {
			cols[c][r] = args[accessCols*r+c]
		}
	}
	stmts := []db.Statement{{SQL: insertAccessArrays, Args: []any{
		toArray[string](cols[0]), toArray[string](cols[1]), toArray[string](cols[2]), toArray[string](cols[3]),
		toArray[string](cols[4]), toArray[int64](cols[5]), toArray[int](cols[6]), toArray[string](cols[7])}}}
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
	at.FamilyID = rt.FamilyID
	e := s.tokenEntry(ctx, issuer.ActionToken, at)
	return s.batch.Do(ctx, func(tx *sql.Tx) error { return s.insertGrant(ctx, tx, &rt, at, e) })
}

func (s *Store) RedeemCode(ctx context.Context, authRequestID string, at issuer.AccessToken, rt *issuer.RefreshToken) error {
	at.FamilyID = authRequestID
	if rt != nil {
		rt.FamilyID = authRequestID
	}
	var citizenID string
	e := s.tokenEntry(ctx, issuer.ActionToken, at)
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		// The conditional UPDATE decides which of two concurrent
		// redemptions wins.
		res, err := tx.ExecContext(ctx, `UPDATE issuer_auth_requests SET redeemed = 1 WHERE id = $1 AND redeemed = 0`, authRequestID)
		if err != nil {
			return fmt.Errorf("redeem code: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			r, err := s.authRequest(ctx, tx, `id = $1`, authRequestID)
			if err != nil {
				return err
			}
			citizenID = r.CitizenID
			return issuer.ErrReused
		}
		return s.insertGrant(ctx, tx, rt, at, e)
	})
	if errors.Is(err, issuer.ErrReused) {
		// RFC 6749 §4.1.2: the second redemption is refused and what the
		// first issued is revoked.
		return s.refuseReuse(ctx, "redeem code", authRequestID, at.ClientID, citizenID, e)
	}
	return err
}

// insertGrant stores the tokens of one issuance (rt nil for an access
// token alone) with its audit entry e, in tx.
func (s *Store) insertGrant(ctx context.Context, tx *sql.Tx, rt *issuer.RefreshToken, at issuer.AccessToken, e audit.Entry) error {
	if rt != nil {
		if err := s.insertRefresh(ctx, tx, *rt); err != nil {
			return err
		}
	}
	if err := s.insertAccess(ctx, tx, at); err != nil {
		return err
	}
	return s.record(ctx, tx, e)
}

// refuseReuse revokes family after a grant came back a second time, and
// records the refused issuance e and the revocation together, in the
// revocation's transaction. It returns ErrReused.
func (s *Store) refuseReuse(ctx context.Context, op, family, clientID, citizenID string, e audit.Entry) error {
	e.Outcome = audit.Denied
	if err := s.revokeFamily(ctx, family, clientID, citizenID, e); err != nil {
		return fmt.Errorf("%s: revoke family after reuse: %w", op, err)
	}
	return fmt.Errorf("%s: %w", op, issuer.ErrReused)
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
	at.FamilyID = next.FamilyID
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
		return s.insertGrant(ctx, tx, &next, at, e)
	})
	if errors.Is(err, issuer.ErrReused) {
		return s.refuseReuse(ctx, "rotate refresh token", family, "", "", e)
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
	return s.revokeFamily(ctx, familyID, "", "")
}

// revokeFamily revokes every refresh and access token of the family and
// records first (when given) and the revocation. clientID and citizenID
// name the grant for the entries when the family may have no token left
// to name them (a code whose tokens were deleted); else they are read.
func (s *Store) revokeFamily(ctx context.Context, familyID, clientID, citizenID string, first ...audit.Entry) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		var n int64
		for _, table := range []string{"issuer_refresh_tokens", "issuer_access_tokens"} {
			if clientID == "" {
				err := tx.QueryRowContext(ctx, `SELECT client_id, citizen_id FROM `+table+` WHERE family_id = $1 LIMIT 1`, familyID).
					Scan(&clientID, &citizenID)
				if err != nil && !errors.Is(err, sql.ErrNoRows) {
					return fmt.Errorf("revoke family: %w", err)
				}
			}
			res, err := tx.ExecContext(ctx, `UPDATE `+table+` SET revoked = 1 WHERE family_id = $1`, familyID)
			if err != nil {
				return fmt.Errorf("revoke family: %w", err)
			}
			k, _ := res.RowsAffected()
			n += k
		}
		entries := first
		if n > 0 {
			entries = append(entries, s.entry(ctx, issuer.ActionRevoke, actorOr(ctx, client(clientID)), citizenID, audit.Allowed, nil))
		}
		return s.record(ctx, tx, entries...) // no such family and nothing refused: nothing to record
	})
}

func (s *Store) RevokeGrant(ctx context.Context, citizenID, clientID string) (int, error) {
	var total int64
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		total = 0
		if err := s.endGrantSessions(ctx, tx, citizenID, clientID); err != nil {
			return fmt.Errorf("revoke grant: %w", err)
		}
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
	return grantClients(ctx, s.db, citizenID, now)
}

func grantClients(ctx context.Context, q queryer, citizenID string, now time.Time) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT client_id FROM issuer_access_tokens WHERE citizen_id = $1 AND revoked = 0 AND expiration > $2
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
