package issuer

import (
	"context"
	"time"
)

// The storage contracts, one small interface per aggregate. Every method is
// safe for concurrent use by several goroutines and several replicas sharing
// one database. Methods return ErrNotFound for missing rows, and a write that
// returned nil is durable.

// Citizens stores citizens.
type Citizens interface {
	// CreateCitizen stores c; ErrExists when the ID is taken.
	CreateCitizen(ctx context.Context, c Citizen) error
	Citizen(ctx context.Context, id string) (Citizen, error)
	// EraseCitizen erases the citizen's personal data (GDPR Art. 17): the
	// name, birthdate, email and locale are emptied (the opaque ID stays,
	// so that records referring to it keep their meaning), and their
	// passkeys, recovery codes, enrolment links and sessions are deleted
	// and every token is revoked, in one transaction. It returns
	// ErrNotFound for an unknown ID.
	EraseCitizen(ctx context.Context, id string) (Erased, error)
}

// Erased counts what EraseCitizen removed.
type Erased struct {
	Passkeys, RecoveryCodes, Enrolments, Sessions, Tokens int
}

// Clients stores agency clients. Every privileged scope (PrivilegedScopes)
// a change gives a client or takes from it is recorded as its own
// ActionPrivilegeGrant or ActionPrivilegeRevoke entry, in the change's
// transaction, when the store audits.
type Clients interface {
	// PutClient creates or replaces the client with c.ID. It is the
	// operator's way (command line, configuration): it may change the
	// client's privileged scopes.
	PutClient(ctx context.Context, c Client) error
	// PutClientKeepPrivileges is PutClient for delegated administration
	// (the admin API): when c's privileged scopes differ from the stored
	// client's — from none, for a new client — it returns ErrPrivileged
	// and stores nothing. The check and the write are one transaction.
	PutClientKeepPrivileges(ctx context.Context, c Client) error
	// GrantPrivilege adds the privileged scope to the client's scopes and
	// reports whether it changed anything (false: the client held it).
	// ErrNotFound for an unknown client, ErrNotPrivileged for a scope
	// that is not privileged.
	GrantPrivilege(ctx context.Context, clientID, scope string) (bool, error)
	// RevokePrivilege removes the privileged scope from the client's
	// scopes, like GrantPrivilege (false: the client did not hold it).
	RevokePrivilege(ctx context.Context, clientID, scope string) (bool, error)
	Client(ctx context.Context, id string) (Client, error)
	ListClients(ctx context.Context) ([]Client, error)
	// DeleteClient removes the client; the privileged scopes it held are
	// recorded as revoked.
	DeleteClient(ctx context.Context, id string) error
}

// Passkeys stores WebAuthn credentials.
type Passkeys interface {
	// AddPasskey stores p; ErrExists when the credential ID is registered.
	AddPasskey(ctx context.Context, p Passkey) error
	// Passkey finds a credential by ID.
	Passkey(ctx context.Context, id []byte) (Passkey, error)
	// PasskeysOf lists a citizen's credentials, oldest first.
	PasskeysOf(ctx context.Context, citizenID string) ([]Passkey, error)
	// RecordPasskeyUse stores the counter and backup state seen at a login.
	// It returns ErrCounter, changing nothing, when signCount is not
	// greater than the stored one while either is non-zero (WebAuthn L3
	// §6.1.1).
	RecordPasskeyUse(ctx context.Context, id []byte, signCount uint32, backupState bool, at time.Time) error
	RenamePasskey(ctx context.Context, citizenID string, id []byte, name string) error
	// DeletePasskey removes one of the citizen's credentials. Removing the
	// last one returns ErrLastPasskey unless unused recovery codes remain.
	DeletePasskey(ctx context.Context, citizenID string, id []byte) error
	// DeletePasskeysExcept removes every credential of the citizen but keep.
	DeletePasskeysExcept(ctx context.Context, citizenID string, keep []byte) (int, error)
}

