package oidcop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/cedula/cedula/issuer"
)

// The authorization errors that cannot be sent back to the client's
// redirect URI, so the person in front of the browser is told instead
// (OIDC Core §3.1.2.6; RFC 6749 §4.1.2.1). Config.ErrorPage receives
// them as the Parent of its *oidc.Error; a server error has no Parent.
var (
	// ErrClient: client_id is missing or names no registered client.
	ErrClient = errors.New("oidcop: client_id is missing or unknown")
	// ErrRedirectURI: redirect_uri is missing or not registered for the
	// client.
	ErrRedirectURI = errors.New("oidcop: redirect_uri is missing or not registered for the client")
	// ErrRequestURI: the request_uri names no pushed request of the
	// client's that is still usable (RFC 9126 §4).
	ErrRequestURI = errors.New("oidcop: request_uri is unknown, used, expired or another client's")
	// ErrAuthRequest: the browser returned from the login pages with an
	// authorization request that is unknown or has expired.
	ErrAuthRequest = errors.New("oidcop: the authorization request is unknown or has expired")
	// ErrMalformed: any other flaw of a request that cannot go back.
	ErrMalformed = errors.New("oidcop: malformed authorization request")
)

// The front channel: where a person's browser arrives.
var (
	authorizePath = op.DefaultEndpoints.Authorization.Relative()
	callbackPath  = authorizePath + "/callback"
)

// frontChannel serves the authorization endpoint (after expanding a pushed
// request) and its callback. zitadel decides every request; when it
// refuses one in place rather than redirecting to the client, the browser
// gets Config.ErrorPage with the reason, and a client that prefers JSON
// (RFC 9110 §12.5.1) gets the RFC 6749 JSON error as before. Without an
// ErrorPage every refusal is zitadel's own answer.
func (s *server) frontChannel(w http.ResponseWriter, r *http.Request, next http.Handler) {
	w = &issWriter{ResponseWriter: w, issuer: s.issuer}
	page := s.st.cfg.ErrorPage
	callback := r.URL.Path == callbackPath
	if page == nil || (!callback && prefersJSON(r)) {
		if !callback {
			var status int
			var e *oidc.Error
			if r, status, e = s.expandPAR(r); e != nil {
				writeOAuthError(w, status, e)
				return
			}
			if e := s.rewriteCredentialParams(r); e != nil {
				writeOAuthError(w, http.StatusBadRequest, e)
				return
			}
			if r, e = withCodeJKT(r); e != nil {
				writeOAuthError(w, http.StatusBadRequest, e)
				return
			}
			if r, e = s.withClaims(r); e != nil {
				writeOAuthError(w, http.StatusBadRequest, e)
				return
			}
		}
		next.ServeHTTP(w, r)
		return
	}
	if !callback {
		var status int
		var e *oidc.Error
		if r, status, e = s.expandPAR(r); e != nil {
			page(w, r, status, e)
			return
		}
		if e := s.rewriteCredentialParams(r); e != nil {
			page(w, r, http.StatusBadRequest, e.WithParent(ErrMalformed))
			return
		}
		if r, e = withCodeJKT(r); e != nil {
			page(w, r, http.StatusBadRequest, e.WithParent(ErrMalformed))
			return
		}
		if r, e = s.withClaims(r); e != nil {
			page(w, r, http.StatusBadRequest, e.WithParent(ErrMalformed))
			return
		}
	}
	// Parsed now, after the expansion, so that zitadel reads the same form
	// and the refusal can be explained from it.
	if err := r.ParseForm(); err != nil {
		page(w, r, http.StatusBadRequest, oidc.ErrInvalidRequest().WithDescription("the request's parameters cannot be read").WithParent(ErrMalformed))
		return
	}
	c := &refusalCatcher{w: w, header: http.Header{}}
	next.ServeHTTP(c, r)
	if !c.refused {
		c.pass()
		return
	}
	status, e := s.explain(r, callback, c.status, c.body.Bytes())
	if callback && prefersJSON(r) {
		writeOAuthError(w, status, e)
		return
	}
	page(w, r, status, e)
}

