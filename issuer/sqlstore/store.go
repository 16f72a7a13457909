package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/issuer"
)

// Store implements issuer.Store.
type Store struct {
	db *db.DB
	// batch group-commits token writes, the hot path of the token
	// endpoint: concurrent requests share one transaction and one fsync.
	batch *db.Batcher
	// access group-inserts access tokens, one multi-row INSERT per group.
	access *db.Group[accessReq]
	// pieces group-commits the credential issuer's hot writes.
	pieces *db.Group[piece]
	// pipelined counts the groups written in one round trip (PostgreSQL).
	pipelined atomic.Uint64
	cancel    context.CancelFunc

	audit      TxAppender // nil: changes are not audited
	pseudonyms *audit.Pseudonyms
}

var _ issuer.Store = (*Store)(nil)

// New returns a store over d, which must have Migrations applied.
func New(d *db.DB, opts ...Option) *Store {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Store{db: d, batch: db.NewBatcher(ctx, d, 256), cancel: cancel}
	for _, o := range opts {
		o(s)
	}
	s.access = db.NewGroup(ctx, maxAccessGroup, s.flushAccess)
	s.pieces = db.NewGroup(ctx, 128, s.flushPieces)
	return s
}

// GroupCommits reports the group-commit writer's transactions and the
// writes they carried.
func (s *Store) GroupCommits() (batches, items uint64) {
	b1, i1 := s.batch.Stats()
	b2, i2 := s.access.Stats()
	return b1 + b2, i1 + i2
}

// Close stops the store's group-commit writer; the database stays open.
func (s *Store) Close() { s.cancel() }

type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func us(t time.Time) int64 { return db.Micros(t) }

// norm gives t the precision and zone the store keeps: microseconds, UTC.
func norm(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}
func tm(v int64) time.Time { return db.FromMicros(v) }
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
func jsonList(v []string) string {
	if v == nil {
		v = []string{}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func parseList(s string) []string {
	var v []string
	_ = json.Unmarshal([]byte(s), &v)
	if len(v) == 0 {
		return nil
	}
	return v
}

// notFound maps sql.ErrNoRows to issuer.ErrNotFound.
func notFound(op string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, issuer.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", op, err)
}

func exists(op string, err error) error {
	if db.IsUniqueViolation(err) {
		return fmt.Errorf("%s: %w", op, issuer.ErrExists)
	}
	return fmt.Errorf("%s: %w", op, err)
}

func affected(op string, res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", op, issuer.ErrNotFound)
	}
	return nil
}

// ---- citizens

func (s *Store) CreateCitizen(ctx context.Context, c issuer.Citizen) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO issuer_citizens (id, given_name, family_name, birthdate, email, locale, created)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, c.ID, c.GivenName, c.FamilyName, c.Birthdate, c.Email, c.Locale, us(c.Created))
		if err != nil {
			return exists("create citizen", err)
		}
		return s.record(ctx, tx, s.entry(ctx, issuer.ActionCitizenCreate, actorOr(ctx, system), c.ID, audit.Allowed, nil))
	})
}

