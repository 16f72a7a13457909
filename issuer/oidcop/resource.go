package oidcop

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/cedula/cedula/issuer"
)

// Protected resources of the provider and of Cedula's APIs (userinfo, the
// admin, consent and DPO APIs) take an access token in the Authorization
// header — as a bearer token (RFC 6750 §2.1) or, when it is bound to a
// key, with a DPoP proof (RFC 9449 §7.1). They answer the errors of
// RFC 6750 §3.1 and RFC 9449 §7.1 with their WWW-Authenticate challenge.

// dpopAlgs are the proof algorithms advertised in DPoP challenges.
const dpopAlgs = "ES256 EdDSA RS256 PS256 ES384"

// ResourceError is a refused presentation of an access token.
type ResourceError struct {
	// Status is 401 (no or bad token), 400 (invalid_request) or 403
	// (insufficient_scope).
	Status int
	// Code is the error code: "" when the request carried no token
	// (RFC 6750 §3.1 says no code then), invalid_request, invalid_token,
	// invalid_dpop_proof or insufficient_scope.
	Code        string
	Description string
	// Challenge is the WWW-Authenticate header value.
	Challenge string
}

func (e *ResourceError) Error() string { return e.Code + ": " + e.Description }

// Write answers the error in the OAuth form: the challenge, and a JSON body
// with error and error_description.
func (e *ResourceError) Write(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", e.Challenge)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(e.Status)
	body := map[string]string{"error": e.Code, "error_description": e.Description}
	if e.Code == "" {
		body = map[string]string{"error": "invalid_token", "error_description": e.Description}
	}
	json.NewEncoder(w).Encode(body)
}

// challenge builds the WWW-Authenticate value for scheme ("Bearer" or
// "DPoP"); with no scheme, both schemes are offered.
func challenge(scheme, code, desc, scope string) string {
	params := func(s string) string {
		var p []string
		if s == "Bearer" {
			p = append(p, `realm="cedula"`)
		}
		if code != "" {
			p = append(p, `error="`+code+`"`, `error_description="`+strings.ReplaceAll(desc, `"`, `'`)+`"`)
		}
		if scope != "" {
			p = append(p, `scope="`+scope+`"`)
		}
		if s == "DPoP" {
			p = append(p, `algs="`+dpopAlgs+`"`)
		}
		return s + " " + strings.Join(p, ", ")
	}
	if scheme == "" {
		return params("Bearer") + ", " + params("DPoP")
	}
	return params(scheme)
}

func resourceErr(status int, scheme, code, desc, scope string) *ResourceError {
	return &ResourceError{Status: status, Code: code, Description: desc, Challenge: challenge(scheme, code, desc, scope)}
}

// Authenticate checks the access token of a request to a protected
// resource at this server and returns its record. scope, when not empty,
// is a scope the token must carry. A DPoP-bound token must come with a
// valid proof for the request's method and URL from its key, and may not
// be used as a bearer token.
func (p *Provider) Authenticate(r *http.Request, scope string) (issuer.AccessToken, *ResourceError) {
	return p.srv.authenticate(r, false, scope)
}

// authenticate is Authenticate; withBody admits the token in a form body
// (RFC 6750 §2.2), which only the userinfo endpoint does.
func (s *server) authenticate(r *http.Request, withBody bool, scope string) (issuer.AccessToken, *ResourceError) {
	auth := r.Header.Values("Authorization")
	var scheme, tok string
	if len(auth) > 1 {
		return issuer.AccessToken{}, resourceErr(http.StatusBadRequest, "", "invalid_request", "more than one Authorization header", "")
	}
	if len(auth) == 1 {
		sch, t, _ := strings.Cut(auth[0], " ")
		switch strings.ToLower(sch) {
		case "bearer":
			scheme, tok = "Bearer", strings.TrimSpace(t)
		case "dpop":
			scheme, tok = "DPoP", strings.TrimSpace(t)
		}
	}
	if withBody && formBody(r) {
		if err := r.ParseForm(); err == nil && r.PostForm.Has("access_token") {
			if scheme != "" {
				// RFC 6750 §2: one method per request.
				return issuer.AccessToken{}, resourceErr(http.StatusBadRequest, "", "invalid_request", "the access token was sent in more than one way", "")
			}
			scheme, tok = "Bearer", r.PostForm.Get("access_token")
		}
	}
	if tok == "" {
		return issuer.AccessToken{}, resourceErr(http.StatusUnauthorized, scheme, "", "an access token is required", "")
	}
	invalid := func(sch, desc string) (issuer.AccessToken, *ResourceError) {
		return issuer.AccessToken{}, resourceErr(http.StatusUnauthorized, sch, "invalid_token", desc, "")
	}
	at, ok := s.tokenByValue(r.Context(), tok)
	if scheme == "DPoP" {
		h := sha256.Sum256([]byte(tok))
		proof, oerr := s.checkProof(r, s.issuer+r.URL.Path, base64.RawURLEncoding.EncodeToString(h[:]))
		if oerr != nil {
			return issuer.AccessToken{}, resourceErr(http.StatusUnauthorized, "DPoP", "invalid_dpop_proof", oerr.Description, "")
		}
		switch {
		case !ok:
			return invalid("DPoP", "the access token is unknown, expired or revoked")
		case at.JKT != proof.JKT:
			return invalid("DPoP", "the access token is not bound to the proof's key")
		}
	} else {
		switch {
		case !ok:
			return invalid("Bearer", "the access token is unknown, expired or revoked")
		case at.JKT != "":
			// RFC 9449 §7.2: a bound token presented as a bearer token.
			return invalid("DPoP", "the access token is bound to a key: present it with a DPoP proof")
		}
	}
	if scope != "" && !slices.Contains(at.Scopes, scope) {
		return issuer.AccessToken{}, resourceErr(http.StatusForbidden, scheme, "insufficient_scope", "the access token lacks the "+scope+" scope", scope)
	}
	return at, nil
}

// formBody reports whether r has a form-encoded body (RFC 6750 §2.2).
func formBody(r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return false
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/x-www-form-urlencoded"
}

// userinfo guards the userinfo endpoint (OIDC Core §5.3): the token must
// be valid, bound as it should, and carry openid (§5.3.1: userinfo serves
// tokens of an OpenID request). It rewrites a valid DPoP presentation into
// the bearer form zitadel reads.
func (s *server) userinfo(w http.ResponseWriter, r *http.Request) bool {
	at, rerr := s.authenticate(r, true, oidc.ScopeOpenID)
	if rerr == nil && at.CitizenID == "" {
		rerr = resourceErr(http.StatusForbidden, "Bearer", "insufficient_scope", "the access token was not issued for a citizen", oidc.ScopeOpenID)
	}
	if rerr != nil {
		rerr.Write(w)
		return false
	}
	if strings.HasPrefix(strings.ToLower(r.Header.Get("Authorization")), "dpop ") {
		_, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		r.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok))
	}
	return true
}
