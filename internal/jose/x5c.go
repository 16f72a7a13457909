package jose

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/cedula/cedula/internal/keys"
)

// MaxX5C bounds the certificates of an x5c header.
const MaxX5C = 8

// VerifyX5C checks a compact JWS signed by the key of the leaf of its own
// "x5c" header (RFC 7515 §4.1.6): the chain must verify to one of roots at
// now, and the signature with the leaf's key, under one of allowed (none
// means ES256 and EdDSA). It returns the payload and the verified chain,
// leaf first. Every fault matches ErrInvalid, with what was wrong.
func VerifyX5C(compact []byte, roots *x509.CertPool, now time.Time, allowed ...keys.Alg) ([]byte, []*x509.Certificate, error) {
	if len(allowed) == 0 {
		allowed = []keys.Alg{keys.ES256, keys.EdDSA}
	}
	msg, err := jws.Parse(compact, jws.WithCompact())
	if err != nil || len(msg.Signatures()) != 1 {
		return nil, nil, fmt.Errorf("%w: not a compact JWS", ErrInvalid)
	}
	hdr := msg.Signatures()[0].ProtectedHeaders()
	alg := hdr.Algorithm()
	if !algAllowed(alg, allowed) {
		return nil, nil, fmt.Errorf("%w: algorithm %q not accepted", ErrInvalid, alg)
	}
	if _, present := hdr.Get(jws.CriticalKey); present {
		return nil, nil, fmt.Errorf("%w: unsupported critical header parameters", ErrInvalid)
	}
	chain := hdr.X509CertChain()
	if chain == nil || chain.Len() == 0 {
		return nil, nil, fmt.Errorf("%w: no x5c certificate chain in the header", ErrInvalid)
	}
	if chain.Len() > MaxX5C {
		return nil, nil, fmt.Errorf("%w: more than %d certificates in x5c", ErrInvalid, MaxX5C)
	}
	var certs []*x509.Certificate
	for i := 0; i < chain.Len(); i++ {
		enc, _ := chain.Get(i)
		der, err := base64.StdEncoding.DecodeString(string(enc))
		if err != nil {
			return nil, nil, fmt.Errorf("%w: x5c certificate %d is not base64", ErrInvalid, i)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: x5c certificate %d does not parse", ErrInvalid, i)
		}
		certs = append(certs, c)
	}
	if roots == nil {
		return nil, nil, fmt.Errorf("%w: no trust anchors to verify the certificate chain with", ErrInvalid)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	verified, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return nil, nil, fmt.Errorf("%w: the certificate chain does not verify to a trust anchor: %v", ErrInvalid, err)
	}
	if err := checkLeafKey(certs[0], alg); err != nil {
		return nil, nil, err
	}
	v, err := jws.NewVerifier(alg)
	dot := bytes.LastIndexByte(compact, '.')
	if err != nil || dot < 0 || v.Verify(compact[:dot], msg.Signatures()[0].Signature(), certs[0].PublicKey) != nil {
		return nil, nil, fmt.Errorf("%w: the signature does not verify with the leaf certificate's key", ErrInvalid)
	}
	return msg.Payload(), verified[0], nil
}

// checkLeafKey holds the leaf's key to the header's algorithm.
func checkLeafKey(leaf *x509.Certificate, alg jwa.SignatureAlgorithm) error {
	if alg != jwa.RS256 && keyFits(leaf.PublicKey, alg) {
		return nil
	}
	return fmt.Errorf("%w: the leaf certificate's key is not for %s", ErrInvalid, alg)
}

// ES384 is ECDSA with P-384 and SHA-384 (RFC 7518 §3.4). Cedula verifies
// it in others' tokens (an issuer's SD-JWT VC, a holder's key binding)
// when a caller allows it, but never makes keys of it, so keys.Alg.Valid
// does not admit it.
const ES384 keys.Alg = "ES384"

// verifiable reports whether a may be allowed when verifying.
func verifiable(a keys.Alg) bool { return a.Valid() || a == ES384 }

