package sdjwtvc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/sdjwt"
	"github.com/cedula/cedula/internal/statuslist"
)

// Media types of the two JWTs of a presentation.
const (
	// CredentialType is the typ of the issuer-signed JWT (SD-JWT VC §3.1).
	CredentialType = "dc+sd-jwt"
	// KeyBindingType is the typ of the key-binding JWT (RFC 9901 §4.3).
	KeyBindingType = "kb+jwt"
)

// DefaultKBMaxAge is how old a key-binding JWT may be by default.
const DefaultKBMaxAge = 5 * time.Minute

// skew is the leeway for clocks on every time checked.
const skew = time.Minute

// MaxPresentation bounds the presentation Verify reads.
const MaxPresentation = 1 << 20

// verifyAlgs are the algorithms accepted for the issuer's signature, the
// key binding and status lists: asymmetric only.
var verifyAlgs = []keys.Alg{keys.ES256, jose.ES384, keys.EdDSA}

// Options are one verification's parameters.
type Options struct {
	// Audience and Nonce are what the key-binding JWT's aud and nonce
	// must be: the verifier's client_id and the request's nonce
	// (OpenID4VP 1.0 §B.3.6). Both are required.
	Audience, Nonce string
	// Now is the time of verification (zero: the Resolver's clock).
	Now time.Time
	// KBMaxAge is how old the key-binding JWT's iat may be
	// (DefaultKBMaxAge), plus a minute's leeway.
	KBMaxAge time.Duration
	// Trusted is the trust list: whether iss may issue credentials of
	// vct. Nil trusts nobody.
	Trusted func(iss, vct string) bool
	// CheckTypeMetadata has the type metadata fetched from the vct and
	// checked against vct#integrity.
	CheckTypeMetadata bool
}

// Credential is a verified credential as presented.
type Credential struct {
	Issuer, VCT string
	// Claims are the citizen's claims as disclosed (numbers as
	// json.Number): the registered claims about the credential itself
	// (iss, iat, nbf, exp, vct, vct#integrity, cnf, status, _sd_alg) are
	// not among them; sub, the subject's identifier, is when present.
	Claims                         map[string]any
	IssuedAt, NotBefore, ExpiresAt time.Time // zero when absent
	// Status is the credential's place in a status list, nil for none;
	// StatusValue what the list said (statuslist.Valid, as Verify fails
	// otherwise) and StatusCheckedAt when the list was read.
	Status          *statuslist.Reference
	StatusValue     uint8
	StatusCheckedAt time.Time
	// HolderJKT is the RFC 7638 thumbprint of cnf.jwk, the key that
	// signed the key binding.
	HolderJKT string
}

// registered are the claims about the credential, not the citizen.
var registered = []string{"iss", "iat", "nbf", "exp", "vct", "vct#integrity", "cnf", "status", "_sd_alg"}

// notDisclosable are the claims SD-JWT VC §3.2.2 forbids to disclose
// selectively (iat and sub may be).
var notDisclosable = []string{"iss", "nbf", "exp", "cnf", "vct", "vct#integrity", "status"}

