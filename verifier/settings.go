package verifier

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Settings are what the verifier is configured with (YAML): the purposes
// agencies may ask for presentations under, each with the credentials and
// claims it registers, and the issuers trusted for each credential type.
type Settings struct {
	Purposes []Purpose `yaml:"purposes"`
	Trust    []Trusted `yaml:"trust"`
	// TrustFramework names, in the verified_claims the OIDC bridge gives
	// (OpenID Connect for Identity Assurance 1.0), the rules credentials
	// are checked under: a URI of a domain the operator controls (§12:
	// the specification defines no identifiers). Default: the server's
	// URL + /verification/trust-framework.
	TrustFramework string `yaml:"trust_framework,omitempty"`
}

// Purpose registers what a consent-ledger purpose may ask a citizen to
// present: a request under it may ask only for these credential types and,
// of each, only for these claims (or parts of them).
type Purpose struct {
	// ID is the ledger's purpose ID; the purpose's controller is the only
	// agency that may ask under it.
	ID          string       `yaml:"id"`
	Credentials []Registered `yaml:"credentials"`
}

// Registered is one credential type a purpose may ask for.
type Registered struct {
	// VCT is the type; one starting with "/" is on this server's URL.
	VCT string `yaml:"vct"`
	// Claims are claims path pointers (OpenID4VP §7): a request may ask
	// for a claim a registered path selects, or a part of it.
	Claims [][]any `yaml:"claims"`
	// Categories are the personal data categories the claims are, which
	// the ledger decides on; none means the purpose's own.
	Categories []string `yaml:"categories,omitempty"`
}

// Trusted is an issuer trusted for some credential types.
type Trusted struct {
	// Issuer is the issuer identifier (the credentials' iss); "self" is
	// this server's own issuer.
	Issuer string `yaml:"issuer"`
	// VCTs are the types it is trusted to issue ("/…" on this server's
	// URL, as in Registered).
	VCTs []string `yaml:"vcts"`
}

//go:embed demo.yaml
var demoYAML []byte

// DemoSettings are the demo's (serve --demo): the demo back end may check
// identity and residence, and this server's own issuer is trusted for the
// demo's types.
func DemoSettings() (Settings, error) { return LoadSettings(demoYAML) }

// LoadSettings reads settings from YAML and checks them, reporting every
// problem at once.
func LoadSettings(data []byte) (Settings, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var s Settings
	if err := dec.Decode(&s); err != nil {
		return Settings{}, fmt.Errorf("verifier settings: %w", err)
	}
	if err := s.check(); err != nil {
		return Settings{}, fmt.Errorf("verifier settings: %w", err)
	}
	return s, nil
}

// Merge returns s with other's purposes and trust added; a purpose both
// register keeps s's registration.
func (s Settings) Merge(other Settings) Settings {
	out := Settings{Purposes: slices.Clone(s.Purposes), Trust: slices.Concat(s.Trust, other.Trust), TrustFramework: s.TrustFramework}
	if out.TrustFramework == "" {
		out.TrustFramework = other.TrustFramework
	}
	for _, p := range other.Purposes {
		if !slices.ContainsFunc(out.Purposes, func(q Purpose) bool { return q.ID == p.ID }) {
			out.Purposes = append(out.Purposes, p)
		}
	}
	return out
}

var slug = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$`)

func (s Settings) check() error {
	var problems []error
	add := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }
	seen := map[string]bool{}
	for i, p := range s.Purposes {
		if !slug.MatchString(p.ID) {
			add("purpose %d: id %q is not a purpose ID", i+1, p.ID)
		}
		if seen[p.ID] {
			add("purpose %s: registered twice", p.ID)
		}
		seen[p.ID] = true
		if len(p.Credentials) == 0 {
			add("purpose %s: registers no credential", p.ID)
		}
		for _, r := range p.Credentials {
			if !validVCT(r.VCT) {
				add("purpose %s: vct %q is not a URI or a path", p.ID, r.VCT)
			}
			for _, path := range r.Claims {
				if err := checkPath(path); err != nil {
					add("purpose %s: %s: claim %v: %v", p.ID, r.VCT, path, err)
				}
			}
		}
	}
	for i, t := range s.Trust {
		if t.Issuer != "self" && !strings.HasPrefix(t.Issuer, "https://") && !strings.HasPrefix(t.Issuer, "http://") {
			add("trust %d: issuer %q is not an http(s) URL or self", i+1, t.Issuer)
		}
		if len(t.VCTs) == 0 {
			add("trust %d (%s): no vcts", i+1, t.Issuer)
		}
		for _, v := range t.VCTs {
			if !validVCT(v) {
				add("trust %d (%s): vct %q is not a URI or a path", i+1, t.Issuer, v)
			}
		}
	}
	return errors.Join(problems...)
}

func validVCT(v string) bool {
	return v != "" && len(v) <= 2048 && !strings.ContainsAny(v, " \t\r\n")
}

// checkPath checks a claims path pointer: non-empty, of strings,
// non-negative integers and nulls.
func checkPath(p []any) error {
	if len(p) == 0 {
		return errors.New("an empty path")
	}
	for _, step := range p {
		switch v := step.(type) {
		case string, nil:
		case int:
			if v < 0 {
				return errors.New("a negative index")
			}
		default:
			return fmt.Errorf("step %v is not a string, an index or null", step)
		}
	}
	return nil
}

// resolve makes "/…" VCTs and "self" absolute on base.
func (s Settings) resolve(base string) Settings {
	abs := func(v string) string {
		if strings.HasPrefix(v, "/") {
			return strings.TrimSuffix(base, "/") + v
		}
		return v
	}
	out := Settings{TrustFramework: s.TrustFramework}
	if out.TrustFramework == "" {
		out.TrustFramework = strings.TrimSuffix(base, "/") + "/verification/trust-framework"
	}
	for _, p := range s.Purposes {
		q := Purpose{ID: p.ID}
		for _, r := range p.Credentials {
			r.VCT = abs(r.VCT)
			q.Credentials = append(q.Credentials, r)
		}
		out.Purposes = append(out.Purposes, q)
	}
	for _, t := range s.Trust {
		if t.Issuer == "self" {
			t.Issuer = base
		}
		vcts := make([]string, len(t.VCTs))
		for i, v := range t.VCTs {
			vcts[i] = abs(v)
		}
		out.Trust = append(out.Trust, Trusted{Issuer: t.Issuer, VCTs: vcts})
	}
	return out
}

// covers reports whether a registered claims path lets a request ask for
// asked: registered is a prefix of asked, step by step, a null registered
// step standing for any element.
func covers(registered, asked []any) bool {
	if len(asked) < len(registered) {
		return false
	}
	for i, r := range registered {
		a := asked[i]
		switch rv := r.(type) {
		case nil:
			if _, isStr := a.(string); isStr {
				return false
			}
		case string:
			if av, ok := a.(string); !ok || av != rv {
				return false
			}
		default:
			ri, _ := index(r)
			ai, ok := index(a)
			if !ok || ai != ri {
				return false
			}
		}
	}
	return true
}

// index reads an array index from a path step (YAML gives int, JSON
// float64).
func index(step any) (int, bool) {
	switch v := step.(type) {
	case int:
		return v, v >= 0
	case float64:
		return int(v), v >= 0 && v == float64(int(v))
	}
	return 0, false
}
