package mobileapi_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/internal/db/dbtest"
	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/internal/ratelimit"
	"github.com/cedula/cedula/internal/scopes"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/oidcop"
	mobileapi "github.com/cedula/cedula/mobile-api"
	"github.com/cedula/cedula/mobile-api/sqlstore"
	"github.com/cedula/cedula/openapi/openapitest"
	"github.com/cedula/cedula/wallet"
	"github.com/cedula/cedula/wallet/inbox"
	inboxstore "github.com/cedula/cedula/wallet/inbox/sqlstore"
)

// fakeTokens knows a few Authorization header values, as the provider
// would answer them.
type fakeTokens struct{}

var tokens = map[string]issuer.AccessToken{
	"DPoP tok-a":      {ClientID: "app", Subject: "sub-a", CitizenID: "cit-a", Scopes: []string{"openid", scopes.Wallet}, JKT: "jkt-a"},
	"DPoP tok-b":      {ClientID: "app", Subject: "sub-b", CitizenID: "cit-b", Scopes: []string{scopes.Wallet}, JKT: "jkt-b"},
	"DPoP tok-noscp":  {ClientID: "app", Subject: "sub-a", CitizenID: "cit-a", Scopes: []string{"openid"}, JKT: "jkt-a"},
	"Bearer unbound":  {ClientID: "app", Subject: "sub-a", CitizenID: "cit-a", Scopes: []string{scopes.Wallet}},
	"DPoP tok-client": {ClientID: "agency", Subject: "agency", Scopes: []string{scopes.Wallet}, JKT: "jkt-c"},
}

func (fakeTokens) Authenticate(r *http.Request, scope string) (issuer.AccessToken, *oidcop.ResourceError) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return issuer.AccessToken{}, &oidcop.ResourceError{Status: 401, Description: "an access token is required",
			Challenge: `Bearer realm="cedula", DPoP algs="ES256"`}
	}
	at, ok := tokens[h]
	if !ok {
		return issuer.AccessToken{}, &oidcop.ResourceError{Status: 401, Code: "invalid_token", Description: "the access token is unknown, expired or revoked",
			Challenge: `DPoP error="invalid_token", error_description="the access token is unknown, expired or revoked"`}
	}
	if !slices.Contains(at.Scopes, scope) {
		return issuer.AccessToken{}, &oidcop.ResourceError{Status: 403, Code: "insufficient_scope", Description: "the access token lacks the " + scope + " scope",
			Challenge: `DPoP error="insufficient_scope", scope="` + scope + `"`}
	}
	return at, nil
}

type fakeCitizens struct{}

func (fakeCitizens) Citizen(_ context.Context, id string) (issuer.Citizen, error) {
	if id != "cit-a" {
		return issuer.Citizen{}, issuer.ErrNotFound
	}
	return issuer.Citizen{ID: id, GivenName: "Ana", FamilyName: "Pérez", Birthdate: "1990-04-01", Locale: "en"}, nil
}

// fakeWallet holds credentials per citizen and records what it was asked.
type fakeWallet struct {
	mu       sync.Mutex
	held     map[string][]wallet.Credential
	langs    []string
	accepts  []wallet.Accept
	err      error // returned by the offer methods when set
	collects int
}

func (w *fakeWallet) Credentials(_ context.Context, citizenID, lang string) ([]wallet.Credential, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.langs = append(w.langs, lang)
	return slices.Clone(w.held[citizenID]), nil
}

func (w *fakeWallet) Credential(_ context.Context, citizenID, id, lang string) (wallet.Credential, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.langs = append(w.langs, lang)
	for _, c := range w.held[citizenID] {
		if c.ID == id {
			return c, nil
		}
	}
	return wallet.Credential{}, fmt.Errorf("get %s: %w", id, wallet.ErrNotFound)
}

func (w *fakeWallet) DeleteCredential(_ context.Context, citizenID, id string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	i := slices.IndexFunc(w.held[citizenID], func(c wallet.Credential) bool { return c.ID == id })
	if i < 0 {
		return wallet.ErrNotFound
	}
	w.held[citizenID] = slices.Delete(w.held[citizenID], i, i+1)
	return nil
}

func (w *fakeWallet) PreviewOffer(_ context.Context, _, offer, lang string) (wallet.OfferPreview, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.langs = append(w.langs, lang)
	if w.err != nil {
		return wallet.OfferPreview{}, w.err
	}
	return wallet.OfferPreview{Issuer: "https://issuer.example", IssuerName: "Registro Civil",
		IssuerDisplay: wallet.Display{Name: "Registro Civil", LogoURI: "https://issuer.example/logo.png"},
		Credentials: []wallet.OfferedCredential{{ConfigurationID: "pid", Format: "dc+sd-jwt", VCT: "urn:eu:pid:1",
			Display: wallet.Display{Name: "PID"}, Claims: []wallet.ClaimInfo{{Path: []any{"nationalities", nil}, Label: "Nationalities"}}}},
		TxCode: &wallet.TxCode{InputMode: "numeric", Length: 6}, PreAuthorized: true}, nil
}

