package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/internal/random"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/vci"
)

// The credential issuer's records (vci.Store): issuances with their
// offers, status lists and the places credentials hold in them, and the
// c_nonces spent.

var _ vci.Store = (*Store)(nil)

const vciCols = `id, client_id, citizen_id, type_id, state, status, count, event, created, issued, expires,
	offer_id, code_hash, tx_code_hash, tx_code_length, tries, offer_expires, pending, txn_hash`

func scanVCI(row interface{ Scan(...any) error }) (vci.Credential, error) {
	var c vci.Credential
	var state string
	var created, issued, expires, offerExp int64
	err := row.Scan(&c.ID, &c.ClientID, &c.CitizenID, &c.TypeID, &state, &c.Status, &c.Count, &c.Event, &created, &issued, &expires,
		&c.OfferID, &c.CodeHash, &c.TxCodeHash, &c.TxCodeLength, &c.Tries, &offerExp, &c.Pending, &c.TxnHash)
	if err != nil {
		return vci.Credential{}, err
	}
	c.State, c.Created, c.OfferExpires = vci.State(state), tm(created), tm(offerExp)
	if issued != 0 {
		c.Issued = tm(issued)
	}
	if expires != 0 {
		c.Expires = tm(expires)
	}
	return c, nil
}

func vciNotFound(op string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, vci.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

func (s *Store) forUpdate() string {
	if s.db.Dialect == db.Postgres {
		return ` FOR UPDATE`
	}
	return ""
}

func (s *Store) CreateCredential(ctx context.Context, c vci.Credential, entries ...audit.Entry) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO issuer_vci_credentials (id, client_id, citizen_id, type_id, state, status, count, event,
			created, issued, expires, offer_id, code_hash, tx_code_hash, tx_code_length, tries, offer_expires)
			VALUES ($1, $2, $3, $4, $5, 0, 0, '', $6, 0, 0, $7, $8, $9, $10, 0, $11)`,
			c.ID, c.ClientID, c.CitizenID, c.TypeID, string(c.State), us(norm(c.Created)), c.OfferID, c.CodeHash, c.TxCodeHash,
			c.TxCodeLength, us(norm(c.OfferExpires)))
		if err != nil {
			return exists("create credential offer", err)
		}
		return s.record(ctx, tx, entries...)
	})
}

// credentialWhere reads the issuance where says, in tx (or on the
// database when tx is nil), locking its row in tx when lock is set.
func (s *Store) credentialWhere(ctx context.Context, tx *sql.Tx, where string, arg any, lock bool) (vci.Credential, error) {
	query := `SELECT ` + vciCols + ` FROM issuer_vci_credentials WHERE ` + where
	if lock {
		query += s.forUpdate()
	}
	c, err := scanVCI(s.db.QueryRowCached(ctx, tx, query, arg))
	return c, vciNotFound("credential", err)
}

func (s *Store) Credential(ctx context.Context, id string) (vci.Credential, error) {
	return s.credentialWhere(ctx, nil, `id = $1`, id, false)
}

func (s *Store) CredentialByOffer(ctx context.Context, offerID string) (vci.Credential, error) {
	return s.credentialWhere(ctx, nil, `offer_id = $1`, offerID, false)
}

func (s *Store) CredentialAtPlace(ctx context.Context, list string, idx int) (vci.Credential, error) {
	c, err := scanVCI(s.db.QueryRowCached(ctx, nil, `SELECT `+vciCols+` FROM issuer_vci_credentials WHERE id =
		(SELECT credential_id FROM issuer_vci_places WHERE list_id = $1 AND idx = $2)`, list, idx))
	return c, vciNotFound("credential", err)
}

func (s *Store) CredentialByTransaction(ctx context.Context, txnHash []byte) (vci.Credential, error) {
	return s.credentialWhere(ctx, nil, `txn_hash = $1`, txnHash, false)
}

func (s *Store) Redeem(ctx context.Context, codeHash []byte, redeem func(vci.Credential) (issuer.AccessToken, []audit.Entry, error)) (vci.Credential, error) {
	var out vci.Credential
	var wrong bool
	// Group-committed (pieces): a wrong transaction code commits its
	// count and reports it through wrong, a success its token.
	err := s.pieces.Do(ctx, piece{ctx: ctx, fn: func(tx *sql.Tx) ([]audit.Entry, error) {
		wrong = false
		c, err := s.credentialWhere(ctx, tx, `code_hash = $1`, codeHash, true)
		if err != nil {
			return nil, err
		}
		at, entries, err := redeem(c)
		if errors.Is(err, vci.ErrTxCode) {
			wrong = true
			_, err := s.db.ExecCached(ctx, tx, `UPDATE issuer_vci_credentials SET tries = tries + 1 WHERE id = $1`, c.ID)
			return nil, err
		}
		if err != nil {
			return nil, err
		}
		res, err := s.db.ExecCached(ctx, tx, `UPDATE issuer_vci_credentials SET state = $2 WHERE id = $1 AND state = $3`,
			c.ID, string(vci.StateRedeemed), string(vci.StateOffered))
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil, fmt.Errorf("redeem: %w", vci.ErrState)
		}
		if err := s.insertAccess(ctx, tx, at); err != nil {
			return nil, err
		}
		c.State = vci.StateRedeemed
		out = c
		return entries, nil
	}})
	if err == nil && wrong {
		return vci.Credential{}, vci.ErrTxCode
	}
	return out, err
}

// maxListID is the length of a status list's ID.
const listIDBytes = 12

func (s *Store) Reserve(ctx context.Context, bits, size, n int) (string, []byte, int, int, error) {
	var list string
	var key []byte
	var first, count int
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		var taken int
		err := tx.QueryRowContext(ctx, `SELECT id, key, taken FROM issuer_vci_lists WHERE bits = $1 AND size = $2 AND taken < size
			ORDER BY created DESC, id LIMIT 1`+s.forUpdate(), bits, size).Scan(&list, &key, &taken)
		if errors.Is(err, sql.ErrNoRows) {
			list, key, taken = random.Token(listIDBytes), make([]byte, 32), 0
			rand.Read(key)
			now := us(time.Now().UTC())
			_, err = tx.ExecContext(ctx, `INSERT INTO issuer_vci_lists (id, bits, size, taken, key, version, created, updated)
				VALUES ($1, $2, $3, 0, $4, 1, $5, $5)`, list, bits, size, key, now)
		}
		if err != nil {
			return fmt.Errorf("reserve status places: %w", err)
		}
		first, count = taken, min(n, size-taken)
		_, err = tx.ExecContext(ctx, `UPDATE issuer_vci_lists SET taken = taken + $2 WHERE id = $1`, list, count)
		return err
	})
	return list, key, first, count, err
}

// spendNonces records spent nonces; vci.ErrNonceUsed when one was spent.
func (s *Store) spendNonces(ctx context.Context, tx *sql.Tx, hashes [][]byte, exp time.Time) error {
	for _, h := range hashes {
		if _, err := s.db.ExecCached(ctx, tx, `INSERT INTO issuer_vci_spent_nonces (hash, expires) VALUES ($1, $2)`, h, us(norm(exp))); err != nil {
			if db.IsUniqueViolation(err) {
				return vci.ErrNonceUsed
			}
			return err
		}
	}
	return nil
}

// piece is one change of the credential issuer waiting for its group's
// transaction: fn writes its rows in tx and returns its audit entries.
type piece struct {
	ctx context.Context
	fn  func(tx *sql.Tx) ([]audit.Entry, error)
}

// Issue is group-committed with the other changes of the moment on the
// credential endpoint's and token endpoint's hot paths (see pieces).
func (s *Store) Issue(ctx context.Context, is vci.Issue) error {
	return s.pieces.Do(ctx, piece{ctx: ctx, fn: func(tx *sql.Tx) ([]audit.Entry, error) {
		return is.Entries, s.issueRows(ctx, tx, is)
	}})
}

// flushPieces writes a group of pieces in one transaction — one fsync,
// and one numbering of all their audit entries in the log at its end
// (recordLast), where an outbox would cost a second transaction. A piece
// that fails (a spent nonce) is undone alone: the group runs again with a
// savepoint around each piece, and the others commit.
func (s *Store) flushPieces(reqs []piece) []error {
	errs, err := s.tryPieces(reqs, false)
	if errors.Is(err, errPieceFailed) {
		errs, err = s.tryPieces(reqs, true)
	}
	if err != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	}
	return errs
}

var errPieceFailed = errors.New("sqlstore: a piece of the group failed")

func (s *Store) tryPieces(reqs []piece, savepoints bool) ([]error, error) {
	errs := make([]error, len(reqs))
	var done func(bool)
	ctx := context.Background()
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		var entries []audit.Entry
		for i, r := range reqs {
			if savepoints {
				if _, err := tx.ExecContext(ctx, `SAVEPOINT piece`); err != nil {
					return err
				}
			}
			es, err := r.fn(tx)
			switch {
			case err != nil && !savepoints:
				errs[i] = err
				return errPieceFailed
			case err != nil:
				errs[i] = err
				if _, err := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT piece`); err != nil {
					return err
				}
			default:
				entries = append(entries, es...)
			}
			if savepoints {
				if _, err := tx.ExecContext(ctx, `RELEASE SAVEPOINT piece`); err != nil {
					return err
				}
			}
		}
		var err error
		done, err = s.recordLast(ctx, tx, entries...)
		return err
	})
	if done != nil {
		done(err == nil)
	}
	return errs, err
}