// explain says why zitadel refused r in place with status and body: the
// error to show, with its status and a Parent from the errors above. It
// looks at the request again rather than at zitadel's English description,
// which may carry internal detail.
func (s *server) explain(r *http.Request, callback bool, status int, body []byte) (int, *oidc.Error) {
	ctx := r.Context()
	if callback {
		id := r.Form.Get("id")
		if id == "" {
			return http.StatusBadRequest, oidc.ErrInvalidRequest().WithDescription("the id of the authorization request is missing").WithParent(ErrMalformed)
		}
		_, err := s.st.AuthRequestByID(ctx, id)
		var oe *oidc.Error
		if err != nil && errors.As(err, &oe) && oe.ErrorType == oidc.InvalidRequest {
			return http.StatusNotFound, oidc.ErrInvalidRequest().WithDescription("the authorization request is unknown or has expired").WithParent(ErrAuthRequest)
		}
		return http.StatusInternalServerError, oidc.ErrServerError()
	}
	e := new(oidc.Error)
	if json.Unmarshal(body, e) != nil || e.ErrorType == "" {
		e = oidc.ErrInvalidRequest()
	}
	if status >= 500 || e.ErrorType == oidc.ServerError {
		return http.StatusInternalServerError, oidc.ErrServerError()
	}
	why := func(parent error, desc string) (int, *oidc.Error) {
		return status, e.WithParent(parent).WithDescription("%s", desc)
	}
	clientID := r.Form.Get("client_id")
	if clientID == "" {
		return why(ErrClient, "client_id is missing")
	}
	c, err := s.st.clientByID(ctx, clientID)
	if errors.Is(err, issuer.ErrNotFound) {
		return why(ErrClient, "unknown client")
	} else if err != nil {
		return http.StatusInternalServerError, oidc.ErrServerError()
	}
	redirect := r.Form.Get("redirect_uri")
	if redirect == "" {
		return why(ErrRedirectURI, "redirect_uri is missing")
	}
	if op.ValidateAuthReqRedirectURI(s.st.client(c), redirect, oidc.ResponseType(r.Form.Get("response_type"))) != nil {
		return why(ErrRedirectURI, "redirect_uri is not registered for this client")
	}
	return why(ErrMalformed, "the authorization request is malformed")
}

// refusalCatcher passes a redirect or any other success through to w and
// keeps an error answer (status 400 and above) for frontChannel to replace.
// zitadel's headers stay in its own map until it is known which answer
// goes out, so nothing of a refusal (a Location, a content type) leaks into
// the page.
type refusalCatcher struct {
	w       http.ResponseWriter
	header  http.Header
	status  int
	refused bool
	passed  bool
	body    bytes.Buffer
}

// maxRefusalBody bounds what is kept of a refusal: zitadel's are a line.
const maxRefusalBody = 16 << 10

func (c *refusalCatcher) Header() http.Header { return c.header }

func (c *refusalCatcher) WriteHeader(code int) {
	if c.status != 0 {
		return
	}
	c.status = code
	if code >= http.StatusBadRequest {
		c.refused = true
		return
	}
	c.pass()
	c.w.WriteHeader(code)
}

func (c *refusalCatcher) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	if c.refused {
		if room := maxRefusalBody - c.body.Len(); room > 0 {
			c.body.Write(b[:min(len(b), room)])
		}
		return len(b), nil
	}
	return c.w.Write(b)
}

// pass copies zitadel's headers to w, once.
func (c *refusalCatcher) pass() {
	if c.passed {
		return
	}
	c.passed = true
	for k, v := range c.header {
		c.w.Header()[k] = v
	}
}

// prefersJSON reports whether r's Accept header (RFC 9110 §12.5.1) ranks
// application/json above text/html: an API client rather than a browser.
// At equal quality the type the header names outright wins over one only
// a wildcard covers ("application/json, */*" is a JSON client); without
// the header, or when nothing tells them apart, the answer is no.
func prefersJSON(r *http.Request) bool {
	accept := strings.Join(r.Header.Values("Accept"), ",")
	jq, js := acceptQ(accept, "application/json")
	hq, hs := acceptQ(accept, "text/html")
	return jq > hq || (jq == hq && jq > 0 && js > hs)
}

// acceptQ returns the quality an Accept header gives the media type mt and
// how specific the range that gives it is: the most specific range matching
// mt counts (RFC 9110 §12.5.1), 2 for mt itself, 1 for type/*, 0 for */*.
// Without a header every type has quality 1; when no range matches, 0.
func acceptQ(accept, mt string) (q float64, specificity int) {
	if strings.TrimSpace(accept) == "" {
		return 1, 0
	}
	typ, _, _ := strings.Cut(mt, "/")
	specificity = -1
	for _, rng := range strings.Split(accept, ",") {
		media, params, err := mime.ParseMediaType(strings.TrimSpace(rng))
		if err != nil {
			continue
		}
		spec := -1
		switch media {
		case mt:
			spec = 2
		case typ + "/*":
			spec = 1
		case "*/*":
			spec = 0
		}
		if spec <= specificity {
			continue
		}
		specificity, q = spec, 1
		if v, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 && f <= 1 {
				q = f
			}
		}
	}
	return q, specificity
}

// withCodeJKT puts an authorization request's dpop_jkt (RFC 9449 §10) in
// its context, for the request's record.
func withCodeJKT(r *http.Request) (*http.Request, *oidc.Error) {
	jkt := r.URL.Query().Get("dpop_jkt")
	if r.Method == http.MethodPost && r.ParseForm() == nil && r.PostForm.Get("dpop_jkt") != "" {
		jkt = r.PostForm.Get("dpop_jkt")
	}
	if jkt == "" {
		return r, nil
	}
	if !validJKT(jkt) {
		return r, oidc.ErrInvalidRequest().WithDescription("dpop_jkt is not a JWK SHA-256 thumbprint")
	}
	return r.WithContext(context.WithValue(r.Context(), codeJKTKey, jkt)), nil
}