// AcceptOffer receives one credential; an offer naming "authcode" needs a
// login at the issuer, one naming "deferred" is deferred.
func (w *fakeWallet) AcceptOffer(_ context.Context, citizenID string, a wallet.Accept, lang string) (wallet.Received, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.accepts = append(w.accepts, a)
	switch {
	case w.err != nil:
		return wallet.Received{}, w.err
	case strings.Contains(a.Offer, "authcode"):
		return wallet.Received{}, &wallet.Error{Kind: wallet.ErrNeedsAuthorization, Detail: "log in at the issuer"}
	case strings.Contains(a.Offer, "deferred"):
		return wallet.Received{Deferred: []wallet.Deferred{deferredOf(citizenID)}}, nil
	}
	c := cred(fmt.Sprintf("new-%d", len(w.accepts)), time.Now())
	c.KeyMode = a.KeyMode
	w.held[citizenID] = append(w.held[citizenID], c)
	return wallet.Received{Credentials: []wallet.Credential{c}}, nil
}

func deferredOf(citizenID string) wallet.Deferred {
	now := time.Now()
	return wallet.Deferred{ID: "wd-" + citizenID, Issuer: "https://issuer.example", IssuerName: "Registro Civil", ConfigurationID: "pid",
		Display: wallet.Display{Name: "PID"}, KeyMode: wallet.KeySealed, Created: now, RetryAt: now.Add(30 * time.Second), Expires: now.Add(time.Hour)}
}

// BeginAuthorization hands out an authorization of its own per citizen.
func (w *fakeWallet) BeginAuthorization(_ context.Context, citizenID string, a wallet.Accept, keys []json.RawMessage) (wallet.Authorization, error) {
	return wallet.Authorization{ID: "wa-" + citizenID, URL: "https://issuer.example/authorize?request_uri=r", Expires: time.Now().Add(time.Minute)}, nil
}

// FinishAuthorization takes state "st" with a code, or the issuer's error.
func (w *fakeWallet) FinishAuthorization(_ context.Context, citizenID, id string, cb wallet.Callback, lang string) (wallet.Received, error) {
	switch {
	case id != "wa-"+citizenID:
		return wallet.Received{}, wallet.ErrNotFound
	case cb.URL != "":
		u, _ := url.Parse(cb.URL)
		cb.Code, cb.State = u.Query().Get("code"), u.Query().Get("state")
	}
	switch {
	case cb.Error != "":
		return wallet.Received{}, &wallet.Error{Kind: wallet.ErrRefused, Detail: "the login at the issuer did not authorize the wallet", Code: cb.Error}
	case cb.State != "st" || cb.Code == "":
		return wallet.Received{}, &wallet.Error{Kind: wallet.ErrCallback, Detail: "the callback's state is not the one of this authorization"}
	}
	return wallet.Received{Credentials: []wallet.Credential{cred("auth-1", time.Now())}}, nil
}

func (w *fakeWallet) DeferredIssuances(_ context.Context, citizenID, lang string) ([]wallet.Deferred, error) {
	return []wallet.Deferred{deferredOf(citizenID)}, nil
}

// CollectDeferred: still deferred the first time, issued the second.
func (w *fakeWallet) CollectDeferred(_ context.Context, citizenID, id, lang string) (wallet.Received, error) {
	if id != "wd-"+citizenID {
		return wallet.Received{}, wallet.ErrNotFound
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.collects++
	if w.collects == 1 {
		return wallet.Received{Deferred: []wallet.Deferred{deferredOf(citizenID)}}, nil
	}
	return wallet.Received{Credentials: []wallet.Credential{cred("def-1", time.Now())}}, nil
}

// BeginDeviceAccept hands out one signing input per key.
func (w *fakeWallet) BeginDeviceAccept(_ context.Context, citizenID string, a wallet.Accept, keys []json.RawMessage) (wallet.Pending, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.accepts = append(w.accepts, a)
	if w.err != nil {
		return wallet.Pending{}, w.err
	}
	p := wallet.Pending{ID: "wp-" + citizenID, Expires: time.Now().Add(time.Minute)}
	for i := range keys {
		p.SigningInputs = append(p.SigningInputs, wallet.SigningInput{ConfigurationID: "pid", Key: i, Alg: "ES256", Input: fmt.Sprintf("in.%d", i)})
	}
	return p, nil
}

// FinishDeviceAccept takes "sig-N" for input N.
func (w *fakeWallet) FinishDeviceAccept(_ context.Context, citizenID, id string, sigs []string, lang string) (wallet.Received, error) {
	if id != "wp-"+citizenID {
		return wallet.Received{}, wallet.ErrNotFound
	}
	for i, s := range sigs {
		if s != fmt.Sprintf("sig-%d", i) {
			return wallet.Received{}, &wallet.Error{Kind: wallet.ErrOffer, Detail: "a signature does not verify"}
		}
	}
	c := cred("dev-1", time.Now())
	c.KeyMode = wallet.KeyDevice
	return wallet.Received{Credentials: []wallet.Credential{c}}, nil
}

// ResolvePresentation fails with err when set, else finds no request.
func (w *fakeWallet) ResolvePresentation(context.Context, string, string, string) (wallet.PresentationRequest, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return wallet.PresentationRequest{}, w.err
	}
	return wallet.PresentationRequest{}, wallet.ErrNotFound
}

