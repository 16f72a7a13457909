// Package random makes the unguessable strings Cedula hands out — IDs,
// secrets, ceremony and session handles, JWT IDs — in one way: bits from
// crypto/rand (which never fails on the platforms Go supports: it crashes
// the program rather than return predictable bytes), base64url without
// padding.
package random

import (
	"crypto/rand"
	"encoding/base64"
)

// Token returns n random bytes, base64url without padding: 16 for a JWT
// ID, 32 (256 bits) for anything that guards access.
func Token(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
