package random

import (
	"encoding/base64"
	"testing"
)

// TestToken: n bytes come back as unpadded base64url, and two calls differ.
func TestToken(t *testing.T) {
	for _, n := range []int{16, 24, 32} {
		a, b := Token(n), Token(n)
		raw, err := base64.RawURLEncoding.DecodeString(a)
		if err != nil || len(raw) != n {
			t.Errorf("Token(%d) = %q: %d bytes, %v; want %d bytes of base64url", n, a, len(raw), err, n)
		}
		if a == b {
			t.Errorf("Token(%d) twice gave %q", n, a)
		}
	}
}