func (w *fakeWallet) Present(context.Context, string, wallet.Approval) (wallet.Presented, error) {
	return wallet.Presented{}, wallet.ErrNotFound
}

func (w *fakeWallet) FinishPresent(context.Context, string, string, []string) (wallet.Presented, error) {
	return wallet.Presented{}, wallet.ErrNotFound
}

func (w *fakeWallet) DeclinePresentation(context.Context, string, string) (wallet.Presented, error) {
	return wallet.Presented{}, wallet.ErrNotFound
}

func (w *fakeWallet) Presentations(context.Context, string) ([]wallet.Presentation, error) {
	return nil, nil
}

func cred(id string, received time.Time) wallet.Credential {
	return wallet.Credential{ID: id, Issuer: "https://issuer.example", IssuerName: "Registro Civil", ConfigurationID: "pid",
		Format: "dc+sd-jwt", VCT: "urn:eu:pid:1", Display: wallet.Display{Name: "PID", Locale: "es", BackgroundColor: "#12107c"},
		Claims:    map[string]any{"given_name": "Ana", "nationalities": []any{"ES"}},
		ClaimInfo: []wallet.ClaimInfo{{Path: []any{"given_name"}, Label: "Nombre", Mandatory: true}},
		Status:    wallet.StatusValid, IssuedAt: received.Add(-time.Minute), ReceivedAt: received, KeyMode: wallet.KeySealed}
}

// aeadSealer seals with AES-GCM under one key, the subject as associated
// data: like the citizen's data key, it refuses another subject's bytes.
type aeadSealer struct{ aead cipher.AEAD }

func newSealer() aeadSealer {
	k := make([]byte, 32)
	rand.Read(k)
	b, _ := aes.NewCipher(k)
	g, _ := cipher.NewGCM(b)
	return aeadSealer{g}
}

func (s aeadSealer) Seal(_ context.Context, subject, label string, data []byte) ([]byte, error) {
	n := make([]byte, s.aead.NonceSize())
	rand.Read(n)
	return s.aead.Seal(n, n, data, []byte(subject+"\x00"+label)), nil
}

func (s aeadSealer) Open(_ context.Context, subject, label string, sealed []byte) ([]byte, error) {
	if len(sealed) < s.aead.NonceSize() {
		return nil, errors.New("short")
	}
	return s.aead.Open(nil, sealed[:s.aead.NonceSize()], sealed[s.aead.NonceSize():], []byte(subject+"\x00"+label))
}

type env struct {
	t      *testing.T
	h      http.Handler
	chk    *openapitest.Checker
	wallet *fakeWallet
	db     *db.DB
	inbox  *inbox.Service
}

// newEnv serves the API on a real edge, over a SQLite idempotency store,
// with every exchange checked against the document.
func newEnv(t *testing.T, opt ...func(*mobileapi.Config)) *env {
	t.Helper()
	w := &fakeWallet{held: map[string][]wallet.Credential{
		"cit-a": {cred("a1", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))},
		"cit-b": {cred("b1", time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))},
	}}
	d := dbtest.SQLite(t, sqlstore.Migrations, inboxstore.Migrations)
	return mount(t, w, d, opt...)
}

