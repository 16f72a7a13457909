package wallet_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/testutil"
	"github.com/cedula/cedula/wallet"
)

// testCA is a throwaway CA that certifies verifiers.
type testCA struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test verifier CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{key: key, cert: cert, pool: pool}
}

// leaf certifies a verifier key for dns.
func (ca *testCA) leaf(t *testing.T, dns string) (*ecdsa.PrivateKey, []byte) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: dns, Organization: []string{"Test Verifier"}},
		DNSNames: []string{dns}, KeyUsage: x509.KeyUsageDigitalSignature, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return key, der
}

// es256 signs a JWS by hand (none of Cedula's JOSE code).
func es256(t *testing.T, key *ecdsa.PrivateKey, hdr, payload any) string {
	h, _ := json.Marshal(hdr)
	p, _ := json.Marshal(payload)
	input := b64(h) + "." + b64(p)
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + b64(sig)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// testVerifier is an OpenID4VP verifier on localhost: it serves its
// request object and takes the response.
type testVerifier struct {
	t       *testing.T
	srv     *httptest.Server
	url     string // http://localhost:port
	key     *ecdsa.PrivateKey
	leafDER []byte
	enc     *jose.DecryptionKey
	mu      sync.Mutex
	params  map[string]any
	hdr     map[string]any
	object  string // served as is when set
	echo    bool   // put the wallet_nonce in the object
	posted  url.Values
}

func newTestVerifier(t *testing.T, ca *testCA) *testVerifier {
	v := &testVerifier{t: t, echo: true}
	v.key, v.leafDER = ca.leaf(t, "localhost")
	v.enc, _ = jose.NewEncryptionKey()
	v.srv = httptest.NewServer(http.HandlerFunc(v.serve))
	t.Cleanup(v.srv.Close)
	v.url = strings.Replace(v.srv.URL, "127.0.0.1", "localhost", 1)
	v.hdr = map[string]any{"alg": "ES256", "typ": "oauth-authz-req+jwt", "x5c": []string{base64.StdEncoding.EncodeToString(v.leafDER)}}
	v.params = map[string]any{"client_id": "x509_san_dns:localhost", "response_type": "vp_token", "response_mode": "direct_post",
		"response_uri": v.url + "/response", "nonce": "n-0S6_WzA2Mj", "state": "st-1", "purpose": "age-check",
		"client_metadata": map[string]any{"client_name": "Self-named"},
		"dcql_query": map[string]any{"credentials": []any{map[string]any{"id": "pid", "format": "dc+sd-jwt",
			"claims": []any{map[string]any{"id": "gn", "path": []any{"given_name"}}, map[string]any{"id": "loc", "path": []any{"address", "locality"}},
				map[string]any{"id": "bd", "path": []any{"birthdate"}}, map[string]any{"id": "nat", "path": []any{"nationalities", nil}, "values": []any{"PT"}}},
			"claim_sets": []any{[]any{"gn", "loc", "nat"}, []any{"gn", "bd"}}}}}}
	return v
}

func (v *testVerifier) sign(walletNonce string) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.object != "" {
		return v.object
	}
	p := map[string]any{}
	for k, x := range v.params {
		p[k] = x
	}
	if walletNonce != "" && v.echo {
		p["wallet_nonce"] = walletNonce
	}
	return es256(v.t, v.key, v.hdr, p)
}