// issueRows writes one issuance: its spent nonces, its places, its state.
func (s *Store) issueRows(ctx context.Context, tx *sql.Tx, is vci.Issue) error {
	if err := s.spendNonces(ctx, tx, is.Nonces, is.NonceExpiry); err != nil {
		return err
	}
	for _, p := range is.Places {
		if _, err := s.db.ExecCached(ctx, tx, `INSERT INTO issuer_vci_places (list_id, idx, credential_id, status) VALUES ($1, $2, $3, 0)`,
			p.List, p.Index, is.CredentialID); err != nil {
			return fmt.Errorf("issue: places: %w", err)
		}
	}
	res, err := s.db.ExecCached(ctx, tx, `UPDATE issuer_vci_credentials SET state = $2, count = count + $3, issued = $4, expires = $5
		WHERE id = $1 AND state IN ($6, $7, $8, $2)`, is.CredentialID, string(vci.StateIssued), len(is.Places), us(norm(is.Now)),
		us(norm(is.Expires)), string(vci.StateRedeemed), string(vci.StateApproved), string(vci.StateOffered))
	if err != nil {
		return fmt.Errorf("issue: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("issue: %w", vci.ErrState)
	}
	return nil
}

func (s *Store) Defer(ctx context.Context, id string, keys []byte, txnHash []byte, nonces [][]byte, nonceExpiry time.Time, entries ...audit.Entry) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		if err := s.spendNonces(ctx, tx, nonces, nonceExpiry); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE issuer_vci_credentials SET state = $2, pending = $3, txn_hash = $4 WHERE id = $1 AND state IN ($5, $6)`,
			id, string(vci.StatePending), keys, txnHash, string(vci.StateRedeemed), string(vci.StateOffered))
		if err != nil {
			return fmt.Errorf("defer: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("defer: %w", vci.ErrState)
		}
		return s.record(ctx, tx, entries...)
	})
}

func (s *Store) SetState(ctx context.Context, id string, from []vci.State, to vci.State, entries ...audit.Entry) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		c, err := s.credentialWhere(ctx, tx, `id = $1`, id, true)
		if err != nil {
			return err
		}
		ok := false
		for _, f := range from {
			ok = ok || c.State == f
		}
		if !ok {
			return fmt.Errorf("%s is %s: %w", id, c.State, vci.ErrState)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE issuer_vci_credentials SET state = $2 WHERE id = $1`, id, string(to)); err != nil {
			return err
		}
		return s.record(ctx, tx, entries...)
	})
}

