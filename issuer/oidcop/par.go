package oidcop

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/cedula/cedula/issuer"
)

// Pushed Authorization Requests (RFC 9126).
const (
	parPath      = "/oauth/par"
	parURIPrefix = "urn:ietf:params:oauth:request_uri:"
	parTTL       = 90 * time.Second
)

// clientAuthParams are the form fields of client authentication; they are
// not part of the authorization request that PAR stores.
var clientAuthParams = []string{"client_secret", "client_assertion", "client_assertion_type"}

// par handles POST /oauth/par (RFC 9126 §2): the client authenticates as at
// the token endpoint and pushes its authorization request, which is checked
// now — so a bad redirect URI fails here, never at the browser — and stored
// for a single use.
func (s *server) par(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeOAuthError(w, http.StatusMethodNotAllowed, oidc.ErrInvalidRequest().WithDescription("use POST"))
		return
	}
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, oidc.ErrInvalidRequest().WithDescription("malformed form body"))
		return
	}
	cc := &op.ClientCredentials{
		ClientID: r.PostForm.Get("client_id"), ClientSecret: r.PostForm.Get("client_secret"),
		ClientAssertion: r.PostForm.Get("client_assertion"), ClientAssertionType: r.PostForm.Get("client_assertion_type"),
	}
	if id, secret, ok := r.BasicAuth(); ok {
		if cc.ClientSecret != "" || cc.ClientAssertion != "" {
			writeOAuthError(w, http.StatusBadRequest, oidc.ErrInvalidRequest().WithDescription("client authentication must not use more than one method"))
			return
		}
		cc.ClientID, _ = url.QueryUnescape(id)
		cc.ClientSecret, _ = url.QueryUnescape(secret)
	}
	cl, err := s.VerifyClient(r.Context(), &op.Request[op.ClientCredentials]{Method: r.Method, URL: r.URL, Header: r.Header, Form: r.PostForm, Data: cc})
	if err != nil {
		writeOAuthError(w, http.StatusUnauthorized, asOIDC(err, oidc.ErrInvalidClient()))
		return
	}
	c := cl.(client).c
	q := url.Values{}
	for k, v := range r.PostForm {
		if !slices.Contains(clientAuthParams, k) {
			q[k] = v
		}
	}
	q.Set("client_id", c.ID)
	// RFC 9449 §10.1: a DPoP proof at PAR binds the code to its key, as
	// dpop_jkt does; both must then name the same key.
	if len(r.Header.Values("DPoP")) > 0 {
		p, oerr := s.checkProof(r, s.issuer+parPath, "")
		if oerr != nil {
			writeOAuthError(w, http.StatusBadRequest, oerr)
			return
		}
		if jkt := q.Get("dpop_jkt"); jkt != "" && jkt != p.JKT {
			writeOAuthError(w, http.StatusBadRequest, errInvalidDPoP("dpop_jkt does not match the key of the DPoP proof"))
			return
		}
		q.Set("dpop_jkt", p.JKT)
	}
	credentials, oerr := s.credentialParams(q)
	if oerr != nil {
		writeOAuthError(w, http.StatusBadRequest, oerr)
		return
	}
	if oerr := s.checkPushed(c, q, credentials); oerr != nil {
		writeOAuthError(w, http.StatusBadRequest, oerr)
		return
	}
	id := randomID()
	data, _ := json.Marshal(q)
	if err := s.st.store.PutCeremony(r.Context(), "par:"+id, data, s.st.now().Add(parTTL)); err != nil {
		writeOAuthError(w, http.StatusInternalServerError, oidc.ErrServerError())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]any{"request_uri": parURIPrefix + id, "expires_in": int(parTTL.Seconds())})
}

