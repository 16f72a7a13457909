package sdjwtvc

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
)

// TestIssuerKeys serves jwt-vc-issuer metadata of every shape from a
// handler and checks what IssuerKeys makes of it.
func TestIssuerKeys(t *testing.T) {
	k := newTestKey(t, "k1")
	set, err := jose.JWKS(keys.PublicKey{ID: k.id, Alg: keys.ES256, Key: k.Public()})
	if err != nil {
		t.Fatal(err)
	}
	privateJWK, _ := json.Marshal(map[string]any{"keys": []any{map[string]any{"kty": "EC", "crv": "P-256", "kid": "p",
		"x": b64(k.priv.X.FillBytes(make([]byte, 32))), "y": b64(k.priv.Y.FillBytes(make([]byte, 32))),
		"d": b64(k.priv.D.FillBytes(make([]byte, 32)))}}})
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(set) }))
	t.Cleanup(other.Close)
	for _, tc := range []struct {
		name string
		// metadata returns the document for the issuer at base (its
		// server's URL); "" answers 404.
		metadata func(iss, base string) string
		ok       bool
	}{
		{"jwks by value", func(iss, base string) string { return `{"issuer":"` + iss + `","jwks":` + string(set) + `}` }, true},
		{"jwks_uri", func(iss, base string) string { return `{"issuer":"` + iss + `","jwks_uri":"` + base + `/jwks"}` }, true},
		{"jwks_uri on another host", func(iss, base string) string {
			return `{"issuer":"` + iss + `","jwks_uri":"` + other.URL + `/jwks"}`
		}, true},
		{"another issuer", func(iss, base string) string {
			return `{"issuer":"` + iss + `/other","jwks":` + string(set) + `}`
		}, false},
		{"both jwks and jwks_uri", func(iss, base string) string {
			return `{"issuer":"` + iss + `","jwks":` + string(set) + `,"jwks_uri":"` + base + `/jwks"}`
		}, false},
		{"no keys", func(iss, base string) string { return `{"issuer":"` + iss + `"}` }, false},
		{"a private key", func(iss, base string) string {
			return `{"issuer":"` + iss + `","jwks":` + string(privateJWK) + `}`
		}, false},
		{"an empty set", func(iss, base string) string { return `{"issuer":"` + iss + `","jwks":{"keys":[]}}` }, false},
		{"not JSON", func(iss, base string) string { return `<html>` }, false},
		{"not found", func(iss, base string) string { return "" }, false},
		{"redirect to another host", func(iss, base string) string { return "redirect:" + other.URL + "/x" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var srv *httptest.Server
			srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/jwks":
					w.Write(set)
				case "/.well-known/jwt-vc-issuer/tenant/1":
					doc := tc.metadata(srv.URL+"/tenant/1", srv.URL)
					if to, ok := strings.CutPrefix(doc, "redirect:"); ok {
						http.Redirect(w, r, to, http.StatusFound)
						return
					}
					if doc == "" {
						http.NotFound(w, r)
						return
					}
					w.Write([]byte(doc))
				default:
					http.NotFound(w, r)
				}
			}))
			t.Cleanup(srv.Close)
			r := &Resolver{AllowHTTP: true}
			got, err := r.IssuerKeys(context.Background(), srv.URL+"/tenant/1")
			if tc.ok {
				if err != nil || string(got) != string(set) {
					t.Errorf("IssuerKeys: got (%s, %v), want the set", got, err)
				}
				return
			}
			if !isReason(err, ReasonIssuerUnavailable) {
				t.Errorf("IssuerKeys: got (%s, %v), want %s", got, err, ReasonIssuerUnavailable)
			}
		})
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func TestIssuerKeysURL(t *testing.T) {
	for _, tc := range []struct {
		iss       string
		allowHTTP bool
	}{
		{"http://127.0.0.1:1/issuer", false},
		{"ftp://issuer.example", true},
		{"https://user@issuer.example", false},
		{"https://issuer.example/#x", false},
		{"https://issuer.example/?tenant=1", false},
		{"issuer.example", false},
		{"", false},
	} {
		r := &Resolver{AllowHTTP: tc.allowHTTP}
		if _, err := r.IssuerKeys(context.Background(), tc.iss); !isReason(err, ReasonIssuerUnavailable) {
			t.Errorf("IssuerKeys(%q): got %v, want %s", tc.iss, err, ReasonIssuerUnavailable)
		}
	}
}

func TestWellKnown(t *testing.T) {
	r := &Resolver{}
	for iss, want := range map[string]string{
		"https://issuer.example":             "https://issuer.example/.well-known/jwt-vc-issuer",
		"https://issuer.example/":            "https://issuer.example/.well-known/jwt-vc-issuer",
		"https://issuer.example/tenant/1234": "https://issuer.example/.well-known/jwt-vc-issuer/tenant/1234",
		"https://issuer.example:8443/a/":     "https://issuer.example:8443/.well-known/jwt-vc-issuer/a",
	} {
		u, err := r.checkURL(iss)
		if err != nil {
			t.Fatalf("checkURL(%q): %v", iss, err)
		}
		if got := wellKnown(u, "jwt-vc-issuer"); got != want {
			t.Errorf("wellKnown(%q): got %q, want %q", iss, got, want)
		}
	}
}

func TestMaxBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"issuer":"` + strings.Repeat("x", 2000) + `"}`))
	}))
	t.Cleanup(srv.Close)
	r := &Resolver{AllowHTTP: true, MaxBody: 1000}
	_, err := r.IssuerKeys(context.Background(), srv.URL)
	if !isReason(err, ReasonIssuerUnavailable) || !strings.Contains(err.Error(), "larger than 1000 bytes") {
		t.Errorf("IssuerKeys of a large document: got %v, want a failure for its size", err)
	}
}

func TestCheckIntegrity(t *testing.T) {
	doc := []byte(`{"vct":"https://issuer.example/vct/pid/1"}`)
	s256 := "sha256-" + base64.StdEncoding.EncodeToString(sum(doc, 256))
	s384 := "sha384-" + base64.StdEncoding.EncodeToString(sum(doc, 384))
	s512 := "sha512-" + base64.StdEncoding.EncodeToString(sum(doc, 512))
	bad256 := "sha256-" + base64.StdEncoding.EncodeToString(sum([]byte("x"), 256))
	bad512 := "sha512-" + base64.StdEncoding.EncodeToString(sum([]byte("x"), 512))
	for _, tc := range []struct {
		integrity string
		ok        bool
	}{
		{s256, true},
		{s384, true},
		{s512, true},
		{strings.TrimRight(s256, "="), true}, // unpadded
		{s256 + "?ct=application/json", true},
		{bad256 + " " + s256, true},  // one of the strongest matches
		{s256 + " " + bad512, false}, // the strongest (sha512) counts alone
		{bad512 + " " + s512, true},
		{"sha512-!!!! " + s256, false}, // an undecodable strongest digest matches nothing
		{bad256, false},
		{"md5-" + base64.StdEncoding.EncodeToString(sum(doc, 256)), false},
		{"sha1-abc", false},
		{"", false},
		{"garbage", false},
	} {
		if err := checkIntegrity(doc, tc.integrity); (err == nil) != tc.ok {
			t.Errorf("checkIntegrity(%q): got %v, want ok %v", tc.integrity, err, tc.ok)
		}
	}
}

func sum(b []byte, bits int) []byte {
	switch bits {
	case 256:
		h := sha256.Sum256(b)
		return h[:]
	case 384:
		h := sha512.Sum384(b)
		return h[:]
	}
	h := sha512.Sum512(b)
	return h[:]
}