// Enrolments stores one-time enrolment links.
type Enrolments interface {
	CreateEnrolment(ctx context.Context, e Enrolment) error
	// Enrolment returns the link with tokenHash if it is usable:
	// ErrNotFound, ErrExpired or ErrUsed otherwise.
	Enrolment(ctx context.Context, tokenHash []byte, now time.Time) (Enrolment, error)
	// UseEnrolment marks the link used; exactly one caller succeeds, the
	// others get ErrUsed (or ErrExpired, ErrNotFound).
	UseEnrolment(ctx context.Context, tokenHash []byte, now time.Time) (Enrolment, error)
}

// RecoveryCodes stores hashes of a citizen's single-use recovery codes.
type RecoveryCodes interface {
	// ReplaceRecoveryCodes discards the citizen's codes and stores hashes.
	ReplaceRecoveryCodes(ctx context.Context, citizenID string, hashes [][]byte) error
	// UseRecoveryCode consumes the code with hash and returns whose it
	// was; exactly one caller succeeds, others get ErrNotFound. Codes carry
	// enough entropy (80 bits) to be looked up by hash alone.
	UseRecoveryCode(ctx context.Context, hash []byte) (citizenID string, err error)
	RecoveryCodesLeft(ctx context.Context, citizenID string) (int, error)
}

// Subjects maps the pairwise subject identifiers agencies see back to
// citizens.
type Subjects interface {
	// PutSubject records that sub in sector names citizenID (idempotent).
	PutSubject(ctx context.Context, sector, sub, citizenID string) error
	SubjectCitizen(ctx context.Context, sector, sub string) (string, error)
}

// AuthRequests stores pending authorization requests.
type AuthRequests interface {
	CreateAuthRequest(ctx context.Context, r AuthRequest) error
	AuthRequest(ctx context.Context, id string) (AuthRequest, error)
	// CompleteAuthRequest records the logged-in citizen and marks it done.
	// sid names the login session it was completed in: the client is
	// recorded as one the session logged in to, so that the session's end
	// is sent to it (OIDC Back-Channel Logout 1.0).
	CompleteAuthRequest(ctx context.Context, id string, c Completion) error
	// SaveCode attaches the hash of an issued code.
	SaveCode(ctx context.Context, id string, codeHash string) error
	AuthRequestByCode(ctx context.Context, codeHash string) (AuthRequest, error)
	DeleteAuthRequest(ctx context.Context, id string) error
	// DeleteAuthRequestsBefore removes requests created before t.
	DeleteAuthRequestsBefore(ctx context.Context, t time.Time) (int, error)
}

// Tokens stores access and refresh tokens.
type Tokens interface {
	CreateAccessToken(ctx context.Context, t AccessToken) error
	AccessToken(ctx context.Context, id string) (AccessToken, error)
	// RedeemCode stores the tokens issued for the code of authorization
	// request authRequestID (rt nil when no refresh token goes with it)
	// and marks the code redeemed, atomically: of two concurrent
	// redemptions one succeeds. When the code was redeemed before, it
	// stores nothing, revokes every token issued from the code — the
	// family authRequestID — and returns ErrReused (RFC 6749 §4.1.2,
	// RFC 9700 §4.2.4). ErrNotFound when the request does not exist.
	RedeemCode(ctx context.Context, authRequestID string, at AccessToken, rt *RefreshToken) error
	// CreateRefreshToken stores a new family's first token with its access
	// token. An access token stored with a refresh token (here and by
	// RotateRefreshToken) takes the refresh token's FamilyID.
	CreateRefreshToken(ctx context.Context, rt RefreshToken, at AccessToken) error
	RefreshToken(ctx context.Context, id string) (RefreshToken, error)
	// RotateRefreshToken atomically marks oldID used and stores next (same
	// family) with its access token. If oldID was already used or revoked,
	// it revokes the whole family and returns ErrReused.
	RotateRefreshToken(ctx context.Context, oldID string, next RefreshToken, at AccessToken) error
	// RevokeAccessToken revokes one access token.
	RevokeAccessToken(ctx context.Context, id string) error
	// RevokeFamily revokes every refresh token of the family and every
	// access token issued from them.
	RevokeFamily(ctx context.Context, familyID string) error
	// RevokeGrant revokes every token of the citizen for the client (or for
	// every client when clientID is empty) and returns how many. The
	// client's sessions with the citizen end with it: a back-channel
	// logout is queued (Logouts) for each session the client logged in
	// through, or one without a sid when it held live tokens but no
	// session.
	RevokeGrant(ctx context.Context, citizenID, clientID string) (int, error)
	// GrantClients lists, sorted, the clients holding an unrevoked,
	// unexpired access or refresh token of the citizen at now.
	GrantClients(ctx context.Context, citizenID string, now time.Time) ([]string, error)
	// DeleteTokensBefore removes tokens that expired before t.
	DeleteTokensBefore(ctx context.Context, t time.Time) (int, error)
}

