// Package wallet is the holder side of Cedula: each citizen's credentials,
// kept encrypted at rest under a data key of the citizen's own (the key
// erasure destroys), the holder keys they are bound to, and the OpenID4VCI
// client that receives credentials from any conformant issuer. It has no
// HTTP of its own: the mobile API (mobile-api) calls it.
//
// Holder keys come in two modes. Sealed (the default): a P-256 key per
// credential, made here, stored sealed under the citizen's data key, and
// opened in memory only to sign a key proof or a key-binding JWT.
// Device-bound: the phone's secure element holds the key, and the wallet
// hands the phone what to sign.
package wallet

import (
	"errors"
	"fmt"
	"time"
)

// KeyMode says where a credential's holder key lives.
type KeyMode string

const (
	// KeySealed: made by the wallet, stored sealed under the citizen's data
	// key, used only in memory.
	KeySealed KeyMode = "sealed"
	// KeyDevice: held by the phone, which signs what the wallet hands it.
	KeyDevice KeyMode = "device"
)

// Status is where a held credential stands, as its issuer's status list
// and its expiry say.
type Status string

const (
	StatusValid     Status = "valid"
	StatusSuspended Status = "suspended"
	StatusRevoked   Status = "revoked"
	StatusExpired   Status = "expired"
	// StatusUnknown: the status list could not be read, and no earlier
	// reading is recent enough to stand for it.
	StatusUnknown Status = "unknown"
)

// Display is how an issuer asks a credential or itself to be shown, in
// one language (OpenID4VCI 1.0 §12.2.4, credential_metadata.display).
type Display struct {
	Locale          string `json:"locale,omitempty"`
	Name            string `json:"name"`
	Description     string `json:"description,omitempty"`
	LogoURI         string `json:"logo_uri,omitempty"`
	LogoAltText     string `json:"logo_alt_text,omitempty"`
	BackgroundColor string `json:"background_color,omitempty"`
	TextColor       string `json:"text_color,omitempty"`
}

// ClaimInfo describes one claim a credential type holds, as its issuer's
// metadata does (credential_metadata.claims): its path and its label in
// the chosen language.
type ClaimInfo struct {
	Path      []any  `json:"path"`
	Label     string `json:"label,omitempty"`
	Mandatory bool   `json:"mandatory,omitempty"`
}

// Credential is a held credential as the citizen sees it: decoded, with
// its issuer's display texts in the language asked for.
type Credential struct {
	ID string
	// Issuer is the credential issuer's identifier; IssuerName its display
	// name (from its metadata) in the language asked for.
	Issuer, IssuerName string
	ConfigurationID    string
	Format             string // dc+sd-jwt
	VCT                string
	Display            Display
	// Claims are the credential's claims with every disclosure applied;
	// ClaimInfo the issuer's labels for them.
	Claims    map[string]any
	ClaimInfo []ClaimInfo
	Status    Status
	// StatusCheckedAt is when Status was last read from the issuer's list
	// (zero for a credential without one).
	StatusCheckedAt time.Time
	IssuedAt        time.Time
	ExpiresAt       time.Time // zero: no expiry
	ReceivedAt      time.Time
	KeyMode         KeyMode
}

// OfferPreview is what a credential offer would give, shown to the
// citizen before they accept it.
type OfferPreview struct {
	Issuer, IssuerName string
	IssuerDisplay      Display
	Credentials        []OfferedCredential
	// TxCode, when set, is the transaction code the citizen must enter,
	// received from the issuer out of band.
	TxCode *TxCode
	// PreAuthorized and AuthorizationCode are the grants the offer allows.
	PreAuthorized, AuthorizationCode bool
}

// OfferedCredential is one credential configuration of an offer.
type OfferedCredential struct {
	ConfigurationID string
	Format          string
	VCT             string
	Display         Display
	Claims          []ClaimInfo
}

// TxCode describes an offer's transaction code (OpenID4VCI 1.0 §4.1.1).
type TxCode struct {
	InputMode   string // numeric or text
	Length      int    // 0: not said
	Description string
}

