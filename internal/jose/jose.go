package jose

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/lestrrat-go/jwx/v2/cert"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/cedula/cedula/internal/keys"
)

// ErrInvalid is returned for anything that is not a valid, correctly signed
// JWS under the given keys.
var ErrInvalid = errors.New("jose: invalid signature or token")

// Sign signs payload as a compact JWS with key. headers are extra protected
// header parameters (e.g. "typ"); "alg" and "kid" are set from key.
func Sign(ctx context.Context, key keys.Key, payload []byte, headers map[string]any) (string, error) {
	hdr := jws.NewHeaders()
	for k, v := range headers {
		if chain, ok := v.(CertChain); ok {
			c := &cert.Chain{}
			for _, der := range chain {
				_ = c.AddString(base64.StdEncoding.EncodeToString(der))
			}
			v = c
		}
		if err := hdr.Set(k, v); err != nil {
			return "", fmt.Errorf("jose: header %q: %w", k, err)
		}
	}
	if err := hdr.Set(jws.KeyIDKey, key.ID()); err != nil {
		return "", err
	}
	out, err := jws.Sign(payload, jws.WithKey(jwa.SignatureAlgorithm(key.Alg()), keys.Signer(ctx, key), jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", fmt.Errorf("jose: sign: %w", err)
	}
	return string(out), nil
}

// CertChain is an X.509 certificate chain, leaf first, each certificate
// DER-encoded: as the "x5c" header value of Sign (RFC 7515 §4.1.6).
type CertChain [][]byte

// SignJSON marshals claims as JSON and signs them with Sign.
func SignJSON(ctx context.Context, key keys.Key, claims any, headers map[string]any) (string, error) {
	b, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("jose: encode claims: %w", err)
	}
	return Sign(ctx, key, b, headers)
}

// JWKS returns the JSON Web Key Set (RFC 7517 §5) of pubs, each with its
// "kid", "alg" and "use": "sig".
func JWKS(pubs ...keys.PublicKey) ([]byte, error) {
	set := jwk.NewSet()
	for _, p := range pubs {
		k, err := jwk.FromRaw(p.Key)
		if err != nil {
			return nil, fmt.Errorf("jose: key %s: %w", p.ID, err)
		}
		_ = k.Set(jwk.KeyIDKey, p.ID)
		_ = k.Set(jwk.AlgorithmKey, jwa.SignatureAlgorithm(p.Alg))
		_ = k.Set(jwk.KeyUsageKey, "sig")
		if err := set.AddKey(k); err != nil {
			return nil, err
		}
	}
	return json.Marshal(set)
}

// Verify checks a compact JWS against the keys of a JWKS document and returns
// its payload. Only the algorithms in allowed are accepted (none means
// ES256, EdDSA and RS256; ES384 may be allowed; "none" and HMAC are never
// accepted). The key is the one whose "kid" the header names; when that key
// states an "alg" it must be the header's (RFC 7517 §4.4), so a token cannot
// pick the algorithm its key is used with. A "crit" header is rejected, as
// RFC 7515 §4.1.11 requires for extensions the recipient does not
// understand (none here). Every fault of the token matches ErrInvalid; a
// key set that does not parse is a different error (the server's fault).
func Verify(compact []byte, jwks []byte, allowed ...keys.Alg) ([]byte, error) {
	return VerifyWith(compact, func([]byte) ([]byte, error) { return jwks, nil }, allowed...)
}

