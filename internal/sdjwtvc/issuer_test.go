package sdjwtvc

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/statuslist"
	"github.com/cedula/cedula/internal/testutil"
	"github.com/cedula/cedula/issuer/credential"
)

// testKey is a keys.Key over an in-memory P-256 key.
type testKey struct {
	id   string
	priv *ecdsa.PrivateKey
}

func newTestKey(t testing.TB, id string) testKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{id: id, priv: priv}
}

func (k testKey) ID() string               { return k.id }
func (k testKey) Alg() keys.Alg            { return keys.ES256 }
func (k testKey) Public() crypto.PublicKey { return k.priv.Public() }
func (k testKey) Sign(_ context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return k.priv.Sign(rand.Reader, digest, opts)
}

func (k testKey) jwk(t testing.TB) json.RawMessage {
	t.Helper()
	b, err := jose.PublicJWK(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testIssuer is an SD-JWT VC issuer on loopback, serving what Cedula's
// issuer serves: jwt-vc-issuer metadata (at the issuer's path, below
// /.well-known), the type metadata at the vct, and a status list token.
type testIssuer struct {
	t     testing.TB
	srv   *httptest.Server
	iss   string
	clock *testutil.Clock

	mu        sync.Mutex
	published []testKey // the keys in the jwks
	listKey   testKey   // signs the status list
	listSub   string    // the status list token's sub ("": its URI)
	listTTL   int64
	listExp   time.Duration // the token's exp, from its iat
	statuses  map[int]uint8
	listDown  bool
	meta      []byte // type metadata document

	keyHits, listHits, typeHits atomic.Int64
}

const (
	listPath = "/lists/1"
	vctPath  = "/vct/pid/1"
	// status list indexes of the fixture's credentials
	idxValid, idxRevoked, idxSuspended = 7, 8, 9
)

func newTestIssuer(t testing.TB, clock *testutil.Clock, key testKey) *testIssuer {
	is := &testIssuer{t: t, clock: clock, published: []testKey{key}, listKey: key, listTTL: 60, listExp: 24 * time.Hour,
		statuses: map[int]uint8{idxRevoked: statuslist.Invalid, idxSuspended: statuslist.Suspended}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/jwt-vc-issuer/issuer", func(w http.ResponseWriter, r *http.Request) {
		is.keyHits.Add(1)
		is.mu.Lock()
		var pubs []keys.PublicKey
		for _, k := range is.published {
			pubs = append(pubs, keys.PublicKey{ID: k.id, Alg: keys.ES256, Key: k.Public()})
		}
		is.mu.Unlock()
		set, err := jose.JWKS(pubs...)
		if err != nil {
			t.Error(err)
		}
		json.NewEncoder(w).Encode(map[string]any{"issuer": is.iss, "jwks": json.RawMessage(set)})
	})
	mux.HandleFunc("GET "+vctPath, func(w http.ResponseWriter, r *http.Request) {
		is.typeHits.Add(1)
		is.mu.Lock()
		defer is.mu.Unlock()
		w.Write(is.meta)
	})
	mux.HandleFunc("GET "+listPath, func(w http.ResponseWriter, r *http.Request) {
		is.listHits.Add(1)
		is.mu.Lock()
		defer is.mu.Unlock()
		if is.listDown {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/statuslist+jwt")
		w.Write([]byte(is.listToken()))
	})
	is.srv = httptest.NewServer(mux)
	t.Cleanup(is.srv.Close)
	is.iss = is.srv.URL + "/issuer"
	return is
}

// listToken signs the status list as it is now; is.mu is held.
func (is *testIssuer) listToken() string {
	l, err := statuslist.New(2, 1024)
	if err != nil {
		is.t.Fatal(err)
	}
	for i, v := range is.statuses {
		l.Set(i, v)
	}
	lst, err := l.Encode()
	if err != nil {
		is.t.Fatal(err)
	}
	sub := is.listSub
	if sub == "" {
		sub = is.listURI()
	}
	now := is.clock.Now()
	tok := statuslist.Token{Sub: sub, IssuedAt: now.Unix(), Expiry: now.Add(is.listExp).Unix(), TTL: is.listTTL,
		StatusList: statuslist.Claim{Bits: 2, Lst: lst}}
	jwt, err := jose.SignJSON(context.Background(), is.listKey, tok, map[string]any{"typ": statuslist.TokenType})
	if err != nil {
		is.t.Fatal(err)
	}
	return jwt
}

func (is *testIssuer) listURI() string { return is.srv.URL + listPath }
func (is *testIssuer) vct() string     { return is.srv.URL + vctPath }

func (is *testIssuer) set(f func(is *testIssuer)) {
	is.mu.Lock()
	defer is.mu.Unlock()
	f(is)
}

// fixture is one issuer, one holder and a credential type, at a fixed
// time.
type fixture struct {
	t        testing.TB
	clock    *testutil.Clock
	key      testKey // the issuer's
	holder   testKey
	stranger testKey
	is       *testIssuer
	typ      credential.Type
}

var start = time.Date(2026, 12, 1, 10, 30, 0, 0, time.UTC)

func newFixture(t testing.TB) *fixture {
	f := &fixture{t: t, clock: testutil.NewClock(start), key: newTestKey(t, "issuer-1"),
		holder: newTestKey(t, "holder"), stranger: newTestKey(t, "stranger")}
	f.is = newTestIssuer(t, f.clock, f.key)
	f.typ = credential.Type{ID: "pid", VCT: f.is.vct(), Lifetime: 24 * time.Hour,
		Display: []credential.Display{{Locale: "en", Name: "Person identification"}},
		Claims: []credential.Claim{
			{Path: []any{"given_name"}, SD: "always"},
			{Path: []any{"family_name"}, SD: "always"},
			{Path: []any{"address"}, SD: "always"},
			{Path: []any{"address", "locality"}, SD: "always"},
			{Path: []any{"issuing_country"}, SD: "never"},
		}}
	meta, err := f.typ.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	f.is.meta = meta
	return f
}

func (f *fixture) resolver() *Resolver {
	return &Resolver{AllowHTTP: true, Now: f.clock.Now}
}

func (f *fixture) options() Options {
	return Options{Audience: "x509_san_dns:agency.example", Nonce: "n-0S6_WzA2Mj",
		Trusted: func(iss, vct string) bool { return iss == f.is.iss && vct == f.is.vct() }}
}

// issue makes a credential with credential.Issue, valid with status
// idxValid unless mut changes the request.
func (f *fixture) issue(mut func(r *credential.Request)) string {
	f.t.Helper()
	r := credential.Request{Issuer: f.is.iss, Type: f.typ, Integrity: credential.Integrity(f.is.meta),
		Claims: map[string]any{"given_name": "Ana", "family_name": "Pérez", "issuing_country": "UY",
			"address": map[string]any{"locality": "Montevideo", "country": "UY"}},
		Holder: f.holder.jwk(f.t), Status: &statuslist.Reference{Index: idxValid, URI: f.is.listURI()}, Now: f.clock.Now()}
	if mut != nil {
		mut(&r)
	}
	cred, _, err := credential.Issue(context.Background(), f.key, r)
	if err != nil {
		f.t.Fatal(err)
	}
	return cred
}

// resign signs the payload of cred's issuer-signed JWT again, after mut,
// with key and header hdr (typ dc+sd-jwt when nil).
func (f *fixture) resign(cred string, key keys.Key, hdr map[string]any, mut func(payload map[string]any)) string {
	f.t.Helper()
	jwt, rest, _ := strings.Cut(cred, "~")
	raw, err := jose.UnverifiedPayload([]byte(jwt))
	if err != nil {
		f.t.Fatal(err)
	}
	var payload map[string]any
	if err := json.Unmarshal(raw, &payload); err != nil {
		f.t.Fatal(err)
	}
	if mut != nil {
		mut(payload)
	}
	if hdr == nil {
		hdr = map[string]any{"typ": CredentialType}
	}
	jwt, err = jose.SignJSON(context.Background(), key, payload, hdr)
	if err != nil {
		f.t.Fatal(err)
	}
	return jwt + "~" + rest
}

// present appends a key-binding JWT to cred (which ends in '~'), signed
// with the holder's key unless key is set, its header and claims changed
// by mut.
func (f *fixture) present(cred string, key keys.Key, mut func(hdr, claims map[string]any)) string {
	f.t.Helper()
	o := f.options()
	hdr := map[string]any{"typ": KeyBindingType}
	claims := map[string]any{"iat": f.clock.Now().Unix(), "aud": o.Audience, "nonce": o.Nonce, "sd_hash": sdHash(cred)}
	if mut != nil {
		mut(hdr, claims)
	}
	if key == nil {
		key = f.holder
	}
	kb, err := jose.SignJSON(context.Background(), key, claims, hdr)
	if err != nil {
		f.t.Fatal(err)
	}
	return cred + kb
}

// sdHash is computed here, not with sdjwt.SDHash, so that the test does
// not take the code's word for it: base64url SHA-256 of the presentation
// up to its last '~'.
func sdHash(cred string) string {
	h := crypto.SHA256.New()
	h.Write([]byte(cred[:strings.LastIndexByte(cred, '~')+1]))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// disclosures returns cred's encoded disclosures.
func disclosures(cred string) []string {
	parts := strings.Split(cred, "~")
	return parts[1 : len(parts)-1]
}

// disclosure encodes a disclosure of name (none: an array element).
func disclosure(t testing.TB, salt, name string, value any) string {
	t.Helper()
	arr := []any{salt, name, value}
	if name == "" {
		arr = []any{salt, value}
	}
	b, err := json.Marshal(arr)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func digestOf(enc string) string {
	h := crypto.SHA256.New()
	h.Write([]byte(enc))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// decodeDisclosure decodes an encoded disclosure.
func decodeDisclosure(t testing.TB, enc string) []any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		t.Fatal(err)
	}
	var arr []any
	if err := json.Unmarshal(b, &arr); err != nil {
		t.Fatal(err)
	}
	return arr
}
