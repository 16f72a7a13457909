package consent_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/cedula/cedula/consent"
)

// FuzzParseRegistry: any registry file either parses into purposes that
// each validate, with distinct IDs, or gives ErrInvalid; never a panic.
func FuzzParseRegistry(f *testing.F) {
	f.Add([]byte(`- id: tax-reminders
  name: {es: Recordatorios, en: Reminders}
  description: {es: "d", en: "d"}
  controller: dgi-portal
  legal_basis: consent
  categories: [identity, contact]
  retention: 365d
  dpv: dpv:ServiceProvision
  notice_version: "2026-01"
  notice_url: https://dgi.example.gub.uy/privacidad
  profiling: false
`))
	f.Add([]byte("- id: x\n  retention: 99999999999999999999d\n"))
	f.Add([]byte("[]"))
	f.Add([]byte("- &a [*a, *a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, err := consent.ParseRegistry(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, consent.ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, p := range ps {
			if err := p.Validate(); err != nil {
				t.Fatalf("parsed purpose %q does not validate: %v", p.ID, err)
			}
			if seen[p.ID] {
				t.Fatalf("purpose %q twice", p.ID)
			}
			seen[p.ID] = true
		}
	})
}

// FuzzParseRef: a record reference parses only into what prints back as
// itself.
func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"r1#1", "#1", "r#0", "r#-1", "r#99999999999999999999", "a#b#3", "r#+1", "r#01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := consent.ParseRef(s)
		if err != nil {
			return
		}
		if r.IsZero() || r.Seq < 1 {
			t.Fatalf("ParseRef(%q) = %+v", s, r)
		}
		again, err := consent.ParseRef(r.String())
		if err != nil || again != r {
			t.Fatalf("ParseRef(%q) = %+v, which prints as %q and parses as %+v, %v", s, r, r.String(), again, err)
		}
	})
}
