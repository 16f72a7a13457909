package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/cedula/cedula/internal/random"
	"github.com/cedula/cedula/issuer/passkey/softauthn"
)

// benchRedirect is the wallet app's redirect URI the virtual citizens'
// logins come back to (among the app's defaults, wallet_redirect_uris).
// Nothing listens there: the browser stops at the redirect and hands its
// query to the app.
var benchRedirect = fmt.Sprintf("http://127.0.0.1:%d/callback", WalletCLIPort)

// citizenApp is a virtual citizen with the wallet app on their phone: a
// software passkey (softauthn), and the app's DPoP-bound session with the
// mobile API.
type citizenApp struct {
	id, sub string // the citizen's ID, and the agency's sub for them
	auth    *softauthn.Authenticator
	credID  []byte
	session walletToken
	ath     string // the DPoP proofs' hash of the token (RFC 9449 §4.2)
	// credential is the agency's issuance ID of the first credential the
	// wallet accepted (the SSE scenario changes its status).
	credential string
}

// newCitizenApp enrols a passkey for the citizen id with a software
// authenticator, through the one-time link the agency made (the enrolment
// page's JSON endpoints, as webauthn.js calls them), then logs the wallet
// app in with it.
func newCitizenApp(ctx context.Context, hc *http.Client, base, origin, id, sub, link string) (*citizenApp, error) {
	c := &citizenApp{id: id, sub: sub, auth: softauthn.New(origin)}
	b := newBenchBrowser(hc, "")
	if _, err := b.get(ctx, link); err != nil {
		return nil, fmt.Errorf("enrolment page: %w", err)
	}
	opts, err := b.postJSON(ctx, link+"/begin", map[string]any{})
	if err != nil {
		return nil, fmt.Errorf("enrolment: %w", err)
	}
	cred, credID, err := c.auth.Create(opts, softauthn.Gesture{})
	if err != nil {
		return nil, err
	}
	if _, err := b.postJSON(ctx, link+"/finish", map[string]any{"credential": json.RawMessage(cred), "name": "bench"}); err != nil {
		return nil, fmt.Errorf("enrolment: %w", err)
	}
	c.credID = credID
	return c, c.login(ctx, hc, base)
}

// login logs the wallet app in as `cedula wallet login` does (PAR, PKCE,
// DPoP), the browser's part played by a fresh browser: the passkey login
// (the login page's JSON endpoints), then the consent page's form
// approving the app.
func (c *citizenApp) login(ctx context.Context, hc *http.Client, base string) error {
	wa, err := startWalletLogin(ctx, hc, base, benchRedirect)
	if err != nil {
		return err
	}
	b := newBenchBrowser(hc, benchRedirect)
	page, err := b.get(ctx, wa.loginURL) // to /login?authRequestID=…
	if err != nil {
		return fmt.Errorf("login page: %w", err)
	}
	arid := b.last.Query().Get("authRequestID")
	if arid == "" {
		return fmt.Errorf("login: the authorization request led to %s, not the login page", b.last)
	}
	opts, err := b.postJSON(ctx, b.abs("/login/begin"), map[string]any{})
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	cred, err := c.auth.Get(opts, c.credID, softauthn.Gesture{})
	if err != nil {
		return err
	}
	fin, err := b.postJSON(ctx, b.abs("/login/finish"), map[string]any{"credential": json.RawMessage(cred), "authRequestID": arid})
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	var next struct{ Redirect string }
	if err := json.Unmarshal(fin, &next); err != nil || next.Redirect == "" {
		return fmt.Errorf("login: finish said %s", fin)
	}
	if page, err = b.get(ctx, b.abs(next.Redirect)); err != nil {
		return fmt.Errorf("consent page: %w", err)
	}
	if b.back == nil { // the consent page: the citizen allows the app
		form := url.Values{"decision": {"approve"}}
		for _, name := range []string{"csrf_token", "authRequestID"} {
			m := regexp.MustCompile(`name="` + name + `" value="([^"]+)"`).FindSubmatch(page)
			if m == nil {
				return fmt.Errorf("consent page at %s: no %s in it", b.last, name)
			}
			form.Set(name, string(m[1]))
		}
		if _, err := b.do(ctx, http.MethodPost, b.abs("/consent"), "application/x-www-form-urlencoded", []byte(form.Encode())); err != nil {
			return fmt.Errorf("consent: %w", err)
		}
	}
	if b.back == nil {
		return fmt.Errorf("login: the browser ended at %s, not back at the app", b.last)
	}
	tok, err := wa.finish(ctx, b.back.Query())
	if err != nil {
		return err
	}
	h := sha256.Sum256([]byte(tok.token))
	c.session, c.ath = tok, base64.RawURLEncoding.EncodeToString(h[:])
	return nil
}

