package pages_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cedula/cedula/internal/db/dbtest"
	"github.com/cedula/cedula/internal/testutil"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/pages"
	"github.com/cedula/cedula/issuer/passkey"
	"github.com/cedula/cedula/issuer/passkey/passkeytest"
	"github.com/cedula/cedula/issuer/sqlstore"
)

// The pages run with RP ID localhost; the software authenticator signs
// for this origin whatever address the test server has.
const (
	rpOrigin = "http://localhost"
	baseURL  = "https://id.example.gob"
)

// fakeFlow stands in for the OIDC layer.
type fakeFlow struct {
	mu        sync.Mutex
	requests  map[string]pages.AuthRequestInfo
	completed map[string]completion
	denied    []string
	failed    map[string]string // request → error code
	// consent lists the requests that need the citizen's consent.
	consent map[string]bool
	// views are what ForCitizen says of each request.
	views map[string]pages.CitizenView
}

type completion struct {
	citizenID string
	sid       string
	amr       []string
	authTime  time.Time
	again     []string
}

func newFakeFlow() *fakeFlow {
	return &fakeFlow{requests: map[string]pages.AuthRequestInfo{}, completed: map[string]completion{},
		failed: map[string]string{}, consent: map[string]bool{}, views: map[string]pages.CitizenView{}}
}

func (f *fakeFlow) add(id string, info pages.AuthRequestInfo) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests[id] = info
}

func (f *fakeFlow) AuthRequestInfo(_ context.Context, id string) (pages.AuthRequestInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	info, ok := f.requests[id]
	if !ok {
		return info, fmt.Errorf("auth request: %w", issuer.ErrNotFound)
	}
	return info, nil
}

func (f *fakeFlow) ForCitizen(_ context.Context, id, _, _ string) (pages.CitizenView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.views[id], nil
}

func (f *fakeFlow) Complete(_ context.Context, id, citizenID, sid string, amr []string, authTime time.Time, again []string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.requests[id]; !ok {
		return "", fmt.Errorf("auth request: %w", issuer.ErrNotFound)
	}
	f.completed[id] = completion{citizenID, sid, amr, authTime, again}
	return "https://agency.example/callback?code=c-" + id, nil
}

func (f *fakeFlow) Fail(_ context.Context, id, code string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.requests[id]; !ok {
		return "", fmt.Errorf("auth request: %w", issuer.ErrNotFound)
	}
	f.failed[id] = code
	delete(f.requests, id)
	return "https://agency.example/callback?error=" + code, nil
}

func (f *fakeFlow) NeedsConsent(_ context.Context, id, _ string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.requests[id]; !ok {
		return false, fmt.Errorf("auth request: %w", issuer.ErrNotFound)
	}
	return f.consent[id], nil
}

func (f *fakeFlow) Deny(_ context.Context, id string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.requests[id]; !ok {
		return "", fmt.Errorf("auth request: %w", issuer.ErrNotFound)
	}
	f.denied = append(f.denied, id)
	delete(f.requests, id)
	return "https://agency.example/callback?error=access_denied", nil
}

// env is the pages over a real store (SQLite in t.TempDir()) on an
// httptest server.
type env struct {
	t     *testing.T
	store *sqlstore.Store
	flow  *fakeFlow
	clock *testutil.Clock
	logs  *testutil.Buffer
	h     *pages.Handler
	srv   *httptest.Server
	auth  *passkeytest.Authenticator
}

func newEnv(t *testing.T, mod func(*pages.Config)) *env {
	t.Helper()
	e := &env{
		t:     t,
		store: sqlstore.New(dbtest.SQLite(t, sqlstore.Migrations)),
		flow:  newFakeFlow(),
		clock: testutil.Shifted(),
		logs:  &testutil.Buffer{},
		auth:  passkeytest.New(rpOrigin),
	}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	pk, err := passkey.New(passkey.Config{RPID: "localhost", RPDisplayName: "Cedula", Origins: []string{rpOrigin}, Logger: log}, e.store)
	if err != nil {
		t.Fatal(err)
	}
	// Tests make more attempts than a citizen would: limits are high
	// unless a test sets its own.
	lots := pages.Rate{N: 10000, Per: time.Minute}
	cfg := pages.Config{Store: e.store, Passkeys: pk, Flow: e.flow, Logger: log, BaseURL: baseURL, Now: e.clock.Now,
		Limits: pages.Limits{LoginPerIP: lots, LoginPerCitizen: lots, EnrolPerIP: lots, EnrolPerCitizen: lots, RecoverPerIP: lots, RecoverPerCitizen: lots}}
	if mod != nil {
		mod(&cfg)
	}
	h, err := pages.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	return e
}

// citizen stores a citizen.
func (e *env) citizen(given string) issuer.Citizen {
	e.t.Helper()
	c := issuer.Citizen{ID: issuer.NewCitizenID(), GivenName: given, FamilyName: "Pérez", Email: strings.ToLower(given) + "@example.gob", Created: time.Now()}
	if err := e.store.CreateCitizen(context.Background(), c); err != nil {
		e.t.Fatal(err)
	}
	return c
}

