package credential

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestDemoTypes: the demo set loads and each type has what a wallet and
// the issuer need.
func TestDemoTypes(t *testing.T) {
	ts, err := Demo()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, ty := range ts {
		ids = append(ids, ty.ID)
		if len(ty.Policy().Paths) == 0 {
			t.Errorf("%s: nothing selectively disclosable", ty.ID)
		}
	}
	if !slices.Equal(ids, []string{"pid", "residence", "business-representation"}) {
		t.Errorf("demo types %v", ids)
	}
	pid := ts[0]
	for lang, want := range map[string]string{"es": "Identificación personal", "en": "Person identification", "fr": "Identificación personal"} {
		if got := pid.DisplayIn(lang); got.Name != want || got.Description == "" {
			t.Errorf("DisplayIn(%s): got %q (%q), want %q with a description", lang, got.Name, got.Description, want)
		}
	}
	if got := (Type{ID: "bare"}).DisplayIn("en"); got.Name != "bare" {
		t.Errorf("DisplayIn of a type without display: got %q, want its ID", got.Name)
	}
	for _, claim := range []string{"given_name", "family_name", "birthdate", "age_over_18", "age_over_65", "age_in_years",
		"nationalities", "place_of_birth", "address", "personal_administrative_number", "issuing_authority", "issuing_country"} {
		if !slices.ContainsFunc(pid.Claims, func(c Claim) bool { return len(c.Path) == 1 && c.Path[0] == claim }) {
			t.Errorf("pid lacks the PID rulebook's %s", claim)
		}
	}
	// issuing_authority is never disclosable; nationalities' elements are,
	// one by one.
	p := pid.Policy()
	if slices.ContainsFunc(p.Paths, func(x []string) bool { return x[0] == "issuing_authority" }) {
		t.Error("issuing_authority is in the disclosure policy")
	}
	if !slices.ContainsFunc(p.Paths, func(x []string) bool { return slices.Equal(x, []string{"nationalities", "*"}) }) {
		t.Error("the nationalities' elements are not disclosable one by one")
	}
}

// TestMetadata: the Type Metadata document has the members SD-JWT VC
// defines, both languages, rendering for the colours, and the same bytes
// every time (its integrity is in every credential).
func TestMetadata(t *testing.T) {
	ts, err := Demo()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := ts[0].Metadata()
	if err != nil {
		t.Fatal(err)
	}
	again, _ := ts[0].Metadata()
	if !bytes.Equal(doc, again) || Integrity(doc) != Integrity(again) {
		t.Error("the document's bytes change between calls")
	}
	var m struct {
		VCT     string `json:"vct"`
		Display []struct {
			Locale, Name string
			Rendering    struct {
				Simple struct {
					BackgroundColor string `json:"background_color"`
				} `json:"simple"`
			} `json:"rendering"`
		} `json:"display"`
		Claims []struct {
			Path    []any `json:"path"`
			SD      string
			Display []struct{ Locale, Label string }
		} `json:"claims"`
	}
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	if m.VCT != "/vct/pid/1" || len(m.Display) != 2 || m.Display[0].Locale != "es" || m.Display[1].Locale != "en" ||
		m.Display[0].Rendering.Simple.BackgroundColor != "#12355b" {
		t.Errorf("metadata %s", doc)
	}
	found := false
	for _, c := range m.Claims {
		if len(c.Path) == 2 && c.Path[0] == "nationalities" && c.Path[1] == nil && c.SD == "always" {
			found = true
		}
	}
	if !found {
		t.Errorf("the nationalities' null path is not in the metadata: %s", doc)
	}
}

// TestIntegrity: SRI's sha256 form, checked against a digest computed by
// sha256sum.
func TestIntegrity(t *testing.T) {
	if got, want := Integrity([]byte("{}")), "sha256-RBNvo1WzZ4oRRq0W9+hknpT7T8If536DEMBg9hyq/4o="; got != want {
		t.Errorf("Integrity({}) = %q, want %q", got, want)
	}
}

// TestLoadRefuses: every problem is named, all at once.
func TestLoadRefuses(t *testing.T) {
	_, err := Load([]byte(`
- id: Bad ID
  vct: ""
  lifetime: 1m
  display: [{locale: es, name: X, background_color: red}]
  source: {url: "ftp://x", timeout: 2h, retries: 9}
  claims:
    - {path: [], sd: always}
    - {path: [a, -1]}
    - {path: [_sd]}
    - {path: [b], sd: sometimes}
    - {path: [b]}
- id: ok
  vct: urn:x
  lifetime: 24h
  issuers: [a]
  purpose: p
  categories: [identity]
  display: [{locale: es, name: X}, {locale: en, name: X}]
- id: ok
  vct: urn:x
  lifetime: 24h
  issuers: [a]
  purpose: p
  categories: [identity]
  display: [{locale: es, name: X}, {locale: en, name: X}]
`))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"id \"Bad ID\"", "vct \"\"", "lifetime 1m0s", "issuers", "display name in \"en\"", "#rrggbb",
		"empty path", "negative", "names no claim", "sometimes", "described twice", "another type's", "purpose \"\"", "categories",
		"source url \"ftp://x\"", "source timeout 2h0m0s", "source retries 9"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q:\n%v", want, err)
		}
	}
	if _, err := Load([]byte("- id: x\n  unknown: 1\n")); err == nil {
		t.Error("an unknown field was accepted")
	}
	if ts, err := Load([]byte("- {id: a, vct: urn:a, lifetime: 24h, issuers: [c], purpose: p, categories: [identity], display: [{locale: es, name: A}, {locale: en, name: A}]}")); err != nil ||
		ts[0].Lifetime != 24*time.Hour {
		t.Errorf("a minimal type: %v, %v", ts, err)
	}
}
