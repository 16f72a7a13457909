package issuer

import (
	"errors"
	"regexp"
	"strings"
	"time"

	"github.com/cedula/cedula/internal/random"
)

// NewCitizenID returns a random citizen ID: 256 bits, base64url. It is also
// the WebAuthn user handle, so it must hold no personal data (WebAuthn L3
// §14.6.1).
func NewCitizenID() string { return random.Token(32) }

// NewClientSecret returns a client secret of 256 random bits and the digest
// to store. The secret is shown once and never stored.
func NewClientSecret() (secret string, digest []byte) {
	secret = random.Token(32)
	return secret, HashSecret(secret)
}

var birthdate = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// ErrInvalidCitizen reports citizen data that cannot be stored.
var ErrInvalidCitizen = errors.New("issuer: invalid citizen")

// ValidateCitizen reports every problem with c's fields at once.
func ValidateCitizen(c Citizen) error {
	var probs []string
	if strings.TrimSpace(c.GivenName) == "" && strings.TrimSpace(c.FamilyName) == "" {
		probs = append(probs, "a given or family name is required")
	}
	if len(c.GivenName) > 200 || len(c.FamilyName) > 200 {
		probs = append(probs, "names must have at most 200 characters")
	}
	if c.Birthdate != "" {
		if _, err := time.Parse("2006-01-02", c.Birthdate); err != nil || !birthdate.MatchString(c.Birthdate) {
			probs = append(probs, "birthdate must be YYYY-MM-DD")
		}
	}
	if c.Email != "" && (!strings.Contains(c.Email, "@") || len(c.Email) > 254) {
		probs = append(probs, "email is not an address")
	}
	switch c.Locale {
	case "", "es", "en":
	default:
		probs = append(probs, "locale must be es or en")
	}
	if len(probs) > 0 {
		return &InvalidError{Kind: ErrInvalidCitizen, Problems: probs}
	}
	return nil
}
