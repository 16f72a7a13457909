package testutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"testing"
)

// PhoneKey is a key in a phone's secure element as tests play it: plain
// crypto/ecdsa, with its JWK written by hand and its JWS signatures made
// the way a phone's platform API makes them — none of Cedula's JOSE code.
type PhoneKey struct{ k *ecdsa.PrivateKey }

// NewPhoneKey makes a P-256 key.
func NewPhoneKey(t testing.TB) PhoneKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return PhoneKey{k}
}

// JWK is the key's public JWK.
func (p PhoneKey) JWK() json.RawMessage {
	raw, _ := p.k.PublicKey.ECDH()
	pub := raw.Bytes() // 0x04 || X || Y
	enc := base64.RawURLEncoding.EncodeToString
	j, _ := json.Marshal(map[string]string{"kty": "EC", "crv": "P-256", "x": enc(pub[1:33]), "y": enc(pub[33:])})
	return j
}

// Sign signs a JWS signing input with ES256 and returns the signature in
// base64url (R || S).
func (p PhoneKey) Sign(t testing.TB, input string) string {
	t.Helper()
	h := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, p.k, h[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return base64.RawURLEncoding.EncodeToString(sig)
}