// Sessions stores login sessions with Cedula's pages.
//
// A login session (its SID) ends when its last row is deleted — by
// DeleteSession, DeleteSessionsOf, DeleteSessionsBySID or EraseCitizen —
// and in that same transaction the store queues a back-channel logout
// (Logouts) for every client the session logged in to
// (CompleteAuthRequest), so that no session ends without the agencies
// being told, whatever ended it.
type Sessions interface {
	CreateSession(ctx context.Context, s Session) error
	// Session returns the unexpired session, or ErrNotFound.
	Session(ctx context.Context, idHash []byte, now time.Time) (Session, error)
	DeleteSession(ctx context.Context, idHash []byte) error
	// DeleteSessionsOf ends every session of the citizen and returns how
	// many login sessions (SIDs) ended.
	DeleteSessionsOf(ctx context.Context, citizenID string) (int, error)
	// DeleteSessionsBySID ends the login session sid of the citizen (the
	// RP-initiated logout of a session an ID token names); it returns
	// whether there was one.
	DeleteSessionsBySID(ctx context.Context, citizenID, sid string) (bool, error)
	// DeleteExpiredSessions removes sessions that expired before t and
	// forgets the clients of login sessions with no row left. Expiry is not
	// a logout: nothing is queued.
	DeleteExpiredSessions(ctx context.Context, t time.Time) (int, error)
}

// Logout is a queued back-channel logout notification (OIDC Back-Channel
// Logout 1.0 §2.5): the client must learn that the citizen's session sid
// (or, with SID empty, every session with it) ended.
type Logout struct {
	ID        int64
	ClientID  string
	CitizenID string
	SID       string
	Created   time.Time
	// Attempts counts deliveries claimed so far, this one included.
	Attempts int
}

// Logouts is the durable outbox of back-channel logout notifications,
// filled in the transactions that end sessions and grants. Any replica
// may deliver; a claim leases the rows so that one replica at a time
// tries each.
type Logouts interface {
	// ClaimLogouts returns up to max notifications due at now and leases
	// them until now+lease (a claimer that dies leaves them to be claimed
	// again after the lease), counting the attempt.
	ClaimLogouts(ctx context.Context, now time.Time, lease time.Duration, max int) ([]Logout, error)
	// FinishLogout removes a notification (delivered, or given up).
	FinishLogout(ctx context.Context, id int64) error
	// RetryLogout schedules another attempt at at.
	RetryLogout(ctx context.Context, id int64, at time.Time) error
}

// Ceremonies keeps short-lived server-side state between the two halves of
// a WebAuthn ceremony (or any begin/finish exchange), so that any replica
// can finish what another began.
type Ceremonies interface {
	PutCeremony(ctx context.Context, id string, data []byte, expires time.Time) error
	// TakeCeremony returns and deletes the entry: exactly one caller gets
	// it; ErrNotFound when missing or expired.
	TakeCeremony(ctx context.Context, id string, now time.Time) ([]byte, error)
}

// Store is everything the authorization server stores.
type Store interface {
	Citizens
	Clients
	Passkeys
	Enrolments
	RecoveryCodes
	Subjects
	AuthRequests
	Tokens
	Sessions
	Logouts
	Ceremonies
}