func algAllowed(alg jwa.SignatureAlgorithm, allowed []keys.Alg) bool {
	for _, a := range allowed {
		if verifiable(a) && string(a) == alg.String() {
			return true
		}
	}
	return false
}

// keyFits reports whether pub (a Go crypto public key) is a key for alg:
// P-256 for ES256, P-384 for ES384, Ed25519 for EdDSA, RSA for RS256
// (RFC 7518 §3.4, RFC 8037 §3.1), so that a token cannot verify with its
// key under another curve's algorithm.
func keyFits(pub any, alg jwa.SignatureAlgorithm) bool {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return alg == jwa.ES256 && k.Curve == elliptic.P256() || alg == jwa.ES384 && k.Curve == elliptic.P384()
	case ed25519.PublicKey:
		return alg == jwa.EdDSA
	case *rsa.PublicKey:
		return alg == jwa.RS256
	}
	return false
}

// VerifyJWK checks a compact JWS against one public JWK (pub) under one
// of allowed (none means ES256; ES384 may be allowed) and returns its payload: a key-binding JWT
// signed by a phone's key, say.
func VerifyJWK(compact, pub []byte, allowed ...keys.Alg) ([]byte, error) {
	if len(allowed) == 0 {
		allowed = []keys.Alg{keys.ES256}
	}
	k, err := jwk.ParseKey(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: the key is not a JWK", ErrInvalid)
	}
	if private, _ := jwk.IsPrivateKey(k); private {
		return nil, fmt.Errorf("%w: the key is a private key", ErrInvalid)
	}
	msg, err := jws.Parse(compact, jws.WithCompact())
	if err != nil || len(msg.Signatures()) != 1 {
		return nil, fmt.Errorf("%w: not a compact JWS", ErrInvalid)
	}
	hdr := msg.Signatures()[0].ProtectedHeaders()
	alg := hdr.Algorithm()
	if !algAllowed(alg, allowed) {
		return nil, fmt.Errorf("%w: algorithm %q not accepted", ErrInvalid, alg)
	}
	if _, present := hdr.Get(jws.CriticalKey); present {
		return nil, fmt.Errorf("%w: unsupported critical header parameters", ErrInvalid)
	}
	var raw any
	if err := k.Raw(&raw); err != nil {
		return nil, fmt.Errorf("%w: the key is not usable", ErrInvalid)
	}
	if !keyFits(raw, alg) {
		return nil, fmt.Errorf("%w: the key is not a key for %s", ErrInvalid, alg)
	}
	v, err := jws.NewVerifier(alg)
	dot := bytes.LastIndexByte(compact, '.')
	if err != nil || dot < 0 || v.Verify(compact[:dot], msg.Signatures()[0].Signature(), raw) != nil {
		return nil, ErrInvalid
	}
	return msg.Payload(), nil
}

// SigningInput is a JWS signing input (RFC 7515 §5.1): base64url of the
// protected header and of the payload, joined by a dot.
func SigningInput(header, payload any) (string, error) {
	h, err := json.Marshal(header)
	if err != nil {
		return "", err
	}
	p, err := json.Marshal(payload)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p), nil
}

// SignInput signs a JWS signing input with the client key and returns the
// compact JWS. The input's header must name the key's algorithm.
func (k *ClientKey) SignInput(input string) (string, error) {
	h, _, ok := strings.Cut(input, ".")
	if !ok {
		return "", fmt.Errorf("jose: not a signing input")
	}
	raw, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return "", fmt.Errorf("jose: not a signing input")
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(raw, &hdr) != nil || hdr.Alg != k.alg.String() {
		return "", fmt.Errorf("jose: the signing input is not for %s", k.alg)
	}
	s, err := jws.NewSigner(k.alg)
	if err != nil {
		return "", err
	}
	sig, err := s.Sign([]byte(input), k.raw)
	if err != nil {
		return "", fmt.Errorf("jose: sign: %w", err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}