func mount(t *testing.T, w *fakeWallet, d *db.DB, opt ...func(*mobileapi.Config)) *env {
	store := sqlstore.New(d)
	in, err := inbox.New(inbox.Config{Store: inboxstore.New(d), Sealer: inboxSealer{sealer}, Subject: func(id string) string { return "p-" + id },
		Poll: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { in.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	cfg := mobileapi.Config{Wallet: w, Tokens: fakeTokens{}, Citizens: fakeCitizens{}, Idempotency: store, Sealer: sealer,
		Ledger: noLedger{}, Receipts: noLedger{}, Activity: noLedger{}, Pseudonym: func(id string) string { return "p-" + id },
		Agencies: noLedger{}, Passkeys: newPasskeys(), Devices: store, Inbox: in, Locations: noLocations{}, Preferences: noLocations{}}
	for _, o := range opt {
		o(&cfg)
	}
	api, err := mobileapi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	edge := httpapi.New(httpapi.Config{BaseURL: "https://id.example"})
	api.Mount(edge.Echo())
	chk := openapitest.New(t)
	return &env{t: t, h: chk.Wrap(edge), chk: chk, wallet: w, db: d, inbox: in}
}

var sealer = newSealer()

// inboxSealer is sealer as the inbox calls it.
type inboxSealer struct{ aeadSealer }

func (s inboxSealer) SealData(ctx context.Context, subject, label string, data []byte) ([]byte, error) {
	return s.Seal(ctx, subject, label, data)
}

func (s inboxSealer) OpenData(ctx context.Context, subject, label string, sealed []byte) ([]byte, error) {
	return s.Open(ctx, subject, label, sealed)
}

type response struct {
	*httptest.ResponseRecorder
	problem struct {
		Type, Title, Detail string
		Status              int
	}
}

// do sends a request with the token tok (an Authorization value) and
// header pairs.
func (e *env) do(method, path, tok, body string, header ...string) response {
	e.t.Helper()
	var r *http.Request
	if body != "" {
		r = httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
	} else {
		r = httptest.NewRequest(method, path, nil)
	}
	if tok != "" {
		r.Header.Set("Authorization", tok)
		r.Header.Set("DPoP", "proof")
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, r)
	res := response{ResponseRecorder: rec}
	if rec.Header().Get("Content-Type") == "application/problem+json" {
		if err := json.Unmarshal(rec.Body.Bytes(), &res.problem); err != nil {
			e.t.Fatalf("%s %s: problem %q: %v", method, path, rec.Body, err)
		}
	}
	return res
}

func (r response) want(t *testing.T, status int) response {
	t.Helper()
	if r.Code != status {
		t.Fatalf("got %d %s, want %d", r.Code, r.Body, status)
	}
	return r
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name, tok string
		status    int
		slug      string
		challenge string
	}{
		{"no token", "", 401, "token-required", "DPoP"},
		{"unknown token", "DPoP nope", 401, "invalid-token", `error="invalid_token"`},
		{"without the scope", "DPoP tok-noscp", 403, "insufficient-scope", `scope="cedula:wallet"`},
		{"unbound", "Bearer unbound", 401, "invalid-token", `DPoP error="invalid_token"`},
		{"a client's own token", "DPoP tok-client", 401, "invalid-token", `DPoP error="invalid_token"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, op := range [][2]string{{"GET", "/mobile/v1/me"}, {"GET", "/mobile/v1/credentials"}, {"DELETE", "/mobile/v1/credentials/a1"},
				{"POST", "/mobile/v1/offers/preview"}} {
				r := e.do(op[0], op[1], tc.tok, "").want(t, tc.status)
				if ch := r.Header().Get("WWW-Authenticate"); !strings.Contains(ch, tc.challenge) {
					t.Errorf("%s %s: WWW-Authenticate %q, want it to contain %q", op[0], op[1], ch, tc.challenge)
				}
				if !strings.HasSuffix(r.problem.Type, "/problems/"+tc.slug) {
					t.Errorf("%s %s: problem type %q, want slug %s", op[0], op[1], r.problem.Type, tc.slug)
				}
			}
		})
	}
	if n := len(e.wallet.held["cit-a"]); n != 1 {
		t.Errorf("after refused requests the citizen holds %d credentials, want 1", n)
	}
}

func TestMe(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/mobile/v1/me", "DPoP tok-a", "").want(t, 200)
	var me map[string]any
	json.Unmarshal(r.Body.Bytes(), &me)
	want := map[string]any{"id": "sub-a", "given_name": "Ana", "family_name": "Pérez", "birthdate": "1990-04-01", "locale": "en"}
	for k, v := range want {
		if me[k] != v {
			t.Errorf("%s: got %v, want %v", k, me[k], v)
		}
	}
	tag := r.Header().Get("ETag")
	if !strings.HasPrefix(tag, `"`) {
		t.Fatalf("ETag: got %q, want a strong tag", tag)
	}
	if r := e.do("GET", "/mobile/v1/me", "DPoP tok-a", "", "If-None-Match", `"other", `+tag).want(t, 304); r.Body.Len() != 0 || r.Header().Get("ETag") != tag {
		t.Errorf("304: body %q, ETag %q; want none and %s", r.Body, r.Header().Get("ETag"), tag)
	}
	e.do("GET", "/mobile/v1/me", "DPoP tok-a", "", "If-None-Match", `"other"`).want(t, 200)
	// A citizen the registry no longer knows: the token is no good.
	e.do("GET", "/mobile/v1/me", "DPoP tok-b", "").want(t, 401)
	if seen := e.chk.Seen(); !slices.Contains(seen, "mobile GET /me") {
		t.Errorf("the checker validated %v, want mobile GET /me among them", seen)
	}
}

// TestOthersCredentials: another citizen's credential id is not found,
// by any operation, and stays.
func TestOthersCredentials(t *testing.T) {
	e := newEnv(t)
	for _, m := range []string{"GET", "DELETE"} {
		r := e.do(m, "/mobile/v1/credentials/b1", "DPoP tok-a", "").want(t, 404)
		if strings.Contains(r.Body.String(), "Ana") || r.problem.Status != 404 {
			t.Errorf("%s: got %s, want a 404 problem and nothing of the other citizen's", m, r.Body)
		}
	}
	e.do("GET", "/mobile/v1/credentials/b1", "DPoP tok-b", "").want(t, 200)
	e.do("DELETE", "/mobile/v1/credentials/a1", "DPoP tok-a", "").want(t, 204)
	e.do("GET", "/mobile/v1/credentials/a1", "DPoP tok-a", "").want(t, 404)
}

func TestPagination(t *testing.T) {
	e := newEnv(t)
	base := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	var held []wallet.Credential
	for i := range 45 {
		// Groups of three received at the same instant: the id breaks the tie.
		held = append(held, cred(fmt.Sprintf("c%02d", i), base.Add(time.Duration(i/3)*time.Second)))
	}
	slices.Reverse(held[10:30])
	e.wallet.held["cit-a"] = held

	var got []string
	path := "/mobile/v1/credentials?limit=7"
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("the cursor does not end")
		}
		r := e.do("GET", path, "DPoP tok-a", "").want(t, 200)
		var page struct {
			Items []struct {
				ID         string    `json:"id"`
				ReceivedAt time.Time `json:"received_at"`
			}
			NextCursor string `json:"next_cursor"`
		}
		json.Unmarshal(r.Body.Bytes(), &page)
		if len(page.Items) > 7 {
			t.Fatalf("page of %d, want at most 7", len(page.Items))
		}
		for _, it := range page.Items {
			got = append(got, it.ID)
		}
		if page.NextCursor == "" {
			break
		}
		path = "/mobile/v1/credentials?limit=7&cursor=" + page.NextCursor
	}
	var want []string
	for g := 14; g >= 0; g-- {
		for k := range 3 {
			want = append(want, fmt.Sprintf("c%02d", 3*g+k))
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("walk: got %v, want %v", got, want)
	}
	// The default page is 20.
	r := e.do("GET", "/mobile/v1/credentials", "DPoP tok-a", "").want(t, 200)
	var page struct{ Items []any }
	json.Unmarshal(r.Body.Bytes(), &page)
	if len(page.Items) != 20 {
		t.Errorf("default page: got %d items, want 20", len(page.Items))
	}
	// A cursor this API did not give.
	if r := e.do("GET", "/mobile/v1/credentials?cursor=bm9wZQ", "DPoP tok-a", "").want(t, 400); !strings.Contains(r.problem.Detail, "cursor") {
		t.Errorf("bad cursor: detail %q, want it to name cursor", r.problem.Detail)
	}
}

func TestETag(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/mobile/v1/credentials", "/mobile/v1/credentials/a1"} {
		r := e.do("GET", path, "DPoP tok-a", "").want(t, 200)
		tag := r.Header().Get("ETag")
		// The tag is the hash of the very bytes answered (the body is
		// encoded once).
		if h := sha256.Sum256(bytes.TrimSuffix(r.Body.Bytes(), []byte("\n"))); tag != `"`+base64.RawURLEncoding.EncodeToString(h[:18])+`"` {
			t.Errorf("%s: ETag %s is not the hash of the body", path, tag)
		}
		e.do("GET", path, "DPoP tok-a", "", "If-None-Match", tag).want(t, 304)
		e.do("GET", path, "DPoP tok-a", "", "If-None-Match", "W/"+tag).want(t, 304)
		e.do("GET", path, "DPoP tok-a", "", "If-None-Match", "*").want(t, 304)
		// A change to the credential changes the tag.
		e.wallet.held["cit-a"][0].Status = wallet.StatusSuspended
		r2 := e.do("GET", path, "DPoP tok-a", "", "If-None-Match", tag).want(t, 200)
		if r2.Header().Get("ETag") == tag {
			t.Errorf("%s: the ETag did not change with the credential", path)
		}
		e.wallet.held["cit-a"][0].Status = wallet.StatusValid
	}
}

func TestAcceptLanguage(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ header, want string }{
		{"", "es"}, {"en-GB,en;q=0.9", "en"}, {"fr-FR", "es"}, {"de, es;q=0.5", "es"}, {"en", "en"},
	} {
		e.wallet.langs = nil
		var h []string
		if tc.header != "" {
			h = []string{"Accept-Language", tc.header}
		}
		r := e.do("GET", "/mobile/v1/credentials/a1", "DPoP tok-a", "", h...).want(t, 200)
		if !slices.Equal(e.wallet.langs, []string{tc.want}) || r.Header().Get("Content-Language") != tc.want {
			t.Errorf("Accept-Language %q: wallet asked in %v, Content-Language %q; want %s", tc.header, e.wallet.langs,
				r.Header().Get("Content-Language"), tc.want)
		}
	}
	e.wallet.langs = nil
	e.do("POST", "/mobile/v1/offers/preview", "DPoP tok-a", `{"offer":"openid-credential-offer://?x"}`, "Accept-Language", "en").want(t, 200)
	if !slices.Equal(e.wallet.langs, []string{"en"}) {
		t.Errorf("preview: wallet asked in %v, want en", e.wallet.langs)
	}
}

