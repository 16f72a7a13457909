package issuer

import (
	"strings"
	"time"
	"unicode"
)

// Passkey is a WebAuthn credential registered by a citizen. Fields follow
// WebAuthn Level 3 §6.1 (authenticator data) and §5.1 (the credential).
type Passkey struct {
	ID              []byte // credential ID
	CitizenID       string
	Name            string // the citizen's label, e.g. "Mi teléfono"
	PublicKey       []byte // COSE key
	AttestationType string
	AAGUID          []byte
	SignCount       uint32
	BackupEligible  bool // BE flag, fixed at registration
	BackupState     bool // BS flag, may change at each use
	Transports      []string
	Created         time.Time
	LastUsed        time.Time
}

// Enrolment is a one-time link an agency or registrar hands a citizen so
// they can register their first passkey. Only a hash of its token is stored.
type Enrolment struct {
	TokenHash []byte
	CitizenID string
	CreatedBy string // the admin or client that created it
	Created   time.Time
	Expires   time.Time
	Used      time.Time
}

// Session is a citizen's login session with Cedula's own pages (passkey
// management, consent). Only a hash of the cookie value is stored.
type Session struct {
	IDHash []byte
	// SID is the public session ID (OIDC Back-Channel Logout 1.0 §2.1):
	// random, never the cookie, carried by the ID tokens issued in the
	// session and by the logout tokens that end it. A re-authentication
	// of the same citizen replaces the cookie and keeps the SID; the
	// session ends when its last row goes.
	SID       string
	CitizenID string
	AMR       []string
	AuthTime  time.Time
	Expires   time.Time
}

// MaxPasskeyName bounds a passkey's name, in characters.
const MaxPasskeyName = 64

// CleanPasskeyName trims a passkey name the citizen typed and drops
// control and format characters; it reports false when nothing is left or
// it is longer than MaxPasskeyName.
func CleanPasskeyName(s string) (string, bool) {
	s = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsSpace(r):
			return ' '
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			return -1
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	n := len([]rune(s))
	return s, n > 0 && n <= MaxPasskeyName
}
