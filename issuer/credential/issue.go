package credential

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/sdjwt"
	"github.com/cedula/cedula/internal/statuslist"
)

// MediaType is the typ of an SD-JWT VC's issuer-signed JWT.
const MediaType = "dc+sd-jwt"

// Request is one credential to make.
type Request struct {
	Issuer string // iss: the credential issuer's URL
	Type   Type
	// Integrity is the integrity of the type's metadata document
	// (vct#integrity), "" for none.
	Integrity string
	// Claims are the citizen's (or the company's) claims, as JSON decodes
	// them; the reserved ones below are refused here.
	Claims map[string]any
	// Holder is the public JWK the credential is bound to (cnf.jwk).
	Holder json.RawMessage
	// Status is the credential's place in a status list, if it has one.
	Status *statuslist.Reference
	Now    time.Time
	// X5C, when set, is the issuer's certificate chain for key, sent in
	// the x5c header (SD-JWT VC §3.5: its leaf names the issuer).
	X5C jose.CertChain
}

// reserved are the claims the issuer sets, never taken from the source,
// never selectively disclosable (SD-JWT VC §3.2.2).
var reserved = []string{"iss", "nbf", "exp", "iat", "cnf", "vct", "vct#integrity", "status", "_sd", "_sd_alg"}

// ErrMandatory is returned when a mandatory claim of the type is missing.
var ErrMandatory = errors.New("credential: a mandatory claim is missing")

// Issue makes the SD-JWT VC of r, signed with key: the compact form
// (issuer-signed JWT, every disclosure, no key binding) and its
// disclosures. iat is rounded down to the hour, so that the time of
// issuance does not single a credential out; exp is iat plus the type's
// lifetime.
func Issue(ctx context.Context, key keys.Key, r Request) (string, []sdjwt.Disclosure, error) {
	for _, name := range reserved {
		if _, ok := r.Claims[name]; ok {
			return "", nil, fmt.Errorf("credential: the claim %q is the issuer's to set", name)
		}
	}
	for _, c := range r.Type.Claims {
		if c.Mandatory && len(c.Path) == 1 {
			if name, _ := c.Path[0].(string); r.Claims[name] == nil {
				return "", nil, fmt.Errorf("%w: %s", ErrMandatory, name)
			}
		}
	}
	if len(r.Holder) == 0 || !json.Valid(r.Holder) {
		return "", nil, errors.New("credential: no holder key to bind the credential to")
	}
	payload, ds, err := sdjwt.Disclose(r.Claims, r.Type.Policy())
	if err != nil {
		return "", nil, err
	}
	iat := r.Now.UTC().Truncate(time.Hour)
	payload["iss"] = r.Issuer
	payload["iat"] = iat.Unix()
	payload["exp"] = iat.Add(r.Type.Lifetime).Unix()
	payload["vct"] = r.Type.VCT
	if r.Integrity != "" {
		payload["vct#integrity"] = r.Integrity
	}
	payload["cnf"] = map[string]any{"jwk": r.Holder}
	if r.Status != nil {
		payload["status"] = statuslist.StatusClaim{StatusList: *r.Status}
	}
	hdr := map[string]any{"typ": MediaType}
	if len(r.X5C) > 0 {
		hdr["x5c"] = r.X5C
	}
	jwt, err := jose.SignJSON(ctx, key, payload, hdr)
	if err != nil {
		return "", nil, fmt.Errorf("credential: sign: %w", err)
	}
	return sdjwt.Serialize(jwt, ds, ""), ds, nil
}
