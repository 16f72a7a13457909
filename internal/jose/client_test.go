package jose

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/cedula/cedula/internal/keys"
)

func TestClientKeyRoundTrip(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for _, alg := range []keys.Alg{keys.ES256, keys.EdDSA, keys.RS256} {
		t.Run(string(alg), func(t *testing.T) {
			k, err := NewClientKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			priv, err := k.PrivateJWK()
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := ParseClientKey(priv)
			if err != nil {
				t.Fatalf("ParseClientKey: %v", err)
			}
			if parsed.ID() != k.ID() || parsed.Alg() != alg {
				t.Errorf("parsed kid %q alg %s, want %q %s", parsed.ID(), parsed.Alg(), k.ID(), alg)
			}
			jwks, err := k.PublicJWKS()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(jwks), `"d"`) {
				t.Errorf("PublicJWKS %s, want no private part", jwks)
			}
			compact, err := parsed.SignAssertion(ClientAssertion{ClientID: "agency-1", Audience: []string{"https://id.example/token"}, IssuedAt: now, Expiry: now.Add(time.Minute)})
			if err != nil {
				t.Fatal(err)
			}
			payload, err := Verify([]byte(compact), jwks, alg)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			var c map[string]any
			if err := json.Unmarshal(payload, &c); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"iss": "agency-1", "sub": "agency-1", "aud": "https://id.example/token", "iat": float64(now.Unix()), "exp": float64(now.Unix() + 60)}
			for name, v := range want {
				if c[name] != v {
					t.Errorf("claim %s = %v, want %v", name, c[name], v)
				}
			}
			if jti, _ := c["jti"].(string); len(jti) < 16 {
				t.Errorf("jti = %q, want a random value", jti)
			}
		})
	}
}

func TestSignAssertionAudienceAndJTI(t *testing.T) {
	k, err := NewClientKey(keys.ES256)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := k.PublicJWKS()
	now := time.Now()
	tests := []struct {
		name    string
		a       ClientAssertion
		wantAud string
		wantJTI string
		wantErr bool
	}{
		{name: "two audiences", a: ClientAssertion{ClientID: "c", Audience: []string{"https://id.example", "https://id.example/token"}, ID: "j1", IssuedAt: now, Expiry: now.Add(time.Minute)},
			wantAud: `["https://id.example","https://id.example/token"]`, wantJTI: "j1"},
		{name: "no audience", a: ClientAssertion{ClientID: "c", IssuedAt: now, Expiry: now.Add(time.Minute)}, wantErr: true},
		{name: "no client", a: ClientAssertion{Audience: []string{"a"}, IssuedAt: now, Expiry: now.Add(time.Minute)}, wantErr: true},
		{name: "expired before issued", a: ClientAssertion{ClientID: "c", Audience: []string{"a"}, IssuedAt: now, Expiry: now}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			compact, err := k.SignAssertion(tc.a)
			if tc.wantErr {
				if err == nil {
					t.Errorf("got no error, want one")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			payload, err := Verify([]byte(compact), jwks)
			if err != nil {
				t.Fatal(err)
			}
			var c struct {
				Aud json.RawMessage
				Jti string
			}
			_ = json.Unmarshal(payload, &c)
			if string(c.Aud) != tc.wantAud || c.Jti != tc.wantJTI {
				t.Errorf("got aud %s jti %q, want %s %q", c.Aud, c.Jti, tc.wantAud, tc.wantJTI)
			}
		})
	}
}

func TestParseClientKeyRejects(t *testing.T) {
	jwkOf := func(raw any, set map[string]any) string {
		k, err := jwk.FromRaw(raw)
		if err != nil {
			t.Fatal(err)
		}
		for name, v := range set {
			_ = k.Set(name, v)
		}
		b, _ := json.Marshal(k)
		return string(b)
	}
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	tests := []struct {
		name, jwk, want string
	}{
		{"not JSON", "hello", "not a usable"},
		{"public key only", jwkOf(&p256.PublicKey, nil), "no private part"},
		{"P-384", jwkOf(p384, nil), "P-256"},
		{"short RSA", jwkOf(rsa1024, nil), "2048"},
		{"alg mismatch", jwkOf(p256, map[string]any{"alg": "RS256"}), `"alg" "RS256"`},
		{"two keys", `{"keys":[` + jwkOf(p256, nil) + `,` + jwkOf(p256, nil) + `]}`, "want one key, got 2"},
		{"symmetric", `{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}`, "not a usable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseClientKey([]byte(tc.jwk))
			if !errors.Is(err, ErrBadClientKey) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %v, want ErrBadClientKey containing %q", err, tc.want)
			}
		})
	}
}

func TestParseClientKeyDefaults(t *testing.T) {
	// A bare EC JWK without kid or alg: ES256, kid = RFC 7638 thumbprint.
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k, _ := jwk.FromRaw(priv)
	b, _ := json.Marshal(k)
	ck, err := ParseClientKey(b)
	if err != nil {
		t.Fatal(err)
	}
	tp, _ := k.Thumbprint(crypto.SHA256)
	if got, want := ck.ID(), base64.RawURLEncoding.EncodeToString(tp); got != want {
		t.Errorf("kid = %q, want thumbprint %q", got, want)
	}
	if got, want := ck.Alg(), keys.ES256; got != want {
		t.Errorf("alg = %s, want %s", got, want)
	}
	// A one-key set works too.
	if _, err := ParseClientKey([]byte(`{"keys":[` + string(b) + `]}`)); err != nil {
		t.Errorf("one-key JWK Set: got error %v, want none", err)
	}
}

func TestPublicJWK(t *testing.T) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	b, err := PublicJWK(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	if m["kty"] != "EC" || m["crv"] != "P-256" || m["d"] != nil {
		t.Errorf("PublicJWK = %s, want a public EC P-256 JWK", b)
	}
	if _, err := PublicJWK(priv); err == nil {
		t.Errorf("PublicJWK(private key): got no error, want one")
	}
}
