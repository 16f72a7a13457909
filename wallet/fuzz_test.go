package wallet

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzParseOffer: an offer fetched by reference is checked or refused
// with ErrOffer, never a panic.
func FuzzParseOffer(f *testing.F) {
	f.Add([]byte(`{"credential_issuer":"https://i.example","credential_configuration_ids":["pid"],"grants":{"urn:ietf:params:oauth:grant-type:pre-authorized_code":{"pre-authorized_code":"c","tx_code":{"length":6}}}}`))
	f.Add([]byte(`{"credential_issuer":"https://i.example","credential_configuration_ids":["a","b"],"grants":{"authorization_code":{"issuer_state":"s"}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := ParseOffer(b, false)
		if err != nil {
			if !errors.Is(err, ErrOffer) {
				t.Fatalf("%v is not ErrOffer", err)
			}
			return
		}
		if !strings.HasPrefix(o.CredentialIssuer, "https://") || len(o.CredentialConfigurationIDs) == 0 {
			t.Fatalf("accepted %+v", o)
		}
		if g := o.Grants.PreAuthorized; g != nil && (g.Code == "" || g.TxCode != nil && g.TxCode.InputMode != "numeric" && g.TxCode.InputMode != "text") {
			t.Fatalf("accepted the grant %+v", g)
		}
	})
}

// FuzzDecodeCredential: whatever an issuer sends as a credential decodes
// or fails, never panics; a decoded one has its iss and vct, and no
// registered claim among the citizen's.
func FuzzDecodeCredential(f *testing.F) {
	f.Add("eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJodHRwczovL2kuZXhhbXBsZSIsInZjdCI6InBpZCIsIl9zZCI6WyJhYmMiXX0.c2ln~WyJzYWx0IiwibmFtZSIsInZhbHVlIl0~")
	f.Add("a.b.c~")
	f.Add("~~~")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := decodeCredential(s)
		if err != nil {
			return
		}
		if d.Iss == "" || d.VCT == "" {
			t.Fatalf("decoded without iss or vct: %+v", d)
		}
		for _, k := range registered {
			if _, ok := d.Claims[k]; ok {
				t.Fatalf("the registered claim %s among the citizen's", k)
			}
		}
	})
}

// FuzzDeviceKey: a phone's key is a public P-256 JWK or refused.
func FuzzDeviceKey(f *testing.F) {
	f.Add([]byte(`{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`))
	f.Add([]byte(`{"kty":"EC","crv":"P-256","x":"AA","y":"AA","d":"AA"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if checkDeviceKey(b) != nil {
			return
		}
		var k map[string]any
		if json.Unmarshal(b, &k) != nil || k["kty"] != "EC" || k["crv"] != "P-256" || k["d"] != nil && k["d"] != "" {
			t.Fatalf("accepted %s", b)
		}
	})
}

// FuzzReadCallback: whatever the app hands over as the browser's return
// (a URL, or code and state apart), the callback is read or refused with
// ErrCallback, never a panic; a URL taken is on the redirect URI and
// names no other authorization server.
func FuzzReadCallback(f *testing.F) {
	const redirect, iss = "es.cedula.wallet:/oauth/callback", "https://as.example"
	f.Add(redirect+"?code=c&state=s&iss=https%3A%2F%2Fas.example", "", true)
	f.Add("http://127.0.0.1:53682/callback?error=access_denied&state=s", "", false)
	f.Add(redirect+"?code=c&iss=https%3A%2F%2Fevil.example", "", false)
	f.Add("%zz", "code", true)
	f.Add("", "code", false)
	f.Fuzz(func(t *testing.T, u, code string, issParam bool) {
		st := &authorizing{RedirectURI: redirect, AS: &ASMetadata{Issuer: iss, IssParameter: issParam}}
		cb := Callback{URL: u, Code: code}
		err := readCallback(&cb, st)
		if err != nil {
			if !errors.Is(err, ErrCallback) {
				t.Fatalf("%q: %v, want ErrCallback", u, err)
			}
			return
		}
		if u == "" {
			if cb.Code != code {
				t.Fatalf("code apart: %q became %q", code, cb.Code)
			}
			return
		}
		p, perr := url.Parse(u)
		if perr != nil || p.Scheme != "es.cedula.wallet" || p.Host != "" || p.Path != "/oauth/callback" || p.Opaque != "" {
			t.Fatalf("%q taken as the redirect URI %s", u, redirect)
		}
		if got := p.Query().Get("iss"); (got != "" || issParam) && got != iss {
			t.Fatalf("%q taken with iss %q", u, got)
		}
	})
}

// noNetwork refuses every request: fuzzed requests are read, never
// followed.
type noNetwork struct{}

func (noNetwork) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("no network in a fuzz test")
}

// FuzzResolveRequest: a scanned presentation request — its link, the
// request object by value (unsigned for redirect_uri, signed for
// x509_san_dns) — is read and checked, or refused with ErrRequest or
// ErrUnsupported, never a panic; a request taken names the client_id of
// its link and where the answer goes.
func FuzzResolveRequest(f *testing.F) {
	unsigned := func(payload string) string {
		return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"oauth-authz-req+jwt"}`)) + "." +
			base64.RawURLEncoding.EncodeToString([]byte(payload)) + "."
	}
	const ok = `{"client_id":"redirect_uri:https://v.example/cb","response_type":"vp_token","response_mode":"direct_post",` +
		`"response_uri":"https://v.example/cb","nonce":"n","dcql_query":{"credentials":[{"id":"pid","format":"dc+sd-jwt","claims":[{"path":["given_name"]}]}]}}`
	f.Add("openid4vp://?client_id=redirect_uri%3Ahttps%3A%2F%2Fv.example%2Fcb&request=" + url.QueryEscape(unsigned(ok)))
	f.Add("openid4vp://?client_id=redirect_uri%3Ahttps%3A%2F%2Fv.example%2Fcb&response_type=vp_token&response_mode=direct_post" +
		"&response_uri=https%3A%2F%2Fv.example%2Fcb&nonce=n&dcql_query=" + url.QueryEscape(`{"credentials":[{"id":"a","format":"dc+sd-jwt"}]}`))
	f.Add("openid4vp://?client_id=x509_san_dns%3Av.example&request=eyJhbGciOiJFUzI1NiJ9.e30.c2ln")
	f.Add("openid4vp://?client_id=x509_san_dns%3Av.example&request_uri=https%3A%2F%2Fv.example%2Fr&request_uri_method=post")
	f.Add("haip://?client_id=decentralized_identifier%3Adid%3Aexample")
	s := &Service{cfg: Config{HTTP: &http.Client{Transport: noNetwork{}}, Now: time.Now, VerifierRoots: x509.NewCertPool()}}
	f.Fuzz(func(t *testing.T, link string) {
		r, err := s.resolveRequest(t.Context(), link)
		if err != nil {
			if !errors.Is(err, ErrRequest) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("%q: %v, want ErrRequest or ErrUnsupported", link, err)
			}
			return
		}
		u, _ := url.Parse(strings.TrimSpace(link))
		if r.Verifier.ClientID != u.Query().Get("client_id") || r.Verifier.ResponseURI == "" {
			t.Fatalf("%q taken as %+v", link, r.Verifier)
		}
	})
}
