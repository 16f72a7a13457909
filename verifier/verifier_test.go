package verifier

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/internal/keys/localkeys"
	"github.com/cedula/cedula/internal/sdjwtvc"
	"github.com/cedula/cedula/internal/statuslist"
)

func TestCovers(t *testing.T) {
	for _, tc := range []struct {
		registered, asked []any
		want              bool
	}{
		{[]any{"address"}, []any{"address"}, true},
		{[]any{"address"}, []any{"address", "locality"}, true},
		{[]any{"address", "locality"}, []any{"address"}, false},
		{[]any{"address", "locality"}, []any{"address", "street_address"}, false},
		{[]any{"nationalities"}, []any{"nationalities", nil}, true},
		{[]any{"nationalities", nil}, []any{"nationalities", 0.0}, true},
		{[]any{"nationalities", nil}, []any{"nationalities", nil}, true},
		{[]any{"nationalities", nil}, []any{"nationalities", "x"}, false},
		{[]any{"nationalities", 1}, []any{"nationalities", 1.0}, true},
		{[]any{"nationalities", 1}, []any{"nationalities", 0.0}, false},
		{[]any{"nationalities", 1}, []any{"nationalities", nil}, false},
		{[]any{"given_name"}, []any{"family_name"}, false},
	} {
		if got := covers(tc.registered, tc.asked); got != tc.want {
			t.Errorf("covers(%v, %v) = %v, want %v", tc.registered, tc.asked, got, tc.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{1: 2 * time.Second, 2: 4 * time.Second, 3: 8 * time.Second, 20: time.Hour} {
		if got := backoff(n, 2*time.Second); got != want {
			t.Errorf("backoff(%d) = %v, want %v", n, got, want)
		}
	}
	if got := backoff(1, 0); got != 5*time.Second {
		t.Errorf("default backoff %v, want 5s", got)
	}
}

// TestWebhookStaysOutside: a production server's webhook client does not
// reach an address inside its network, nor follow a redirect; a
// developer's (http) reaches loopback.
func TestWebhookStaysOutside(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, "/", http.StatusFound)
		}
	}))
	defer srv.Close()
	s := &Service{webhookClient: webhookClient(false)}
	if s.post(context.Background(), srv.URL, []byte("x")) || hits != 0 {
		t.Errorf("a production webhook reached loopback (%d hits)", hits)
	}
	s.webhookClient = webhookClient(true)
	if !s.post(context.Background(), srv.URL, []byte("x")) || hits != 1 {
		t.Errorf("a developer's webhook did not reach loopback (%d hits)", hits)
	}
	if s.post(context.Background(), srv.URL+"/moved", []byte("x")) {
		t.Error("a redirected notice counted as delivered")
	}
}

func TestLoadSettings(t *testing.T) {
	s, err := DemoSettings()
	if err != nil || len(s.Purposes) == 0 || len(s.Trust) == 0 {
		t.Fatalf("demo settings: %v %+v", err, s)
	}
	abs := s.resolve("https://cedula.example")
	if abs.Trust[0].Issuer != "https://cedula.example" || !strings.HasPrefix(abs.Purposes[0].Credentials[0].VCT, "https://cedula.example/vct/") {
		t.Errorf("resolved: %+v", abs)
	}
	for _, bad := range []string{
		"purposes: [{id: Bad_ID, credentials: [{vct: /v, claims: [[a]]}]}]",
		"purposes: [{id: p, credentials: []}]",
		"purposes: [{id: p, credentials: [{vct: /v, claims: [[]]}]}]",
		"purposes: [{id: p, credentials: [{vct: /v, claims: [[a, -1]]}]}]",
		"purposes: [{id: p, credentials: [{vct: /v, claims: [[a]]}]}, {id: p, credentials: [{vct: /w, claims: [[a]]}]}]",
		"trust: [{issuer: ftp://x, vcts: [/v]}]",
		"trust: [{issuer: self, vcts: []}]",
		"unknown: 1",
	} {
		if _, err := LoadSettings([]byte(bad)); err == nil {
			t.Errorf("%s: loaded, want an error", bad)
		}
	}
	merged := Settings{Purposes: []Purpose{{ID: "a"}}}.Merge(Settings{Purposes: []Purpose{{ID: "a", Credentials: []Registered{{VCT: "x"}}}, {ID: "b"}}})
	if len(merged.Purposes) != 2 || len(merged.Purposes[0].Credentials) != 0 {
		t.Errorf("merge: %+v, want a as first registered and b added", merged)
	}
}

// memStore is Store in memory.
type memStore struct {
	mu   sync.Mutex
	reqs map[string]Request
	log  []audit.Entry
}

func (m *memStore) CreateRequest(_ context.Context, r Request, entries ...audit.Entry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reqs[r.ID] = r
	m.log = append(m.log, entries...)
	return nil
}

func (m *memStore) Request(_ context.Context, id string) (Request, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.reqs[id]
	if !ok {
		return r, ErrNotFound
	}
	return r, nil
}

func (m *memStore) MarkFetched(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.reqs[id]; r.Status == StatusPending {
		r.Status = StatusFetched
		m.reqs[id] = r
	}
	return nil
}

