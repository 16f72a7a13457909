package issuer

import (
	"encoding/json"
	"time"
)

// AuthRequest is an OpenID Connect authentication request (OIDC Core
// §3.1.2.1) from the moment the client sends it until its code is redeemed.
type AuthRequest struct {
	ID                  string
	ClientID            string
	RedirectURI         string
	Scopes              []string
	State               string
	Nonce               string
	ResponseType        string
	ResponseMode        string
	CodeChallenge       string
	CodeChallengeMethod string
	Prompt              []string
	MaxAge              *uint
	UILocales           []string
	// HintSubject is the sub of a valid id_token_hint: the citizen the
	// client expects (OIDC Core §3.1.2.1).
	HintSubject string
	Created     time.Time
	// Set when the citizen has logged in and consented.
	CitizenID string
	Subject   string // the "sub" the client sees
	AuthTime  time.Time
	AMR       []string
	// SessionID is the sid of the login session the citizen authorized
	// the request in; it goes into the ID token.
	SessionID string
	Done      bool
	Code      string // hash of the issued code, empty until issued
	// DPoPJKT binds the code to a DPoP key (RFC 9449 §10): the request's
	// dpop_jkt, or the key of the DPoP proof its PAR request carried. The
	// token request must prove possession of that key.
	DPoPJKT string `json:",omitempty"`
	// Redeemed is set once the code has been exchanged for tokens; the
	// request is kept until it expires so that a second redemption is
	// recognised (RFC 6749 §4.1.2).
	Redeemed bool
	// Verified is what the OIDC bridge planned for the verified claims
	// the request's claims parameter asks for (OpenID Connect for
	// Identity Assurance 1.0), opaque to the store; Verification names
	// the verification made when the citizen approved, "" when none was.
	Verified     json.RawMessage `json:",omitempty"`
	Verification string          `json:",omitempty"`
}

// Completion is what completing an authorization request records: who
// logged in (the citizen, and the sub the client knows them by), how and
// when, in which login session (SessionID: the client is recorded as one
// the session logged in to, so that its end is sent to it, OIDC
// Back-Channel Logout 1.0), and the bridge's verification, if any.
type Completion struct {
	CitizenID, Subject, SessionID string
	AMR                           []string
	AuthTime                      time.Time
	Verification                  string
}

// AccessToken is an issued access token's record (opaque tokens are looked
// up here; JWT tokens are also recorded so they can be revoked).
type AccessToken struct {
	ID             string
	ClientID       string
	Subject        string // "sub" seen by the client; the client ID for client_credentials
	CitizenID      string // empty for client_credentials
	Audience       []string
	Scopes         []string
	Expiration     time.Time
	RefreshTokenID string
	// FamilyID names the grant the token belongs to: the authorization
	// request its code came from, shared by the refresh tokens rotated
	// from it; empty for client_credentials.
	FamilyID string
	Revoked  bool
	// DPoP key thumbprint (RFC 9449 §6) when the token is sender-constrained.
	JKT string
}

// RefreshToken is one refresh token of a family: every rotation adds a
// token to the family and marks the previous one used. Presenting a used
// token revokes the whole family (RFC 9700 §4.14.2).
type RefreshToken struct {
	ID         string // hash of the token value
	FamilyID   string
	ClientID   string
	CitizenID  string
	Subject    string
	Audience   []string
	Scopes     []string
	AMR        []string
	AuthTime   time.Time
	Created    time.Time
	Expiration time.Time
	Used       bool
	Revoked    bool
	JKT        string
	// SessionID is the sid of the login session the grant began in.
	SessionID string
}