func (s *Store) EraseCitizen(ctx context.Context, id string) (issuer.Erased, error) {
	var out issuer.Erased
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		out = issuer.Erased{}
		res, err := tx.ExecContext(ctx, `UPDATE issuer_citizens SET given_name = '', family_name = '', birthdate = '', email = '', locale = ''
			WHERE id = $1`, id)
		if err != nil {
			return fmt.Errorf("erase citizen: %w", err)
		}
		if err := affected("erase citizen", res); err != nil {
			return err
		}
		// Every agency holding a session or a live token of the citizen
		// is told that it ended, before the sessions and tokens go.
		if err := s.endGrantSessions(ctx, tx, id, ""); err != nil {
			return fmt.Errorf("erase citizen: %w", err)
		}
		// The citizen's credentials are revoked in their status lists
		// (which must keep saying so) and no longer name them.
		if err := s.setStatusWhere(ctx, tx, `citizen_id = $1`, id, 1); err != nil {
			return fmt.Errorf("erase citizen: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE issuer_vci_credentials SET citizen_id = '', pending = NULL WHERE citizen_id = $1`, id); err != nil {
			return fmt.Errorf("erase citizen: %w", err)
		}
		for _, d := range []struct {
			n     *int
			query string
		}{
			{&out.Passkeys, `DELETE FROM issuer_passkeys WHERE citizen_id = $1`},
			{&out.RecoveryCodes, `DELETE FROM issuer_recovery_codes WHERE citizen_id = $1`},
			{&out.Enrolments, `DELETE FROM issuer_enrolments WHERE citizen_id = $1`},
			{&out.Sessions, `DELETE FROM issuer_sessions WHERE citizen_id = $1`},
			{&out.Tokens, `UPDATE issuer_refresh_tokens SET revoked = 1 WHERE citizen_id = $1 AND revoked = 0`},
			{&out.Tokens, `UPDATE issuer_access_tokens SET revoked = 1 WHERE citizen_id = $1 AND revoked = 0`},
		} {
			res, err := tx.ExecContext(ctx, d.query, id)
			if err != nil {
				return fmt.Errorf("erase citizen: %w", err)
			}
			n, _ := res.RowsAffected()
			*d.n += int(n)
		}
		return s.record(ctx, tx, s.entry(ctx, issuer.ActionCitizenErase, actorOr(ctx, system), id, audit.Allowed, nil))
	})
	if err != nil {
		return issuer.Erased{}, err
	}
	return out, nil
}

func (s *Store) Citizen(ctx context.Context, id string) (issuer.Citizen, error) {
	var c issuer.Citizen
	var created int64
	err := s.db.QueryRowCached(ctx, nil, `SELECT id, given_name, family_name, birthdate, email, locale, created
		FROM issuer_citizens WHERE id = $1`, id).Scan(&c.ID, &c.GivenName, &c.FamilyName, &c.Birthdate, &c.Email, &c.Locale, &created)
	if err != nil {
		return issuer.Citizen{}, notFound("citizen", err)
	}
	c.Created = tm(created)
	return c, nil
}

// CitizenIDs returns up to limit citizen IDs after after, in order: the
// way to walk every citizen (a scheduled journey).
func (s *Store) CitizenIDs(ctx context.Context, after string, limit int) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM issuer_citizens WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// ---- clients

const clientCols = `id, name, redirect_uris, post_logout_uris, grant_types, auth_method, secret_hash, jwks,
	subject_type, sector_id, id_token_alg, backchannel_logout_uri, scopes, created, require_par`

// selectClient reads one client's registration.
const selectClient = `SELECT ` + clientCols + ` FROM issuer_clients WHERE id = $1`

func (s *Store) PutClient(ctx context.Context, c issuer.Client) error {
	return s.putClient(ctx, c, false)
}

func (s *Store) PutClientKeepPrivileges(ctx context.Context, c issuer.Client) error {
	return s.putClient(ctx, c, true)
}

// putClient creates or replaces c; with keep, only when its privileged
// scopes stay as stored. It records the registration, then one entry per
// privileged scope granted or revoked.
func (s *Store) putClient(ctx context.Context, c issuer.Client, keep bool) error {
	args := []any{c.ID, c.Name, jsonList(c.RedirectURIs), jsonList(c.PostLogoutRedirectURIs), jsonList(c.GrantTypes),
		c.AuthMethod, c.SecretHash, c.JWKS, c.SubjectType, c.SectorID, c.IDTokenAlg, c.BackchannelLogoutURI,
		jsonList(c.Scopes), us(c.Created), b2i(c.RequirePAR)}
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		old, found, err := s.lockClient(ctx, tx, c.ID)
		if err != nil {
			return fmt.Errorf("put client: %w", err)
		}
		granted, revoked := issuer.PrivilegeChanges(old, c)
		if keep && len(granted)+len(revoked) > 0 {
			return fmt.Errorf("put client %q: %w: it would grant %q and revoke %q", c.ID, issuer.ErrPrivileged, granted, revoked)
		}
		// A registration that changes nothing but its time (the
		// configured clients, synced at every start) is neither
		// written nor audited.
		if found && sameClient(old, c) {
			return nil
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO issuer_clients (`+clientCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, redirect_uris = excluded.redirect_uris,
		post_logout_uris = excluded.post_logout_uris, grant_types = excluded.grant_types,
		auth_method = excluded.auth_method, secret_hash = excluded.secret_hash, jwks = excluded.jwks,
		subject_type = excluded.subject_type, sector_id = excluded.sector_id, id_token_alg = excluded.id_token_alg,
		backchannel_logout_uri = excluded.backchannel_logout_uri, scopes = excluded.scopes, created = excluded.created,
		require_par = excluded.require_par`, args...)
		if err != nil {
			return fmt.Errorf("put client: %w", err)
		}
		actor := actorOr(ctx, system)
		entries := []audit.Entry{s.entry(ctx, issuer.ActionClientRegister, actor, "", audit.Allowed, nil)}
		entries = append(entries, s.privilegeEntries(ctx, actor, c.ID, granted, revoked)...)
		return s.record(ctx, tx, entries...)
	})
}