// Verify verifies a presentation (a compact SD-JWT+KB) of an SD-JWT VC
// with the checks the package documentation lists, in that order. A
// refusal is a *Failure; an Options without Audience or Nonce is another
// error.
func (r *Resolver) Verify(ctx context.Context, presentation string, o Options) (*Credential, error) {
	if o.Audience == "" || o.Nonce == "" {
		return nil, errors.New("sdjwtvc: Verify needs the Audience and the Nonce the key binding must carry")
	}
	now := o.Now
	if now.IsZero() {
		now = r.now()
	}
	if len(presentation) > MaxPresentation {
		return nil, fail(ReasonMalformed, "the presentation is too large")
	}
	jwt, _, ok := strings.Cut(presentation, "~")
	if !ok || jwt == "" {
		return nil, fail(ReasonMalformed, "not a compact SD-JWT")
	}
	p, err := sdjwt.Parse(presentation)
	if err != nil {
		return nil, failf(ReasonDisclosure, err, "%s", strings.TrimPrefix(err.Error(), "sdjwt: "))
	}

	// The form: typ and alg (RFC 8725 §3.1, §3.11).
	hdr, err := jose.Header([]byte(p.JWT))
	if err != nil {
		return nil, failf(ReasonMalformed, err, "the issuer-signed JWT is not a compact JWS")
	}
	if typ, _ := hdr["typ"].(string); typ != CredentialType {
		return nil, fail(ReasonMalformed, "the issuer-signed JWT's typ is not "+CredentialType)
	}
	if alg, _ := hdr["alg"].(string); !slices.Contains(verifyAlgs, keys.Alg(alg)) {
		return nil, fail(ReasonSignature, "the issuer-signed JWT's alg is not ES256, ES384 or EdDSA")
	}
	unverified, err := jose.UnverifiedPayload([]byte(p.JWT))
	if err != nil {
		return nil, failf(ReasonMalformed, err, "the issuer-signed JWT is not a compact JWS")
	}
	var id struct {
		Iss string `json:"iss"`
		VCT string `json:"vct"`
	}
	if json.Unmarshal(unverified, &id) != nil || id.Iss == "" || id.VCT == "" {
		return nil, fail(ReasonMalformed, "the credential has no iss or no vct, or they are not strings")
	}

	// Trust, before anything is fetched.
	if o.Trusted == nil || !o.Trusted(id.Iss, id.VCT) {
		return nil, fail(ReasonUntrustedIssuer, "the issuer is not trusted to issue this credential type")
	}

	// The issuer's signature (SD-JWT VC §3.5).
	var signed []byte
	if _, x5c := hdr["x5c"]; x5c && r.Roots != nil {
		signed, err = r.verifyX5C([]byte(p.JWT), id.Iss, now)
	} else {
		signed, err = r.verifyIssuerJWS(ctx, id.Iss, []byte(p.JWT), ReasonSignature)
	}
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(signed, unverified) {
		return nil, fail(ReasonSignature, "the verified payload is not the one read before")
	}

	// The disclosures (RFC 9901 §7.1).
	var payload map[string]any
	dec := json.NewDecoder(bytes.NewReader(signed))
	dec.UseNumber()
	if err := dec.Decode(&payload); err != nil || payload == nil {
		return nil, fail(ReasonMalformed, "the payload is not a JSON object")
	}
	claims, err := sdjwt.Reconstruct(payload, p.Disclosures)
	if err != nil {
		return nil, failf(ReasonDisclosure, err, "%s", strings.TrimPrefix(err.Error(), "sdjwt: "))
	}
	for _, name := range notDisclosable {
		if _, signed := payload[name]; !signed {
			if _, disclosed := claims[name]; disclosed {
				return nil, fail(ReasonDisclosure, "the claim "+name+" is selectively disclosed")
			}
		}
	}
	c := &Credential{Issuer: id.Iss, VCT: id.VCT}
	reg, err := readRegistered(claims)
	if err != nil {
		return nil, err
	}
	c.IssuedAt, c.NotBefore, c.ExpiresAt = reg.iat, reg.nbf, reg.exp

	// Times (SD-JWT VC §3.2.2.2), with leeway.
	switch {
	case !c.ExpiresAt.IsZero() && !now.Before(c.ExpiresAt.Add(skew)):
		return nil, fail(ReasonExpired, "the credential has expired")
	case !c.NotBefore.IsZero() && c.NotBefore.After(now.Add(skew)):
		return nil, fail(ReasonNotYetValid, "the credential is not valid yet (nbf)")
	case !c.IssuedAt.IsZero() && c.IssuedAt.After(now.Add(skew)):
		return nil, fail(ReasonNotYetValid, "the credential was issued in the future (iat)")
	}

	// Holder binding (RFC 9901 §7.3).
	if len(reg.cnf) == 0 {
		return nil, fail(ReasonKeyBinding, "the credential is not bound to a key (no cnf.jwk)")
	}
	if c.HolderJKT, err = jose.Thumbprint(reg.cnf); err != nil {
		return nil, failf(ReasonKeyBinding, err, "cnf.jwk is not a JWK")
	}
	if err := checkKeyBinding(presentation, p.KB, reg.cnf, o, now); err != nil {
		return nil, err
	}

	if o.CheckTypeMetadata {
		if _, err := r.TypeMetadata(ctx, id.VCT, reg.integrity); err != nil {
			return nil, err
		}
	}

	// Status (Token Status List §8).
	if reg.hasStatus {
		if reg.status == nil {
			return nil, fail(ReasonStatusUnavailable, "the credential's status claim has no status_list")
		}
		v, at, err := r.Status(ctx, id.Iss, *reg.status)
		if err != nil {
			return nil, err
		}
		switch v {
		case statuslist.Valid:
		case statuslist.Invalid:
			return nil, fail(ReasonRevoked, "the credential is revoked")
		case statuslist.Suspended:
			return nil, fail(ReasonSuspended, "the credential is suspended")
		default:
			return nil, fail(ReasonStatusUnavailable, "the credential's status is not one this verifier understands")
		}
		c.Status, c.StatusValue, c.StatusCheckedAt = reg.status, v, at
	}

	for _, name := range registered {
		delete(claims, name)
	}
	c.Claims = claims
	return c, nil
}

