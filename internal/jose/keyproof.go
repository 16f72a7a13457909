package jose

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// KeyProof is a JWT signed by the key in its own "jwk" header: an
// OpenID4VCI key proof (openid4vci-proof+jwt) or any other proof of
// possession of a key the sender presents. Only its signature has been
// checked; its claims are the caller's to judge.
type KeyProof struct {
	Payload []byte
	// JWK is the public key of the "jwk" header, as JSON (private members
	// never appear: such a header is refused).
	JWK json.RawMessage
	// JKT is the key's RFC 7638 SHA-256 thumbprint, base64url.
	JKT string
}

// ErrKeyProof is returned for a proof that is malformed, of another type,
// or not signed by its own key.
var ErrKeyProof = errors.New("jose: invalid key proof")

// MaxKeyProof bounds a key proof's size.
const MaxKeyProof = 8 << 10

// ParseKeyProof checks that proof is a compact JWS whose typ is typ,
// whose alg is one of algs (never "none" nor a MAC, whatever algs says),
// with no "kid", "x5c" or "crit" beside its public "jwk", and whose
// signature verifies with that key.
func ParseKeyProof(proof []byte, typ string, algs ...string) (KeyProof, error) {
	return parseKeyProof(proof, typ, algs, true)
}

// parseKeyProof is ParseKeyProof; algs nil accepts every asymmetric
// algorithm, and only a strict proof refuses kid and x5c beside jwk.
func parseKeyProof(proof []byte, typ string, algs []string, strict bool) (KeyProof, error) {
	bad := func(why string) (KeyProof, error) { return KeyProof{}, fmt.Errorf("%w: %s", ErrKeyProof, why) }
	if len(proof) > MaxKeyProof {
		return bad("too large")
	}
	msg, err := jws.Parse(proof, jws.WithCompact())
	if err != nil || len(msg.Signatures()) != 1 {
		return bad("not a compact JWS")
	}
	h := msg.Signatures()[0].ProtectedHeaders()
	if h.Type() != typ {
		return bad(fmt.Sprintf("typ must be %q", typ))
	}
	alg := h.Algorithm()
	if !dpopAlgs[alg] {
		return bad("alg must be an asymmetric signature algorithm")
	}
	allowed := algs == nil
	for _, a := range algs {
		allowed = allowed || a == alg.String()
	}
	if !allowed {
		return bad(fmt.Sprintf("alg %q is not accepted", alg.String()))
	}
	if _, ok := h.Get(jws.CriticalKey); ok {
		return bad("unsupported critical header parameters")
	}
	if strict && (h.KeyID() != "" || h.X509CertChain() != nil) {
		return bad("the key must be given in jwk alone (kid and x5c are not supported)")
	}
	key := h.JWK()
	if key == nil {
		return bad("jwk header is missing")
	}
	switch key.(type) {
	case jwk.ECDSAPrivateKey, jwk.RSAPrivateKey, jwk.OKPPrivateKey, jwk.SymmetricKey:
		return bad("jwk must be a public key")
	}
	if ka := key.Algorithm().String(); ka != "" && ka != alg.String() {
		return bad("the jwk is for another algorithm")
	}
	// Verified over the signing input of the message parsed above, with
	// jwx's verifier for alg, rather than parsed a second time.
	// (The key is the sender's, new each time: not for rawKey's cache.)
	var raw any
	if err := key.Raw(&raw); err != nil {
		return bad("the jwk is not a usable key")
	}
	v, err := jws.NewVerifier(alg)
	dot := bytes.LastIndexByte(proof, '.')
	if err != nil || dot < 0 || v.Verify(proof[:dot], msg.Signatures()[0].Signature(), raw) != nil {
		return bad("signature does not verify with the jwk header")
	}
	payload := msg.Payload()
	tp, err := key.Thumbprint(crypto.SHA256)
	if err != nil {
		return bad("cannot compute the key thumbprint")
	}
	pub, err := json.Marshal(key)
	if err != nil {
		return bad("cannot encode the key")
	}
	return KeyProof{Payload: payload, JWK: pub, JKT: base64.RawURLEncoding.EncodeToString(tp)}, nil
}

// SignKeyProof makes a JWT of typ over claims, signed with the client key
// and carrying its public half in the "jwk" header: what a wallet sends
// as an OpenID4VCI key proof.
func (k *ClientKey) SignKeyProof(typ string, claims any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	pub, err := k.priv.PublicKey()
	if err != nil {
		return "", err
	}
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.TypeKey, typ)
	_ = hdr.Set(jws.JWKKey, pub)
	out, err := jws.Sign(payload, jws.WithKey(k.alg, k.raw, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", fmt.Errorf("jose: sign key proof: %w", err)
	}
	return string(out), nil
}

// PublicJWK returns the client key's public half as a JWK.
func (k *ClientKey) PublicJWK() (json.RawMessage, error) {
	pub, err := k.priv.PublicKey()
	if err != nil {
		return nil, err
	}
	_ = pub.Remove(jwk.KeyIDKey)
	return json.Marshal(pub)
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of a public JWK,
// base64url: the "jkt" of a key a credential or token is bound to.
func Thumbprint(jwkJSON []byte) (string, error) {
	k, err := jwk.ParseKey(jwkJSON)
	if err != nil {
		return "", fmt.Errorf("jose: thumbprint: %w", err)
	}
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}