// lockClient reads the client with id in tx, locking its row on
// PostgreSQL (SQLite's transactions hold the write lock from BEGIN), so
// that a change computed from it cannot undo a concurrent one. found is
// false, with no error, when there is none.
func (s *Store) lockClient(ctx context.Context, tx *sql.Tx, id string) (c issuer.Client, found bool, err error) {
	q := `SELECT ` + clientCols + ` FROM issuer_clients WHERE id = $1`
	if s.db.Dialect == db.Postgres {
		q += ` FOR UPDATE`
	}
	c, err = scanClient(tx.QueryRowContext(ctx, q, id))
	if errors.Is(err, sql.ErrNoRows) {
		return issuer.Client{}, false, nil
	}
	return c, err == nil, err
}

// privilegeEntries are the entries of privileged scopes granted to and
// revoked from clientID by actor.
func (s *Store) privilegeEntries(ctx context.Context, actor audit.Actor, clientID string, granted, revoked []string) []audit.Entry {
	var out []audit.Entry
	for _, ch := range []struct {
		action string
		scopes []string
	}{{issuer.ActionPrivilegeGrant, granted}, {issuer.ActionPrivilegeRevoke, revoked}} {
		for _, scope := range ch.scopes {
			out = append(out, s.entry(ctx, ch.action, actor, "", audit.Allowed, issuer.PrivilegeCategories(clientID, scope)))
		}
	}
	return out
}

func (s *Store) GrantPrivilege(ctx context.Context, clientID, scope string) (bool, error) {
	return s.changePrivilege(ctx, clientID, scope, true)
}

func (s *Store) RevokePrivilege(ctx context.Context, clientID, scope string) (bool, error) {
	return s.changePrivilege(ctx, clientID, scope, false)
}