func (v *testVerifier) serve(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/request":
		r.ParseForm()
		if r.Method == http.MethodPost && (r.PostForm.Get("wallet_nonce") == "" || !json.Valid([]byte(r.PostForm.Get("wallet_metadata")))) {
			w.WriteHeader(400)
			return
		}
		w.Header().Set("Content-Type", "application/oauth-authz-req+jwt")
		w.Write([]byte(v.sign(r.PostForm.Get("wallet_nonce"))))
	case "/response":
		r.ParseForm()
		v.mu.Lock()
		v.posted = r.PostForm
		v.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"redirect_uri":"` + v.url + `/done"}`))
	default:
		http.NotFound(w, r)
	}
}

func (v *testVerifier) link(method string) string {
	l := "openid4vp://?client_id=" + url.QueryEscape("x509_san_dns:localhost") + "&request_uri=" + url.QueryEscape(v.url+"/request")
	if method != "" {
		l += "&request_uri_method=" + method
	}
	return l
}

// received checks the vp_token as a verifier must (RFC 9901 §7.3): the
// KB-JWT signed by the credential's cnf key, typ, aud, nonce, sd_hash;
// it returns the disclosed claim names (array elements as "[value]").
func (v *testVerifier) received(t *testing.T, token map[string][]string) (names []string, issuerJWT string) {
	t.Helper()
	if len(token) != 1 || len(token["pid"]) != 1 {
		t.Fatalf("vp_token: %v", token)
	}
	pres := token["pid"][0]
	i := strings.LastIndexByte(pres, '~')
	sdjwt, kb := pres[:i+1], pres[i+1:]
	parts := strings.Split(sdjwt, "~")
	issuerJWT = parts[0]
	var payload struct {
		CNF struct {
			JWK struct{ X, Y string } `json:"jwk"`
		} `json:"cnf"`
	}
	decodeSeg(t, strings.Split(issuerJWT, ".")[1], &payload)
	kbParts := strings.Split(kb, ".")
	if len(kbParts) != 3 {
		t.Fatalf("no KB-JWT: %q", kb)
	}
	var hdr struct{ Alg, Typ string }
	var claims struct {
		Aud, Nonce string
		SDHash     string `json:"sd_hash"`
		IAT        int64
	}
	decodeSeg(t, kbParts[0], &hdr)
	decodeSeg(t, kbParts[1], &claims)
	x, _ := base64.RawURLEncoding.DecodeString(payload.CNF.JWK.X)
	y, _ := base64.RawURLEncoding.DecodeString(payload.CNF.JWK.Y)
	pub := &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
	sig, _ := base64.RawURLEncoding.DecodeString(kbParts[2])
	sum := sha256.Sum256([]byte(kbParts[0] + "." + kbParts[1]))
	if len(sig) != 64 || !ecdsa.Verify(pub, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		t.Error("the KB-JWT does not verify with the credential's cnf key")
	}
	h := sha256.Sum256([]byte(sdjwt))
	if hdr.Typ != "kb+jwt" || hdr.Alg != "ES256" || claims.Aud != "x509_san_dns:localhost" && !strings.HasPrefix(claims.Aud, "redirect_uri:") ||
		claims.Nonce != "n-0S6_WzA2Mj" || claims.SDHash != b64(h[:]) || claims.IAT == 0 {
		t.Errorf("KB-JWT: %+v %+v", hdr, claims)
	}
	for _, d := range parts[1 : len(parts)-1] {
		var arr []any
		decodeSeg(t, d, &arr)
		if len(arr) == 3 {
			names = append(names, arr[1].(string))
		} else {
			names = append(names, "["+arr[1].(string)+"]")
		}
	}
	slices.Sort(names)
	return names, issuerJWT
}

func decodeSeg(t *testing.T, seg string, out any) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil || json.Unmarshal(b, out) != nil {
		t.Fatalf("segment %q does not decode", seg)
	}
}

func (v *testVerifier) token(t *testing.T) map[string][]string {
	t.Helper()
	v.mu.Lock()
	defer v.mu.Unlock()
	var tok map[string][]string
	if err := json.Unmarshal([]byte(v.posted.Get("vp_token")), &tok); err != nil {
		t.Fatalf("vp_token: %v (%v)", err, v.posted)
	}
	return tok
}

func presentWallet(t *testing.T, roots *x509.CertPool) (*wallet.Service, *memStore, *fakeIssuer) {
	f := newFakeIssuer(t, "")
	st := &memStore{recs: map[string]wallet.Record{}}
	w, err := wallet.New(wallet.Config{Store: st, Sealer: plainSealer{}, Subject: func(id string) string { return "psn-" + id },
		AllowHTTP: true, VerifierRoots: roots})
	if err != nil {
		t.Fatal(err)
	}
	return w, st, f
}

func receive(t *testing.T, w *wallet.Service, f *fakeIssuer) wallet.Credential {
	link := "openid-credential-offer://?credential_offer_uri=" + urlEscape(f.srv.URL+"/offer")
	got, err := w.AcceptOffer(t.Context(), "ana", wallet.Accept{Offer: link, TxCode: "4321"}, "en")
	if err != nil {
		t.Fatal(err)
	}
	return got[0]
}

// TestPresent: a request signed by an x509_san_dns verifier, fetched by
// GET and by POST (wallet_nonce echoed), is shown with its verified
// name, the citizen's matching credential and the optional claims; the
// approved claim set alone is disclosed (the parent of a nested claim,
// only the array element that matches), with a valid KB-JWT; each
// presentation uses another copy; history and audit record it.
func TestPresent(t *testing.T) {
	ca := newTestCA(t)
	w, st, f := presentWallet(t, ca.pool)
	ctx := t.Context()
	cred := receive(t, w, f)
	v := newTestVerifier(t, ca)
	var jwts []string
	for _, method := range []string{"", "post"} {
		req, err := w.ResolvePresentation(ctx, "ana", v.link(method), "en")
		if err != nil {
			t.Fatalf("%q: %v", method, err)
		}
		if !req.Verifier.Verified || req.Verifier.Name != "Test Verifier" || req.Purpose != "age-check" || !req.Answerable {
			t.Errorf("verifier: %+v", req)
		}
		q := req.Queries[0]
		if len(q.Matches) != 1 || q.Matches[0].CredentialID != cred.ID || !slices.Equal(q.Matches[0].ClaimSets, []int{0, 1}) {
			t.Fatalf("matches: %+v", q.Matches)
		}
		if q.Claims[0].Optional || !q.Claims[1].Optional || !q.Claims[2].Optional {
			t.Errorf("optional claims: %+v", q.Claims)
		}
		if _, err := w.Present(ctx, "beto", wallet.Approval{RequestID: req.ID, Credentials: map[string][]string{"pid": {cred.ID}}}); !errors.Is(err, wallet.ErrNotFound) {
			t.Errorf("Beto answering Ana's request: %v", err)
		}
		if _, err := w.Present(ctx, "ana", wallet.Approval{RequestID: req.ID}); !errors.Is(err, wallet.ErrApproval) {
			t.Errorf("approving nothing: %v, want ErrApproval", err)
		}
		out, err := w.Present(ctx, "ana", wallet.Approval{RequestID: req.ID, Credentials: map[string][]string{"pid": {cred.ID}}, ClaimSets: map[string]int{"pid": 0}})
		if err != nil {
			t.Fatal(err)
		}
		if out.RedirectURI != v.url+"/done" || out.Presentation.Outcome != wallet.OutcomeSent || v.posted.Get("state") != "st-1" {
			t.Errorf("outcome: %+v, state %q", out, v.posted.Get("state"))
		}
		names, jwt := v.received(t, v.token(t))
		if want := []string{"[PT]", "address", "given_name", "locality", "nationalities"}; !slices.Equal(names, want) {
			t.Errorf("disclosed %v, want %v", names, want)
		}
		jwts = append(jwts, jwt)
	}
	if jwts[0] == jwts[1] {
		t.Error("both presentations used the same copy of the credential: they are linkable")
	}
	hist, err := w.Presentations(ctx, "ana")
	if err != nil || len(hist) != 2 {
		t.Fatalf("history: %+v %v", hist, err)
	}
	h := hist[0]
	if h.VerifierID != "x509_san_dns:localhost" || !h.VerifierVerified || h.Outcome != wallet.OutcomeSent || len(h.Credentials) != 1 ||
		!slices.Equal(h.Credentials[0].Claims, []string{`["given_name"]`, `["address","locality"]`, `["nationalities",1]`}) {
		t.Errorf("history: %+v", h)
	}
	n := 0
	for _, e := range st.log {
		if e.Action == wallet.ActionPresent && e.Subject == "psn-ana" && e.Actor.ID == "psn-ana" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d wallet.present entries, want 2", n)
	}
	for _, r := range st.history {
		if strings.Contains(string(r.Sealed), "Sevilla") || strings.Contains(string(r.Sealed), "Ana") {
			t.Error("the history holds a claim value")
		}
	}
	if hb, _ := w.Presentations(ctx, "beto"); len(hb) != 0 {
		t.Errorf("Beto's history: %+v", hb)
	}
}

// TestPresentEncryptedAndDecline: direct_post.jwt sends a JWE the
// verifier opens with its key; declining sends access_denied.
func TestPresentEncryptedAndDecline(t *testing.T) {
	ca := newTestCA(t)
	w, st, f := presentWallet(t, ca.pool)
	ctx := t.Context()
	cred := receive(t, w, f)
	v := newTestVerifier(t, ca)
	v.params["response_mode"] = "direct_post.jwt"
	v.params["client_metadata"] = map[string]any{"jwks": map[string]any{"keys": []any{json.RawMessage(v.enc.PublicJWK())}},
		"encrypted_response_enc_values_supported": []string{"A256GCM"}}
	req, err := w.ResolvePresentation(ctx, "ana", v.link(""), "en")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Present(ctx, "ana", wallet.Approval{RequestID: req.ID, Credentials: map[string][]string{"pid": {cred.ID}}, ClaimSets: map[string]int{"pid": 1}}); err != nil {
		t.Fatal(err)
	}
	if v.posted.Get("vp_token") != "" {
		t.Fatal("direct_post.jwt sent the vp_token in clear")
	}
	plain, err := v.enc.Decrypt([]byte(v.posted.Get("response")))
	if err != nil {
		t.Fatal(err)
	}
	var resp struct {
		VPToken map[string][]string `json:"vp_token"`
		State   string
	}
	json.Unmarshal(plain, &resp)
	names, _ := v.received(t, resp.VPToken)
	if !slices.Equal(names, []string{"birthdate", "given_name"}) || resp.State != "st-1" {
		t.Errorf("disclosed %v, state %q", names, resp.State)
	}

	req, err = w.ResolvePresentation(ctx, "ana", v.link(""), "en")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.DeclinePresentation(ctx, "ana", req.ID); err != nil {
		t.Fatal(err)
	}
	if v.posted.Get("error") != "access_denied" || v.posted.Get("state") != "st-1" || v.posted.Get("vp_token") != "" {
		t.Errorf("decline posted %v", v.posted)
	}
	if e := st.log[len(st.log)-1]; e.Action != wallet.ActionDecline {
		t.Errorf("last entry %s, want %s", e.Action, wallet.ActionDecline)
	}
	if hist, _ := w.Presentations(ctx, "ana"); len(hist) != 2 || hist[0].Outcome != wallet.OutcomeDeclined && hist[1].Outcome != wallet.OutcomeDeclined {
		t.Errorf("history: %+v", hist)
	}
}

// TestPresentDevice: with the key on the phone, Present hands back the
// KB-JWT's signing input; a wrong signature voids it; the phone's
// signature sends a presentation bound to its key.
func TestPresentDevice(t *testing.T) {
	ca := newTestCA(t)
	w, _, f := presentWallet(t, ca.pool)
	ctx := t.Context()
	a, b := testutil.NewPhoneKey(t), testutil.NewPhoneKey(t)
	link := "openid-credential-offer://?credential_offer_uri=" + urlEscape(f.srv.URL+"/offer")
	p, err := w.BeginDeviceAccept(ctx, "ana", wallet.Accept{Offer: link, TxCode: "4321"}, []json.RawMessage{a.JWK(), b.JWK()})
	if err != nil {
		t.Fatal(err)
	}
	creds, err := w.FinishDeviceAccept(ctx, "ana", p.ID, []string{a.Sign(t, p.SigningInputs[0].Input), b.Sign(t, p.SigningInputs[1].Input)}, "en")
	if err != nil {
		t.Fatal(err)
	}
	v := newTestVerifier(t, ca)
	phone := map[string]testutil.PhoneKey{string(a.JWK()): a, string(b.JWK()): b}
	for _, wrong := range []bool{true, false} {
		req, err := w.ResolvePresentation(ctx, "ana", v.link(""), "en")
		if err != nil {
			t.Fatal(err)
		}
		out, err := w.Present(ctx, "ana", wallet.Approval{RequestID: req.ID, Credentials: map[string][]string{"pid": {creds[0].ID}}})
		if err != nil || out.Pending == nil || len(out.Pending.SigningInputs) != 1 {
			t.Fatalf("pending: %+v %v", out, err)
		}
		in := out.Pending.SigningInputs[0]
		k := phone[string(in.Key)]
		if wrong {
			k = testutil.NewPhoneKey(t)
		}
		_, err = w.FinishPresent(ctx, "ana", out.Pending.ID, []string{k.Sign(t, in.Input)})
		if wrong {
			if !errors.Is(err, wallet.ErrApproval) {
				t.Errorf("a wrong signature: %v, want ErrApproval", err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if names, _ := v.received(t, v.token(t)); !slices.Equal(names, []string{"[PT]", "address", "given_name", "locality", "nationalities"}) {
			t.Errorf("disclosed %v", names)
		}
	}
}

// TestResolveRefusals: what a verifier gets wrong is refused with
// ErrRequest (or ErrUnsupported) saying what.
func TestResolveRefusals(t *testing.T) {
	ca := newTestCA(t)
	for _, c := range []struct {
		name   string
		setup  func(v *testVerifier, w *wallet.Config)
		link   func(v *testVerifier) string
		kind   error
		detail string
	}{
		{name: "bad signature", setup: func(v *testVerifier, _ *wallet.Config) {
			s := v.sign("")
			v.object = s[:len(s)-6] + "AAAAAA"
		}, kind: wallet.ErrRequest, detail: "signature does not verify"},
		{name: "SAN mismatch", setup: func(v *testVerifier, _ *wallet.Config) {
			v.key, v.leafDER = ca.leaf(t, "other.example")
			v.hdr["x5c"] = []string{base64.StdEncoding.EncodeToString(v.leafDER)}
		}, kind: wallet.ErrRequest, detail: "does not name"},
		{name: "untrusted CA", setup: func(_ *testVerifier, w *wallet.Config) { w.VerifierRoots = newTestCA(t).pool },
			kind: wallet.ErrRequest, detail: "trust anchor"},
		{name: "no trust anchors", setup: func(_ *testVerifier, w *wallet.Config) { w.VerifierRoots = nil },
			kind: wallet.ErrRequest, detail: "no trust anchors"},
		{name: "wrong client_id", setup: func(v *testVerifier, _ *wallet.Config) { v.params["client_id"] = "x509_san_dns:evil.example" },
			kind: wallet.ErrRequest, detail: "client_id"},
		{name: "missing nonce", setup: func(v *testVerifier, _ *wallet.Config) { delete(v.params, "nonce") },
			kind: wallet.ErrRequest, detail: "no nonce"},
		{name: "no dcql_query", setup: func(v *testVerifier, _ *wallet.Config) { delete(v.params, "dcql_query") },
			kind: wallet.ErrRequest, detail: "no dcql_query"},
		{name: "response_uri elsewhere", setup: func(v *testVerifier, _ *wallet.Config) { v.params["response_uri"] = "http://evil.example/r" },
			kind: wallet.ErrRequest, detail: "not on the verifier's host"},
		{name: "response_uri http", setup: func(v *testVerifier, w *wallet.Config) {
			w.AllowHTTP = false
			v.params["response_uri"] = "http://localhost/response"
		}, link: func(v *testVerifier) string {
			return "openid4vp://?client_id=" + url.QueryEscape("x509_san_dns:localhost") + "&request=" + v.sign("")
		}, kind: wallet.ErrRequest, detail: "response_uri is not an https URL"},
		{name: "wallet_nonce not echoed", setup: func(v *testVerifier, _ *wallet.Config) { v.echo = false },
			link: func(v *testVerifier) string { return v.link("post") }, kind: wallet.ErrRequest, detail: "wallet_nonce"},
		{name: "bad request_uri_method", link: func(v *testVerifier) string { return v.link("put") }, kind: wallet.ErrRequest, detail: "neither get nor post"},
		{name: "oversized", setup: func(v *testVerifier, _ *wallet.Config) { v.object = strings.Repeat("a", wallet.MaxRequestObject+10) },
			kind: wallet.ErrRequest, detail: "larger than"},
		{name: "garbage", setup: func(v *testVerifier, _ *wallet.Config) { v.object = "<html>hello</html>" },
			kind: wallet.ErrRequest, detail: "not a JWT"},
		{name: "wrong typ", setup: func(v *testVerifier, _ *wallet.Config) { v.hdr["typ"] = "JWT" },
			kind: wallet.ErrRequest, detail: "typ"},
		{name: "unsigned x509", setup: func(v *testVerifier, _ *wallet.Config) {
			h, _ := json.Marshal(map[string]any{"alg": "none", "typ": "oauth-authz-req+jwt"})
			p, _ := json.Marshal(v.params)
			v.object = b64(h) + "." + b64(p) + "."
		}, kind: wallet.ErrRequest, detail: "not signed"},
		{name: "response_mode fragment", setup: func(v *testVerifier, _ *wallet.Config) { v.params["response_mode"] = "fragment" },
			kind: wallet.ErrRequest, detail: "response_mode"},
		{name: "transaction_data", setup: func(v *testVerifier, _ *wallet.Config) { v.params["transaction_data"] = []string{"e30"} },
			kind: wallet.ErrUnsupported, detail: "transaction_data"},
		{name: "bad dcql", setup: func(v *testVerifier, _ *wallet.Config) {
			v.params["dcql_query"] = map[string]any{"credentials": []any{map[string]any{"id": "a b", "format": "dc+sd-jwt"}}}
		}, kind: wallet.ErrRequest, detail: "dcql_query"},
		{name: "other prefix", link: func(v *testVerifier) string { return "openid4vp://?client_id=did%3Aexample&request_uri=x" },
			kind: wallet.ErrUnsupported, detail: "prefix"},
		{name: "redirect_uri elsewhere", link: func(v *testVerifier) string {
			return "openid4vp://?client_id=" + url.QueryEscape("redirect_uri:"+v.url+"/response") + "&response_type=vp_token&response_mode=direct_post" +
				"&nonce=n1&response_uri=" + url.QueryEscape(v.url+"/other") + "&dcql_query=" + url.QueryEscape(`{"credentials":[{"id":"p","format":"dc+sd-jwt"}]}`)
		}, kind: wallet.ErrRequest, detail: "client identifier"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeIssuer(t, "")
			_ = f
			v := newTestVerifier(t, ca)
			cfg := wallet.Config{Store: &memStore{recs: map[string]wallet.Record{}}, Sealer: plainSealer{}, Subject: func(id string) string { return "psn-" + id },
				AllowHTTP: true, VerifierRoots: ca.pool}
			if c.setup != nil {
				c.setup(v, &cfg)
			}
			w, err := wallet.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			link := v.link("")
			if c.link != nil {
				link = c.link(v)
			}
			_, err = w.ResolvePresentation(t.Context(), "ana", link, "en")
			var we *wallet.Error
			if !errors.Is(err, c.kind) || !errors.As(err, &we) || !strings.Contains(we.Detail, c.detail) {
				t.Fatalf("got %v, want %v saying %q", err, c.kind, c.detail)
			}
		})
	}
}

// TestPresentRedirectURI: an unsigned request by value from a
// redirect_uri verifier is answered, the verifier shown unverified.
func TestPresentRedirectURI(t *testing.T) {
	w, _, f := presentWallet(t, nil)
	cred := receive(t, w, f)
	v := newTestVerifier(t, newTestCA(t))
	link := "openid4vp://?client_id=" + url.QueryEscape("redirect_uri:"+v.url+"/response") + "&response_type=vp_token&response_mode=direct_post" +
		"&nonce=n-0S6_WzA2Mj&state=st-1&client_metadata=" + url.QueryEscape(`{"client_name":"Me"}`) +
		"&dcql_query=" + url.QueryEscape(`{"credentials":[{"id":"pid","format":"dc+sd-jwt","claims":[{"path":["family_name"]}]}]}`)
	req, err := w.ResolvePresentation(t.Context(), "ana", link, "en")
	if err != nil {
		t.Fatal(err)
	}
	if req.Verifier.Verified || req.Verifier.Name != "Me" || req.Verifier.ResponseURI != v.url+"/response" {
		t.Errorf("verifier: %+v", req.Verifier)
	}
	if _, err := w.Present(t.Context(), "ana", wallet.Approval{RequestID: req.ID, Credentials: map[string][]string{"pid": {cred.ID}}}); err != nil {
		t.Fatal(err)
	}
	if names, _ := v.received(t, v.token(t)); !slices.Equal(names, []string{"family_name"}) {
		t.Errorf("disclosed %v", names)
	}
}
