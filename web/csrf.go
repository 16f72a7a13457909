package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
)

// CSRF field and header names: forms carry the token in a hidden field,
// JSON calls from webauthn.js in a header (read from the page's
// <meta name="csrf-token">).
const (
	CSRFField  = "csrf_token"
	CSRFHeader = "X-CSRF-Token"
)

// ErrCSRF is returned by CSRF.Check for a request that may be forged.
var ErrCSRF = errors.New("web: CSRF check failed")

// crossOrigin rejects non-safe requests that the browser marks as
// cross-origin (Sec-Fetch-Site) or whose Origin differs from the host.
var crossOrigin = http.NewCrossOriginProtection()

// CSRF protects forms and JSON calls with a double-submit token bound to a
// cookie (OWASP CSRF Prevention Cheat Sheet, "signed double-submit"
// variant without server state), on top of Fetch Metadata / Origin checks.
//
// The cookie holds a random 256-bit secret; the token put in a page is the
// secret masked with a fresh one-time pad, so that it differs on every
// page (no BREACH-style recovery from compressed responses). When Secure is
// set the cookie is named with the __Host- prefix, so that no sibling
// subdomain can plant it (RFC 6265bis §4.1.3.2).
type CSRF struct {
	Secure bool
}

func (c CSRF) cookieName() string {
	if c.Secure {
		return "__Host-cedula_csrf"
	}
	return "cedula_csrf"
}

const csrfLen = 32

func (c CSRF) secret(r *http.Request) []byte {
	ck, err := r.Cookie(c.cookieName())
	if err != nil {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(ck.Value)
	if err != nil || len(b) != csrfLen {
		return nil
	}
	return b
}

// Token returns a token for a page to embed, setting the cookie when the
// browser has none yet. Call it before writing the response.
func (c CSRF) Token(w http.ResponseWriter, r *http.Request) string {
	secret := c.secret(r)
	if secret == nil {
		secret = make([]byte, csrfLen)
		rand.Read(secret)
		http.SetCookie(w, &http.Cookie{
			Name:     c.cookieName(),
			Value:    base64.RawURLEncoding.EncodeToString(secret),
			Path:     "/",
			HttpOnly: true,
			Secure:   c.Secure,
			SameSite: http.SameSiteLaxMode,
		})
		// Later Token calls in this request use the same secret.
		r.AddCookie(&http.Cookie{Name: c.cookieName(), Value: base64.RawURLEncoding.EncodeToString(secret)})
	}
	tok := make([]byte, 2*csrfLen)
	rand.Read(tok[:csrfLen])
	subtle.XORBytes(tok[csrfLen:], tok[:csrfLen], secret)
	return base64.RawURLEncoding.EncodeToString(tok)
}

// Check verifies a state-changing request: it must not be cross-origin,
// and its token (the X-CSRF-Token header, else the csrf_token form field)
// must match the cookie. It returns ErrCSRF otherwise.
func (c CSRF) Check(r *http.Request) error {
	if err := crossOrigin.Check(r); err != nil {
		return ErrCSRF
	}
	secret := c.secret(r)
	if secret == nil {
		return ErrCSRF
	}
	tok := r.Header.Get(CSRFHeader)
	if tok == "" {
		tok = r.PostFormValue(CSRFField)
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) != 2*csrfLen {
		return ErrCSRF
	}
	got := make([]byte, csrfLen)
	subtle.XORBytes(got, b[:csrfLen], b[csrfLen:])
	if subtle.ConstantTimeCompare(got, secret) != 1 {
		return ErrCSRF
	}
	return nil
}