// changePrivilege adds (grant) or removes scope from the client's scopes,
// with its entry, unless the client already holds it (or does not).
func (s *Store) changePrivilege(ctx context.Context, clientID, scope string, grant bool) (bool, error) {
	op := "revoke privilege"
	if grant {
		op = "grant privilege"
	}
	if !issuer.IsPrivileged(scope) {
		return false, fmt.Errorf("%s: %w: %q (privileged: %q)", op, issuer.ErrNotPrivileged, scope, issuer.PrivilegedScopes())
	}
	changed := false
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		changed = false
		c, found, err := s.lockClient(ctx, tx, clientID)
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if !found {
			return fmt.Errorf("%s: client %q: %w", op, clientID, issuer.ErrNotFound)
		}
		next := c
		if grant {
			next.Scopes = append(slices.Clone(c.Scopes), scope)
		} else {
			next.Scopes = slices.DeleteFunc(slices.Clone(c.Scopes), func(s string) bool { return s == scope })
		}
		granted, revoked := issuer.PrivilegeChanges(c, next)
		if len(granted)+len(revoked) == 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE issuer_clients SET scopes = $2 WHERE id = $1`, clientID, jsonList(next.Scopes)); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		changed = true
		return s.record(ctx, tx, s.privilegeEntries(ctx, actorOr(ctx, system), clientID, granted, revoked)...)
	})
	return changed, err
}

// sameClient reports whether a and b register the same client, whatever
// their creation times.
func sameClient(a, b issuer.Client) bool {
	a.Created, b.Created = time.Time{}, time.Time{}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

func scanClient(row interface{ Scan(...any) error }) (issuer.Client, error) {
	var c issuer.Client
	var redirects, postLogout, grants, scopes string
	var created int64
	var requirePAR int
	err := row.Scan(&c.ID, &c.Name, &redirects, &postLogout, &grants, &c.AuthMethod, &c.SecretHash, &c.JWKS,
		&c.SubjectType, &c.SectorID, &c.IDTokenAlg, &c.BackchannelLogoutURI, &scopes, &created, &requirePAR)
	if err != nil {
		return c, err
	}
	c.RequirePAR = requirePAR == 1
	c.RedirectURIs, c.PostLogoutRedirectURIs, c.GrantTypes, c.Scopes = parseList(redirects), parseList(postLogout), parseList(grants), parseList(scopes)
	if len(c.SecretHash) == 0 {
		c.SecretHash = nil
	}
	if len(c.JWKS) == 0 {
		c.JWKS = nil
	}
	c.Created = tm(created)
	return c, nil
}

func (s *Store) Client(ctx context.Context, id string) (issuer.Client, error) {
	c, err := scanClient(s.db.QueryRowCached(ctx, nil, selectClient, id))
	if err != nil {
		return issuer.Client{}, notFound("client", err)
	}
	return c, nil
}

func (s *Store) ListClients(ctx context.Context) ([]issuer.Client, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+clientCols+` FROM issuer_clients ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	defer rows.Close()
	var out []issuer.Client
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, fmt.Errorf("list clients: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (s *Store) DeleteClient(ctx context.Context, id string) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		old, found, err := s.lockClient(ctx, tx, id)
		if err != nil {
			return fmt.Errorf("delete client: %w", err)
		}
		if !found {
			return fmt.Errorf("delete client: %w", issuer.ErrNotFound)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM issuer_clients WHERE id = $1`, id); err != nil {
			return fmt.Errorf("delete client: %w", err)
		}
		actor := actorOr(ctx, system)
		entries := []audit.Entry{s.entry(ctx, issuer.ActionClientDelete, actor, "", audit.Allowed, nil)}
		entries = append(entries, s.privilegeEntries(ctx, actor, id, nil, old.Privileges())...)
		return s.record(ctx, tx, entries...)
	})
}

// ---- passkeys

const passkeyCols = `id, citizen_id, name, public_key, attestation_type, aaguid, sign_count, backup_eligible,
	backup_state, transports, created, last_used`

func (s *Store) AddPasskey(ctx context.Context, p issuer.Passkey) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO issuer_passkeys (`+passkeyCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			p.ID, p.CitizenID, p.Name, p.PublicKey, p.AttestationType, p.AAGUID, int64(p.SignCount),
			b2i(p.BackupEligible), b2i(p.BackupState), jsonList(p.Transports), us(p.Created), us(p.LastUsed))
		if err != nil {
			return exists("add passkey", err)
		}
		return s.record(ctx, tx, s.entry(ctx, issuer.ActionPasskeyAdd, actorOr(ctx, s.citizen(p.CitizenID)), p.CitizenID, audit.Allowed, nil))
	})
}

func scanPasskey(row interface{ Scan(...any) error }) (issuer.Passkey, error) {
	var p issuer.Passkey
	var count int64
	var be, bs int
	var transports string
	var created, lastUsed int64
	err := row.Scan(&p.ID, &p.CitizenID, &p.Name, &p.PublicKey, &p.AttestationType, &p.AAGUID, &count, &be, &bs,
		&transports, &created, &lastUsed)
	if err != nil {
		return p, err
	}
	if len(p.AAGUID) == 0 {
		p.AAGUID = nil
	}
	p.SignCount, p.BackupEligible, p.BackupState = uint32(count), be == 1, bs == 1
	p.Transports, p.Created, p.LastUsed = parseList(transports), tm(created), tm(lastUsed)
	return p, nil
}

