package sdjwtvc

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/statuslist"
	"github.com/cedula/cedula/issuer/credential"
)

func TestVerifyValid(t *testing.T) {
	f := newFixture(t)
	cred := f.issue(nil)
	// Leave family_name undisclosed.
	var kept []string
	for _, d := range disclosures(cred) {
		if arr := decodeDisclosure(t, d); len(arr) == 3 && arr[1] == "family_name" {
			continue
		}
		kept = append(kept, d)
	}
	jwt, _, _ := strings.Cut(cred, "~")
	pres := f.present(jwt+"~"+strings.Join(kept, "~")+"~", nil, nil)

	c, err := f.resolver().Verify(context.Background(), pres, f.options())
	if err != nil {
		t.Fatalf("Verify: got %v, want nil", err)
	}
	want := map[string]any{"given_name": "Ana", "issuing_country": "UY",
		"address": map[string]any{"locality": "Montevideo", "country": "UY"}}
	if !reflect.DeepEqual(c.Claims, want) {
		t.Errorf("Claims: got %v, want %v", c.Claims, want)
	}
	jkt, _ := jose.Thumbprint(f.holder.jwk(t))
	iat := start.Truncate(time.Hour)
	for _, check := range []struct {
		name      string
		got, want any
	}{
		{"Issuer", c.Issuer, f.is.iss},
		{"VCT", c.VCT, f.is.vct()},
		{"IssuedAt", c.IssuedAt, iat},
		{"ExpiresAt", c.ExpiresAt, iat.Add(24 * time.Hour)},
		{"NotBefore", c.NotBefore, time.Time{}},
		{"HolderJKT", c.HolderJKT, jkt},
		{"Status.Index", c.Status != nil && c.Status.Index == idxValid && c.Status.URI == f.is.listURI(), true},
		{"StatusValue", c.StatusValue, uint8(0)},
		{"StatusCheckedAt", c.StatusCheckedAt, start},
	} {
		if !reflect.DeepEqual(check.got, check.want) {
			t.Errorf("%s: got %v, want %v", check.name, check.got, check.want)
		}
	}
}

func TestVerifyRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		// pres makes the presentation; setup (optional) changes the
		// issuer or the options before.
		pres func(f *fixture) string
		opts func(f *fixture, o *Options)
		want Reason
	}{
		{"not an SD-JWT", func(f *fixture) string { return "eyJhbGciOiJFUzI1NiJ9.e30.c2ln" }, nil, ReasonMalformed},
		{"empty", func(f *fixture) string { return "" }, nil, ReasonMalformed},
		{"tampered disclosure", func(f *fixture) string {
			cred := f.issue(nil)
			ds := disclosures(cred)
			arr := decodeDisclosure(t, ds[0])
			arr[len(arr)-1] = "Mallory"
			b, _ := json.Marshal(arr)
			return f.present(strings.Replace(cred, ds[0], base64.RawURLEncoding.EncodeToString(b), 1), nil, nil)
		}, nil, ReasonDisclosure},
		{"disclosure not referenced", func(f *fixture) string {
			return f.present(f.issue(nil)+disclosure(t, "c2FsdHNhbHQ", "role", "admin")+"~", nil, nil)
		}, nil, ReasonDisclosure},
		{"duplicated disclosure", func(f *fixture) string {
			cred := f.issue(nil)
			return f.present(cred+disclosures(cred)[0]+"~", nil, nil)
		}, nil, ReasonDisclosure},
		{"disclosure not base64url", func(f *fixture) string {
			return f.present(f.issue(nil)+"!!~", nil, nil)
		}, nil, ReasonDisclosure},
		{"registered claim disclosed", func(f *fixture) string {
			cred := f.issue(nil)
			d := disclosure(t, "c2FsdHNhbHQ", "exp", start.Add(100*24*time.Hour).Unix())
			cred = f.resign(cred, f.key, nil, func(p map[string]any) {
				delete(p, "exp")
				p["_sd"] = append(p["_sd"].([]any), digestOf(d))
			})
			return f.present(cred+d+"~", nil, nil)
		}, nil, ReasonDisclosure},
		{"bad issuer signature", func(f *fixture) string {
			impostor := newTestKey(t, f.key.id) // the issuer's kid, another key
			return f.present(f.resign(f.issue(nil), impostor, nil, nil), nil, nil)
		}, nil, ReasonSignature},
		{"unknown kid", func(f *fixture) string {
			return f.present(f.resign(f.issue(nil), f.stranger, nil, nil), nil, nil)
		}, nil, ReasonSignature},
		{"alg none", func(f *fixture) string {
			return f.present(forge(f.issue(nil), `{"alg":"none","typ":"dc+sd-jwt","kid":"issuer-1"}`, func(string) []byte { return nil }), nil, nil)
		}, nil, ReasonSignature},
		{"alg HS256 keyed with the public key", func(f *fixture) string {
			return f.present(forge(f.issue(nil), `{"alg":"HS256","typ":"dc+sd-jwt","kid":"issuer-1"}`, func(input string) []byte {
				m := hmac.New(sha256.New, f.key.jwk(t))
				m.Write([]byte(input))
				return m.Sum(nil)
			}), nil, nil)
		}, nil, ReasonSignature},
		{"wrong typ", func(f *fixture) string {
			return f.present(f.resign(f.issue(nil), f.key, map[string]any{"typ": "JWT"}, nil), nil, nil)
		}, nil, ReasonMalformed},
		{"no typ", func(f *fixture) string {
			return f.present(f.resign(f.issue(nil), f.key, map[string]any{}, nil), nil, nil)
		}, nil, ReasonMalformed},
		{"iss not a string", func(f *fixture) string {
			return f.present(f.resign(f.issue(nil), f.key, nil, func(p map[string]any) { p["iss"] = 7 }), nil, nil)
		}, nil, ReasonMalformed},
		{"untrusted issuer", func(f *fixture) string { return f.present(f.issue(nil), nil, nil) },
			func(f *fixture, o *Options) {
				o.Trusted = func(iss, vct string) bool { return iss == "https://other.example" }
			},
			ReasonUntrustedIssuer},
		{"untrusted vct for the issuer", func(f *fixture) string { return f.present(f.issue(nil), nil, nil) },
			func(f *fixture, o *Options) {
				o.Trusted = func(iss, vct string) bool { return iss == f.is.iss && vct == "https://other.example/vct/residence" }
			}, ReasonUntrustedIssuer},
		{"no trust list", func(f *fixture) string { return f.present(f.issue(nil), nil, nil) },
			func(f *fixture, o *Options) { o.Trusted = nil }, ReasonUntrustedIssuer},
		{"expired", func(f *fixture) string {
			return f.present(f.issue(func(r *credential.Request) { r.Now = start.Add(-48 * time.Hour) }), nil, nil)
		}, nil, ReasonExpired},
		{"nbf in the future", func(f *fixture) string {
			return f.present(f.resign(f.issue(nil), f.key, nil, func(p map[string]any) { p["nbf"] = start.Add(time.Hour).Unix() }), nil, nil)
		}, nil, ReasonNotYetValid},
		{"iat in the future", func(f *fixture) string {
			return f.present(f.resign(f.issue(nil), f.key, nil, func(p map[string]any) { p["iat"] = start.Add(time.Hour).Unix() }), nil, nil)
		}, nil, ReasonNotYetValid},
		{"exp not a number", func(f *fixture) string {
			return f.present(f.resign(f.issue(nil), f.key, nil, func(p map[string]any) { p["exp"] = "tomorrow" }), nil, nil)
		}, nil, ReasonMalformed},
		{"no cnf", func(f *fixture) string {
			return f.present(f.resign(f.issue(nil), f.key, nil, func(p map[string]any) { delete(p, "cnf") }), nil, nil)
		}, nil, ReasonKeyBinding},
		{"KB missing", func(f *fixture) string { return f.issue(nil) }, nil, ReasonKeyBinding},
		{"KB signed by another key", func(f *fixture) string { return f.present(f.issue(nil), f.stranger, nil) }, nil, ReasonKeyBinding},
		{"KB wrong typ", func(f *fixture) string {
			return f.present(f.issue(nil), nil, func(hdr, _ map[string]any) { hdr["typ"] = "JWT" })
		}, nil, ReasonKeyBinding},
		{"wrong sd_hash", func(f *fixture) string {
			return f.present(f.issue(nil), nil, func(_, c map[string]any) { c["sd_hash"] = sdHash(f.issue(nil)) })
		}, nil, ReasonKeyBinding},
		{"sd_hash over fewer disclosures", func(f *fixture) string {
			cred := f.issue(nil)
			kb := f.present(cred, nil, nil)[len(cred):]
			ds := disclosures(cred)
			return strings.Replace(cred, ds[0]+"~", "", 1) + kb
		}, nil, ReasonKeyBinding},
		{"wrong nonce", func(f *fixture) string {
			return f.present(f.issue(nil), nil, func(_, c map[string]any) { c["nonce"] = "another" })
		}, nil, ReasonNonce},
		{"wrong aud", func(f *fixture) string {
			return f.present(f.issue(nil), nil, func(_, c map[string]any) { c["aud"] = "x509_san_dns:evil.example" })
		}, nil, ReasonAudience},
		{"stale iat", func(f *fixture) string {
			return f.present(f.issue(nil), nil, func(_, c map[string]any) { c["iat"] = start.Add(-7 * time.Minute).Unix() })
		}, nil, ReasonStale},
		{"KB iat in the future", func(f *fixture) string {
			return f.present(f.issue(nil), nil, func(_, c map[string]any) { c["iat"] = start.Add(3 * time.Minute).Unix() })
		}, nil, ReasonStale},
		{"revoked", func(f *fixture) string {
			return f.present(f.issue(func(r *credential.Request) { r.Status.Index = idxRevoked }), nil, nil)
		}, nil, ReasonRevoked},
		{"suspended", func(f *fixture) string {
			return f.present(f.issue(func(r *credential.Request) { r.Status.Index = idxSuspended }), nil, nil)
		}, nil, ReasonSuspended},
		{"status index outside the list", func(f *fixture) string {
			return f.present(f.issue(func(r *credential.Request) { r.Status.Index = 5000 }), nil, nil)
		}, nil, ReasonStatusUnavailable},
		{"status list signed by another key", func(f *fixture) string {
			f.is.set(func(is *testIssuer) { is.listKey = newTestKey(t, f.key.id) })
			return f.present(f.issue(nil), nil, nil)
		}, nil, ReasonStatusUnavailable},
		{"status list with another sub", func(f *fixture) string {
			f.is.set(func(is *testIssuer) { is.listSub = is.srv.URL + "/lists/2" })
			return f.present(f.issue(nil), nil, nil)
		}, nil, ReasonStatusUnavailable},
		{"status list expired", func(f *fixture) string {
			f.is.set(func(is *testIssuer) { is.listExp = -time.Second })
			return f.present(f.issue(nil), nil, nil)
		}, nil, ReasonStatusUnavailable},
		{"status list unreachable", func(f *fixture) string {
			f.is.set(func(is *testIssuer) { is.listDown = true })
			return f.present(f.issue(nil), nil, nil)
		}, nil, ReasonStatusUnavailable},
		{"type metadata with wrong integrity", func(f *fixture) string {
			return f.present(f.issue(func(r *credential.Request) { r.Integrity = credential.Integrity([]byte("another document")) }), nil, nil)
		}, func(f *fixture, o *Options) { o.CheckTypeMetadata = true }, ReasonTypeMetadata},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			o := f.options()
			if tc.opts != nil {
				tc.opts(f, &o)
			}
			pres := tc.pres(f)
			c, err := f.resolver().Verify(context.Background(), pres, o)
			var fl *Failure
			if !errors.As(err, &fl) {
				t.Fatalf("Verify: got (%v, %v), want a Failure %s", c, err, tc.want)
			}
			if fl.Reason != tc.want {
				t.Errorf("Reason: got %s (%v), want %s", fl.Reason, err, tc.want)
			}
			if strings.Contains(fl.Detail, "Ana") || strings.Contains(fl.Detail, "Montevideo") {
				t.Errorf("Detail %q shows a claim's value", fl.Detail)
			}
			if tc.want == ReasonUntrustedIssuer {
				if n := f.is.keyHits.Load() + f.is.listHits.Load() + f.is.typeHits.Load(); n != 0 {
					t.Errorf("requests to the untrusted issuer: got %d, want 0", n)
				}
			}
		})
	}
}

