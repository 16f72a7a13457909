package issuer

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
)

// AuditSubjectKey derives, from the server secret, the key of the
// citizens' audit pseudonyms (AuditSubject). Replicas sharing the secret
// derive the same key.
func AuditSubjectKey(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("cedula audit subject key v1"))
	return m.Sum(nil)
}

// AuditSubject returns the citizen's one pseudonym in the audit log:
// base64url(HMAC-SHA256(key, "audit-subject" || citizenID)), key from
// AuditSubjectKey. Every entry about the citizen, whichever agency wrote
// it, carries this pseudonym, never the internal ID; nobody without the key
// can compute it from an ID or reverse it.
func AuditSubject(key []byte, citizenID string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("audit-subject"))
	m.Write([]byte(citizenID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