func (s *Store) Passkey(ctx context.Context, id []byte) (issuer.Passkey, error) {
	p, err := scanPasskey(s.db.QueryRowCached(ctx, nil, `SELECT `+passkeyCols+` FROM issuer_passkeys WHERE id = $1`, id))
	if err != nil {
		return issuer.Passkey{}, notFound("passkey", err)
	}
	return p, nil
}

func (s *Store) PasskeysOf(ctx context.Context, citizenID string) ([]issuer.Passkey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+passkeyCols+` FROM issuer_passkeys WHERE citizen_id = $1 ORDER BY created, id`, citizenID)
	if err != nil {
		return nil, fmt.Errorf("passkeys: %w", err)
	}
	defer rows.Close()
	var out []issuer.Passkey
	for rows.Next() {
		p, err := scanPasskey(rows)
		if err != nil {
			return nil, fmt.Errorf("passkeys: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func (s *Store) RecordPasskeyUse(ctx context.Context, id []byte, signCount uint32, backupState bool, at time.Time) error {
	var refused string // the citizen whose login the counter refused
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		// The counter check is part of the UPDATE so that two concurrent
		// logins cannot both pass it (WebAuthn L3 §6.1.1).
		var citizenID string
		err := tx.QueryRowContext(ctx, `UPDATE issuer_passkeys SET sign_count = $2, backup_state = $3, last_used = $4
		WHERE id = $1 AND ((sign_count = 0 AND CAST($2 AS BIGINT) = 0) OR CAST($2 AS BIGINT) > sign_count)
		RETURNING citizen_id`, id, int64(signCount), b2i(backupState), us(at)).Scan(&citizenID)
		if err == nil {
			return s.record(ctx, tx, s.entry(ctx, issuer.ActionLogin, s.citizen(citizenID), citizenID, audit.Allowed, nil))
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("record passkey use: %w", err)
		}
		p, err := scanPasskey(tx.QueryRowContext(ctx, `SELECT `+passkeyCols+` FROM issuer_passkeys WHERE id = $1`, id))
		if err != nil {
			return notFound("record passkey use", err)
		}
		refused = p.CitizenID
		return fmt.Errorf("record passkey use: %w", issuer.ErrCounter)
	})
	if refused != "" && s.audit != nil {
		// The refusal changes nothing but is recorded: a counter that
		// goes back may mean a cloned authenticator.
		if aerr := s.db.InTx(ctx, func(tx *sql.Tx) error {
			return s.record(ctx, tx, s.entry(ctx, issuer.ActionLogin, s.citizen(refused), refused, audit.Denied, nil))
		}); aerr != nil {
			return errors.Join(err, aerr)
		}
	}
	return err
}

func (s *Store) RenamePasskey(ctx context.Context, citizenID string, id []byte, name string) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE issuer_passkeys SET name = $3 WHERE id = $1 AND citizen_id = $2`, id, citizenID, name)
		if err != nil {
			return fmt.Errorf("rename passkey: %w", err)
		}
		if err := affected("rename passkey", res); err != nil {
			return err
		}
		return s.record(ctx, tx, s.entry(ctx, issuer.ActionPasskeyRename, actorOr(ctx, s.citizen(citizenID)), citizenID, audit.Allowed, nil))
	})
}

func (s *Store) DeletePasskey(ctx context.Context, citizenID string, id []byte) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		var owned, total, codes int
		err := tx.QueryRowContext(ctx, `SELECT
			(SELECT count(*) FROM issuer_passkeys WHERE id = $1 AND citizen_id = $2),
			(SELECT count(*) FROM issuer_passkeys WHERE citizen_id = $2),
			(SELECT count(*) FROM issuer_recovery_codes WHERE citizen_id = $2)`, id, citizenID).Scan(&owned, &total, &codes)
		if err != nil {
			return fmt.Errorf("delete passkey: %w", err)
		}
		if owned == 0 {
			return fmt.Errorf("delete passkey: %w", issuer.ErrNotFound)
		}
		if total == 1 && codes == 0 {
			return fmt.Errorf("delete passkey: %w", issuer.ErrLastPasskey)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM issuer_passkeys WHERE id = $1 AND citizen_id = $2`, id, citizenID)
		if err != nil {
			return fmt.Errorf("delete passkey: %w", err)
		}
		return s.record(ctx, tx, s.entry(ctx, issuer.ActionPasskeyRemove, actorOr(ctx, s.citizen(citizenID)), citizenID, audit.Allowed, nil))
	})
}