func TestVerifyOptionsRequired(t *testing.T) {
	f := newFixture(t)
	pres := f.present(f.issue(nil), nil, nil)
	for _, o := range []Options{{Nonce: "n"}, {Audience: "a"}} {
		o.Trusted = f.options().Trusted
		_, err := f.resolver().Verify(context.Background(), pres, o)
		var fl *Failure
		if err == nil || errors.As(err, &fl) {
			t.Errorf("Verify with Audience %q, Nonce %q: got %v, want a non-Failure error", o.Audience, o.Nonce, err)
		}
	}
}

func TestVerifyTypeMetadata(t *testing.T) {
	f := newFixture(t)
	r := f.resolver()
	o := f.options()
	o.CheckTypeMetadata = true
	for i := range 2 {
		if _, err := r.Verify(context.Background(), f.present(f.issue(nil), nil, nil), o); err != nil {
			t.Fatalf("Verify %d: got %v, want nil", i, err)
		}
	}
	if n := f.is.typeHits.Load(); n != 1 {
		t.Errorf("type metadata fetches: got %d, want 1", n)
	}
	md, err := r.TypeMetadata(context.Background(), f.is.vct(), "")
	if err != nil || md.VCT != f.is.vct() || md.Name != "Person identification" || string(md.Raw) != string(f.is.meta) {
		t.Errorf("TypeMetadata: got (%+v, %v), want the document of %s", md, err, f.is.vct())
	}
	// The document served for another vct is refused.
	f.is.set(func(is *testIssuer) { is.meta = []byte(`{"vct":"https://other.example/vct"}`) })
	r2 := f.resolver()
	if _, err := r2.TypeMetadata(context.Background(), f.is.vct(), ""); !isReason(err, ReasonTypeMetadata) {
		t.Errorf("TypeMetadata of a document for another vct: got %v, want %s", err, ReasonTypeMetadata)
	}
}