// VerifyWith is Verify for a token whose key set depends on its own
// (still unverified) payload, such as a client assertion whose "iss" names
// the client: keySet receives the payload and returns the JWKS to verify
// with, or an error that VerifyWith returns as is. The token is parsed once.
func VerifyWith(compact []byte, keySet func(payload []byte) ([]byte, error), allowed ...keys.Alg) ([]byte, error) {
	if len(allowed) == 0 {
		allowed = []keys.Alg{keys.ES256, keys.EdDSA, keys.RS256}
	}
	msg, err := jws.Parse(compact, jws.WithCompact())
	if err != nil || len(msg.Signatures()) != 1 {
		return nil, ErrInvalid
	}
	hdr := msg.Signatures()[0].ProtectedHeaders()
	alg := hdr.Algorithm()
	if !algAllowed(alg, allowed) {
		return nil, fmt.Errorf("%w: algorithm %q not accepted", ErrInvalid, alg)
	}
	if _, present := hdr.Get(jws.CriticalKey); present {
		return nil, fmt.Errorf("%w: unsupported critical header parameters", ErrInvalid)
	}
	if _, present := hdr.Get("b64"); present { // RFC 7797 unencoded payloads: not used here
		return nil, fmt.Errorf("%w: unsupported header parameter \"b64\"", ErrInvalid)
	}
	kid := hdr.KeyID()
	if kid == "" {
		return nil, fmt.Errorf("%w: no \"kid\" in the header", ErrInvalid)
	}
	jwks, err := keySet(msg.Payload())
	if err != nil {
		return nil, err
	}
	set, err := parseSet(jwks)
	if err != nil {
		return nil, fmt.Errorf("jose: key set: %w", err)
	}
	key, found := set.LookupKeyID(kid)
	if !found {
		if len(kid) > 64 { // the kid is the sender's; keep errors and logs short
			kid = kid[:64] + "…"
		}
		return nil, fmt.Errorf("%w: unknown key %q", ErrInvalid, kid)
	}
	if ka := key.Algorithm().String(); ka != "" && ka != alg.String() {
		return nil, fmt.Errorf("%w: key %q is for %s, not %s", ErrInvalid, kid, ka, alg)
	}
	if use := key.KeyUsage(); use != "" && use != jwk.ForSignature.String() {
		return nil, fmt.Errorf("%w: key %q is not a signature key", ErrInvalid, kid)
	}
	// The token is parsed already: verify its signature over the signing
	// input (the compact form up to the last dot) with jwx's verifier for
	// alg, rather than parse it a second time in jws.Verify.
	raw := rawKey(key)
	if !keyFits(raw, alg) {
		return nil, fmt.Errorf("%w: key %q is not a key for %s", ErrInvalid, kid, alg)
	}
	v, err := jws.NewVerifier(alg)
	if err != nil {
		return nil, ErrInvalid
	}
	dot := bytes.LastIndexByte(compact, '.')
	if dot < 0 || v.Verify(compact[:dot], msg.Signatures()[0].Signature(), raw) != nil {
		return nil, ErrInvalid
	}
	return msg.Payload(), nil
}

// Header returns the protected header of a compact JWS without verifying it,
// as plain JSON values (strings, float64, maps, slices). Callers use it only
// to choose a key; nothing in it is trusted.
func Header(compact []byte) (map[string]any, error) {
	msg, err := jws.Parse(compact, jws.WithCompact())
	if err != nil || len(msg.Signatures()) != 1 {
		return nil, ErrInvalid
	}
	b, err := json.Marshal(msg.Signatures()[0].ProtectedHeaders())
	if err != nil {
		return nil, ErrInvalid
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, ErrInvalid
	}
	return m, nil
}

// rawKeys caches the Go crypto form of verification keys, so that a hot
// path does not convert the JWK on every signature.
var rawKeys sync.Map // jwk.Key → raw public key

func rawKey(k jwk.Key) any {
	if v, ok := rawKeys.Load(k); ok {
		return v
	}
	var raw any
	if err := k.Raw(&raw); err != nil {
		return k
	}
	rawKeys.Store(k, raw)
	return raw
}

// setCache keeps parsed key sets by content: the token endpoint verifies
// each agency's assertions against the same registered JWKS again and again.
var setCache struct {
	sync.Mutex
	m map[string]jwk.Set
}

func parseSet(jwks []byte) (jwk.Set, error) {
	setCache.Lock()
	set, ok := setCache.m[string(jwks)]
	setCache.Unlock()
	if ok {
		return set, nil
	}
	set, err := jwk.Parse(jwks)
	if err != nil {
		return nil, err
	}
	setCache.Lock()
	if setCache.m == nil || len(setCache.m) >= 512 {
		setCache.m = map[string]jwk.Set{}
		rawKeys.Clear()
	}
	setCache.m[string(jwks)] = set
	setCache.Unlock()
	return set, nil
}