func (s *Store) DeletePasskeysExcept(ctx context.Context, citizenID string, keep []byte) (int, error) {
	query, args := `DELETE FROM issuer_passkeys WHERE citizen_id = $1 AND id <> $2`, []any{citizenID, keep}
	if keep == nil {
		query, args = `DELETE FROM issuer_passkeys WHERE citizen_id = $1`, args[:1]
	}
	var n int64
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("delete passkeys: %w", err)
		}
		if n, err = res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		return s.record(ctx, tx, s.entry(ctx, issuer.ActionPasskeyRemove, actorOr(ctx, s.citizen(citizenID)), citizenID, audit.Allowed, nil))
	})
	if err != nil {
		return 0, err
	}
	return int(n), nil
}

// ---- enrolments

func (s *Store) CreateEnrolment(ctx context.Context, e issuer.Enrolment) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO issuer_enrolments (token_hash, citizen_id, created_by, created, expires, used)
		VALUES ($1, $2, $3, $4, $5, $6)`, e.TokenHash, e.CitizenID, e.CreatedBy, us(e.Created), us(e.Expires), us(e.Used))
		if err != nil {
			return exists("create enrolment", err)
		}
		return s.record(ctx, tx, s.entry(ctx, issuer.ActionEnrolmentCreate, actorOr(ctx, system), e.CitizenID, audit.Allowed, nil))
	})
}

func (s *Store) enrolment(ctx context.Context, q queryer, tokenHash []byte) (issuer.Enrolment, error) {
	var e issuer.Enrolment
	var created, expires, used int64
	err := q.QueryRowContext(ctx, `SELECT token_hash, citizen_id, created_by, created, expires, used
		FROM issuer_enrolments WHERE token_hash = $1`, tokenHash).Scan(&e.TokenHash, &e.CitizenID, &e.CreatedBy, &created, &expires, &used)
	if err != nil {
		return e, notFound("enrolment", err)
	}
	e.Created, e.Expires, e.Used = tm(created), tm(expires), tm(used)
	return e, nil
}

func usable(e issuer.Enrolment, now time.Time) error {
	switch {
	case !e.Used.IsZero():
		return fmt.Errorf("enrolment: %w", issuer.ErrUsed)
	case !now.Before(e.Expires):
		return fmt.Errorf("enrolment: %w", issuer.ErrExpired)
	}
	return nil
}

func (s *Store) Enrolment(ctx context.Context, tokenHash []byte, now time.Time) (issuer.Enrolment, error) {
	e, err := s.enrolment(ctx, s.db, tokenHash)
	if err != nil {
		return issuer.Enrolment{}, err
	}
	if err := usable(e, now); err != nil {
		return issuer.Enrolment{}, err
	}
	return e, nil
}

func (s *Store) UseEnrolment(ctx context.Context, tokenHash []byte, now time.Time) (issuer.Enrolment, error) {
	var e issuer.Enrolment
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE issuer_enrolments SET used = $2 WHERE token_hash = $1 AND used = 0 AND expires > $2`, tokenHash, us(now))
		if err != nil {
			return fmt.Errorf("use enrolment: %w", err)
		}
		n, _ := res.RowsAffected()
		if e, err = s.enrolment(ctx, tx, tokenHash); err != nil {
			return err
		}
		if n == 1 {
			return s.record(ctx, tx, s.entry(ctx, issuer.ActionEnrolmentUse, s.citizen(e.CitizenID), e.CitizenID, audit.Allowed, nil))
		}
		if err := usable(e, now); err != nil {
			return err
		}
		return fmt.Errorf("use enrolment: %w", issuer.ErrUsed)
	})
	if err != nil {
		return issuer.Enrolment{}, err
	}
	return e, nil
}

// ---- recovery codes

