package wallet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/sdjwt"
	"github.com/cedula/cedula/internal/statuslist"
)

// decoded is an SD-JWT VC taken apart, every disclosure applied.
type decoded struct {
	Iss       string
	VCT       string
	Claims    map[string]any
	IssuedAt  time.Time
	ExpiresAt time.Time
	Status    *statuslist.Reference
	CNF       json.RawMessage // cnf.jwk
}

// sdjwtTypes are the typ values an SD-JWT VC may carry (dc+sd-jwt; the
// draft's vc+sd-jwt during the transition the specification allows).
var sdjwtTypes = map[string]bool{"dc+sd-jwt": true, "vc+sd-jwt": true}

// registered are the payload's claims that are about the credential, not
// the citizen.
var registered = []string{"iss", "iat", "nbf", "exp", "vct", "vct#integrity", "cnf", "status", "sub", "_sd_alg"}

// decodeCredential reads an SD-JWT VC without checking its signature (the
// wallet checked it when the credential came).
func decodeCredential(s string) (*decoded, error) {
	p, err := sdjwt.Parse(s)
	if err != nil {
		return nil, err
	}
	raw, err := jose.UnverifiedPayload([]byte(p.JWT))
	if err != nil {
		return nil, err
	}
	return decodePayload(raw, p.Disclosures)
}

func decodePayload(raw []byte, ds []sdjwt.Disclosure) (*decoded, error) {
	var payload map[string]any
	if err := json.Unmarshal(raw, &payload); err != nil {
		return nil, errors.New("the payload is not a JSON object")
	}
	claims, err := sdjwt.Reconstruct(payload, ds)
	if err != nil {
		return nil, err
	}
	var reg struct {
		Iss    string                  `json:"iss"`
		VCT    string                  `json:"vct"`
		IAT    *float64                `json:"iat"`
		EXP    *float64                `json:"exp"`
		Status *statuslist.StatusClaim `json:"status"`
		CNF    *struct {
			JWK json.RawMessage `json:"jwk"`
		} `json:"cnf"`
	}
	if err := json.Unmarshal(raw, &reg); err != nil {
		return nil, errors.New("the payload's registered claims have the wrong types")
	}
	if reg.Iss == "" || reg.VCT == "" {
		return nil, errors.New("the credential has no iss or no vct")
	}
	d := &decoded{Iss: reg.Iss, VCT: reg.VCT, Claims: claims}
	for _, k := range registered {
		delete(d.Claims, k)
	}
	if reg.IAT != nil {
		d.IssuedAt = time.Unix(int64(*reg.IAT), 0).UTC()
	}
	if reg.EXP != nil {
		d.ExpiresAt = time.Unix(int64(*reg.EXP), 0).UTC()
	}
	if reg.Status != nil && reg.Status.StatusList.URI != "" {
		ref := reg.Status.StatusList
		d.Status = &ref
	}
	if reg.CNF != nil {
		d.CNF = reg.CNF.JWK
	}
	return d, nil
}

// verifyCredential checks a credential the wallet just received: the
// issuer's signature with the keys the issuer publishes (SD-JWT VC §5,
// /.well-known/jwt-vc-issuer), typ, vct, expiry, the disclosures, and that
// it is bound to holder (a JWK thumbprint).
func (s *Service) verifyCredential(ctx context.Context, cred, vct, holderJKT string) (*decoded, error) {
	p, err := sdjwt.Parse(cred)
	if err != nil {
		return nil, err
	}
	if p.KB != "" {
		return nil, errors.New("an issued credential carries a key-binding JWT")
	}
	hdr, err := jose.Header([]byte(p.JWT))
	if err != nil {
		return nil, err
	}
	if typ, _ := hdr["typ"].(string); !sdjwtTypes[typ] {
		return nil, fmt.Errorf("typ %q is not dc+sd-jwt", typ)
	}
	raw, err := jose.VerifyWith([]byte(p.JWT), func(payload []byte) ([]byte, error) {
		var c struct {
			Iss string `json:"iss"`
		}
		if json.Unmarshal(payload, &c) != nil || c.Iss == "" {
			return nil, errors.New("the credential has no iss")
		}
		return s.issuerJWKS(ctx, c.Iss)
	}, keys.ES256, keys.EdDSA)
	if err != nil {
		return nil, err
	}
	d, err := decodePayload(raw, p.Disclosures)
	if err != nil {
		return nil, err
	}
	if vct != "" && d.VCT != vct {
		return nil, fmt.Errorf("vct %q is not the configuration's %q", d.VCT, vct)
	}
	if !d.ExpiresAt.IsZero() && !s.cfg.Now().Before(d.ExpiresAt) {
		return nil, errors.New("the credential has expired already")
	}
	if len(d.CNF) == 0 {
		return nil, errors.New("the credential is not bound to a holder key (no cnf.jwk)")
	}
	if tp, err := jose.Thumbprint(d.CNF); err != nil || tp != holderJKT {
		return nil, errors.New("the credential is bound to another key than the wallet's")
	}
	return d, nil
}

// issuerKeys caches issuers' published keys for a few minutes.
type issuerKeys struct {
	mu   sync.Mutex
	sets map[string]cachedJWKS
}

type cachedJWKS struct {
	jwks    []byte
	fetched time.Time
}

const issuerKeysTTL = 5 * time.Minute

// issuerJWKS returns the keys an SD-JWT VC issuer publishes
// (jwt-vc-issuer metadata, jwks by value or by jwks_uri).
func (s *Service) issuerJWKS(ctx context.Context, iss string) ([]byte, error) {
	if err := checkURL(iss, s.cfg.AllowHTTP); err != nil {
		return nil, fmt.Errorf("iss is not an https URL")
	}
	s.keys.mu.Lock()
	c, ok := s.keys.sets[iss]
	s.keys.mu.Unlock()
	if ok && s.cfg.Now().Sub(c.fetched) < issuerKeysTTL {
		return c.jwks, nil
	}
	var md struct {
		Issuer  string          `json:"issuer"`
		JWKS    json.RawMessage `json:"jwks"`
		JWKSURI string          `json:"jwks_uri"`
	}
	if err := s.getJSON(ctx, wellKnown(iss, "jwt-vc-issuer"), &md); err != nil {
		return nil, fmt.Errorf("the issuer's keys could not be read: %w", err)
	}
	if md.Issuer != iss {
		return nil, errors.New("the issuer's jwt-vc-issuer metadata names another issuer")
	}
	jwks := []byte(md.JWKS)
	if len(jwks) == 0 && md.JWKSURI != "" {
		if checkURL(md.JWKSURI, s.cfg.AllowHTTP) != nil {
			return nil, errors.New("jwks_uri is not an https URL")
		}
		var set json.RawMessage
		if err := s.getJSON(ctx, md.JWKSURI, &set); err != nil {
			return nil, fmt.Errorf("the issuer's keys could not be read: %w", err)
		}
		jwks = set
	}
	if err := jose.ValidPublicJWKS(jwks); err != nil {
		return nil, fmt.Errorf("the issuer's keys are not a public JWK set: %w", err)
	}
	s.keys.mu.Lock()
	if s.keys.sets == nil {
		s.keys.sets = map[string]cachedJWKS{}
	}
	s.keys.sets[iss] = cachedJWKS{jwks: jwks, fetched: s.cfg.Now()}
	s.keys.mu.Unlock()
	return jwks, nil
}