// mobileRequest is a request to the mobile API as the app sends it: the
// token, and a fresh DPoP proof for its method and URL (RFC 9449 §4.2,
// htu without the query).
func (c *citizenApp) mobileRequest(ctx context.Context, method, u string, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	proof, err := c.session.key.SignDPoP(method, req.URL.Scheme+"://"+req.URL.Host+req.URL.EscapedPath(), c.ath, time.Now())
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "DPoP "+c.session.token)
	req.Header.Set("DPoP", proof)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// accept accepts an offer (the openid-credential-offer:// URI) with its
// transaction code through POST /mobile/v1/offers, with a fresh
// Idempotency-Key, and checks that a credential came back.
func (c *citizenApp) accept(ctx context.Context, hc *http.Client, mobile, offer, txCode string) error {
	body, err := json.Marshal(map[string]string{"offer": offer, "tx_code": txCode})
	if err != nil {
		return err
	}
	req, err := c.mobileRequest(ctx, http.MethodPost, mobile+"/offers", body)
	if err != nil {
		return err
	}
	req.Header.Set("Idempotency-Key", random.Token(16))
	var out struct {
		Credentials []struct {
			ID string `json:"id"`
		} `json:"credentials"`
	}
	if err := doJSON(hc, req, http.StatusCreated, &out); err != nil {
		return err
	}
	if len(out.Credentials) == 0 {
		return errors.New("accept: 201 without a credential")
	}
	return nil
}

// benchBrowser is one browser: a cookie jar, the CSRF token of the last
// page it loaded, and where it went. It follows redirects, except to the
// app's redirect URI (back), where it stops.
type benchBrowser struct {
	hc   *http.Client
	csrf string
	last *url.URL // the last page it loaded
	back *url.URL // set when a redirect went to the app's redirect URI
}

func newBenchBrowser(hc *http.Client, redirect string) *benchBrowser {
	jar, _ := cookiejar.New(nil)
	b := &benchBrowser{}
	b.hc = &http.Client{Transport: hc.Transport, Timeout: hc.Timeout, Jar: jar,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if redirect != "" && strings.HasPrefix(req.URL.String(), redirect) {
				b.back = req.URL
				return http.ErrUseLastResponse
			}
			if len(via) >= 10 {
				return errors.New("too many redirects")
			}
			return nil
		}}
	return b
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

// abs resolves a path against the last page.
func (b *benchBrowser) abs(path string) string {
	u, err := b.last.Parse(path)
	if err != nil {
		return path
	}
	return u.String()
}

func (b *benchBrowser) get(ctx context.Context, u string) ([]byte, error) {
	return b.do(ctx, http.MethodGet, u, "", nil)
}

// postJSON posts v as webauthn.js does, with the CSRF header, and returns
// the 200 answer.
func (b *benchBrowser) postJSON(ctx context.Context, u string, v any) (json.RawMessage, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return b.do(ctx, http.MethodPost, u, "application/json", body)
}

// do sends a request with the browser's cookies (and CSRF token on a
// POST) and returns a 2xx answer's body, or a *statusError.
func (b *benchBrowser) do(ctx context.Context, method, u, contentType string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("X-CSRF-Token", b.csrf)
	}
	res, err := b.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	page, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
	if err != nil {
		return nil, err
	}
	if b.back != nil && res.StatusCode/100 == 3 {
		return page, nil
	}
	if res.StatusCode/100 != 2 {
		return nil, &statusError{method: method, path: res.Request.URL.Path, status: res.StatusCode, body: bytes.TrimSpace(page)}
	}
	if method == http.MethodGet {
		b.last = res.Request.URL
	}
	if m := csrfMeta.FindSubmatch(page); m != nil {
		b.csrf = string(m[1])
	}
	return page, nil
}