func (s *Store) ReplaceRecoveryCodes(ctx context.Context, citizenID string, hashes [][]byte) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM issuer_recovery_codes WHERE citizen_id = $1`, citizenID); err != nil {
			return fmt.Errorf("replace recovery codes: %w", err)
		}
		for _, h := range hashes {
			if _, err := tx.ExecContext(ctx, `INSERT INTO issuer_recovery_codes (hash, citizen_id) VALUES ($1, $2)`, h, citizenID); err != nil {
				return exists("replace recovery codes", err)
			}
		}
		return s.record(ctx, tx, s.entry(ctx, issuer.ActionRecoveryCodes, actorOr(ctx, s.citizen(citizenID)), citizenID, audit.Allowed, nil))
	})
}

func (s *Store) UseRecoveryCode(ctx context.Context, hash []byte) (string, error) {
	var citizenID string
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `DELETE FROM issuer_recovery_codes WHERE hash = $1 RETURNING citizen_id`, hash).Scan(&citizenID)
		if err != nil {
			return notFound("use recovery code", err)
		}
		return s.record(ctx, tx, s.entry(ctx, issuer.ActionRecoveryUse, s.citizen(citizenID), citizenID, audit.Allowed, nil))
	})
	if err != nil {
		return "", err
	}
	return citizenID, nil
}

func (s *Store) RecoveryCodesLeft(ctx context.Context, citizenID string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM issuer_recovery_codes WHERE citizen_id = $1`, citizenID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("recovery codes: %w", err)
	}
	return n, nil
}

// ---- subjects

func (s *Store) PutSubject(ctx context.Context, sector, sub, citizenID string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO issuer_subjects (sector, sub, citizen_id) VALUES ($1, $2, $3)
		ON CONFLICT (sector, sub) DO NOTHING`, sector, sub, citizenID)
	if err != nil {
		return fmt.Errorf("put subject: %w", err)
	}
	return nil
}

func (s *Store) SubjectCitizen(ctx context.Context, sector, sub string) (string, error) {
	var id string
	err := s.db.QueryRowCached(ctx, nil, `SELECT citizen_id FROM issuer_subjects WHERE sector = $1 AND sub = $2`, sector, sub).Scan(&id)
	if err != nil {
		return "", notFound("subject", err)
	}
	return id, nil
}

// ---- sessions

func (s *Store) CreateSession(ctx context.Context, se issuer.Session) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO issuer_sessions (id_hash, citizen_id, amr, auth_time, expires, sid) VALUES ($1, $2, $3, $4, $5, $6)`,
			se.IDHash, se.CitizenID, jsonList(se.AMR), us(se.AuthTime), us(se.Expires), se.SID)
		if err != nil {
			return exists("create session", err)
		}
		return s.record(ctx, tx, s.entry(ctx, issuer.ActionSessionStart, s.citizen(se.CitizenID), se.CitizenID, audit.Allowed, nil))
	})
}

func (s *Store) Session(ctx context.Context, idHash []byte, now time.Time) (issuer.Session, error) {
	var se issuer.Session
	var amr string
	var authTime, expires int64
	err := s.db.QueryRowCached(ctx, nil, `SELECT id_hash, citizen_id, amr, auth_time, expires, sid FROM issuer_sessions
		WHERE id_hash = $1 AND expires > $2`, idHash, us(now)).Scan(&se.IDHash, &se.CitizenID, &amr, &authTime, &expires, &se.SID)
	if err != nil {
		return issuer.Session{}, notFound("session", err)
	}
	se.AMR, se.AuthTime, se.Expires = parseList(amr), tm(authTime), tm(expires)
	return se, nil
}

func (s *Store) DeleteSession(ctx context.Context, idHash []byte) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		var citizenID, sid string
		err := tx.QueryRowContext(ctx, `DELETE FROM issuer_sessions WHERE id_hash = $1 RETURNING citizen_id, sid`, idHash).Scan(&citizenID, &sid)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("delete session: %w", err)
		}
		if err := s.endLoginSessions(ctx, tx, citizenID, sid); err != nil {
			return fmt.Errorf("delete session: %w", err)
		}
		return s.record(ctx, tx, s.entry(ctx, issuer.ActionSessionEnd, actorOr(ctx, s.citizen(citizenID)), citizenID, audit.Allowed, nil))
	})
}

