package jose

import (
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"

	"github.com/cedula/cedula/internal/random"
)

// DPoPProof is a verified DPoP proof JWT (RFC 9449 §4.2). Its signature
// has been checked with the public key in its own "jwk" header; binding the
// key to a token and checking htm, htu, iat, ath and jti freshness is the
// caller's job.
type DPoPProof struct {
	JTI   string
	HTM   string
	HTU   string
	IAT   time.Time
	ATH   string // base64url SHA-256 of the access token, at resource servers
	Nonce string
	JKT   string // RFC 7638 SHA-256 thumbprint of the proof's public key
}

// ErrDPoP is returned for a proof that is malformed or badly signed.
var ErrDPoP = errors.New("jose: invalid DPoP proof")

// dpopAlgs are the asymmetric algorithms accepted in proofs (§4.3 point 5:
// not none, not a MAC).
var dpopAlgs = map[jwa.SignatureAlgorithm]bool{
	jwa.ES256: true, jwa.ES384: true, jwa.EdDSA: true, jwa.RS256: true, jwa.PS256: true,
}

// ParseDPoPProof checks the proof's form and signature (RFC 9449 §4.3
// points 1–7) and returns its claims.
func ParseDPoPProof(proof []byte) (DPoPProof, error) {
	bad := func(why string) (DPoPProof, error) { return DPoPProof{}, fmt.Errorf("%w: %s", ErrDPoP, why) }
	if len(proof) > 8<<10 {
		return bad("too large")
	}
	kp, err := parseKeyProof(proof, "dpop+jwt", nil, false)
	if err != nil {
		return bad(strings.TrimPrefix(err.Error(), ErrKeyProof.Error()+": "))
	}
	payload := kp.Payload
	var cl struct {
		JTI   string   `json:"jti"`
		HTM   string   `json:"htm"`
		HTU   string   `json:"htu"`
		IAT   *float64 `json:"iat"`
		ATH   string   `json:"ath"`
		Nonce string   `json:"nonce"`
	}
	if err := json.Unmarshal(payload, &cl); err != nil {
		return bad("claims are not a JSON object")
	}
	if cl.JTI == "" || cl.HTM == "" || cl.HTU == "" || cl.IAT == nil {
		return bad("jti, htm, htu and iat are required")
	}
	return DPoPProof{JTI: cl.JTI, HTM: cl.HTM, HTU: cl.HTU, IAT: time.Unix(int64(*cl.IAT), 0), ATH: cl.ATH,
		Nonce: cl.Nonce, JKT: kp.JKT}, nil
}

// SignDPoP makes a DPoP proof with the client key, as a wallet or agency
// client would (RFC 9449 §4.2). ath is empty at the token endpoint.
func (k *ClientKey) SignDPoP(htm, htu, ath string, iat time.Time) (string, error) {
	return k.SignDPoPNonce(htm, htu, ath, "", iat)
}

// SignDPoPNonce is SignDPoP with the server's nonce (RFC 9449 §8, §9),
// when it gave one.
func (k *ClientKey) SignDPoPNonce(htm, htu, ath, nonce string, iat time.Time) (string, error) {
	claims := map[string]any{"jti": random.Token(16), "htm": htm, "htu": htu, "iat": iat.Unix()}
	if ath != "" {
		claims["ath"] = ath
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	return k.SignKeyProof("dpop+jwt", claims)
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of the client key's
// public half, base64url-encoded: the "jkt" a DPoP-bound token carries.
func (k *ClientKey) Thumbprint() (string, error) {
	tp, err := k.priv.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}
