package jose

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/random"
)

// ErrBadClientKey is returned by ParseClientKey for a JWK that is not a
// private key of a supported algorithm.
var ErrBadClientKey = errors.New("jose: not a usable private client key")

// ClientKey is an OAuth client's own private signing key, as held by an
// agency (or by `cedula bench` acting as one) to authenticate at the token
// endpoint with private_key_jwt (OIDC Core 1.0 §9, RFC 7523 §2.2). It is the
// client's key, not one of Cedula's: those stay in internal/keys.
type ClientKey struct {
	priv jwk.Key
	raw  any // the private key as a Go crypto key, converted once
	alg  jwa.SignatureAlgorithm
}

// NewClientKey generates a client key of alg, its "kid" the RFC 7638
// thumbprint. Tests and tooling use it to make a client.
func NewClientKey(alg keys.Alg) (*ClientKey, error) {
	var raw any
	var err error
	switch alg {
	case keys.ES256:
		raw, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case keys.EdDSA:
		_, raw, err = ed25519.GenerateKey(rand.Reader)
	case keys.RS256:
		raw, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		return nil, fmt.Errorf("%w: %q", keys.ErrUnsupportedAlg, alg)
	}
	if err != nil {
		return nil, fmt.Errorf("jose: generate %s key: %w", alg, err)
	}
	k, err := jwk.FromRaw(raw)
	if err != nil {
		return nil, fmt.Errorf("jose: %w", err)
	}
	_ = k.Set(jwk.AlgorithmKey, jwa.SignatureAlgorithm(alg))
	return newClientKey(k)
}

// ParseClientKey parses a private JWK (RFC 7517 §4), or a JWK Set holding
// exactly one key. The algorithm is the key's "alg" when present, otherwise
// ES256 for EC P-256, EdDSA for OKP Ed25519 and RS256 for RSA. A key without
// "kid" gets its RFC 7638 SHA-256 thumbprint.
func ParseClientKey(data []byte) (*ClientKey, error) {
	set, err := jwk.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadClientKey, err)
	}
	if set.Len() != 1 {
		return nil, fmt.Errorf("%w: want one key, got %d", ErrBadClientKey, set.Len())
	}
	k, _ := set.Key(0)
	return newClientKey(k)
}

func newClientKey(k jwk.Key) (*ClientKey, error) {
	if private, err := jwk.IsPrivateKey(k); err != nil || !private {
		return nil, fmt.Errorf("%w: the JWK has no private part", ErrBadClientKey)
	}
	alg, err := clientAlg(k)
	if err != nil {
		return nil, err
	}
	if k.KeyID() == "" {
		tp, err := k.Thumbprint(crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadClientKey, err)
		}
		_ = k.Set(jwk.KeyIDKey, base64.RawURLEncoding.EncodeToString(tp))
	}
	_ = k.Set(jwk.AlgorithmKey, alg)
	var raw any
	if err := k.Raw(&raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadClientKey, err)
	}
	return &ClientKey{priv: k, raw: raw, alg: alg}, nil
}

// clientAlg chooses the key's JWS algorithm and checks that the key suits it.
func clientAlg(k jwk.Key) (jwa.SignatureAlgorithm, error) {
	var raw any
	if err := k.Raw(&raw); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadClientKey, err)
	}
	var inferred keys.Alg
	switch r := raw.(type) {
	case *ecdsa.PrivateKey:
		if r.Curve != elliptic.P256() {
			return "", fmt.Errorf("%w: EC keys must be on P-256", ErrBadClientKey)
		}
		inferred = keys.ES256
	case ed25519.PrivateKey:
		inferred = keys.EdDSA
	case *rsa.PrivateKey:
		if r.N.BitLen() < 2048 {
			return "", fmt.Errorf("%w: RSA keys must have at least 2048 bits", ErrBadClientKey)
		}
		inferred = keys.RS256
	default:
		return "", fmt.Errorf("%w: unsupported key type %T", ErrBadClientKey, raw)
	}
	if a, ok := k.Get(jwk.AlgorithmKey); ok {
		if s := fmt.Sprint(a); s != string(inferred) {
			return "", fmt.Errorf("%w: \"alg\" %q does not suit this key (want %s)", ErrBadClientKey, s, inferred)
		}
	}
	return jwa.SignatureAlgorithm(inferred), nil
}

// ID returns the key's "kid".
func (k *ClientKey) ID() string { return k.priv.KeyID() }

// Alg returns the key's JWS algorithm.
func (k *ClientKey) Alg() keys.Alg { return keys.Alg(k.alg.String()) }

// PrivateJWK returns the private key as a JWK, to be stored by its owner.
func (k *ClientKey) PrivateJWK() ([]byte, error) { return json.Marshal(k.priv) }

// PublicJWKS returns the public half as a JWK Set, as registered for the
// client ("jwks") at the authorization server.
func (k *ClientKey) PublicJWKS() ([]byte, error) {
	pub, err := k.priv.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("jose: %w", err)
	}
	_ = pub.Set(jwk.KeyUsageKey, "sig")
	set := jwk.NewSet()
	if err := set.AddKey(pub); err != nil {
		return nil, err
	}
	return json.Marshal(set)
}

// ClientAssertion is the content of an RFC 7523 §3 client authentication
// JWT.
type ClientAssertion struct {
	ClientID string // "iss" and "sub"
	// Audience identifies the authorization server: its issuer identifier
	// or its token endpoint URL. One value is sent as a string, several as
	// an array.
	Audience []string
	ID       string // "jti", unique per assertion; random when empty
	IssuedAt time.Time
	Expiry   time.Time
}

// SignAssertion signs a as a compact JWS with the client key (header "alg"
// and "kid").
func (k *ClientKey) SignAssertion(a ClientAssertion) (string, error) {
	if a.ClientID == "" || len(a.Audience) == 0 || a.IssuedAt.IsZero() || !a.Expiry.After(a.IssuedAt) {
		return "", errors.New("jose: client assertion needs a client ID, an audience and an expiry after its issue time")
	}
	if a.ID == "" {
		a.ID = random.Token(16)
	}
	var aud any = a.Audience
	if len(a.Audience) == 1 {
		aud = a.Audience[0]
	}
	payload, err := json.Marshal(struct {
		Iss string `json:"iss"`
		Sub string `json:"sub"`
		Aud any    `json:"aud"`
		Jti string `json:"jti"`
		Iat int64  `json:"iat"`
		Exp int64  `json:"exp"`
	}{a.ClientID, a.ClientID, aud, a.ID, a.IssuedAt.Unix(), a.Expiry.Unix()})
	if err != nil {
		return "", err
	}
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.KeyIDKey, k.ID())
	_ = hdr.Set(jws.TypeKey, "JWT")
	out, err := jws.Sign(payload, jws.WithKey(k.alg, k.raw, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", fmt.Errorf("jose: sign client assertion: %w", err)
	}
	return string(out), nil
}

// PublicJWK returns pub (*ecdsa.PublicKey, ed25519.PublicKey or
// *rsa.PublicKey) as a bare JWK object, e.g. for a "cnf" claim (RFC 7800
// §3.2).
func PublicJWK(pub crypto.PublicKey) (json.RawMessage, error) {
	k, err := jwk.FromRaw(pub)
	if err != nil {
		return nil, fmt.Errorf("jose: public key: %w", err)
	}
	if private, _ := jwk.IsPrivateKey(k); private {
		return nil, errors.New("jose: PublicJWK was given a private key")
	}
	return json.Marshal(k)
}
