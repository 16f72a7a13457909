package oidcop

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// Authorization responses (RFC 6749 §4.1.2, OIDC Core §3.1.2.5–6) go back
// to the client's redirect URI in the query, or in the fragment when the
// client asked for response_mode=fragment (OAuth 2.0 Multiple Response
// Type Encoding Practices §2.1). Every one carries the issuer (RFC 9207
// §2), so that a client talking to several providers can tell which one
// answered, against mix-up attacks.

// responseModes are the response modes the provider answers in; form_post
// is refused, as its responses could not carry iss.
var responseModes = []string{string(oidc.ResponseModeQuery), string(oidc.ResponseModeFragment)}

// authResponseURL returns redirectURI with params and iss added in the
// query or, for mode fragment, in the fragment.
func authResponseURL(redirectURI, mode string, params url.Values, iss string) (string, error) {
	u, err := url.Parse(redirectURI)
	if err != nil {
		return "", err
	}
	params.Set("iss", iss)
	if mode == string(oidc.ResponseModeFragment) {
		u.Fragment, u.RawFragment = "", ""
		return u.String() + "#" + params.Encode(), nil
	}
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// issWriter adds iss to an authorization response that zitadel redirects
// to a client: a Location outside the issuer carrying code or error in its
// query or fragment.
type issWriter struct {
	http.ResponseWriter
	issuer string
	done   bool
}

func (w *issWriter) WriteHeader(code int) {
	if !w.done && code >= 300 && code < 400 {
		if loc := w.Header().Get("Location"); loc != "" {
			w.Header().Set("Location", addIss(loc, w.issuer))
		}
	}
	w.done = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *issWriter) Write(b []byte) (int, error) {
	w.done = true
	return w.ResponseWriter.Write(b)
}

func (w *issWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// addIss adds iss to loc when it is an authorization response to a client.
// It appends to the query or fragment as they are, so that a registered
// redirect URI's own query survives byte for byte.
func addIss(loc, iss string) string {
	if strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, iss+"/") {
		return loc // on to the login page or the callback: not a response yet
	}
	u, err := url.Parse(loc)
	if err != nil {
		return loc
	}
	param := "iss=" + url.QueryEscape(iss)
	if frag, err := url.ParseQuery(u.Fragment); err == nil && u.Fragment != "" && (frag.Has("code") || frag.Has("error")) {
		if frag.Has("iss") {
			return loc
		}
		return loc + "&" + param
	}
	q, _ := url.ParseQuery(u.RawQuery)
	if !(q.Has("code") || q.Has("error")) || q.Has("iss") {
		return loc
	}
	base, frag, hasFrag := strings.Cut(loc, "#")
	base += "&" + param
	if hasFrag {
		base += "#" + frag
	}
	return base
}
