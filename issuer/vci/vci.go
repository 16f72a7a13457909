package vci

import (
	"context"
	"errors"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/statuslist"
	"github.com/cedula/cedula/issuer"
)

// Protocol constants (OpenID4VCI 1.0).
const (
	// GrantPreAuthorized is the pre-authorized code grant type (§3.5).
	GrantPreAuthorized = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
	// ProofType is the typ of a jwt key proof (Appendix F.1).
	ProofType = "openid4vci-proof+jwt"
	// DetailsType is the authorization_details type of a credential
	// (RFC 9396, §5.1.1).
	DetailsType = "openid_credential"
	// Format is the SD-JWT VC credential format identifier (Appendix A.3).
	Format = "dc+sd-jwt"
)

// Audit actions of the issuer.
const (
	ActionOffer     = "credential.offer"
	ActionRedeem    = "credential.redeem"
	ActionIssue     = "credential.issue"
	ActionRevoke    = "credential.revoke"
	ActionSuspend   = "credential.suspend"
	ActionReinstate = "credential.reinstate"
	// ActionNotify is followed by the event: credential.notify.accepted,
	// .failure or .deleted.
	ActionNotify = "credential.notify"
	ActionDecide = "credential.decide" // an officer's approval or rejection of a deferred request
	ActionRead   = "credential.read"   // an agency read what it issued to a citizen
)

// State is where an issuance stands.
type State string

const (
	StateOffered  State = "offered"  // the offer waits for the wallet
	StateRedeemed State = "redeemed" // the wallet holds an access token
	StateIssued   State = "issued"   // credentials went to the wallet
	StatePending  State = "pending"  // a deferred request waits for an officer
	StateApproved State = "approved" // approved; the wallet collects it at the deferred endpoint
	StateRejected State = "rejected" // an officer refused it
)

// statusActions are the audit actions of status changes.
var statusActions = map[uint8]string{statuslist.Invalid: ActionRevoke, statuslist.Suspended: ActionSuspend, statuslist.Valid: ActionReinstate}

// Status names, as the agency API and the account page show them.
const (
	StatusValid     = "valid"
	StatusSuspended = "suspended"
	StatusInvalid   = "invalid"
)

// StatusName names a status list value.
func StatusName(v uint8) string {
	switch v {
	case statuslist.Valid:
		return StatusValid
	case statuslist.Suspended:
		return StatusSuspended
	}
	return StatusInvalid
}

// StatusValue is the status list value of a status name.
func StatusValue(name string) (uint8, bool) {
	switch name {
	case StatusValid:
		return statuslist.Valid, true
	case StatusSuspended:
		return statuslist.Suspended, true
	case StatusInvalid:
		return statuslist.Invalid, true
	}
	return 0, false
}

// Credential is one issuance as its agency sees it: an offer to one
// citizen of one type, and the credentials (a batch, each with its own
// holder key and status list place) the wallet received for it. Its
// status applies to every one of them.
type Credential struct {
	ID        string
	ClientID  string // the issuing agency
	CitizenID string
	TypeID    string
	State     State
	Status    uint8
	// Count is how many credentials were issued.
	Count int
	// Event is the wallet's last notification ("" for none).
	Event   string
	Created time.Time
	Issued  time.Time // zero until issued
	Expires time.Time // of the credentials; zero until issued
	// The offer.
	OfferID      string
	CodeHash     []byte
	TxCodeHash   []byte
	TxCodeLength int
	Tries        int // wrong transaction codes so far
	OfferExpires time.Time
	// Pending is a deferred request's holder keys (JWKs, JSON array) and
	// the hash of its transaction ID, while it waits.
	Pending []byte
	TxnHash []byte
}

// Place is one credential's place in a status list.
type Place struct {
	List  string
	Index int
}

// StatusList is a stored status list: its size, and the places whose
// status is not Valid.
type StatusList struct {
	ID      string
	Bits    int
	Size    int
	Version int64
	Updated time.Time
	Set     map[int]uint8
}

// Issue is what Store.Issue records.
type Issue struct {
	CredentialID string
	Places       []Place
	Expires      time.Time
	Now          time.Time
	// Nonces are the hashes of the c_nonces the proofs used, spent here;
	// NonceExpiry is when they would have expired anyway.
	Nonces      [][]byte
	NonceExpiry time.Time
	Entries     []audit.Entry
}

// Store keeps the issuer's records. Every method that changes something
// records its audit entries in the same transaction.
type Store interface {
	// CreateCredential stores a new issuance in StateOffered.
	CreateCredential(ctx context.Context, c Credential, entries ...audit.Entry) error
	Credential(ctx context.Context, id string) (Credential, error)
	CredentialByOffer(ctx context.Context, offerID string) (Credential, error)
	// CredentialAtPlace finds the issuance a status list place belongs
	// to; ErrNotFound when none does.
	CredentialAtPlace(ctx context.Context, list string, idx int) (Credential, error)
	// Redeem finds the offer whose pre-authorized code hashes to
	// codeHash (ErrNotFound when none) and, in one transaction, lets
	// redeem judge it: on nil it marks the issuance redeemed and stores
	// the access token and entries redeem returned; on ErrTxCode it
	// counts a wrong transaction code, commits that and returns
	// ErrTxCode; any other error leaves everything as it was.
	Redeem(ctx context.Context, codeHash []byte, redeem func(Credential) (issuer.AccessToken, []audit.Entry, error)) (Credential, error)
	// Reserve takes n consecutive positions of the open status list of
	// bits and size (creating it when there is none or it is full) and
	// returns the list, its permutation key and the first position; it
	// may return fewer than n positions (the rest of a list).
	Reserve(ctx context.Context, bits, size, n int) (list string, key []byte, first, count int, err error)
	// Issue records issued credentials; ErrNonceUsed when a nonce was
	// spent already, and then nothing is recorded.
	Issue(ctx context.Context, is Issue) error
	// Defer records a deferred request (StatePending) with its holder
	// keys and transaction ID hash, spending its nonces.
	Defer(ctx context.Context, id string, keys []byte, txnHash []byte, nonces [][]byte, nonceExpiry time.Time, entries ...audit.Entry) error
	// CredentialByTransaction finds a deferred request.
	CredentialByTransaction(ctx context.Context, txnHash []byte) (Credential, error)
	// SetState moves an issuance from one of from to to (ErrState when it
	// is in none of them).
	SetState(ctx context.Context, id string, from []State, to State, entries ...audit.Entry) error
	// SetStatus sets the status of every credential of an issuance and
	// bumps the versions of their lists.
	SetStatus(ctx context.Context, id string, status uint8, entries ...audit.Entry) error
	// Notify records a wallet's notification event.
	Notify(ctx context.Context, id, event string, entries ...audit.Entry) error
	StatusList(ctx context.Context, id string) (StatusList, error)
	// Credentials lists an agency's issuances, newest first, after the
	// cursor ("" for the first page); next is "" on the last page.
	Credentials(ctx context.Context, clientID, cursor string, limit int) (cs []Credential, next string, err error)
	// CitizenCredentials lists a citizen's issuances, newest first.
	CitizenCredentials(ctx context.Context, citizenID string, limit int) ([]Credential, error)
	// DeleteSpentNoncesBefore forgets spent nonces that expired before t.
	DeleteSpentNoncesBefore(ctx context.Context, t time.Time) (int, error)
}

// Store errors.
var (
	ErrNotFound  = errors.New("vci: not found")
	ErrTxCode    = errors.New("vci: wrong transaction code")
	ErrNonceUsed = errors.New("vci: nonce already used")
	ErrState     = errors.New("vci: the issuance is not in a state that allows it")
)
