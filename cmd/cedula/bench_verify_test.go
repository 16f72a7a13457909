package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/cedula/cedula/internal/sdjwt"
	"github.com/cedula/cedula/issuer/demo"
	"github.com/cedula/cedula/verifier"
)

// TestBenchVerify: `cedula bench verify` against a real demo server, one
// round, prints what it does, its table and the ratio to V₂; every
// answer counted was verified, as the audit log's entries show.
func TestBenchVerify(t *testing.T) {
	s, base, keyFile := issuerServer(t)
	before := entriesInLog(t, s, verifier.ActionPresent)
	var out strings.Builder
	err := runBench(t.Context(), []string{"verify", "--quiet", "--rounds", "1", "--metrics-url", "none", "--url", base,
		"--client-id", demo.MachineID, "--client-key", keyFile, "--citizens", "2", "--concurrency", "4",
		"--duration", "1s", "--warmup", "200ms", "--v2-duration", "100ms", "--min-ratio", "0"}, &out)
	if err != nil {
		t.Fatalf("bench verify: %v\n%s", err, out.String())
	}
	for _, w := range []string{"verify: 2 citizens registered, a PID issued to each",
		"verify: " + base + ", client demo-machine, purpose demo-residence-check, PID [address], 2 holders, concurrency 4",
		"probe: ", " for the first round", "answers: ", " ready for the round", "reference V₂: ", "reference V₂ = ", "median verify/median V₂ over 1 rounds = "} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output:\n%s\nwant it to contain %q", out.String(), w)
		}
	}
	ok := 0
	for _, line := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[0] == "verify" && f[1] == "4" {
			ok, _ = strconv.Atoi(f[3])
		}
	}
	// The first answer, and every one counted, was verified.
	if got := entriesInLog(t, s, verifier.ActionPresent) - before; ok == 0 || got < ok+1 {
		t.Errorf("%d answers counted, %d new %s entries in the log; want some, each in the log", ok, got, verifier.ActionPresent)
	}
}

// TestBenchVerifyRefused: set-ups the bench cannot measure fail before
// the first round, saying why.
func TestBenchVerifyRefused(t *testing.T) {
	s, base, keyFile := issuerServer(t)
	otherKey, jwks := clientKeyFile(t)
	benchClient(t, s, jwks) // admin and consent only
	args := func(extra ...string) []string {
		return append([]string{"verify", "--quiet", "--url", base, "--client-id", demo.MachineID, "--client-key", keyFile,
			"--citizens", "1", "--concurrency", "1", "--duration", "100ms", "--warmup", "0s"}, extra...)
	}
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no flags", []string{"verify"}, "--url, --client-id and --client-key are required"},
		{"no rounds", args("--rounds", "0"), "--rounds 0"},
		{"no verification scope", args("--client-id", "bench", "--client-key", otherKey), "invalid_scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			if err := runBench(t.Context(), tc.args, &out); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("got error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// disclosure encodes the disclosure of a property and its digest.
func disclosure(t *testing.T, salt, name string, value any) (enc, digest string) {
	t.Helper()
	b, err := json.Marshal([]any{salt, name, value})
	if err != nil {
		t.Fatal(err)
	}
	enc = base64.RawURLEncoding.EncodeToString(b)
	h := sha256.Sum256([]byte(enc))
	return enc, base64.RawURLEncoding.EncodeToString(h[:])
}

// TestDiscloseClaim: a claim is disclosed whole — its own disclosure and
// its members', nested — and nothing of other claims, even members of
// the same name.
func TestDiscloseClaim(t *testing.T) {
	street, streetD := disclosure(t, "s1", "street_address", "Calle Mayor 12")
	town, townD := disclosure(t, "s2", "locality", "Villaverde")
	code, codeD := disclosure(t, "s3", "code", "28041")
	postal, postalD := disclosure(t, "s4", "postal", map[string]any{"_sd": []string{codeD}})
	address, _ := disclosure(t, "s5", "address", map[string]any{"_sd": []string{streetD, townD, postalD, "a-decoy-digest"}})
	birthTown, birthTownD := disclosure(t, "s6", "locality", "Montealto")
	birth, _ := disclosure(t, "s7", "place_of_birth", map[string]any{"_sd": []string{birthTownD}})
	name, _ := disclosure(t, "s8", "given_name", "Ana")
	p, err := sdjwt.Parse("eyJhbGciOiJFUzI1NiJ9.e30.c2ln~" + strings.Join([]string{name, birth, birthTown, street, address, postal, town, code}, "~") + "~")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		claim string
		want  []string
	}{
		{"address", []string{address, street, town, postal, code}},
		{"given_name", []string{name}},
		{"place_of_birth", []string{birth, birthTown}},
		{"locality", nil}, // only members have that name
		{"nationalities", nil},
	}
	for _, tc := range tests {
		t.Run(tc.claim, func(t *testing.T) {
			var got []string
			for _, d := range discloseClaim(p.Disclosures, tc.claim) {
				got = append(got, d.Encoded)
			}
			if strings.Join(got, "~") != strings.Join(tc.want, "~") {
				t.Errorf("got %d disclosures %v, want %d %v", len(got), got, len(tc.want), tc.want)
			}
		})
	}
}

// compact makes an unsigned compact JWS of claims, as far as
// readRequestObject looks.
func compact(t *testing.T, claims map[string]any) []byte {
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return []byte("eyJhbGciOiJFUzI1NiJ9." + base64.RawURLEncoding.EncodeToString(b) + ".c2ln")
}

func TestReadRequestObject(t *testing.T) {
	good := map[string]any{"client_id": "x509_san_dns:localhost", "nonce": "n-1", "state": "s-1",
		"response_uri": "http://localhost/vp/responses/r1", "response_mode": "direct_post"}
	without := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range good {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name    string
		obj     []byte
		wantErr string
	}{
		{"good", compact(t, good), ""},
		{"no nonce, no state", compact(t, without("nonce", nil)), "no nonce"},
		{"direct_post.jwt", compact(t, without("response_mode", "direct_post.jwt")), `response_mode "direct_post.jwt", want direct_post`},
		{"not a JWT", []byte("nope"), "request object:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ro, err := readRequestObject(tc.obj)
			if tc.wantErr == "" {
				want := verifyRequestObject{ClientID: "x509_san_dns:localhost", Nonce: "n-1", State: "s-1",
					ResponseURI: "http://localhost/vp/responses/r1", ResponseMode: "direct_post"}
				if err != nil || ro != want {
					t.Errorf("got %+v, %v; want %+v", ro, err, want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("got error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
