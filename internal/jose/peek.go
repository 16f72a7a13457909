package jose

import (
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// UnverifiedPayload returns the payload of a compact JWS without checking
// its signature. Callers use it only to find which key to verify with (for
// example the "iss" of a client assertion) and must then call Verify.
func UnverifiedPayload(compact []byte) ([]byte, error) {
	msg, err := jws.Parse(compact)
	if err != nil || len(msg.Signatures()) != 1 {
		return nil, ErrInvalid
	}
	return msg.Payload(), nil
}

// ValidPublicJWKS reports whether b is a JWK Set (RFC 7517 §5) of public
// signing keys only, each with a "kid".
func ValidPublicJWKS(b []byte) error {
	set, err := jwk.Parse(b)
	if err != nil {
		return ErrInvalid
	}
	if set.Len() == 0 {
		return ErrInvalid
	}
	for i := 0; i < set.Len(); i++ {
		k, _ := set.Key(i)
		if k.KeyID() == "" {
			return ErrInvalid
		}
		switch k.(type) {
		case jwk.ECDSAPrivateKey, jwk.RSAPrivateKey, jwk.OKPPrivateKey, jwk.SymmetricKey:
			return ErrInvalid
		}
	}
	return nil
}

// ValidPublicJWK reports whether b is one public JWK of P-256 whose point
// is on the curve: a holder key a phone sends.
func ValidPublicJWK(b []byte) error {
	k, err := jwk.ParseKey(b)
	if err != nil {
		return ErrInvalid
	}
	ek, ok := k.(jwk.ECDSAPublicKey)
	if !ok || ek.Crv() != jwa.P256 {
		return ErrInvalid
	}
	var pub ecdsa.PublicKey
	if err := ek.Raw(&pub); err != nil {
		return ErrInvalid
	}
	if _, err := pub.ECDH(); err != nil {
		return ErrInvalid
	}
	return nil
}

// Unsecured is an unsecured JWT (RFC 7519 §6: alg none, no signature) of
// claims with the extra header parameters — only for what a standard
// requires to go unsigned, such as the request object of an OpenID4VP
// verifier known by its redirect_uri (§5.9.3).
func Unsecured(claims any, headers map[string]any) (string, error) {
	hdr := map[string]any{"alg": "none"}
	for k, v := range headers {
		if k != "alg" {
			hdr[k] = v
		}
	}
	h, err := json.Marshal(hdr)
	if err != nil {
		return "", err
	}
	p, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("jose: encode claims: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p) + ".", nil
}
