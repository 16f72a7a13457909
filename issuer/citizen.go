package issuer

import (
	"crypto/sha256"
	"encoding/base64"
	"log/slog"
	"time"
)

// Citizen is a person who can log in. ID is a random, opaque identifier that
// never leaves Cedula: it is also the WebAuthn user handle (WebAuthn L3
// §5.4.3 — never personal data), and agencies see only a subject identifier
// derived from it (see Subject).
type Citizen struct {
	ID         string
	GivenName  string
	FamilyName string
	Birthdate  string // YYYY-MM-DD, as OIDC Core §5.1 "birthdate"
	Email      string
	Locale     string // "es" or "en"
	Created    time.Time
}

// DisplayName is the name shown on the citizen's own pages and offered to
// their authenticator when a passkey is created.
func (c Citizen) DisplayName() string {
	switch {
	case c.GivenName != "" && c.FamilyName != "":
		return c.GivenName + " " + c.FamilyName
	case c.GivenName != "":
		return c.GivenName
	}
	return c.FamilyName
}

// LogValue keeps personal data out of logs: only a short digest of the ID.
func (c Citizen) LogValue() slog.Value {
	return slog.StringValue(Pseudonym(c.ID))
}

// Pseudonym is a short, stable, non-reversible tag of a citizen ID for logs.
func Pseudonym(citizenID string) string {
	h := sha256.Sum256([]byte("cedula-log:" + citizenID))
	return "c-" + base64.RawURLEncoding.EncodeToString(h[:9])
}
