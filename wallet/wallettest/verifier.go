// Package wallettest holds what tests of the wallet's presentations share:
// a throwaway CA that certifies verifiers, and an OpenID4VP verifier on
// localhost that serves its signed request object, takes the response
// and checks the key-binding JWT as a verifier must — written by hand
// with crypto/ecdsa, none of Cedula's JOSE code on the verifier's side
// of the checks.
package wallettest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
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
)

// CA is a throwaway CA that certifies verifiers.
type CA struct {
	key  *ecdsa.PrivateKey
	Cert *x509.Certificate
	Pool *x509.CertPool
}

// NewCA makes a CA valid for an hour either side of now.
func NewCA(t testing.TB) *CA {
	t.Helper()
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
	return &CA{key: key, Cert: cert, Pool: pool}
}

// PEM is the CA's certificate, PEM-encoded (a trust anchors file).
func (ca *CA) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// Leaf certifies a new verifier key for dns, organization "Test
// Verifier".
func (ca *CA) Leaf(t testing.TB, dns string) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: dns, Organization: []string{"Test Verifier"}},
		DNSNames: []string{dns}, KeyUsage: x509.KeyUsageDigitalSignature, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return key, der
}

// ES256 signs a JWS by hand (none of Cedula's JOSE code).
func ES256(t testing.TB, key *ecdsa.PrivateKey, hdr, payload any) string {
	t.Helper()
	h, _ := json.Marshal(hdr)
	p, _ := json.Marshal(payload)
	input := B64(h) + "." + B64(p)
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + B64(sig)
}

// B64 is unpadded base64url.
func B64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// ClientID is the verifier's client identifier.
const ClientID = "x509_san_dns:localhost"

// Nonce is the nonce of the verifier's default request.
const Nonce = "n-0S6_WzA2Mj"

// Verifier is an OpenID4VP verifier on localhost (x509_san_dns, its
// certificate from a CA): it serves its request object at /request (GET,
// or POST with wallet_nonce) and takes the response at /response,
// answering a redirect_uri of /done. A test changes Params (the request
// object's claims), Hdr, or Object (served as it is) before the wallet
// fetches the request.
type Verifier struct {
	t       testing.TB
	srv     *httptest.Server
	URL     string // http://localhost:port
	Key     *ecdsa.PrivateKey
	LeafDER []byte
	Enc     *jose.DecryptionKey // for direct_post.jwt
	mu      sync.Mutex
	Params  map[string]any
	Hdr     map[string]any
	Object  string // served as is when set
	Echo    bool   // put the wallet_nonce in the object (default)
	posted  url.Values
	posts   int
}

// NewVerifier starts a verifier certified by ca. Its default request asks,
// for the purpose "age-check", for a PID (query "pid") with given_name
// and either address.locality and a Portuguese nationality or birthdate
// (two claim sets).
func NewVerifier(t testing.TB, ca *CA) *Verifier {
	t.Helper()
	v := &Verifier{t: t, Echo: true}
	v.Key, v.LeafDER = ca.Leaf(t, "localhost")
	v.Enc, _ = jose.NewEncryptionKey()
	v.srv = httptest.NewServer(http.HandlerFunc(v.serve))
	t.Cleanup(v.srv.Close)
	v.URL = strings.Replace(v.srv.URL, "127.0.0.1", "localhost", 1)
	v.Hdr = map[string]any{"alg": "ES256", "typ": "oauth-authz-req+jwt", "x5c": []string{base64.StdEncoding.EncodeToString(v.LeafDER)}}
	v.Params = map[string]any{"client_id": ClientID, "response_type": "vp_token", "response_mode": "direct_post",
		"response_uri": v.URL + "/response", "nonce": Nonce, "state": "st-1", "purpose": "age-check",
		"client_metadata": map[string]any{"client_name": "Self-named"},
		"dcql_query": map[string]any{"credentials": []any{map[string]any{"id": "pid", "format": "dc+sd-jwt",
			"claims": []any{map[string]any{"id": "gn", "path": []any{"given_name"}}, map[string]any{"id": "loc", "path": []any{"address", "locality"}},
				map[string]any{"id": "bd", "path": []any{"birthdate"}}, map[string]any{"id": "nat", "path": []any{"nationalities", nil}, "values": []any{"PT"}}},
			"claim_sets": []any{[]any{"gn", "loc", "nat"}, []any{"gn", "bd"}}}}}}
	return v
}

// Sign is the request object as served, with walletNonce when the
// verifier echoes it.
func (v *Verifier) Sign(walletNonce string) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.Object != "" {
		return v.Object
	}
	p := map[string]any{}
	for k, x := range v.Params {
		p[k] = x
	}
	if walletNonce != "" && v.Echo {
		p["wallet_nonce"] = walletNonce
	}
	return ES256(v.t, v.Key, v.Hdr, p)
}

func (v *Verifier) serve(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/request":
		r.ParseForm()
		if r.Method == http.MethodPost && (r.PostForm.Get("wallet_nonce") == "" || !json.Valid([]byte(r.PostForm.Get("wallet_metadata")))) {
			w.WriteHeader(400)
			return
		}
		w.Header().Set("Content-Type", "application/oauth-authz-req+jwt")
		w.Write([]byte(v.Sign(r.PostForm.Get("wallet_nonce"))))
	case "/response":
		r.ParseForm()
		v.mu.Lock()
		v.posted = r.PostForm
		v.posts++
		v.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"redirect_uri":"` + v.URL + `/done"}`))
	default:
		http.NotFound(w, r)
	}
}

// Link is the request as a QR code carries it: by request_uri, fetched
// with method ("" or "get", or "post").
func (v *Verifier) Link(method string) string {
	l := "openid4vp://?client_id=" + url.QueryEscape(ClientID) + "&request_uri=" + url.QueryEscape(v.URL+"/request")
	if method != "" {
		l += "&request_uri_method=" + method
	}
	return l
}

// Posted is the form of the latest response, and how many came.
func (v *Verifier) Posted() (url.Values, int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.posted, v.posts
}

// Token is the vp_token of the latest direct_post response.
func (v *Verifier) Token(t testing.TB) map[string][]string {
	t.Helper()
	posted, _ := v.Posted()
	var tok map[string][]string
	if err := json.Unmarshal([]byte(posted.Get("vp_token")), &tok); err != nil {
		t.Fatalf("vp_token: %v (%v)", err, posted)
	}
	return tok
}

// Received checks a vp_token of one presentation for query "pid" as a
// verifier must (RFC 9901 §7.3): the KB-JWT signed by the credential's
// cnf key, typ, aud (the client_id, or a redirect_uri one), the
// request's nonce, sd_hash. It returns the disclosed claim names, sorted
// (array elements as "[value]"), and the issuer-signed JWT.
func (v *Verifier) Received(t testing.TB, token map[string][]string) (names []string, issuerJWT string) {
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
	v.mu.Lock()
	nonce, _ := v.Params["nonce"].(string)
	v.mu.Unlock()
	h := sha256.Sum256([]byte(sdjwt))
	if hdr.Typ != "kb+jwt" || hdr.Alg != "ES256" || claims.Aud != ClientID && !strings.HasPrefix(claims.Aud, "redirect_uri:") ||
		claims.Nonce != nonce || claims.SDHash != B64(h[:]) || claims.IAT == 0 {
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

func decodeSeg(t testing.TB, seg string, out any) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil || json.Unmarshal(b, out) != nil {
		t.Fatalf("segment %q does not decode", seg)
	}
}
