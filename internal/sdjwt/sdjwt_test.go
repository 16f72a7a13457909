package sdjwt

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/cedula/cedula/internal/testutil"
)

// decode reads JSON as Reconstruct expects it (numbers as json.Number).
func decode(t testing.TB, s string) map[string]any { return testutil.DecodeJSON(t, s) }

// roundTrip sends payload through JSON, as a JWT does.
func roundTrip(t testing.TB, payload map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, string(b))
}

const pid = `{"vct":"urn:eudi:pid:1","given_name":"Ana","family_name":"García","birthdate":"1990-04-01",
	"age_over_18":true,"nationalities":["UY","ES"],
	"address":{"street_address":"Av. 18 de Julio 1234","locality":"Montevideo","country":"UY"}}`

var pidPolicy = Policy{Decoys: 3, Paths: [][]string{{"given_name"}, {"family_name"}, {"birthdate"}, {"age_over_18"},
	{"nationalities", "*"}, {"address"}, {"address", "*"}}}

// TestDiscloseAndReconstruct: every claim comes back when every
// disclosure is sent; the payload shows none of the disclosable values;
// each subset of disclosures reveals exactly its claims.
func TestDiscloseAndReconstruct(t *testing.T) {
	claims := decode(t, pid)
	payload, ds, err := Disclose(claims, pidPolicy)
	if err != nil {
		t.Fatal(err)
	}
	if payload[sdAlgKey] != Alg || payload["vct"] != "urn:eudi:pid:1" {
		t.Errorf("payload: _sd_alg %v, vct %v", payload[sdAlgKey], payload["vct"])
	}
	raw, _ := json.Marshal(payload)
	for _, secret := range []string{"Ana", "García", "1990-04-01", "Montevideo", `"UY"`, "age_over_18", "given_name"} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("the payload shows %s: %s", secret, raw)
		}
	}
	// 4 top-level claims, 2 nationalities, address and its 3 properties.
	if len(ds) != 10 {
		t.Errorf("%d disclosures, want 10", len(ds))
	}
	sent, err := Parse(Serialize("h.p.s", ds, ""))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Reconstruct(roundTrip(t, payload), sent.Disclosures)
	if err != nil {
		t.Fatal(err)
	}
	if want := decode(t, pid); !reflect.DeepEqual(got, want) {
		t.Errorf("all disclosed:\n got %v\nwant %v", got, want)
	}
	// Only the address's locality: address itself must come with it, as
	// the locality's digest is inside the address's disclosed value.
	var some []Disclosure
	for _, d := range sent.Disclosures {
		if d.Name == "address" || d.Name == "locality" {
			some = append(some, d)
		}
	}
	got, err = Reconstruct(roundTrip(t, payload), some)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"vct": "urn:eudi:pid:1", "nationalities": []any{}, "address": map[string]any{"locality": "Montevideo"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("locality only:\n got %v\nwant %v", got, want)
	}
}

// TestSaltsAndDigestsDiffer: two issuances of the same claims share no
// salt and no digest (unlinkable credentials), and salts carry 128 bits.
func TestSaltsAndDigestsDiffer(t *testing.T) {
	seen := map[string]bool{}
	for range 2 {
		_, ds, err := Disclose(decode(t, pid), pidPolicy)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if seen[d.Salt] || seen[d.Digest] {
				t.Fatalf("a salt or digest repeats")
			}
			seen[d.Salt], seen[d.Digest] = true, true
			if b, err := base64.RawURLEncoding.DecodeString(d.Salt); err != nil || len(b) != SaltBytes {
				t.Errorf("salt %q: %d bytes, %v", d.Salt, len(b), err)
			}
		}
	}
}

// TestDigestOfKnownDisclosure: RFC 9901's own example (§4.2.1, §4.2.3):
// the disclosure of family_name "Möbius" with its salt, and its digest.
func TestDigestOfKnownDisclosure(t *testing.T) {
	const enc = "WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsICJmYW1pbHlfbmFtZSIsICJNw7ZiaXVzIl0"
	d, err := decodeDisclosure(enc)
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "family_name" || d.Value != "Möbius" || d.Salt != "_26bc4LT-ac6q2KI6cBW5es" {
		t.Errorf("decoded %+v", d)
	}
	if want := "X9yH0Ajrdm1Oij4tWso9UzzKJvPoDxwmuEcO3XAdRC0"; d.Digest != want {
		t.Errorf("digest %q, want %q", d.Digest, want)
	}
}