func (s *Store) DeleteSessionsOf(ctx context.Context, citizenID string) (int, error) {
	var ended int
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		sids, err := s.deleteSessionsWhere(ctx, tx, `citizen_id = $1`, citizenID)
		if err != nil || sids == nil {
			return err
		}
		ended = len(sids)
		if err := s.endLoginSessions(ctx, tx, citizenID, sids...); err != nil {
			return fmt.Errorf("delete sessions: %w", err)
		}
		return s.record(ctx, tx, s.entry(ctx, issuer.ActionSessionEnd, actorOr(ctx, s.citizen(citizenID)), citizenID, audit.Allowed, nil))
	})
	return ended, err
}

func (s *Store) DeleteSessionsBySID(ctx context.Context, citizenID, sid string) (bool, error) {
	if sid == "" {
		return false, nil
	}
	var ended bool
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		sids, err := s.deleteSessionsWhere(ctx, tx, `citizen_id = $1 AND sid = $2`, citizenID, sid)
		if err != nil || sids == nil {
			return err
		}
		ended = true
		if err := s.endLoginSessions(ctx, tx, citizenID, sid); err != nil {
			return fmt.Errorf("delete sessions: %w", err)
		}
		return s.record(ctx, tx, s.entry(ctx, issuer.ActionSessionEnd, actorOr(ctx, s.citizen(citizenID)), citizenID, audit.Allowed, nil))
	})
	return ended, err
}

// deleteSessionsWhere deletes the session rows matching where and returns
// their distinct SIDs; nil when no row matched.
func (s *Store) deleteSessionsWhere(ctx context.Context, tx *sql.Tx, where string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `DELETE FROM issuer_sessions WHERE `+where+` RETURNING sid`, args...)
	if err != nil {
		return nil, fmt.Errorf("delete sessions: %w", err)
	}
	defer rows.Close()
	var sids []string
	seen := map[string]bool{}
	for rows.Next() {
		var sid string
		if err := rows.Scan(&sid); err != nil {
			return nil, fmt.Errorf("delete sessions: %w", err)
		}
		if sids == nil {
			sids = []string{}
		}
		if !seen[sid] {
			seen[sid] = true
			sids = append(sids, sid)
		}
	}
	return sids, rows.Err()
}

func (s *Store) DeleteExpiredSessions(ctx context.Context, t time.Time) (int, error) {
	var n int64
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM issuer_sessions WHERE expires < $1`, us(t))
		if err != nil {
			return fmt.Errorf("delete expired sessions: %w", err)
		}
		n, _ = res.RowsAffected()
		_, err = tx.ExecContext(ctx, `DELETE FROM issuer_session_clients
			WHERE NOT EXISTS (SELECT 1 FROM issuer_sessions s WHERE s.sid = issuer_session_clients.sid)`)
		if err != nil {
			return fmt.Errorf("delete expired sessions: %w", err)
		}
		return nil
	})
	return int(n), err
}

// ---- ceremonies

func (s *Store) PutCeremony(ctx context.Context, id string, data []byte, expires time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO issuer_ceremonies (id, data, expires) VALUES ($1, $2, $3)`, id, data, us(expires))
	if err != nil {
		return exists("put ceremony", err)
	}
	// Opportunistic clean-up of abandoned ceremonies.
	_, _ = s.db.ExecContext(ctx, `DELETE FROM issuer_ceremonies WHERE expires < $1`, us(time.Now().Add(-time.Hour)))
	return nil
}

func (s *Store) TakeCeremony(ctx context.Context, id string, now time.Time) ([]byte, error) {
	var data []byte
	var expires int64
	err := s.db.QueryRowContext(ctx, `DELETE FROM issuer_ceremonies WHERE id = $1 RETURNING data, expires`, id).Scan(&data, &expires)
	if err != nil {
		return nil, notFound("ceremony", err)
	}
	if !now.Before(tm(expires)) {
		return nil, fmt.Errorf("ceremony: %w", issuer.ErrNotFound)
	}
	return data, nil
}