func TestBodyLimit(t *testing.T) {
	e := newEnv(t)
	big := `{"offer":"` + strings.Repeat("x", mobileapi.DefaultBodyLimit) + `"}`
	r := e.do("POST", "/mobile/v1/offers/preview", "DPoP tok-a", big).want(t, 413)
	if r.problem.Status != 413 {
		t.Errorf("got problem %+v, want status 413", r.problem)
	}
	e.do("POST", "/mobile/v1/offers", "DPoP tok-a", big, "Idempotency-Key", "k").want(t, 413)
}

func TestRateLimit(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e := newEnv(t, func(c *mobileapi.Config) {
		c.Rate = ratelimit.Rate{N: 2, Per: 10 * time.Second}
		c.Now = func() time.Time { return now }
	})
	e.do("GET", "/mobile/v1/me", "DPoP tok-a", "").want(t, 200)
	e.do("GET", "/mobile/v1/credentials", "DPoP tok-a", "").want(t, 200)
	r := e.do("GET", "/mobile/v1/me", "DPoP tok-a", "").want(t, 429)
	if ra := r.Header().Get("Retry-After"); ra != "5" {
		t.Errorf("Retry-After: got %q, want 5", ra)
	}
	// Another citizen has a bucket of their own.
	e.do("GET", "/mobile/v1/credentials", "DPoP tok-b", "").want(t, 200)
	now = now.Add(5 * time.Second)
	e.do("GET", "/mobile/v1/me", "DPoP tok-a", "").want(t, 200)
}

