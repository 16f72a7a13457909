package jose

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"

	gojose "github.com/go-jose/go-jose/v4"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/cedula/cedula/internal/keys"
)

// testKey is a keys.Key over an in-memory private key, so these tests need
// no keystore.
type testKey struct {
	id   string
	alg  keys.Alg
	priv crypto.Signer
}

func (k testKey) ID() string               { return k.id }
func (k testKey) Alg() keys.Alg            { return k.alg }
func (k testKey) Public() crypto.PublicKey { return k.priv.Public() }
func (k testKey) Sign(_ context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return k.priv.Sign(rand.Reader, digest, opts) // ECDSA: DER; RSA: PKCS #1 v1.5
}

var (
	keyCache   = map[keys.Alg][]testKey{}
	keyCacheMu sync.Mutex
)

// newKey returns the i-th test key for alg (cached: RSA generation is slow).
func newKey(t testing.TB, alg keys.Alg, i int) testKey {
	t.Helper()
	keyCacheMu.Lock()
	defer keyCacheMu.Unlock()
	for len(keyCache[alg]) <= i {
		var priv crypto.Signer
		var err error
		switch alg {
		case keys.ES256:
			priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		case keys.EdDSA:
			_, priv, err = ed25519.GenerateKey(rand.Reader)
		case keys.RS256:
			priv, err = rsa.GenerateKey(rand.Reader, 2048)
		}
		if err != nil {
			t.Fatal(err)
		}
		n := len(keyCache[alg])
		keyCache[alg] = append(keyCache[alg], testKey{id: strings.ToLower(string(alg)) + "-" + string(rune('a'+n)), alg: alg, priv: priv})
	}
	return keyCache[alg][i]
}

func publicOf(ks ...testKey) []keys.PublicKey {
	var out []keys.PublicKey
	for _, k := range ks {
		out = append(out, keys.PublicKey{ID: k.id, Alg: k.alg, Key: k.Public()})
	}
	return out
}