func (m *memStore) Finish(_ context.Context, id string, st Status, f *Failure, result []byte, at time.Time, _ *Delivery, entries ...audit.Entry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.reqs[id]
	if !r.Status.open() {
		return ErrClosed
	}
	r.Status, r.Failure, r.Result, r.Answered = st, f, result, at
	m.reqs[id] = r
	m.log = append(m.log, entries...)
	return nil
}

func (m *memStore) Cancel(context.Context, string, string, time.Time, ...audit.Entry) error {
	return errors.New("not used")
}

func (m *memStore) Expiring(context.Context, time.Time, int) ([]Request, error) { return nil, nil }
func (m *memStore) Expire(context.Context, string, *Delivery) error             { return nil }
func (m *memStore) DropResults(context.Context, time.Time) (int, error)         { return 0, nil }
func (m *memStore) SetWebhook(context.Context, string, string) error            { return nil }
func (m *memStore) Webhook(context.Context, string) (string, error)             { return "", nil }
func (m *memStore) Delivered(context.Context, string, time.Time) error          { return nil }
func (m *memStore) Retry(context.Context, string, time.Time) error              { return nil }
func (m *memStore) GiveUp(context.Context, string, time.Time) error             { return nil }
func (m *memStore) ClaimDeliveries(context.Context, time.Time, time.Time, int) ([]Delivery, error) {
	return nil, nil
}

func (m *memStore) Append(_ context.Context, entries ...audit.Entry) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.log = append(m.log, entries...)
	return int64(len(m.log)), nil
}

type oneLedger struct{}

func (oneLedger) Purpose(_ context.Context, id string) (consent.Purpose, error) {
	return consent.Purpose{ID: id, Controller: "agency", LegalBasis: consent.PublicTask, Categories: []string{"identity"}, DPV: "dpv:IdentityVerification"}, nil
}

func (oneLedger) DecideEntry(context.Context, consent.Query) (consent.Decision, audit.Entry, error) {
	return consent.Decision{}, audit.Entry{}, errors.New("not used: nobody is trusted")
}

type noHolders struct{}

func (noHolders) Holder(context.Context, string, statuslist.Reference) (string, error) {
	return "", ErrUnknownHolder
}

// newFuzzService is a verifier on memory that trusts no issuer, so that
// nothing reaches the network; redirect_uri client identifier (no
// certificate).
func newFuzzService(t testing.TB) (*Service, *memStore) {
	t.Helper()
	ks, err := localkeys.Open(t.TempDir()+"/ks.json", localkeys.WithKEK(make([]byte, localkeys.KEKSize)))
	if err != nil {
		t.Fatal(err)
	}
	st := &memStore{reqs: map[string]Request{}}
	settings, _ := LoadSettings([]byte("purposes: [{id: check, credentials: [{vct: /vct/pid/1, claims: [[given_name]]}]}]"))
	s, err := New(Config{BaseURL: "https://cedula.example", ClientID: PrefixRedirectURI + ":https://cedula.example/vp/responses/",
		Keys: ks, Settings: settings, Store: st, Ledger: oneLedger{}, Audit: st, Holders: noHolders{},
		Resolver: &sdjwtvc.Resolver{}, Secret: make([]byte, 32), Pseudonym: func(id string) string { return "p-" + id }})
	if err != nil {
		t.Fatal(err)
	}
	return s, st
}

// FuzzRespond feeds hostile answers to an open request, in both response
// modes: nothing panics, and no answer is taken as verified (no issuer
// is trusted).
func FuzzRespond(f *testing.F) {
	f.Add("pid", `{"pid":["eyJhbGciOiJFUzI1NiJ9.e30.sig~WyJzIiwiZ2l2ZW5fbmFtZSIsIkEiXQ~"]}`, "", "")
	f.Add("pid", `{"pid":[]}`, "", "")
	f.Add("pid", `{"other":["x~"]}`, "", "access_denied")
	f.Add("pid", `[]`, "eyJhbGciOiJFQ0RILUVTIn0....", "")
	f.Add("pid", `{"pid":[1]}`, "", "")
	s, st := newFuzzService(f)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, qid, token, jwe, errCode string) {
		for _, mode := range []string{ModeDirectPost, ModeDirectPostJWT} {
			q := `{"credentials":[{"id":"pid","format":"dc+sd-jwt","meta":{"vct_values":["https://cedula.example/vct/pid/1"]},"claims":[{"path":["given_name"]}]}]}`
			if qid != "pid" {
				b, _ := json.Marshal(qid)
				q = strings.Replace(q, `"id":"pid"`, `"id":`+string(b), 1)
			}
			r, err := s.Create(ctx, "agency", Create{DCQL: json.RawMessage(q), Purpose: "check", ResponseMode: mode})
			if err != nil {
				continue
			}
			form := url.Values{"state": {r.State}, "vp_token": {token}, "response": {jwe}}
			if errCode != "" {
				form.Set("error", errCode)
			}
			err = s.Respond(ctx, r.ID, form)
			var we *WalletError
			if err != nil && !errors.As(err, &we) {
				t.Fatalf("%s: an error that is not the wallet's: %v", mode, err)
			}
			got, _ := st.Request(ctx, r.ID)
			if got.Status == StatusVerified {
				t.Fatalf("%s: verified with no trusted issuer", mode)
			}
		}
	})
}