func TestValidation(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name, method, path, body string
		header                   []string
		status                   int
		detail                   string
	}{
		{"limit 0", "GET", "/mobile/v1/credentials?limit=0", "", nil, 400, `query parameter "limit"`},
		{"limit 101", "GET", "/mobile/v1/credentials?limit=101", "", nil, 400, `query parameter "limit"`},
		{"limit not a number", "GET", "/mobile/v1/credentials?limit=ten", "", nil, 400, `query parameter "limit"`},
		{"no offer", "POST", "/mobile/v1/offers/preview", `{}`, nil, 400, `"offer"`},
		{"empty offer", "POST", "/mobile/v1/offers/preview", `{"offer":""}`, nil, 400, `field "offer"`},
		{"unknown field", "POST", "/mobile/v1/offers/preview", `{"offer":"x","extra":1}`, nil, 400, `"extra"`},
		{"bad key mode", "POST", "/mobile/v1/offers", `{"offer":"x","key_mode":"cloud"}`, []string{"Idempotency-Key", "k"}, 400, `field "key_mode"`},
		{"no idempotency key", "POST", "/mobile/v1/offers", `{"offer":"x"}`, nil, 400, `header parameter "Idempotency-Key"`},
		{"duplicate keys", "POST", "/mobile/v1/offers/preview", `{"offer":"x","offer":"y"}`, nil, 400, "twice"},
		{"not JSON", "POST", "/mobile/v1/offers/preview", `offer=x`, nil, 400, "JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, "DPoP tok-a", tc.body, tc.header...).want(t, tc.status)
			if !strings.Contains(r.problem.Detail, tc.detail) {
				t.Errorf("detail: got %q, want it to contain %s", r.problem.Detail, tc.detail)
			}
		})
	}
	if len(e.wallet.accepts) != 0 {
		t.Errorf("the wallet was asked to accept %d offers, want none", len(e.wallet.accepts))
	}
}

// TestWalletErrors: each of the wallet's errors is the problem the
// document promises, with the wallet's detail for the citizen and never
// its cause.
func TestWalletErrors(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		err    error
		status int
		slug   string
		detail string
	}{
		{&wallet.Error{Kind: wallet.ErrOffer, Detail: "the QR code holds no credential offer", Cause: errors.New("secret cause")}, 400, "invalid-offer", "the QR code holds no credential offer"},
		{&wallet.Error{Kind: wallet.ErrIssuer, Detail: "the issuer's metadata is invalid", Cause: errors.New("secret cause")}, 422, "issuer-failed", "metadata is invalid"},
		{&wallet.Error{Kind: wallet.ErrRefused, Detail: "the issuer refused the transaction code", Code: "invalid_tx_code"}, 422, "issuer-refused", "invalid_tx_code"},
		{&wallet.Error{Kind: wallet.ErrUnsupported, Detail: "the offer needs the authorization code flow"}, 422, "unsupported", "authorization code"},
		{fmt.Errorf("preview: %w", wallet.ErrIssuer), 422, "issuer-failed", "could not be reached"},
		{errors.New("secret cause"), 500, "server-error", "request ID"},
		{&wallet.Error{Kind: wallet.ErrRequest, Detail: "the request object's signature does not check out", Cause: errors.New("secret cause")}, 400, "invalid-presentation-request", "signature"},
		{&wallet.Error{Kind: wallet.ErrApproval, Detail: "the approval leaves out a credential the verifier requires"}, 422, "invalid-approval", "leaves out"},
		{&wallet.Error{Kind: wallet.ErrVerifier, Detail: "the verifier refused the response", Code: "invalid_request"}, 422, "verifier-failed", "invalid_request"},
	} {
		t.Run(tc.slug, func(t *testing.T) {
			e.wallet.err = tc.err
			path, body := "/mobile/v1/offers/preview", `{"offer":"openid-credential-offer://?x"}`
			if errors.Is(tc.err, wallet.ErrRequest) || errors.Is(tc.err, wallet.ErrApproval) || errors.Is(tc.err, wallet.ErrVerifier) {
				path, body = "/mobile/v1/presentations/requests", `{"request":"openid4vp://?x"}`
			}
			r := e.do("POST", path, "DPoP tok-a", body).want(t, tc.status)
			if !strings.HasSuffix(r.problem.Type, "/problems/"+tc.slug) || !strings.Contains(r.problem.Detail, tc.detail) {
				t.Errorf("got %s %q, want slug %s and a detail with %q", r.problem.Type, r.problem.Detail, tc.slug, tc.detail)
			}
			if strings.Contains(r.Body.String(), "secret") {
				t.Errorf("the cause leaked: %s", r.Body)
			}
		})
	}
}

