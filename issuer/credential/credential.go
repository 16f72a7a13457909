// Package credential holds the credential types the issuer issues as
// SD-JWT VCs: loaded from configuration (YAML), each with its vct, its
// display in Spanish and English, its claims (which are selectively
// disclosable, which mandatory), its lifetime and the agency clients that
// may issue it; and the SD-JWT VC Type Metadata document served at its
// vct, whose integrity the credentials carry (vct#integrity).
package credential

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cedula/cedula/internal/sdjwt"
)

// Type is one credential type.
type Type struct {
	// ID is the type's credential_configuration_id (OpenID4VCI).
	ID  string `yaml:"id"`
	VCT string `yaml:"vct"`
	// Lifetime is how long a credential of the type is valid.
	Lifetime time.Duration `yaml:"lifetime"`
	// Issuers are the agency clients that may issue it.
	Issuers []string `yaml:"issuers"`
	// Purpose is the consent ledger purpose (of each issuing agency) that
	// reading the citizen's attributes for the type rests on, and
	// Categories the personal data categories the type holds: every
	// issuance is a ledger decision on them.
	Purpose    string   `yaml:"purpose"`
	Categories []string `yaml:"categories"`
	// Approval makes issuance deferred: an agency officer approves or
	// rejects each request (OpenID4VCI deferred issuance).
	Approval bool `yaml:"approval,omitempty"`
	// Source is the agency back end the claims come from; none means the
	// embedded demo registry.
	Source  *Source   `yaml:"source,omitempty"`
	Display []Display `yaml:"display"`
	Claims  []Claim   `yaml:"claims"`
}

// Source is an agency back end that answers a type's claims over HTTP.
type Source struct {
	URL string `yaml:"url"`
	// Timeout bounds each call (default 3s); Retries is how many more
	// times a failed call is tried (default 2).
	Timeout time.Duration `yaml:"timeout,omitempty"`
	Retries *int          `yaml:"retries,omitempty"`
}

// Display is how a wallet shows the type in one language (SD-JWT VC
// "Display Metadata", rendering method "simple").
type Display struct {
	Locale          string `yaml:"locale" json:"locale"`
	Name            string `yaml:"name" json:"name"`
	Description     string `yaml:"description,omitempty" json:"description,omitempty"`
	LogoURI         string `yaml:"logo_uri,omitempty" json:"-"`
	LogoAlt         string `yaml:"logo_alt,omitempty" json:"-"`
	BackgroundColor string `yaml:"background_color,omitempty" json:"-"`
	TextColor       string `yaml:"text_color,omitempty" json:"-"`
}

// Claim is one claim's metadata (SD-JWT VC "Claim Metadata").
type Claim struct {
	// Path selects the claim: strings for keys, null for every element of
	// an array, non-negative integers for one element.
	Path      []any          `yaml:"path" json:"path"`
	Display   []ClaimDisplay `yaml:"display,omitempty" json:"display,omitempty"`
	Mandatory bool           `yaml:"mandatory,omitempty" json:"mandatory,omitempty"`
	// SD is always, allowed or never; Cedula's types say always or never.
	SD string `yaml:"sd,omitempty" json:"sd,omitempty"`
}