// registeredClaims are the registered claims of a credential, read.
type registeredClaims struct {
	iat, nbf, exp time.Time
	integrity     string
	cnf           json.RawMessage
	hasStatus     bool
	status        *statuslist.Reference
}

func readRegistered(claims map[string]any) (registeredClaims, error) {
	var reg registeredClaims
	for name, t := range map[string]*time.Time{"iat": &reg.iat, "nbf": &reg.nbf, "exp": &reg.exp} {
		v, ok := claims[name]
		if !ok {
			continue
		}
		if *t, ok = numericDate(v); !ok {
			return reg, fail(ReasonMalformed, "the credential's "+name+" is not a NumericDate")
		}
	}
	if v, ok := claims["vct#integrity"]; ok {
		if reg.integrity, ok = v.(string); !ok || reg.integrity == "" {
			return reg, fail(ReasonMalformed, "the credential's vct#integrity is not a string")
		}
	}
	if v, ok := claims["cnf"]; ok {
		cnf, ok := v.(map[string]any)
		if !ok {
			return reg, fail(ReasonMalformed, "the credential's cnf is not an object")
		}
		if k, ok := cnf["jwk"]; ok {
			if _, ok := k.(map[string]any); !ok {
				return reg, fail(ReasonKeyBinding, "the credential's cnf.jwk is not an object")
			}
			reg.cnf, _ = json.Marshal(k)
		}
	}
	if v, ok := claims["status"]; ok {
		reg.hasStatus = true
		st, ok := v.(map[string]any)
		if !ok {
			return reg, fail(ReasonMalformed, "the credential's status is not an object")
		}
		if sl, ok := st["status_list"]; ok {
			m, _ := sl.(map[string]any)
			uri, _ := m["uri"].(string)
			n, _ := m["idx"].(json.Number)
			idx, err := n.Int64()
			if uri == "" || err != nil || idx < 0 || idx > math.MaxInt32 {
				return reg, fail(ReasonMalformed, "the credential's status_list is not an idx and a uri")
			}
			reg.status = &statuslist.Reference{Index: int(idx), URI: uri}
		}
	}
	return reg, nil
}

// maxNumericDate is 9999-12-31T23:59:59Z.
const maxNumericDate = 253402300799

// numericDate reads a JWT NumericDate (RFC 7519 §2) decoded as a
// json.Number; fractions are dropped.
func numericDate(v any) (time.Time, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0).UTC(), true
}

