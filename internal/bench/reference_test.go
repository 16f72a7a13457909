package bench

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
)

func startReference(t testing.TB) *Reference {
	t.Helper()
	r, err := StartReference(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

// referenceJWKS returns the public key set that verifies r's credentials.
func referenceJWKS(t testing.TB, r *Reference) []byte {
	t.Helper()
	jwks, err := jose.JWKS(keys.PublicKey{ID: r.key.ID(), Alg: r.key.Alg(), Key: r.key.Public()})
	if err != nil {
		t.Fatal(err)
	}
	return jwks
}

func TestReferenceIssuesSDJWT(t *testing.T) {
	r := startReference(t)
	client := NewHTTPClient(1)
	var creds []string
	for range 2 {
		resp, err := client.Post(r.URL, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		var body referenceResponse
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("got status %d, decode error %v; want 200 with JSON", resp.StatusCode, err)
		}
		creds = append(creds, body.Credential)
	}
	if creds[0] == creds[1] {
		t.Errorf("two credentials are identical, want fresh salts in each")
	}

	parts := strings.Split(creds[0], "~")
	jwt, disclosures := parts[0], parts[1:len(parts)-1]
	if last := parts[len(parts)-1]; last != "" {
		t.Errorf("credential ends with %q, want a trailing ~ (no key binding JWT)", last)
	}
	if got, want := len(disclosures), 8; got != want {
		t.Errorf("got %d disclosures, want %d", got, want)
	}
	// SD-JWT-sized: about 1 KiB for the signed part.
	t.Logf("signed JWT %d bytes, with disclosures %d bytes", len(jwt), len(creds[0]))
	if n := len(jwt); n < 768 || n > 1536 {
		t.Errorf("signed JWT is %d bytes, want about 1 KiB (768–1536)", n)
	}
	hdr, err := jose.Header([]byte(jwt))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(hdr["alg"]) != "ES256" || hdr["typ"] != "dc+sd-jwt" || hdr["kid"] != r.key.ID() {
		t.Errorf("header %v, want alg ES256, typ dc+sd-jwt, kid %s", hdr, r.key.ID())
	}
	payload, err := jose.Verify([]byte(jwt), referenceJWKS(t, r), keys.ES256)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	var claims struct {
		Iss, Vct, SdAlg string
		Iat, Exp        int64
		Sd              []string       `json:"_sd"`
		Cnf             map[string]any `json:"cnf"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	_ = json.Unmarshal(payload, &raw)
	if raw["_sd_alg"] != "sha-256" || claims.Iss == "" || claims.Vct == "" || claims.Exp <= claims.Iat || claims.Iat == 0 {
		t.Errorf("claims %s, want iss, vct, iat < exp and _sd_alg sha-256", payload)
	}
	if jwk, ok := claims.Cnf["jwk"].(map[string]any); !ok || jwk["kty"] != "EC" || jwk["d"] != nil {
		t.Errorf("cnf = %v, want a public EC JWK", claims.Cnf)
	}
	var names []string
	for _, d := range disclosures {
		sum := sha256.Sum256([]byte(d))
		if digest := base64.RawURLEncoding.EncodeToString(sum[:]); !slices.Contains(claims.Sd, digest) {
			t.Errorf("disclosure %s: digest %s not in _sd %v", d, digest, claims.Sd)
		}
		b, err := base64.RawURLEncoding.DecodeString(d)
		if err != nil {
			t.Fatalf("disclosure %q: %v", d, err)
		}
		var arr []any
		if err := json.Unmarshal(b, &arr); err != nil || len(arr) != 3 {
			t.Fatalf("disclosure %s, want [salt, name, value]", b)
		}
		names = append(names, arr[1].(string))
	}
	if got, want := len(claims.Sd), len(disclosures); got != want {
		t.Errorf("got %d digests in _sd, want %d", got, want)
	}
	if !slices.Contains(names, "given_name") || !slices.Contains(names, "age_over_18") {
		t.Errorf("disclosed names %v, want given_name and age_over_18 among them", names)
	}
}

func TestRunAgainstReference(t *testing.T) {
	r := startReference(t)
	res, err := Run(t.Context(), Options{Name: "reference", Concurrency: 4, Duration: 300 * time.Millisecond, Warmup: 100 * time.Millisecond}, r.Op(NewHTTPClient(4)))
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 || res.Ops == 0 {
		t.Errorf("got %d ops, %d errors (first: %s); want some ops and no errors", res.Ops, res.Errors, res.FirstError)
	}
}

func TestReferenceOpReportsFailure(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	r := &Reference{URL: srv.URL}
	err := r.Op(srv.Client())(t.Context())
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("got error %v, want one naming status 503", err)
	}
}

// BenchmarkReferenceSign measures the reference handler in-process: echo
// routing, building the eight disclosures, ES256 signing and the JSON reply.
func BenchmarkReferenceSign(b *testing.B) {
	r, err := NewReference(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	h := r.Handler()
	serve := func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, ReferencePath, nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("got status %d, want 200", rec.Code)
		}
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			serve()
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				serve()
			}
		})
	})
}