// ClaimDisplay is a claim's label in one language.
type ClaimDisplay struct {
	Locale      string `yaml:"locale" json:"locale"`
	Label       string `yaml:"label" json:"label"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
}

// Languages are the languages every type is shown in.
var Languages = []string{"es", "en"}

// DisplayIn is the type's display in lang, or in the first of Languages
// it has when lang is not one of them (a loaded type has both).
func (t Type) DisplayIn(lang string) Display {
	for _, l := range append([]string{lang}, Languages...) {
		if i := slices.IndexFunc(t.Display, func(d Display) bool { return d.Locale == l }); i >= 0 {
			return t.Display[i]
		}
	}
	if len(t.Display) > 0 {
		return t.Display[0]
	}
	return Display{Locale: lang, Name: t.ID}
}

//go:embed demo.yaml
var demoYAML []byte

// Demo returns the demo's types (serve --demo): person identification
// data, a residence certificate and a business representation.
func Demo() ([]Type, error) { return Load(demoYAML) }

// Load reads types from YAML (a list of types) and checks them, reporting
// every problem at once.
func Load(data []byte) ([]Type, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var ts []Type
	if err := dec.Decode(&ts); err != nil {
		return nil, fmt.Errorf("credential types: %w", err)
	}
	var problems []error
	ids, vcts := map[string]bool{}, map[string]bool{}
	for i, t := range ts {
		for _, err := range t.check() {
			problems = append(problems, fmt.Errorf("type %d (%s): %w", i+1, t.ID, err))
		}
		if ids[t.ID] || vcts[t.VCT] {
			problems = append(problems, fmt.Errorf("type %d (%s): its id or vct is another type's", i+1, t.ID))
		}
		ids[t.ID], vcts[t.VCT] = true, true
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("credential types: %w", errors.Join(problems...))
	}
	return ts, nil
}

var (
	idPattern    = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	colorPattern = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
)

// check returns what is wrong with t.
func (t Type) check() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !idPattern.MatchString(t.ID) {
		add("id %q: lower-case letters, digits, '.', '_' and '-'", t.ID)
	}
	if t.VCT == "" || strings.ContainsAny(t.VCT, " \t\n") {
		add("vct %q: a URI is required", t.VCT)
	}
	if t.Lifetime < time.Hour {
		add("lifetime %v: at least an hour", t.Lifetime)
	}
	if len(t.Issuers) == 0 {
		add("no agency client may issue it (issuers)")
	}
	if !idPattern.MatchString(t.Purpose) {
		add("purpose %q: the ledger purpose issuance rests on is required", t.Purpose)
	}
	if len(t.Categories) == 0 {
		add("categories: the personal data categories the type holds are required")
	}
	if src := t.Source; src != nil {
		if !strings.HasPrefix(src.URL, "https://") && !strings.HasPrefix(src.URL, "http://") {
			add("source url %q: an http(s) URL is required", src.URL)
		}
		if src.Timeout < 0 || src.Timeout > time.Minute {
			add("source timeout %v: between 0 and a minute", src.Timeout)
		}
		if src.Retries != nil && (*src.Retries < 0 || *src.Retries > 5) {
			add("source retries %d: between 0 and 5", *src.Retries)
		}
	}
	for _, lang := range Languages {
		i := slices.IndexFunc(t.Display, func(d Display) bool { return d.Locale == lang })
		if i < 0 || t.Display[i].Name == "" {
			add("no display name in %q", lang)
		}
	}
	for _, d := range t.Display {
		for _, c := range []string{d.BackgroundColor, d.TextColor} {
			if c != "" && !colorPattern.MatchString(c) {
				add("display %s: colour %q is not #rrggbb", d.Locale, c)
			}
		}
		if d.LogoURI != "" && !strings.HasPrefix(d.LogoURI, "https://") && !strings.HasPrefix(d.LogoURI, "data:") {
			add("display %s: a logo is an https or data: URI", d.Locale)
		}
	}
	seen := map[string]bool{}
	for _, c := range t.Claims {
		key, err := pathKey(c.Path)
		if err != nil {
			add("claim %v: %w", c.Path, err)
			continue
		}
		if seen[key] {
			add("claim %v is described twice", c.Path)
		}
		seen[key] = true
		if c.SD != "always" && c.SD != "never" && c.SD != "allowed" && c.SD != "" {
			add("claim %v: sd %q is not always, allowed or never", c.Path, c.SD)
		}
		for _, d := range c.Display {
			if d.Locale == "" || d.Label == "" {
				add("claim %v: a display without locale or label", c.Path)
			}
		}
	}
	return errs
}

// pathKey checks a claim path and returns a key for it.
func pathKey(path []any) (string, error) {
	if len(path) == 0 {
		return "", errors.New("an empty path")
	}
	parts := make([]string, len(path))
	for i, p := range path {
		switch x := p.(type) {
		case string:
			if x == "" || x == "_sd" || x == "..." || x == "_sd_alg" {
				return "", fmt.Errorf("step %q names no claim", x)
			}
			parts[i] = "s:" + x
		case nil:
			parts[i] = "*"
		case int:
			if x < 0 {
				return "", fmt.Errorf("step %d is negative", x)
			}
			parts[i] = fmt.Sprint("i:", x)
		default:
			return "", fmt.Errorf("step %v is not a string, null or an index", p)
		}
	}
	return strings.Join(parts, "\x00"), nil
}

// Policy is what the issuer makes selectively disclosable: the claims
// whose sd is always. A null step is every element of an array.
// Elements selected by index are not made disclosable one by one (the
// demo's types have none).
func (t Type) Policy() sdjwt.Policy {
	p := sdjwt.Policy{Decoys: 3}
	for _, c := range t.Claims {
		if c.SD != "always" {
			continue
		}
		path := make([]string, 0, len(c.Path))
		ok := true
		for _, step := range c.Path {
			switch x := step.(type) {
			case string:
				path = append(path, x)
			case nil:
				path = append(path, "*")
			default:
				ok = false
			}
		}
		if ok {
			p.Paths = append(p.Paths, path)
		}
	}
	return p
}

// metadata is the Type Metadata document (SD-JWT VC §6).
type metadata struct {
	VCT         string            `json:"vct"`
	Name        string            `json:"name,omitempty"`
	Description string            `json:"description,omitempty"`
	Display     []displayMetadata `json:"display"`
	Claims      []Claim           `json:"claims,omitempty"`
}

type displayMetadata struct {
	Display
	Rendering *rendering `json:"rendering,omitempty"`
}

type rendering struct {
	Simple simpleRendering `json:"simple"`
}

type simpleRendering struct {
	Logo            *logo  `json:"logo,omitempty"`
	BackgroundColor string `json:"background_color,omitempty"`
	TextColor       string `json:"text_color,omitempty"`
}

type logo struct {
	URI     string `json:"uri"`
	AltText string `json:"alt_text,omitempty"`
}

// Metadata returns the type's Type Metadata document, the bytes served at
// its vct and hashed into vct#integrity: the same bytes on every call.
func (t Type) Metadata() ([]byte, error) {
	m := metadata{VCT: t.VCT, Claims: t.Claims}
	for _, d := range t.Display {
		dm := displayMetadata{Display: d}
		if d.LogoURI != "" || d.BackgroundColor != "" || d.TextColor != "" {
			dm.Rendering = &rendering{Simple: simpleRendering{BackgroundColor: d.BackgroundColor, TextColor: d.TextColor}}
			if d.LogoURI != "" {
				dm.Rendering.Simple.Logo = &logo{URI: d.LogoURI, AltText: d.LogoAlt}
			}
		}
		m.Display = append(m.Display, dm)
		if d.Locale == "en" {
			m.Name, m.Description = d.Name, d.Description
		}
	}
	return json.Marshal(m)
}

// Integrity is the integrity metadata of a document (W3C SRI syntax, as
// SD-JWT VC uses it): "sha256-" and the standard base64 of its SHA-256.
func Integrity(doc []byte) string {
	h := sha256.Sum256(doc)
	return "sha256-" + base64.StdEncoding.EncodeToString(h[:])
}
