package jose

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwe"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// Encryption (JWE, RFC 7516) with ECDH-ES key agreement (RFC 7518 §4.6)
// on P-256, for OpenID4VCI's encrypted credential requests and responses.

// EncAlgs are the content encryption algorithms accepted and offered.
var EncAlgs = []string{"A128GCM", "A256GCM"}

// ErrJWE is returned for an encrypted message that cannot be opened, or a
// key that cannot receive one.
var ErrJWE = errors.New("jose: invalid encrypted message")

// MaxJWE bounds an encrypted message.
const MaxJWE = 256 << 10

// DecryptionKey is a private ECDH-ES key of the server.
type DecryptionKey struct {
	priv *ecdsa.PrivateKey
	id   string
	pub  json.RawMessage
}

// DeriveDecryptionKey derives a P-256 key from secret (every replica
// that shares the secret has the same key) for use; its kid is its
// thumbprint.
func DeriveDecryptionKey(secret []byte, use string) (*DecryptionKey, error) {
	n := elliptic.P256().Params().N
	for i := byte(0); i < 16; i++ {
		b, err := hkdf.Key(sha256.New, secret, []byte{i}, "cedula-jwe-"+use, 32)
		if err != nil {
			return nil, err
		}
		d := new(big.Int).SetBytes(b)
		if d.Sign() == 0 || d.Cmp(n) >= 0 {
			continue
		}
		priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), b)
		if err != nil {
			return nil, err
		}
		k, err := jwk.FromRaw(&priv.PublicKey)
		if err != nil {
			return nil, err
		}
		tp, err := Thumbprint(mustJSON(k))
		if err != nil {
			return nil, err
		}
		_ = k.Set(jwk.KeyIDKey, tp)
		_ = k.Set(jwk.AlgorithmKey, jwa.ECDH_ES)
		_ = k.Set(jwk.KeyUsageKey, "enc")
		return &DecryptionKey{priv: priv, id: tp, pub: mustJSON(k)}, nil
	}
	return nil, errors.New("jose: no key could be derived")
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// PublicJWK is the key's public half, with kid, alg ECDH-ES and use enc.
func (k *DecryptionKey) PublicJWK() json.RawMessage { return k.pub }

// Decrypt opens a compact JWE sent to the key: alg ECDH-ES, enc one of
// EncAlgs, kid (when present) the key's, no compression.
func (k *DecryptionKey) Decrypt(compact []byte) ([]byte, error) {
	if len(compact) > MaxJWE {
		return nil, fmt.Errorf("%w: too large", ErrJWE)
	}
	msg, err := jwe.Parse(compact)
	if err != nil {
		return nil, fmt.Errorf("%w: not a JWE", ErrJWE)
	}
	h := msg.ProtectedHeaders()
	switch {
	case h.Algorithm() != jwa.ECDH_ES:
		return nil, fmt.Errorf("%w: alg must be ECDH-ES", ErrJWE)
	case !slices.Contains(EncAlgs, h.ContentEncryption().String()):
		return nil, fmt.Errorf("%w: enc must be one of %v", ErrJWE, EncAlgs)
	case h.KeyID() != "" && h.KeyID() != k.id:
		return nil, fmt.Errorf("%w: encrypted to another key", ErrJWE)
	case h.Compression() != "":
		return nil, fmt.Errorf("%w: compression is not supported", ErrJWE)
	}
	out, err := jwe.Decrypt(compact, jwe.WithKey(jwa.ECDH_ES, k.priv))
	if err != nil {
		return nil, fmt.Errorf("%w: it does not open with this key", ErrJWE)
	}
	return out, nil
}

// EncryptTo encrypts payload to the public JWK of a recipient with
// ECDH-ES and enc, as a compact JWE whose kid is the recipient key's.
func EncryptTo(recipient []byte, enc string, payload []byte) (string, error) {
	if !slices.Contains(EncAlgs, enc) {
		return "", fmt.Errorf("%w: enc %q is not one of %v", ErrJWE, enc, EncAlgs)
	}
	k, err := jwk.ParseKey(recipient)
	if err != nil {
		return "", fmt.Errorf("%w: the key is not a JWK", ErrJWE)
	}
	if private, _ := jwk.IsPrivateKey(k); private {
		return "", fmt.Errorf("%w: the key is a private key", ErrJWE)
	}
	ek, ok := k.(jwk.ECDSAPublicKey)
	if !ok || ek.Crv() != jwa.P256 {
		return "", fmt.Errorf("%w: the key must be an EC P-256 key", ErrJWE)
	}
	if a := k.Algorithm().String(); a != "" && a != jwa.ECDH_ES.String() {
		return "", fmt.Errorf("%w: the key is for %s, not ECDH-ES", ErrJWE, a)
	}
	var raw ecdsa.PublicKey
	if err := k.Raw(&raw); err != nil {
		return "", fmt.Errorf("%w: %v", ErrJWE, err)
	}
	if _, err := raw.ECDH(); err != nil { // the point is on the curve
		return "", fmt.Errorf("%w: the key is not a valid P-256 point", ErrJWE)
	}
	hdr := jwe.NewHeaders()
	if kid := k.KeyID(); kid != "" {
		_ = hdr.Set(jwe.KeyIDKey, kid)
	}
	out, err := jwe.Encrypt(payload, jwe.WithKey(jwa.ECDH_ES, &raw), jwe.WithContentEncryption(jwa.ContentEncryptionAlgorithm(enc)),
		jwe.WithProtectedHeaders(hdr), jwe.WithCompact())
	if err != nil {
		return "", fmt.Errorf("jose: encrypt: %w", err)
	}
	return string(out), nil
}

// NewEncryptionKey makes a P-256 key pair for a client that receives
// encrypted messages (tests, the wallet).
func NewEncryptionKey() (*DecryptionKey, error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	return DeriveDecryptionKey(secret, "client")
}
