package jose

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/cedula/cedula/internal/keys"
)

// TestVerifyES384 checks that ES384 verifies when allowed, and only then,
// with a P-384 key.
func TestVerifyES384(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := jwk.FromRaw(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	_ = pub.Set(jwk.KeyIDKey, "p384")
	pubJSON, _ := json.Marshal(pub)
	set := jwk.NewSet()
	_ = set.AddKey(pub)
	setJSON, _ := json.Marshal(set)
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.KeyIDKey, "p384")
	tok, err := jws.Sign([]byte(`{"n":1}`), jws.WithKey(jwa.ES384, priv, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyJWK(tok, pubJSON, ES384); err != nil {
		t.Errorf("VerifyJWK with ES384 allowed: got %v, want nil", err)
	}
	if _, err := Verify(tok, setJSON, keys.ES256, ES384); err != nil {
		t.Errorf("Verify with ES384 allowed: got %v, want nil", err)
	}
	if _, err := VerifyJWK(tok, pubJSON); !errors.Is(err, ErrInvalid) {
		t.Errorf("VerifyJWK with the default algorithms: got %v, want ErrInvalid", err)
	}
	if _, err := Verify(tok, setJSON); !errors.Is(err, ErrInvalid) {
		t.Errorf("Verify with the default algorithms: got %v, want ErrInvalid", err)
	}
}

func TestKeyFits(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	ed, _, _ := ed25519.GenerateKey(rand.Reader)
	for _, tc := range []struct {
		name string
		pub  any
		alg  jwa.SignatureAlgorithm
		want bool
	}{
		{"P-256 ES256", &p256.PublicKey, jwa.ES256, true},
		{"P-384 ES384", &p384.PublicKey, jwa.ES384, true},
		{"P-256 ES384", &p256.PublicKey, jwa.ES384, false},
		{"P-384 ES256", &p384.PublicKey, jwa.ES256, false},
		{"Ed25519 EdDSA", ed, jwa.EdDSA, true},
		{"Ed25519 ES256", ed, jwa.ES256, false},
		{"P-256 EdDSA", &p256.PublicKey, jwa.EdDSA, false},
		{"private key", p256, jwa.ES256, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := keyFits(tc.pub, tc.alg); got != tc.want {
				t.Errorf("keyFits: got %v, want %v", got, tc.want)
			}
		})
	}
}