func TestVerifyCaches(t *testing.T) {
	f := newFixture(t)
	r := f.resolver()
	ctx := context.Background()
	verify := func() error {
		_, err := r.Verify(ctx, f.present(f.issue(nil), nil, nil), f.options())
		return err
	}
	hits := func(what string, keys, lists int64) {
		t.Helper()
		if k, l := f.is.keyHits.Load(), f.is.listHits.Load(); k != keys || l != lists {
			t.Errorf("%s: key fetches %d, status list fetches %d; want %d, %d", what, k, l, keys, lists)
		}
	}
	for i := range 2 {
		if err := verify(); err != nil {
			t.Fatalf("Verify %d: got %v, want nil", i, err)
		}
	}
	hits("two verifications", 1, 1)

	// The list's ttl is 60s: within it, a list the issuer can no longer
	// serve stands; past it, the credential fails.
	f.is.set(func(is *testIssuer) { is.listDown = true })
	f.clock.Add(50 * time.Second)
	if err := verify(); err != nil {
		t.Fatalf("Verify within the list's ttl, the list unreachable: got %v, want nil", err)
	}
	hits("within ttl", 1, 1)
	f.clock.Add(20 * time.Second)
	if err := verify(); !isReason(err, ReasonStatusUnavailable) {
		t.Fatalf("Verify past the list's ttl, the list unreachable: got %v, want %s", err, ReasonStatusUnavailable)
	}
	hits("past ttl", 1, 2)

	// A status change shows once the cached list is past its ttl.
	f.is.set(func(is *testIssuer) { is.listDown = false; is.statuses[idxValid] = 1 })
	if err := verify(); !isReason(err, ReasonRevoked) {
		t.Fatalf("Verify after revocation: got %v, want %s", err, ReasonRevoked)
	}
	hits("revoked", 1, 3)

	// The keys are fetched again after KeysTTL.
	f.is.set(func(is *testIssuer) { is.statuses[idxValid] = 0 })
	f.clock.Add(DefaultKeysTTL)
	if err := verify(); err != nil {
		t.Fatalf("Verify after KeysTTL: got %v, want nil", err)
	}
	hits("after KeysTTL", 2, 4)
}