// checkKeyBinding checks the key-binding JWT of a presentation (RFC 9901
// §4.3, §7.3): typ, signature by cnf.jwk, sd_hash over the presentation up
// to its last '~', aud, nonce and the freshness of iat.
func checkKeyBinding(presentation, kb string, cnf json.RawMessage, o Options, now time.Time) error {
	if kb == "" {
		return fail(ReasonKeyBinding, "the presentation has no key-binding JWT")
	}
	hdr, err := jose.Header([]byte(kb))
	if err != nil {
		return failf(ReasonKeyBinding, err, "the key-binding JWT is not a compact JWS")
	}
	if typ, _ := hdr["typ"].(string); typ != KeyBindingType {
		return fail(ReasonKeyBinding, "the key-binding JWT's typ is not "+KeyBindingType)
	}
	raw, err := jose.VerifyJWK([]byte(kb), cnf, verifyAlgs...)
	if err != nil {
		return failf(ReasonKeyBinding, err, "the key-binding JWT is not signed with the credential's key (cnf.jwk) under ES256, ES384 or EdDSA")
	}
	var claims struct {
		IAT    json.Number `json:"iat"`
		Exp    json.Number `json:"exp"`
		Aud    any         `json:"aud"`
		Nonce  any         `json:"nonce"`
		SDHash any         `json:"sd_hash"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&claims); err != nil {
		return failf(ReasonKeyBinding, err, "the key-binding JWT's claims have the wrong types")
	}
	if h, _ := claims.SDHash.(string); h == "" || h != sdjwt.SDHash(presentation) {
		return fail(ReasonKeyBinding, "the key-binding JWT's sd_hash is not the presentation's")
	}
	if aud, _ := claims.Aud.(string); aud != o.Audience {
		return fail(ReasonAudience, "the key-binding JWT is for another audience")
	}
	if nonce, _ := claims.Nonce.(string); nonce != o.Nonce {
		return fail(ReasonNonce, "the key-binding JWT's nonce is not the request's")
	}
	iat, ok := numericDate(claims.IAT)
	if !ok {
		return fail(ReasonKeyBinding, "the key-binding JWT has no iat")
	}
	maxAge := o.KBMaxAge
	if maxAge <= 0 {
		maxAge = DefaultKBMaxAge
	}
	switch {
	case iat.After(now.Add(skew)):
		return fail(ReasonStale, "the key-binding JWT was made in the future")
	case now.Sub(iat) > maxAge+skew:
		return fail(ReasonStale, "the key-binding JWT is too old")
	}
	if claims.Exp != "" {
		exp, ok := numericDate(claims.Exp)
		if !ok {
			return fail(ReasonKeyBinding, "the key-binding JWT's exp is not a NumericDate")
		}
		if !now.Before(exp.Add(skew)) {
			return fail(ReasonStale, "the key-binding JWT has expired")
		}
	}
	return nil
}

// verifyX5C verifies an issuer-signed JWT with the leaf certificate of
// its x5c chain, which must verify to Roots and name iss: a URI subject
// alternative name equal to iss, or, for an https iss (http with
// AllowHTTP), a DNS name equal to its host (SD-JWT VC §3.5; HAIP 1.0).
func (r *Resolver) verifyX5C(compact []byte, iss string, now time.Time) ([]byte, error) {
	payload, chain, err := jose.VerifyX5C(compact, r.Roots, now, verifyAlgs...)
	if err != nil {
		return nil, failf(ReasonSignature, err, "the x5c certificate chain or the signature does not verify")
	}
	leaf := chain[0]
	for _, u := range leaf.URIs {
		if u.String() == iss {
			return payload, nil
		}
	}
	if u, err := r.checkURL(iss); err == nil && slices.Contains(leaf.DNSNames, u.Hostname()) {
		return payload, nil
	}
	return nil, fail(ReasonSignature, "the x5c leaf certificate does not name the issuer")
}