func (s *Store) SetStatus(ctx context.Context, id string, status uint8, entries ...audit.Entry) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		return s.setStatusWhere(ctx, tx, `id = $1`, id, status, entries...)
	})
}

// setStatusWhere sets the status of the issuances where says and of
// their places, and bumps their lists' versions.
func (s *Store) setStatusWhere(ctx context.Context, tx *sql.Tx, where string, arg any, status uint8, entries ...audit.Entry) error {
	sel := `SELECT id FROM issuer_vci_credentials WHERE ` + where
	res, err := tx.ExecContext(ctx, `UPDATE issuer_vci_credentials SET status = $2 WHERE `+where, arg, status)
	if err != nil {
		return fmt.Errorf("set status: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	now := us(time.Now().UTC())
	if _, err := tx.ExecContext(ctx, `UPDATE issuer_vci_lists SET version = version + 1, updated = $2
		WHERE id IN (SELECT DISTINCT list_id FROM issuer_vci_places WHERE credential_id IN (`+sel+`))`, arg, now); err != nil {
		return fmt.Errorf("set status: lists: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE issuer_vci_places SET status = $2 WHERE credential_id IN (`+sel+`)`, arg, status); err != nil {
		return fmt.Errorf("set status: places: %w", err)
	}
	return s.record(ctx, tx, entries...)
}

func (s *Store) Notify(ctx context.Context, id, event string, entries ...audit.Entry) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE issuer_vci_credentials SET event = $2 WHERE id = $1`, id, event); err != nil {
			return err
		}
		return s.record(ctx, tx, entries...)
	})
}

func (s *Store) StatusList(ctx context.Context, id string) (vci.StatusList, error) {
	l := vci.StatusList{ID: id, Set: map[int]uint8{}}
	var updated int64
	err := s.db.QueryRowContext(ctx, `SELECT bits, size, version, updated FROM issuer_vci_lists WHERE id = $1`, id).
		Scan(&l.Bits, &l.Size, &l.Version, &updated)
	if err != nil {
		return vci.StatusList{}, vciNotFound("status list", err)
	}
	l.Updated = tm(updated)
	rows, err := s.db.QueryContext(ctx, `SELECT idx, status FROM issuer_vci_places WHERE list_id = $1 AND status <> 0`, id)
	if err != nil {
		return vci.StatusList{}, err
	}
	defer rows.Close()
	for rows.Next() {
		var idx int
		var st uint8
		if err := rows.Scan(&idx, &st); err != nil {
			return vci.StatusList{}, err
		}
		l.Set[idx] = st
	}
	return l, rows.Err()
}

// cursor encodes a place in a listing newest first.
func encodeCursor(c vci.Credential) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(us(c.Created), 10) + "." + c.ID))
}

func decodeCursor(s string) (int64, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, "", err
	}
	t, id, ok := strings.Cut(string(b), ".")
	if !ok {
		return 0, "", errors.New("no separator")
	}
	n, err := strconv.ParseInt(t, 10, 64)
	return n, id, err
}

func (s *Store) Credentials(ctx context.Context, clientID, cursor string, limit int) ([]vci.Credential, string, error) {
	where, args := `client_id = $1`, []any{clientID}
	if cursor != "" {
		t, id, err := decodeCursor(cursor)
		if err != nil {
			return nil, "", fmt.Errorf("%w: the cursor is not one this API gave", vci.ErrInvalid)
		}
		where += ` AND (created < $2 OR created = $2 AND id < $3)`
		args = append(args, t, id)
	}
	cs, err := s.listVCI(ctx, where+` ORDER BY created DESC, id DESC LIMIT `+strconv.Itoa(limit+1), args...)
	if err != nil || len(cs) <= limit {
		return cs, "", err
	}
	return cs[:limit], encodeCursor(cs[limit-1]), nil
}

func (s *Store) CitizenCredentials(ctx context.Context, citizenID string, limit int) ([]vci.Credential, error) {
	return s.listVCI(ctx, `citizen_id = $1 ORDER BY created DESC, id DESC LIMIT `+strconv.Itoa(limit), citizenID)
}

func (s *Store) listVCI(ctx context.Context, where string, args ...any) ([]vci.Credential, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+vciCols+` FROM issuer_vci_credentials WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []vci.Credential
	for rows.Next() {
		c, err := scanVCI(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (s *Store) DeleteSpentNoncesBefore(ctx context.Context, t time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM issuer_vci_spent_nonces WHERE expires < $1`, us(t))
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