func TestStatusTTLBounds(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ttl     int64
		refetch time.Duration // when the list is fetched again
		exp     time.Duration // the list's exp after its iat (0: a day)
	}{
		{"no ttl: the lower bound", 0, DefaultStatusMinTTL, 0},
		{"short ttl: the lower bound", 1, DefaultStatusMinTTL, 0},
		{"ttl within bounds", 600, 10 * time.Minute, 0},
		{"long ttl: the upper bound", 86400, DefaultStatusMaxTTL, 0},
		{"ttl past exp: exp", 3600, 2 * time.Minute, 2 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.is.set(func(is *testIssuer) {
				is.listTTL = tc.ttl
				if tc.exp != 0 {
					is.listExp = tc.exp
				}
			})
			r := f.resolver()
			read := func() {
				t.Helper()
				if _, _, err := r.Status(context.Background(), f.is.iss, refValid(f)); err != nil {
					t.Fatalf("Status: got %v, want nil", err)
				}
			}
			read()
			f.clock.Add(tc.refetch - time.Second)
			read()
			if n := f.is.listHits.Load(); n != 1 {
				t.Errorf("fetches a second before %v: got %d, want 1", tc.refetch, n)
			}
			f.clock.Add(time.Second)
			read()
			if n := f.is.listHits.Load(); n != 2 {
				t.Errorf("fetches at %v: got %d, want 2", tc.refetch, n)
			}
		})
	}
}

func TestKeyRotation(t *testing.T) {
	f := newFixture(t)
	r := f.resolver()
	ctx := context.Background()
	if _, err := r.Verify(ctx, f.present(f.issue(nil), nil, nil), f.options()); err != nil {
		t.Fatalf("Verify with the first key: got %v, want nil", err)
	}
	// The issuer rotates: a new key signs, both are published.
	next := newTestKey(t, "issuer-2")
	f.is.set(func(is *testIssuer) { is.published = []testKey{next, f.key} })
	f.clock.Add(2 * time.Minute) // past KeysRefetch, within KeysTTL
	if _, err := r.Verify(ctx, f.present(f.resign(f.issue(nil), next, nil, nil), nil, nil), f.options()); err != nil {
		t.Fatalf("Verify with the new key: got %v, want nil", err)
	}
	if n := f.is.keyHits.Load(); n != 2 {
		t.Errorf("key fetches after a new kid: got %d, want 2", n)
	}
	// An unknown kid within KeysRefetch of the last fetch does not fetch.
	for range 3 {
		_, err := r.Verify(ctx, f.present(f.resign(f.issue(nil), f.stranger, nil, nil), nil, nil), f.options())
		if !isReason(err, ReasonSignature) {
			t.Fatalf("Verify with an unknown kid: got %v, want %s", err, ReasonSignature)
		}
	}
	if n := f.is.keyHits.Load(); n != 2 {
		t.Errorf("key fetches after unknown kids within a minute: got %d, want 2", n)
	}
	// Both keys verify.
	if _, err := r.Verify(ctx, f.present(f.issue(nil), nil, nil), f.options()); err != nil {
		t.Errorf("Verify with the old key: got %v, want nil", err)
	}
}

func refValid(f *fixture) statuslist.Reference {
	return statuslist.Reference{Index: idxValid, URI: f.is.listURI()}
}

// forge replaces the issuer-signed JWT of cred by one of the same payload
// under header, its signature sign's over the signing input.
func forge(cred, header string, sign func(input string) []byte) string {
	jwt, rest, _ := strings.Cut(cred, "~")
	input := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + strings.Split(jwt, ".")[1]
	return input + "." + base64.RawURLEncoding.EncodeToString(sign(input)) + "~" + rest
}

func isReason(err error, r Reason) bool {
	var f *Failure
	return errors.As(err, &f) && f.Reason == r
}

// TestVerifyConcurrent verifies from several goroutines with one Resolver
// (run with -race).
func TestVerifyConcurrent(t *testing.T) {
	f := newFixture(t)
	r := f.resolver()
	o := f.options()
	o.CheckTypeMetadata = true
	pres := f.present(f.issue(nil), nil, nil)
	errs := make(chan error, 8)
	for range cap(errs) {
		go func() {
			_, err := r.Verify(context.Background(), pres, o)
			errs <- err
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Errorf("Verify: got %v, want nil", err)
		}
	}
}