// TestReconstructRefuses: the checks of §7.1, each on its own.
func TestReconstructRefuses(t *testing.T) {
	mk := func(arr string) Disclosure {
		d, err := decodeDisclosure(base64.RawURLEncoding.EncodeToString([]byte(arr)))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	name, elem := mk(`["s1","given_name","Ana"]`), mk(`["s2","UY"]`)
	for _, tc := range []struct {
		name    string
		payload string
		ds      []Disclosure
		want    string
	}{
		{"weak hash", `{"_sd_alg":"md5"}`, nil, "_sd_alg"},
		{"unreferenced disclosure", `{"a":1}`, []Disclosure{name}, "not referenced"},
		{"sent twice", `{"_sd":["` + name.Digest + `"]}`, []Disclosure{name, name}, "twice"},
		{"digest twice", `{"_sd":["` + name.Digest + `","` + name.Digest + `"]}`, []Disclosure{name}, "twice"},
		{"digest in two objects", `{"_sd":["` + name.Digest + `"],"x":{"_sd":["` + name.Digest + `"]}}`, []Disclosure{name}, "twice"},
		{"element from an object", `{"_sd":["` + elem.Digest + `"]}`, []Disclosure{elem}, "array element"},
		{"property from an array", `{"n":[{"...":"` + name.Digest + `"}]}`, []Disclosure{name}, "from an array"},
		{"name already there", `{"given_name":"Eve","_sd":["` + name.Digest + `"]}`, []Disclosure{name}, "already"},
		{"_sd not an array", `{"_sd":"x"}`, nil, "not an array"},
		{"digest not a string", `{"_sd":[1]}`, nil, "not a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Reconstruct(decode(t, tc.payload), tc.ds)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

// TestParse: the compact forms with and without a key-binding JWT, and
// disclosures that are no disclosures.
func TestParse(t *testing.T) {
	payload, ds, err := Disclose(decode(t, pid), pidPolicy)
	if err != nil || payload == nil {
		t.Fatal(err)
	}
	s := Serialize("h.p.s", ds[:2], "")
	if !strings.HasSuffix(s, "~") || strings.Count(s, "~") != 3 {
		t.Errorf("serialized %q", s)
	}
	p, err := Parse(s)
	if err != nil || p.JWT != "h.p.s" || p.KB != "" || len(p.Disclosures) != 2 || p.Disclosures[1].Digest != ds[1].Digest {
		t.Errorf("parse %q: %+v, %v", s, p, err)
	}
	withKB := Serialize("h.p.s", ds[:2], "k.b.j")
	if p, err := Parse(withKB); err != nil || p.KB != "k.b.j" {
		t.Errorf("parse with KB: %+v, %v", p, err)
	}
	if SDHash(withKB) != SDHash(s) || SDHash(s) != digest(s) {
		t.Error("sd_hash is not over the presentation up to its last '~'")
	}
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, bad := range []string{"h.p.s", "~", "h.p.s~!!~", "h.p.s~" + enc(`{}`) + "~", "h.p.s~" + enc(`[1,"a","b"]`) + "~",
		"h.p.s~" + enc(`["s","_sd",1]`) + "~", "h.p.s~" + enc(`["s","...",1]`) + "~", "h.p.s~" + enc(`["s"]`) + "~",
		"h.p.s~" + enc(`["s",1,2]`) + "~", "h.p.s~" + enc(`["s","a",1] x`) + "~", "h.p.s~~"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted it", bad)
		}
	}
}

// TestDiscloseRefusesReservedNames: a claim cannot be called _sd or ...,
// nor _sd_alg at the top.
func TestDiscloseRefusesReservedNames(t *testing.T) {
	for _, c := range []string{`{"_sd":1}`, `{"...":1}`, `{"_sd_alg":"x"}`, `{"a":{"_sd":1}}`} {
		if _, _, err := Disclose(decode(t, c), Policy{Paths: [][]string{{"a"}}}); err == nil {
			t.Errorf("Disclose(%s) accepted a reserved name", c)
		}
	}
}

// FuzzParseReconstruct: no presentation makes Parse or Reconstruct panic,
// and whatever Reconstruct accepts holds no _sd, _sd_alg or "..." left.
func FuzzParseReconstruct(f *testing.F) {
	payload, ds, _ := Disclose(decode(f, pid), pidPolicy)
	b, _ := json.Marshal(payload)
	f.Add(string(b), Serialize("h.p.s", ds, ""))
	f.Add(`{"_sd":["x"],"a":[{"...":"y"}]}`, "h~WyJzIiwiYSIsMV0~")
	f.Fuzz(func(t *testing.T, payloadJSON, presentation string) {
		p, err := Parse(presentation)
		if err != nil {
			return
		}
		dec := json.NewDecoder(strings.NewReader(payloadJSON))
		dec.UseNumber()
		var m map[string]any
		if dec.Decode(&m) != nil {
			return
		}
		out, err := Reconstruct(m, p.Disclosures)
		if err != nil {
			return
		}
		raw, _ := json.Marshal(out)
		if bytes.Contains(raw, []byte(`"_sd"`)) || bytes.Contains(raw, []byte(`"_sd_alg"`)) {
			t.Fatalf("reconstructed claims keep a digest list: %s", raw)
		}
	})
}
