package oidcop

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/issuer"
)

// DPoP (RFC 9449): sender-constrained access and refresh tokens, for public
// clients such as the citizen's mobile app. zitadel knows nothing of it, so
// the token and userinfo endpoints are wrapped here.

const jktKey ctxKey = 1

func withJKT(ctx context.Context, jkt string) context.Context {
	return context.WithValue(ctx, jktKey, jkt)
}

func jktFrom(ctx context.Context) string {
	v, _ := ctx.Value(jktKey).(string)
	return v
}

// codeJKTKey carries an authorization request's dpop_jkt to the storage
// that records the request.
const codeJKTKey ctxKey = 3

func codeJKTFrom(ctx context.Context) string {
	v, _ := ctx.Value(codeJKTKey).(string)
	return v
}

// validJKT reports whether s looks like a SHA-256 JWK thumbprint.
func validJKT(s string) bool {
	if len(s) != 43 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// proofWindow is how far a proof's iat may be from now (§11.1).
const proofWindow = 60 * time.Second

func errInvalidDPoP(desc string) *oidc.Error {
	return &oidc.Error{ErrorType: "invalid_dpop_proof", Description: desc} // RFC 9449 §5
}

// checkProof verifies the one DPoP header of r for method and target URL;
// ath, when not empty, is the hash of the access token it must carry.
func (s *server) checkProof(r *http.Request, htu, ath string) (jose.DPoPProof, *oidc.Error) {
	vals := r.Header.Values("DPoP")
	if len(vals) != 1 {
		return jose.DPoPProof{}, errInvalidDPoP("exactly one DPoP header is required")
	}
	p, err := jose.ParseDPoPProof([]byte(vals[0]))
	if err != nil {
		return p, errInvalidDPoP(strings.TrimPrefix(err.Error(), "jose: invalid DPoP proof: "))
	}
	now := s.st.now()
	switch {
	case p.HTM != r.Method:
		return p, errInvalidDPoP("htm does not match the request method")
	case stripQuery(p.HTU) != htu:
		// §4.3 point 9: compared without query and fragment.
		return p, errInvalidDPoP("htu does not match the request URL")
	case p.IAT.Before(now.Add(-proofWindow)) || p.IAT.After(now.Add(proofWindow)):
		return p, errInvalidDPoP("iat is not recent")
	case ath != "" && p.ATH != ath:
		return p, errInvalidDPoP("ath does not match the access token")
	}
	if err := s.replay.add("dpop\x00"+p.JKT+"\x00"+p.JTI, p.IAT.Add(2*proofWindow), now); err != nil {
		return p, errInvalidDPoP("jti " + err.Error())
	}
	return p, nil
}

// grantTypes are the grants the token endpoint serves.
var grantTypes = []string{string(oidc.GrantTypeCode), string(oidc.GrantTypeRefreshToken), string(oidc.GrantTypeClientCredentials)}

// grantType returns the grant_type of a token request ("" when it has none
// or the form cannot be read; zitadel then answers).
func grantType(r *http.Request) string {
	if r.Method != http.MethodPost || r.ParseForm() != nil {
		return ""
	}
	return r.PostForm.Get("grant_type")
}

// bufferedResponse keeps a response whole so that it can be rewritten
// before it goes out.
type bufferedResponse struct {
	header http.Header
	Code   int
	Body   bytes.Buffer
	wrote  bool
}

func (b *bufferedResponse) Header() http.Header { return b.header }
func (b *bufferedResponse) WriteHeader(code int) {
	if !b.wrote {
		b.Code, b.wrote = code, true
	}
}
func (b *bufferedResponse) Write(p []byte) (int, error) {
	b.wrote = true
	return b.Body.Write(p)
}

// stripQuery returns u without its query and fragment.
func stripQuery(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		return u[:i]
	}
	return u
}

// dpopToken serves a token request that carries a DPoP proof: the issued
// tokens are bound to the proof's key and the token_type becomes DPoP.
func (s *server) dpopToken(w http.ResponseWriter, r *http.Request, next http.Handler) {
	p, oerr := s.checkProof(r, s.tokenURL, "")
	if oerr != nil {
		writeOAuthError(w, http.StatusBadRequest, oerr)
		return
	}
	rewriteToken(w, r.WithContext(withJKT(r.Context(), p.JKT)), next, func(m map[string]any) bool {
		if m["token_type"] != oidc.BearerToken {
			return false
		}
		m["token_type"] = "DPoP"
		return true
	})
}

// rewriteToken serves a token request with next and lets edit change a
// successful response's members (reporting whether it did) before it
// goes out.
func rewriteToken(w http.ResponseWriter, r *http.Request, next http.Handler, edit func(map[string]any) bool) {
	rec := &bufferedResponse{header: http.Header{}, Code: http.StatusOK}
	next.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	if rec.Code == http.StatusOK {
		var m map[string]any
		if json.Unmarshal(body, &m) == nil && edit(m) {
			body, _ = json.Marshal(m)
		}
	}
	for k, v := range rec.header {
		w.Header()[k] = v
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(rec.Code)
	w.Write(body)
}

// tokenByValue finds the access token record behind an opaque token value.
func (s *server) tokenByValue(ctx context.Context, token string) (issuer.AccessToken, bool) {
	plain, err := s.Provider().Crypto().Decrypt(token)
	if err != nil {
		return issuer.AccessToken{}, false
	}
	id, _, ok := strings.Cut(plain, ":")
	if !ok {
		return issuer.AccessToken{}, false
	}
	at, err := s.st.activeToken(ctx, id)
	return at, err == nil
}

// wrap adds PAR, DPoP, the resource checks of userinfo, request_uri
// expansion and the iss parameter of authorization responses around
// zitadel's handler.
func (s *server) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case parPath:
			s.par(w, r)
			return
		case authorizePath, callbackPath:
			s.frontChannel(w, r, next)
			return
		case "/.well-known/oauth-authorization-server":
			// RFC 8414 §3: the same metadata as OIDC discovery.
			r2 := r.Clone(r.Context())
			r2.URL.Path = "/.well-known/openid-configuration"
			r = r2
		case "/oauth/token":
			if g, ok := s.grants[grantType(r)]; ok {
				s.extraGrant(w, r, g)
				return
			}
			if g := grantType(r); g != "" && !slices.Contains(grantTypes, g) {
				// RFC 6749 §5.2: the grants the token endpoint serves are
				// the ones discovery lists; zitadel would answer others
				// with errors of its own.
				writeOAuthError(w, http.StatusBadRequest, oidc.ErrUnsupportedGrantType().WithDescription("grant_type %q is not supported", g))
				return
			}
			if s.credentials != nil {
				inner := next
				next = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.addTokenDetails(w, r, inner) })
			}
			if len(r.Header.Values("DPoP")) > 0 {
				s.dpopToken(w, r, next)
				return
			}
		case "/userinfo":
			if !s.userinfo(w, r) {
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