func jwksOf(t testing.TB, ks ...testKey) []byte {
	t.Helper()
	b, err := JWKS(publicOf(ks...)...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var algs = []keys.Alg{keys.ES256, keys.EdDSA, keys.RS256}

func TestSignVerifyRoundTrip(t *testing.T) {
	ctx := context.Background()
	for _, alg := range algs {
		t.Run(string(alg), func(t *testing.T) {
			k := newKey(t, alg, 0)
			claims := map[string]any{"iss": "https://cedula.test", "sub": "citizen-1", "n": 7}
			tok, err := SignJSON(ctx, k, claims, map[string]any{"typ": "dc+sd-jwt"})
			if err != nil {
				t.Fatalf("SignJSON: %v", err)
			}
			if n := strings.Count(tok, "."); n != 2 {
				t.Fatalf("token has %d dots, want 2 (compact serialisation)", n)
			}
			payload, err := Verify([]byte(tok), jwksOf(t, k, newKey(t, alg, 1)), alg)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			var got map[string]any
			if err := json.Unmarshal(payload, &got); err != nil {
				t.Fatal(err)
			}
			if got["sub"] != "citizen-1" || got["n"] != float64(7) {
				t.Errorf("payload: got %v, want %v", got, claims)
			}
			hdr, err := Header([]byte(tok))
			if err != nil {
				t.Fatalf("Header: %v", err)
			}
			for name, want := range map[string]string{"alg": string(alg), "kid": k.id, "typ": "dc+sd-jwt"} {
				if got := hdr[name]; got != want {
					t.Errorf("header %q: got %v, want %q", name, got, want)
				}
			}
		})
	}
}

// b64 is base64url without padding (RFC 7515 §2).
func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestVerifyRejects(t *testing.T) {
	ctx := context.Background()
	es, es2, ed, rs := newKey(t, keys.ES256, 0), newKey(t, keys.ES256, 1), newKey(t, keys.EdDSA, 0), newKey(t, keys.RS256, 0)
	jwks := jwksOf(t, es, ed, rs)
	payload := []byte(`{"sub":"citizen-1"}`)
	sign := func(k keys.Key, hdr map[string]any) string {
		tok, err := Sign(ctx, k, payload, hdr)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	good := sign(es, nil)
	parts := strings.Split(good, ".")
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sig[len(sig)/2] ^= 1
	// Ed25519 signature over the ES256 header: right key bytes, wrong alg.
	edParts := strings.Split(sign(ed, nil), ".")

	// An HS256 token keyed with the public JWKS bytes: the classic
	// algorithm-confusion forgery.
	hmacTok, err := jws.Sign(payload, jws.WithKey(jwa.HS256, jwks, jws.WithProtectedHeaders(func() jws.Headers {
		h := jws.NewHeaders()
		h.Set(jws.KeyIDKey, es.id)
		return h
	}())))
	if err != nil {
		t.Fatal(err)
	}
	// The ES256 key's kid, but the header claims RS256, signed by the RSA key.
	confused := func() string {
		hdr := b64(`{"alg":"RS256","kid":"` + es.id + `"}`)
		h := sha256Sum(hdr + "." + parts[1])
		s, err := rs.Sign(ctx, h, crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		return hdr + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(s)
	}()

	// The ES256 key published with another "alg", or for encryption.
	relabel := func(field, value string) []byte {
		var set map[string][]map[string]any
		if err := json.Unmarshal(jwksOf(t, es), &set); err != nil {
			t.Fatal(err)
		}
		set["keys"][0][field] = value
		b, _ := json.Marshal(set)
		return b
	}

	tests := []struct {
		name    string
		tok     string
		allowed []keys.Alg
		jwks    []byte // nil: the ES256, EdDSA and RS256 keys
	}{
		{"key published for another alg", good, nil, relabel("alg", "RS256")},
		{"key published for encryption", good, nil, relabel("use", "enc")},
		{"tampered payload", parts[0] + "." + b64(`{"sub":"citizen-2"}`) + "." + parts[2], nil, nil},
		{"tampered signature", parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig), nil, nil},
		{"signature removed", parts[0] + "." + parts[1] + ".", nil, nil},
		{"alg not allowed", good, []keys.Alg{keys.RS256, keys.EdDSA}, nil},
		{"alg none", b64(`{"alg":"none","kid":"`+es.id+`"}`) + "." + parts[1] + ".", nil, nil},
		{"alg none, even if asked for", b64(`{"alg":"none","kid":"`+es.id+`"}`) + "." + parts[1] + ".", []keys.Alg{"none"}, nil},
		{"HS256 with the JWKS as secret", string(hmacTok), []keys.Alg{"HS256", keys.ES256}, nil},
		{"header alg differs from key alg", confused, nil, nil},
		{"signature of another alg", parts[0] + "." + parts[1] + "." + edParts[2], nil, nil},
		{"unknown kid", sign(es2, nil), nil, nil},
		{"no kid", b64(`{"alg":"ES256"}`) + "." + parts[1] + "." + parts[2], nil, nil},
		{"crit header", sign(es, map[string]any{"crit": []string{"exp"}, "exp": 1}), nil, nil},
		{"JSON serialisation", `{"protected":"` + parts[0] + `","payload":"` + parts[1] + `","signature":"` + parts[2] + `"}`, nil, nil},
		{"two parts", parts[0] + "." + parts[1], nil, nil},
		{"four parts", good + ".x", nil, nil},
		{"empty", "", nil, nil},
		{"garbage", "not a token", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := jwks
			if tc.jwks != nil {
				set = tc.jwks
			}
			got, err := Verify([]byte(tc.tok), set, tc.allowed...)
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Verify: got payload %q, error %v; want ErrInvalid", got, err)
			}
		})
	}
	// The checks must not reject the good token, or they prove nothing.
	if _, err := Verify([]byte(good), jwks); err != nil {
		t.Errorf("Verify of the untampered token: %v", err)
	}
	if _, err := Verify([]byte(good), relabel("alg", "ES256")); err != nil {
		t.Errorf("Verify with the relabelling helper left as is: %v", err)
	}
}

func sha256Sum(s string) []byte {
	h := crypto.SHA256.New()
	h.Write([]byte(s))
	return h.Sum(nil)
}

func TestVerifyBadKeySet(t *testing.T) {
	tok, err := Sign(context.Background(), newKey(t, keys.EdDSA, 0), []byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, jwks := range []string{"", "{", `{"keys":[{"kty":"nope"}]}`} {
		if _, err := Verify([]byte(tok), []byte(jwks)); err == nil {
			t.Errorf("Verify with key set %q: got nil error", jwks)
		}
	}
}

func TestJWKS(t *testing.T) {
	ks := []testKey{newKey(t, keys.ES256, 0), newKey(t, keys.EdDSA, 0), newKey(t, keys.RS256, 0)}
	b := jwksOf(t, ks...)
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != len(ks) {
		t.Fatalf("JWKS: got %d keys, want %d", len(set.Keys), len(ks))
	}
	wantKty := map[keys.Alg]string{keys.ES256: "EC", keys.EdDSA: "OKP", keys.RS256: "RSA"}
	for i, k := range ks {
		got := set.Keys[i]
		if got["kid"] != k.id || got["alg"] != string(k.alg) || got["use"] != "sig" || got["kty"] != wantKty[k.alg] {
			t.Errorf("key %d: got kid %v alg %v use %v kty %v; want %s %s sig %s", i, got["kid"], got["alg"], got["use"], got["kty"], k.id, k.alg, wantKty[k.alg])
		}
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if _, ok := got[private]; ok {
				t.Errorf("key %d publishes private member %q", i, private)
			}
		}
	}
}

func TestOpaqueSigner(t *testing.T) {
	ctx := context.Background()
	payload := []byte(`{"iss":"https://cedula.test","aud":"agency"}`)
	for _, alg := range algs {
		t.Run(string(alg), func(t *testing.T) {
			k := newKey(t, alg, 0)
			// As zitadel/oidc's op.SignerFromKey builds its signer.
			signer, err := gojose.NewSigner(gojose.SigningKey{
				Algorithm: gojose.SignatureAlgorithm(alg),
				Key:       &gojose.JSONWebKey{Key: OpaqueSigner(ctx, k), KeyID: k.id},
			}, (&gojose.SignerOptions{}).WithType("JWT"))
			if err != nil {
				t.Fatalf("go-jose NewSigner: %v", err)
			}
			obj, err := signer.Sign(payload)
			if err != nil {
				t.Fatalf("go-jose Sign: %v", err)
			}
			tok, err := obj.CompactSerialize()
			if err != nil {
				t.Fatal(err)
			}

			// go-jose's own verification.
			parsed, err := gojose.ParseSigned(tok, []gojose.SignatureAlgorithm{gojose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatalf("go-jose ParseSigned: %v", err)
			}
			if got := parsed.Signatures[0].Header.KeyID; got != k.id {
				t.Errorf("kid: got %q, want %q", got, k.id)
			}
			got, err := parsed.Verify(k.Public())
			if err != nil {
				t.Fatalf("go-jose Verify: %v", err)
			}
			if !bytes.Equal(got, payload) {
				t.Errorf("payload: got %s, want %s", got, payload)
			}
			// And ours (jwx), through the published key set.
			if _, err := Verify([]byte(tok), jwksOf(t, k), alg); err != nil {
				t.Errorf("jose.Verify of a go-jose token: %v", err)
			}
			if alg == keys.ES256 {
				sig, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[2])
				if len(sig) != 64 {
					t.Errorf("ES256 signature: got %d bytes, want 64 (R || S)", len(sig))
				}
			}
			// The JWK go-jose publishes is the public key.
			pub := OpaqueSigner(ctx, k).Public()
			if pub.KeyID != k.id || pub.Algorithm != string(alg) || !pub.IsPublic() {
				t.Errorf("Public(): got kid %q alg %q public %v; want %q %q true", pub.KeyID, pub.Algorithm, pub.IsPublic(), k.id, alg)
			}
		})
	}
	// The opaque signer refuses an algorithm its key does not have.
	if _, err := OpaqueSigner(ctx, newKey(t, keys.ES256, 0)).SignPayload(payload, gojose.RS256); !errors.Is(err, keys.ErrUnsupportedAlg) {
		t.Errorf("SignPayload(RS256) with an ES256 key: got %v, want ErrUnsupportedAlg", err)
	}
	if _, err := gojose.NewSigner(gojose.SigningKey{Algorithm: gojose.ES384, Key: OpaqueSigner(ctx, newKey(t, keys.ES256, 0))}, nil); err == nil {
		t.Errorf("go-jose accepted an ES256 opaque signer for ES384")
	}
}

func TestECDSADERToJWS(t *testing.T) {
	der := func(r, s *big.Int) []byte {
		b, err := asn1.Marshal(struct{ R, S *big.Int }{r, s})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	max := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	tests := []struct {
		name string
		in   []byte
		want []byte // nil: error
	}{
		{"small values padded", der(big.NewInt(1), big.NewInt(2)), append(append(make([]byte, 31), 1), append(make([]byte, 31), 2)...)},
		{"full width", der(max, max), bytes.Repeat([]byte{0xff}, 64)},
		{"too wide", der(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1)), nil},
		{"zero", der(big.NewInt(0), big.NewInt(1)), nil},
		{"negative", der(big.NewInt(-1), big.NewInt(1)), nil},
		{"trailing bytes", append(der(big.NewInt(1), big.NewInt(2)), 0), nil},
		{"not DER", []byte{1, 2, 3}, nil},
		{"raw 64 bytes", bytes.Repeat([]byte{1}, 64), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ecdsaDERToJWS(tc.in, 32)
			if tc.want == nil {
				if err == nil {
					t.Errorf("got %x, want an error", got)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tc.want) {
				t.Errorf("got %x, %v; want %x", got, err, tc.want)
			}
		})
	}
}

// FuzzVerify feeds arbitrary bytes to Verify and Header: they must never
// panic, and Verify may only succeed on a token one of the keys signed,
// whose payload is therefore the one signed below.
func FuzzVerify(f *testing.F) {
	ctx := context.Background()
	ks := []testKey{newKey(f, keys.ES256, 0), newKey(f, keys.EdDSA, 0), newKey(f, keys.RS256, 0)}
	jwks := jwksOf(f, ks...)
	payload := []byte(`{"sub":"fuzz"}`)
	for _, k := range ks {
		tok, err := Sign(ctx, k, payload, map[string]any{"typ": "JWT"})
		if err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(tok))
		p := strings.Split(tok, ".")
		f.Add([]byte(p[0] + "." + p[1] + "."))
		f.Add([]byte(p[0] + ".." + p[2]))
	}
	f.Add([]byte(b64(`{"alg":"none"}`) + "." + b64("x") + "."))
	f.Add([]byte(b64(`{"alg":"ES256","kid":"es256-a","crit":["b64"],"b64":false}`) + ".x.y"))
	f.Add([]byte(`{"payload":"eA","signatures":[]}`))
	f.Add([]byte("..."))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = Header(data)
		got, err := Verify(data, jwks)
		if err == nil && !bytes.Equal(got, payload) {
			t.Fatalf("Verify accepted %q with payload %q, which no key signed", data, got)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("Verify error %v does not match ErrInvalid", err)
		}
	})
}
