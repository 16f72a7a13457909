package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
)

// Pseudonyms names citizens in the log. Every entry about a citizen,
// whichever room or agency wrote it, carries their one pseudonym,
// base64url(HMAC-SHA256(k, "audit-subject" || citizen ID)), never the
// internal ID; nobody without k can compute it from an ID or reverse it.
// k is derived from the server secret, so replicas sharing the secret
// agree. A deployment builds one Pseudonyms and gives it to every room.
type Pseudonyms struct{ key []byte }

// NewPseudonyms derives the pseudonyms' key from the server secret.
func NewPseudonyms(secret []byte) *Pseudonyms {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("cedula audit subject key v1"))
	return &Pseudonyms{key: m.Sum(nil)}
}

// Of returns the citizen's pseudonym; "" for "" (no citizen).
func (p *Pseudonyms) Of(citizenID string) string {
	if citizenID == "" {
		return ""
	}
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte("audit-subject"))
	m.Write([]byte(citizenID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