// Accept is the citizen's acceptance of an offer.
type Accept struct {
	// Offer is the offer as scanned or followed: an
	// openid-credential-offer:// URI (by value or by reference) or an
	// https URL with the same query.
	Offer string
	// TxCode is the transaction code, when the offer asks for one.
	TxCode string
	// KeyMode is where the holder keys go; "" means KeySealed.
	KeyMode KeyMode
	// Grant is the offer's grant to use when it has both (OpenID4VCI 1.0
	// §4.1.1 leaves the choice to the wallet): GrantAuthorizationCode for
	// the citizen's login at the issuer, GrantPreAuthorized for the code
	// in the offer; "" takes the pre-authorized code when there is one.
	Grant string
}

// Received is what an acceptance gave: the credentials stored, those the
// issuer deferred (to poll, CollectDeferred), and — after a login at the
// issuer with device-bound keys — what the phone must sign next
// (FinishDeviceAccept).
type Received struct {
	Credentials []Credential
	Deferred    []Deferred
	Pending     *Pending
}

// Deferred is an issuance the issuer deferred (OpenID4VCI 1.0 §9): the
// wallet holds its transaction and asks again from RetryAt on.
type Deferred struct {
	ID                 string
	Issuer, IssuerName string
	ConfigurationID    string
	Display            Display
	KeyMode            KeyMode
	Created            time.Time
	// RetryAt is when the issuer said to ask again, at the earliest.
	RetryAt time.Time
	// Expires is when the wallet gives up on the transaction.
	Expires time.Time
}

// Errors. An *Error says what went wrong in words a citizen (through the
// app) can act on; these sentinels classify it.
var (
	// ErrNotFound: no such object of this citizen's (another citizen's
	// objects are not found either).
	ErrNotFound = errors.New("wallet: not found")
	// ErrOffer: the offer is malformed or cannot be used.
	ErrOffer = errors.New("wallet: invalid credential offer")
	// ErrIssuer: the issuer cannot be reached, or its metadata or answers
	// are not what OpenID4VCI says.
	ErrIssuer = errors.New("wallet: issuer failed")
	// ErrRefused: the issuer refused, with an OAuth or OpenID4VCI error
	// (a wrong tx_code, an expired offer).
	ErrRefused = errors.New("wallet: issuer refused")
	// ErrNeedsAuthorization: the offer has no pre-authorized code; the
	// citizen logs in at the issuer (BeginAuthorization).
	ErrNeedsAuthorization = errors.New("wallet: the offer needs the citizen's login at the issuer")
	// ErrCallback: an authorization callback that does not answer the
	// pending authorization (another state, no code).
	ErrCallback = errors.New("wallet: invalid authorization callback")
	// ErrUnsupported: something the offer needs that this wallet does not
	// do.
	ErrUnsupported = errors.New("wallet: not supported")
	// ErrRequest: a presentation request is malformed, badly signed, from
	// a verifier whose identity does not check out, or asks for what
	// OpenID4VP 1.0 does not allow.
	ErrRequest = errors.New("wallet: invalid presentation request")
	// ErrApproval: the citizen's approval does not answer the request
	// (a required credential left out, a credential that does not match).
	ErrApproval = errors.New("wallet: approval does not answer the request")
	// ErrVerifier: the verifier's response endpoint cannot be reached or
	// did not take the response.
	ErrVerifier = errors.New("wallet: verifier failed")
)

// Error is a wallet failure of one of the kinds above, with a detail that
// names what was wrong and, for ErrRefused, the issuer's error code.
type Error struct {
	Kind   error
	Detail string
	Code   string // the issuer's error code, for ErrRefused
	Cause  error  // for the log only
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%v: %s: %v", e.Kind, e.Detail, e.Cause)
	}
	return fmt.Sprintf("%v: %s", e.Kind, e.Detail)
}

func (e *Error) Is(target error) bool { return target == e.Kind }
func (e *Error) Unwrap() error        { return e.Cause }

func fail(kind error, cause error, format string, args ...any) *Error {
	return &Error{Kind: kind, Detail: fmt.Sprintf(format, args...), Cause: cause}
}