// checkPushed validates a pushed request as far as it can be without the
// browser: redirect URI (exact match), response type, PKCE, no nesting.
// A request for credentials alone (OpenID4VCI) may do without openid.
func (s *server) checkPushed(c issuer.Client, q url.Values, credentials bool) *oidc.Error {
	switch {
	case q.Get("request_uri") != "":
		return oidc.ErrInvalidRequest().WithDescription("request_uri is not allowed in a pushed request (RFC 9126 §2.1)")
	case q.Get("request") != "":
		return oidc.ErrRequestNotSupported()
	case !slices.Contains(c.RedirectURIs, q.Get("redirect_uri")):
		return oidc.ErrInvalidRequest().WithDescription("redirect_uri is not registered for this client")
	case q.Get("response_type") != "code":
		return errUnsupportedResponseType().WithDescription("only response_type=code is supported")
	case q.Get("response_mode") != "" && !slices.Contains(responseModes, q.Get("response_mode")):
		return oidc.ErrInvalidRequest().WithDescription("response_mode %q is not supported (query or fragment)", q.Get("response_mode"))
	case q.Get("code_challenge") == "" && c.Public():
		return oidc.ErrInvalidRequest().WithDescription("code_challenge is required (PKCE with S256)")
	case q.Get("code_challenge") != "" && q.Get("code_challenge_method") != "S256":
		return oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256")
	case !credentials && !slices.Contains(strings.Fields(q.Get("scope")), oidc.ScopeOpenID):
		return oidc.ErrInvalidScope().WithDescription("the openid scope is required")
	case q.Get("claims") != "" && s.bridge != nil:
		return checkClaimsParam(q.Get("claims"))
	}
	return nil
}

// expandPAR replaces an authorization request that names a pushed request
// (RFC 9126 §4) with the pushed parameters, consuming them, and returns
// the request to serve, marked as pushed. When the request_uri is not
// usable it returns the error and its status, which cannot go back to the
// client (ErrRequestURI).
func (s *server) expandPAR(r *http.Request) (*http.Request, int, *oidc.Error) {
	q := r.URL.Query()
	ru := q.Get("request_uri")
	if ru == "" {
		return r, 0, nil
	}
	refuse := func(desc string) (*http.Request, int, *oidc.Error) {
		return r, http.StatusBadRequest, errInvalidRequestURI().WithDescription("%s", desc).WithParent(ErrRequestURI)
	}
	id, ok := strings.CutPrefix(ru, parURIPrefix)
	if !ok {
		return refuse("request_uri was not issued by this server's PAR endpoint")
	}
	data, err := s.st.store.TakeCeremony(r.Context(), "par:"+id, s.st.now())
	if errors.Is(err, issuer.ErrNotFound) {
		return refuse("request_uri is unknown, used or expired")
	} else if err != nil {
		return r, http.StatusInternalServerError, oidc.ErrServerError()
	}
	var pushed url.Values
	if err := json.Unmarshal(data, &pushed); err != nil {
		return r, http.StatusInternalServerError, oidc.ErrServerError()
	}
	if q.Get("client_id") != pushed.Get("client_id") {
		return refuse("request_uri belongs to another client")
	}
	r = r.WithContext(context.WithValue(r.Context(), pushedKey, true))
	r.URL.RawQuery = pushed.Encode()
	return r, 0, nil
}

// pushedKey marks a request expanded from a pushed one.
const pushedKey ctxKey = 2

// pushed reports whether the authorization request came through PAR.
func pushed(ctx context.Context) bool {
	v, _ := ctx.Value(pushedKey).(bool)
	return v
}

// writeOAuthError writes an RFC 6749 §5.2 error response.
func writeOAuthError(w http.ResponseWriter, status int, e *oidc.Error) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": string(e.ErrorType), "error_description": e.Description})
}

// asOIDC returns err as an *oidc.Error, or def when it is another error.
func asOIDC(err error, def *oidc.Error) *oidc.Error {
	var e *oidc.Error
	if errors.As(err, &e) {
		return e
	}
	return def
}

// Error codes zitadel has no constructor for.
func errInvalidRequestURI() *oidc.Error { return &oidc.Error{ErrorType: "invalid_request_uri"} } // RFC 9126 §4
func errUnsupportedResponseType() *oidc.Error {
	return &oidc.Error{ErrorType: "unsupported_response_type"} // RFC 6749 §4.1.2.1
}
