package jose

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	gojose "github.com/go-jose/go-jose/v4"

	"github.com/cedula/cedula/internal/keys"
)

// OpaqueSigner adapts k to go-jose's OpaqueSigner, for libraries that sign
// with go-jose rather than through this package (zitadel/oidc signs ID
// tokens that way). Wrap it as zitadel does,
//
//	gojose.SigningKey{Algorithm: alg, Key: &gojose.JSONWebKey{Key: jose.OpaqueSigner(ctx, k), KeyID: k.ID()}}
//
// or pass it directly as the SigningKey's Key; go-jose then takes the "kid"
// from Public(). ctx bounds every signature (a Vault round trip).
func OpaqueSigner(ctx context.Context, k keys.Key) gojose.OpaqueSigner {
	return opaqueSigner{ctx: ctx, k: k}
}

type opaqueSigner struct {
	ctx context.Context
	k   keys.Key
}

// Public returns the public JWK, with "kid", "alg" and "use": "sig".
func (s opaqueSigner) Public() *gojose.JSONWebKey {
	return &gojose.JSONWebKey{Key: s.k.Public(), KeyID: s.k.ID(), Algorithm: string(s.k.Alg()), Use: "sig"}
}

// Algs returns the key's one algorithm.
func (s opaqueSigner) Algs() []gojose.SignatureAlgorithm {
	return []gojose.SignatureAlgorithm{gojose.SignatureAlgorithm(s.k.Alg())}
}

// SignPayload signs the JWS signing input. ES256 signatures come back from
// Key.Sign as ASN.1 DER and are converted to the 64-byte R || S that
// RFC 7518 §3.4 prescribes; RS256 and EdDSA signatures are used as they are.
func (s opaqueSigner) SignPayload(payload []byte, alg gojose.SignatureAlgorithm) ([]byte, error) {
	if string(alg) != string(s.k.Alg()) {
		return nil, fmt.Errorf("jose: key %s signs %s, not %s: %w", s.k.ID(), s.k.Alg(), alg, keys.ErrUnsupportedAlg)
	}
	switch s.k.Alg() {
	case keys.EdDSA:
		return s.k.Sign(s.ctx, payload, crypto.Hash(0))
	case keys.RS256:
		h := sha256.Sum256(payload)
		return s.k.Sign(s.ctx, h[:], crypto.SHA256)
	case keys.ES256:
		h := sha256.Sum256(payload)
		der, err := s.k.Sign(s.ctx, h[:], crypto.SHA256)
		if err != nil {
			return nil, err
		}
		return ecdsaDERToJWS(der, 32)
	}
	return nil, fmt.Errorf("jose: %w: %q", keys.ErrUnsupportedAlg, s.k.Alg())
}

// ecdsaDERToJWS converts an ASN.1 DER ECDSA signature (SEQUENCE of two
// INTEGERs, RFC 3279 §2.2.3) to R || S, each left-padded to size bytes
// (RFC 7518 §3.4).
func ecdsaDERToJWS(der []byte, size int) ([]byte, error) {
	var sig struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &sig)
	if err != nil || len(rest) != 0 {
		return nil, errors.New("jose: ECDSA signature is not ASN.1 DER")
	}
	if sig.R.Sign() <= 0 || sig.S.Sign() <= 0 || sig.R.BitLen() > 8*size || sig.S.BitLen() > 8*size {
		return nil, errors.New("jose: ECDSA signature values out of range")
	}
	out := make([]byte, 2*size)
	sig.R.FillBytes(out[:size])
	sig.S.FillBytes(out[size:])
	return out, nil
}
