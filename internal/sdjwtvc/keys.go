package sdjwtvc

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/cedula/cedula/internal/jose"
)

type keysEntry struct {
	jwks    []byte
	kids    []string
	fetched time.Time
}

// IssuerKeys returns the JWK Set the issuer iss publishes in its JWT VC
// Issuer Metadata (SD-JWT VC §5): fetched from iss with
// /.well-known/jwt-vc-issuer inserted between host and path, its "issuer"
// equal to iss, its keys given by value ("jwks") or by reference
// ("jwks_uri", not both), public signing keys only, each with a kid.
// Cached for KeysTTL. Errors are *Failure with ReasonIssuerUnavailable.
func (r *Resolver) IssuerKeys(ctx context.Context, iss string) ([]byte, error) {
	e, err := r.issuerKeys(ctx, iss, "")
	if err != nil {
		return nil, err
	}
	return e.jwks, nil
}

// issuerKeys returns iss's keys from the cache, or fetched when the cache
// has none fresh; when kid is not among the cached ones and the last fetch
// is older than KeysRefetch, fetched again (a rotated key).
func (r *Resolver) issuerKeys(ctx context.Context, iss, kid string) (keysEntry, error) {
	now := r.now()
	r.mu.Lock()
	e, ok := r.keys[iss]
	r.mu.Unlock()
	age := now.Sub(e.fetched)
	if ok && age >= 0 && age < orDefault(r.KeysTTL, DefaultKeysTTL) {
		if kid == "" || slices.Contains(e.kids, kid) || age < orDefault(r.KeysRefetch, DefaultKeysRefetch) {
			return e, nil
		}
	}
	jwks, kids, err := r.fetchKeys(ctx, iss)
	if err != nil {
		return keysEntry{}, failf(ReasonIssuerUnavailable, err, "the issuer's keys could not be read: %v", err)
	}
	e = keysEntry{jwks: jwks, kids: kids, fetched: now}
	r.mu.Lock()
	put(&r.keys, iss, e)
	r.mu.Unlock()
	return e, nil
}

func (r *Resolver) fetchKeys(ctx context.Context, iss string) ([]byte, []string, error) {
	u, err := r.checkURL(iss)
	if err != nil {
		return nil, nil, errors.New("iss is " + err.Error())
	}
	if u.RawQuery != "" {
		return nil, nil, errors.New("iss has a query")
	}
	b, err := r.get(ctx, wellKnown(u, "jwt-vc-issuer"), "application/json")
	if err != nil {
		return nil, nil, errors.New("jwt-vc-issuer metadata: " + err.Error())
	}
	var md struct {
		Issuer  string          `json:"issuer"`
		JWKS    json.RawMessage `json:"jwks"`
		JWKSURI string          `json:"jwks_uri"`
	}
	if err := decodeStrict(b, &md); err != nil {
		return nil, nil, errors.New("jwt-vc-issuer metadata is not a JSON object")
	}
	if md.Issuer != iss {
		return nil, nil, errors.New("jwt-vc-issuer metadata names another issuer")
	}
	jwks := []byte(md.JWKS)
	switch {
	case len(jwks) > 0 && md.JWKSURI != "":
		return nil, nil, errors.New("jwt-vc-issuer metadata has both jwks and jwks_uri")
	case md.JWKSURI != "":
		if jwks, err = r.get(ctx, md.JWKSURI, "application/jwk-set+json, application/json"); err != nil {
			return nil, nil, errors.New("jwks_uri: " + err.Error())
		}
	case len(jwks) == 0:
		return nil, nil, errors.New("jwt-vc-issuer metadata has neither jwks nor jwks_uri")
	}
	if jose.ValidPublicJWKS(jwks) != nil {
		return nil, nil, errors.New("the issuer's keys are not a set of public keys, each with a kid")
	}
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &set); err != nil {
		return nil, nil, errors.New("the issuer's keys are not a JWK set")
	}
	kids := make([]string, 0, len(set.Keys))
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	return jwks, kids, nil
}

// verifyIssuerJWS verifies compact with iss's published keys under algs,
// fetching them again (at most once per KeysRefetch) when the header
// names a kid they lack. A key fetch that fails is
// ReasonIssuerUnavailable; a signature that does not verify, bad.
func (r *Resolver) verifyIssuerJWS(ctx context.Context, iss string, compact []byte, bad Reason) ([]byte, error) {
	hdr, err := jose.Header(compact)
	if err != nil {
		return nil, failf(bad, err, "not a compact JWS")
	}
	kid, _ := hdr["kid"].(string)
	if kid == "" {
		return nil, fail(bad, "the header names no key (kid)")
	}
	e, err := r.issuerKeys(ctx, iss, kid)
	if err != nil {
		return nil, err
	}
	payload, err := jose.Verify(compact, e.jwks, verifyAlgs...)
	if err != nil {
		return nil, failf(bad, err, "the signature does not verify with the issuer's keys")
	}
	return payload, nil
}