func TestPreview(t *testing.T) {
	e := newEnv(t)
	r := e.do("POST", "/mobile/v1/offers/preview", "DPoP tok-a", `{"offer":"openid-credential-offer://?x"}`).want(t, 200)
	for _, s := range []string{`"issuer":"https://issuer.example"`, `"path":["nationalities",null]`, `"tx_code":{"input_mode":"numeric","length":6}`,
		`"grants":{"authorization_code":false,"pre_authorized":true}`, `"logo":{"uri":"https://issuer.example/logo.png"}`} {
		if !strings.Contains(r.Body.String(), s) {
			t.Errorf("preview: got %s, want it to contain %s", r.Body, s)
		}
	}
}

func TestIdempotency(t *testing.T) {
	e := newEnv(t)
	body := `{"offer":"openid-credential-offer://?credential_offer_uri=x","tx_code":"123456"}`
	first := e.do("POST", "/mobile/v1/offers", "DPoP tok-a", body, "Idempotency-Key", "key-1").want(t, 201)
	if len(e.wallet.accepts) != 1 || e.wallet.accepts[0] != (wallet.Accept{Offer: "openid-credential-offer://?credential_offer_uri=x", TxCode: "123456", KeyMode: wallet.KeySealed}) {
		t.Fatalf("accepts: got %+v, want one with tx_code and sealed keys", e.wallet.accepts)
	}
	again := e.do("POST", "/mobile/v1/offers", "DPoP tok-a", body, "Idempotency-Key", "key-1").want(t, 201)
	if again.Body.String() != first.Body.String() || len(e.wallet.accepts) != 1 {
		t.Errorf("replay: got %s after %d accepts, want %s after 1", again.Body, len(e.wallet.accepts), first.Body)
	}
	// Same key, another body.
	r := e.do("POST", "/mobile/v1/offers", "DPoP tok-a", `{"offer":"openid-credential-offer://?other"}`, "Idempotency-Key", "key-1").want(t, 422)
	if !strings.HasSuffix(r.problem.Type, "/idempotency-key-reused") {
		t.Errorf("reused key: got %s", r.problem.Type)
	}
	// Another citizen's same key is theirs alone.
	e.do("POST", "/mobile/v1/offers", "DPoP tok-b", body, "Idempotency-Key", "key-1").want(t, 201)
	// A refused acceptance keeps nothing: the same key may be tried again.
	e.wallet.err = &wallet.Error{Kind: wallet.ErrRefused, Detail: "wrong transaction code", Code: "invalid_tx_code"}
	e.do("POST", "/mobile/v1/offers", "DPoP tok-a", body, "Idempotency-Key", "key-2").want(t, 422)
	e.wallet.err = nil
	e.do("POST", "/mobile/v1/offers", "DPoP tok-a", body, "Idempotency-Key", "key-2").want(t, 201)
	// Device-bound keys: device_keys are required, and the acceptance
	// waits (202, not kept) for the phone's signatures, sent to its own
	// address; only the completion's 201 is kept.
	e.do("POST", "/mobile/v1/offers", "DPoP tok-a", `{"offer":"o","key_mode":"device"}`, "Idempotency-Key", "key-3").want(t, 400)
	e.do("POST", "/mobile/v1/offers", "DPoP tok-a", `{"offer":"o","device_keys":[{"kty":"EC"}]}`, "Idempotency-Key", "key-3").want(t, 400)
	p := e.do("POST", "/mobile/v1/offers", "DPoP tok-a", `{"offer":"o","key_mode":"device","device_keys":[{"kty":"EC"},{"kty":"EC"}]}`,
		"Idempotency-Key", "key-3").want(t, 202)
	if got := e.wallet.accepts[len(e.wallet.accepts)-1].KeyMode; got != wallet.KeyDevice ||
		!strings.Contains(p.Body.String(), `"signing_inputs":[{"alg":"ES256","configuration_id":"pid","input":"in.0","key":0}`) {
		t.Errorf("device acceptance: %s (key mode %q)", p.Body, got)
	}
	e.do("POST", "/mobile/v1/offers/pending/wp-cit-b", "DPoP tok-a", `{"signatures":["sig-0","sig-1"]}`, "Idempotency-Key", "key-4").want(t, 404)
	e.do("POST", "/mobile/v1/offers/pending/wp-cit-a", "DPoP tok-a", `{"signatures":["not base64url!"]}`, "Idempotency-Key", "key-4").want(t, 400)
	e.do("POST", "/mobile/v1/offers/pending/wp-cit-a", "DPoP tok-a", `{"signatures":["sig-0","sig-9"]}`, "Idempotency-Key", "key-4").want(t, 400)
	if r := e.do("POST", "/mobile/v1/offers/pending/wp-cit-a", "DPoP tok-a", `{"signatures":["sig-0","sig-1"]}`, "Idempotency-Key", "key-4").want(t, 201); !strings.Contains(r.Body.String(), `"key_mode":"device"`) {
		t.Errorf("completion: %s", r.Body)
	}

	// After a restart (a new API over the same database) the answer is the same.
	e2 := mount(t, e.wallet, e.db)
	n := len(e.wallet.accepts)
	if r := e2.do("POST", "/mobile/v1/offers", "DPoP tok-a", body, "Idempotency-Key", "key-1").want(t, 201); r.Body.String() != first.Body.String() || len(e.wallet.accepts) != n {
		t.Errorf("replay after restart: got %s, want %s without accepting again", r.Body, first.Body)
	}

	// The stored answers are sealed: no claim, no credential id in clear.
	rows, err := e.db.Query(`SELECT citizen, idem_key, body_hash, response FROM mobile_idempotency`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	count := 0
	for rows.Next() {
		var citizen, key string
		var hash, resp []byte
		if err := rows.Scan(&citizen, &key, &hash, &resp); err != nil {
			t.Fatal(err)
		}
		count++
		for _, clear := range []string{"Ana", "given_name", "new-1", "credential_offer_uri", "123456"} {
			if bytes.Contains(resp, []byte(clear)) || bytes.Contains(hash, []byte(clear)) {
				t.Errorf("row %s/%s holds %q in clear", citizen, key, clear)
			}
		}
	}
	if count != 4 {
		t.Errorf("got %d kept answers, want 4", count)
	}
}

// TestIssuanceFlows: an offer that needs a login at the issuer answers
// 200 with the URL; the callback (as a URL, or code and state) completes
// it, a wrong state is a 400, another citizen's a 404; a deferred
// issuance is listed, collected 202 with Retry-After, then 201.
func TestIssuanceFlows(t *testing.T) {
	e := newEnv(t)
	post := func(path, body, key string) response {
		return e.do("POST", path, "DPoP tok-a", body, "Idempotency-Key", key)
	}
	r := post("/mobile/v1/offers", `{"offer":"openid-credential-offer://?authcode=1"}`, "k1").want(t, 200)
	var pa struct{ ID, AuthorizationURL string }
	var raw map[string]any
	json.Unmarshal(r.Body.Bytes(), &raw)
	pa.ID, pa.AuthorizationURL = raw["id"].(string), raw["authorization_url"].(string)
	if pa.ID != "wa-cit-a" || !strings.HasPrefix(pa.AuthorizationURL, "https://issuer.example/authorize") {
		t.Fatalf("pending authorization: %s", r.Body)
	}
	path := "/mobile/v1/offers/authorizations/" + pa.ID
	post(path, `{}`, "k2").want(t, 400)
	if r := post(path, `{"callback_url":"es.cedula.wallet:/oauth/callback?code=c&state=forged"}`, "k3").want(t, 400); !strings.HasSuffix(r.problem.Type, "invalid-callback") {
		t.Errorf("a forged state: %+v", r.problem)
	}
	if r := post(path, `{"error":"access_denied","state":"st"}`, "k4").want(t, 422); !strings.Contains(r.problem.Detail, "access_denied") {
		t.Errorf("the issuer's refusal: %+v", r.problem)
	}
	e.do("POST", "/mobile/v1/offers/authorizations/wa-cit-a", "DPoP tok-b", `{"code":"c","state":"st"}`, "Idempotency-Key", "k5").want(t, 404)
	if r := post(path, `{"callback_url":"es.cedula.wallet:/oauth/callback?code=c&state=st"}`, "k6").want(t, 201); !strings.Contains(r.Body.String(), "auth-1") {
		t.Errorf("completed: %s", r.Body)
	}

	r = post("/mobile/v1/offers", `{"offer":"openid-credential-offer://?deferred=1","tx_code":"1234"}`, "k7").want(t, 201)
	if !strings.Contains(r.Body.String(), `"deferred":[{`) || !strings.Contains(r.Body.String(), `"id":"wd-cit-a"`) {
		t.Errorf("deferred acceptance: %s", r.Body)
	}
	if r := e.do("GET", "/mobile/v1/offers/deferred", "DPoP tok-a", "").want(t, 200); !strings.Contains(r.Body.String(), `"retry_at"`) {
		t.Errorf("list: %s", r.Body)
	}
	e.do("POST", "/mobile/v1/offers/deferred/wd-cit-a", "DPoP tok-b", "", "Idempotency-Key", "k8").want(t, 404)
	r = post("/mobile/v1/offers/deferred/wd-cit-a", "", "k9").want(t, 202)
	if ra := r.Header().Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("still deferred: Retry-After %q", ra)
	}
	if r := post("/mobile/v1/offers/deferred/wd-cit-a", "", "k10").want(t, 201); !strings.Contains(r.Body.String(), "def-1") {
		t.Errorf("collected: %s", r.Body)
	}
}