// TestRequestObjectOfRedirectURI: a verifier known by its redirect_uri
// sends its request object unsecured (alg none, §5.9.3), with the
// request's parameters, the wallet's nonce, and the response URI under
// its client identifier.
func TestRequestObjectOfRedirectURI(t *testing.T) {
	s, st := newFuzzService(t)
	ctx := context.Background()
	q := json.RawMessage(`{"credentials":[{"id":"pid","format":"dc+sd-jwt","meta":{"vct_values":["https://cedula.example/vct/pid/1"]},"claims":[{"path":["given_name"]}]}]}`)
	r, err := s.Create(ctx, "agency", Create{DCQL: q, Purpose: "check", ResponseMode: ModeDirectPost})
	if err != nil {
		t.Fatal(err)
	}
	obj, err := s.RequestObject(ctx, r.ID, "wn-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(obj, ".")
	hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var h map[string]any
	var p map[string]any
	json.Unmarshal(hdr, &h)
	json.Unmarshal(payload, &p)
	if len(parts) != 3 || parts[2] != "" || h["alg"] != "none" || h["typ"] != "oauth-authz-req+jwt" {
		t.Errorf("header %v, signature %q: want an unsecured request object", h, parts[2])
	}
	if p["client_id"] != s.ClientID() || p["response_uri"] != "https://cedula.example/vp/responses/"+r.ID || p["nonce"] != r.Nonce ||
		p["state"] != r.State || p["wallet_nonce"] != "wn-1" || p["response_mode"] != ModeDirectPost || p["purpose"] != "check" {
		t.Errorf("payload %v", p)
	}
	if got, _ := st.Request(ctx, r.ID); got.Status != StatusFetched {
		t.Errorf("after the fetch: %s", got.Status)
	}
}

// TestRequestObjectRefuses: a wallet_nonce with characters §5.2 does not
// allow is invalid; metadata that is not JSON, that names formats without
// dc+sd-jwt or request object algorithms without ES256 is refused; the
// request stays pending for a wallet that can answer it.
func TestRequestObjectRefuses(t *testing.T) {
	s, st := newFuzzService(t)
	ctx := context.Background()
	q := json.RawMessage(`{"credentials":[{"id":"pid","format":"dc+sd-jwt","meta":{"vct_values":["https://cedula.example/vct/pid/1"]},"claims":[{"path":["given_name"]}]}]}`)
	r, err := s.Create(ctx, "agency", Create{DCQL: q, Purpose: "check"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		nonce, metadata string
		want            error
	}{
		{"a nonce!", "", ErrInvalid},
		{"n", "not json", ErrInvalid},
		{"n", `{"vp_formats_supported":{"mso_mdoc":{}}}`, ErrWalletUnsupported},
		{"n", `{"request_object_signing_alg_values_supported":["EdDSA"]}`, ErrWalletUnsupported},
	} {
		if _, err := s.RequestObject(ctx, r.ID, tc.nonce, []byte(tc.metadata)); !errors.Is(err, tc.want) {
			t.Errorf("nonce %q, metadata %s: %v, want %v", tc.nonce, tc.metadata, err, tc.want)
		}
	}
	if got, _ := st.Request(ctx, r.ID); got.Status != StatusPending {
		t.Errorf("after refusals the request is %s, want pending", got.Status)
	}
	if _, err := s.RequestObject(ctx, "no-such-request", "", nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("an unknown request: %v", err)
	}
}

// FuzzRequestObject feeds hostile wallet_nonce and wallet_metadata to the
// request object endpoint: nothing panics, and what is refused is an
// invalid input or the wallet's lack of support.
func FuzzRequestObject(f *testing.F) {
	f.Add("n-1", `{"vp_formats_supported":{"dc+sd-jwt":{}},"request_object_signing_alg_values_supported":["ES256"]}`)
	f.Add("", `{"vp_formats_supported":{"mso_mdoc":{}}}`)
	f.Add("bad nonce!", `[]`)
	f.Add("n", `{"request_object_signing_alg_values_supported":"ES256"}`)
	s, _ := newFuzzService(f)
	ctx := context.Background()
	q := json.RawMessage(`{"credentials":[{"id":"pid","format":"dc+sd-jwt","meta":{"vct_values":["https://cedula.example/vct/pid/1"]},"claims":[{"path":["given_name"]}]}]}`)
	f.Fuzz(func(t *testing.T, nonce, metadata string) {
		r, err := s.Create(ctx, "agency", Create{DCQL: q, Purpose: "check"})
		if err != nil {
			t.Fatal(err)
		}
		obj, err := s.RequestObject(ctx, r.ID, nonce, []byte(metadata))
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrWalletUnsupported) {
				t.Fatalf("an error that is not the wallet's: %v", err)
			}
			return
		}
		if obj == "" || nonce != "" && !strings.Contains(obj, ".") {
			t.Fatalf("request object %q", obj)
		}
	})
}