// browser is one browser: a cookie jar, and the CSRF token of the last
// page it loaded.
type browser struct {
	e      *env
	client *http.Client
	jar    *cookiejar.Jar
	lang   string // Accept-Language
	csrf   string
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, jar: jar, client: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

type response struct {
	status int
	header http.Header
	body   string
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

func (b *browser) do(req *http.Request) response {
	b.e.t.Helper()
	if b.lang != "" {
		req.Header.Set("Accept-Language", b.lang)
	}
	res, err := b.client.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if m := csrfMeta.FindSubmatch(body); m != nil {
		b.csrf = string(m[1])
	}
	return response{res.StatusCode, res.Header, string(body)}
}

func (b *browser) get(path string) response {
	b.e.t.Helper()
	req, _ := http.NewRequest("GET", b.e.srv.URL+path, nil)
	return b.do(req)
}

// postForm posts a form with the browser's CSRF token.
func (b *browser) postForm(path string, v url.Values) response {
	b.e.t.Helper()
	if v == nil {
		v = url.Values{}
	}
	if _, ok := v["csrf_token"]; !ok {
		v.Set("csrf_token", b.csrf)
	}
	req, _ := http.NewRequest("POST", b.e.srv.URL+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// postJSON posts body (a string, or a value to encode) as webauthn.js
// does, with the CSRF header.
func (b *browser) postJSON(path string, body any) response {
	b.e.t.Helper()
	var raw []byte
	switch v := body.(type) {
	case string:
		raw = []byte(v)
	case []byte:
		raw = v
	default:
		raw, _ = json.Marshal(v)
	}
	req, _ := http.NewRequest("POST", b.e.srv.URL+path, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", b.csrf)
	return b.do(req)
}

func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.e.srv.URL)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func (b *browser) setCookie(name, value string) {
	u, _ := url.Parse(b.e.srv.URL)
	b.jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// adopt stores the cookies r sets, Secure or not, as a browser on https
// would.
func (b *browser) adopt(r response) {
	for _, line := range r.header.Values("Set-Cookie") {
		if c, err := http.ParseSetCookie(line); err == nil {
			b.setCookie(c.Name, c.Value)
		}
	}
}

// options decodes a begin answer.
func options(t *testing.T, r response) map[string]any {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("begin: got %d %s, want 200", r.status, r.body)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatalf("begin: %v in %s", err, r.body)
	}
	return v
}

type finishAnswer struct {
	Redirect      string   `json:"redirect"`
	RecoveryCodes []string `json:"recoveryCodes"`
}

func finishOK(t *testing.T, r response) finishAnswer {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("finish: got %d %s, want 200", r.status, r.body)
	}
	var a finishAnswer
	if err := json.Unmarshal([]byte(r.body), &a); err != nil {
		t.Fatal(err)
	}
	return a
}

type problemJSON struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// wantProblem checks an RFC 9457 answer and returns it.
func wantProblem(t *testing.T, r response, status int, slug string) problemJSON {
	t.Helper()
	if r.status != status {
		t.Errorf("status: got %d, want %d (body %s)", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("content type: got %q, want application/problem+json", ct)
	}
	var p problemJSON
	if err := json.Unmarshal([]byte(r.body), &p); err != nil {
		t.Fatalf("problem: %v in %q", err, r.body)
	}
	if want := baseURL + "/problems/" + slug; p.Type != want {
		t.Errorf("type: got %q, want %q", p.Type, want)
	}
	if p.Status != status || p.Title == "" || p.Detail == "" {
		t.Errorf("problem: got %+v, want status %d with a title and a detail", p, status)
	}
	return p
}

// wantPage checks an HTML answer's status, language and content.
func wantPage(t *testing.T, r response, status int, lang string, contains ...string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status: got %d, want %d", r.status, status)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("content type: got %q, want text/html", ct)
	}
	if !strings.Contains(r.body, `<html lang="`+lang+`">`) {
		t.Errorf("page language: want <html lang=%q>", lang)
	}
	for _, s := range contains {
		if !strings.Contains(r.body, s) {
			t.Errorf("page: want %q in it", s)
		}
	}
	if strings.Contains(r.body, "[[") {
		t.Errorf("page has an untranslated key")
	}
}

func wantRedirect(t *testing.T, r response, to string) {
	t.Helper()
	if r.status != http.StatusSeeOther || r.header.Get("Location") != to {
		t.Errorf("got %d to %q, want 303 to %q", r.status, r.header.Get("Location"), to)
	}
}

// enrol creates an enrolment link for c and returns its path.
func (e *env) enrol(c issuer.Citizen) string {
	e.t.Helper()
	link, _, err := pages.Enrol(context.Background(), e.store, c.ID, "test", 0, baseURL)
	if err != nil {
		e.t.Fatal(err)
	}
	return strings.TrimPrefix(link, baseURL)
}

// enrolPasskey runs the whole enrolment in browser b and returns the
// recovery codes and the new credential's ID.
func (b *browser) enrolPasskey(path, name string) ([]string, []byte) {
	t := b.e.t
	t.Helper()
	if r := b.get(path); r.status != http.StatusOK {
		t.Fatalf("enrol page: got %d, want 200", r.status)
	}
	opts := options(t, b.postJSON(path+"/begin", map[string]any{}))
	cred, id := b.e.auth.Create(t, opts, passkeytest.Gesture{})
	a := finishOK(t, b.postJSON(path+"/finish", map[string]any{"credential": json.RawMessage(cred), "name": name}))
	return a.RecoveryCodes, id
}

// login runs a passkey login in browser b (which must have loaded a page).
func (b *browser) login(credID []byte, g passkeytest.Gesture, authRequestID string) response {
	t := b.e.t
	t.Helper()
	opts := options(t, b.postJSON("/login/begin", map[string]any{}))
	cred := b.e.auth.Get(t, opts, credID, g)
	return b.postJSON("/login/finish", map[string]any{"credential": json.RawMessage(cred), "authRequestID": authRequestID})
}
