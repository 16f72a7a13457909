package consent_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/consent"
)

const registryYAML = `
- id: tax-reminders
  name: {es: Recordatorios de impuestos, en: Tax reminders}
  description:
    es: Avisos antes de cada vencimiento.
    en: Reminders before each deadline.
  controller: dgi-portal
  legal_basis: consent
  categories: [identity, contact]
  retention: 365d
  dpv: dpv:ServiceProvision
  notice_version: "2026-01"
  notice_url: https://dgi.example.gub.uy/privacidad
- id: benefit-eligibility
  name: {es: Elegibilidad de prestaciones, en: Benefit eligibility}
  description: {es: Detecta prestaciones a las que tiene derecho., en: Finds benefits you are entitled to.}
  controller: bps-portal
  legal_basis: public_task
  categories: [identity, income, household]
  dpv: dpv:PersonalisedBenefits
  notice_version: v3
  notice_url: https://bps.example.gub.uy/aviso
  profiling: true
`

func TestParseRegistry(t *testing.T) {
	ps, err := consent.ParseRegistry(strings.NewReader(registryYAML))
	if err != nil {
		t.Fatalf("ParseRegistry: %v", err)
	}
	if len(ps) != 2 {
		t.Fatalf("ParseRegistry: got %d purposes, want 2", len(ps))
	}
	tax, ben := ps[0], ps[1]
	if tax.ID != "tax-reminders" || tax.Name.EN != "Tax reminders" || tax.Description.ES != "Avisos antes de cada vencimiento." {
		t.Errorf("first purpose: got %q %q %q", tax.ID, tax.Name.EN, tax.Description.ES)
	}
	if tax.Retention != 365*24*time.Hour {
		t.Errorf("retention: got %v, want 8760h", tax.Retention)
	}
	if tax.Version != 0 {
		t.Errorf("version: got %d, want 0 (the store numbers versions)", tax.Version)
	}
	if ben.LegalBasis != consent.PublicTask || !ben.Profiling || !ben.Objectable() || ben.Retention != 0 {
		t.Errorf("second purpose: got basis %s, profiling %v, retention %v", ben.LegalBasis, ben.Profiling, ben.Retention)
	}
	if got := strings.Join(ben.Categories, ","); got != "identity,income,household" {
		t.Errorf("categories: got %s, want identity,income,household", got)
	}
}

func TestParseRegistryRejects(t *testing.T) {
	one := func(extra string) string {
		return `- id: a
  name: {es: A, en: A}
  description: {es: A, en: A}
  controller: c
  legal_basis: consent
  categories: [x]
  dpv: dpv:ServiceProvision
  notice_version: "1"
  notice_url: https://example.gub.uy/n
` + extra
	}
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"unknown field", one("  purpose_code: x\n"), []string{"purpose_code"}},
		{"unknown language", strings.Replace(one(""), "{es: A, en: A}", "{es: A, en: A, pt: A}", 1), []string{"pt"}},
		{"bad retention", one("  retention: a year\n"), []string{"retention"}},
		{"negative retention", one("  retention: -5d\n"), []string{"retention"}},
		{"duplicate id", one("") + strings.TrimPrefix(one(""), ""), []string{"id already used by purpose 1"}},
		{"not a list", "id: a\n", []string{"registry"}},
		{"empty document", "", []string{"empty document"}},
		{"every problem at once",
			"- id: Bad\n  name: {es: A}\n  description: {es: A, en: A}\n  controller: c\n  legal_basis: maybe\n  categories: []\n  dpv: ServiceProvision\n  notice_version: \"1\"\n  notice_url: ftp://x\n",
			[]string{"id", "name.en", "legal basis", "no categories", "dpv", "notice url"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := consent.ParseRegistry(strings.NewReader(tc.yaml))
			if !errors.Is(err, consent.ErrInvalid) {
				t.Fatalf("ParseRegistry: got %v, want ErrInvalid", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("ParseRegistry: got %q, want it to mention %q", err, w)
				}
			}
		})
	}
	if ps, err := consent.ParseRegistry(strings.NewReader("[]")); err != nil || len(ps) != 0 {
		t.Errorf("ParseRegistry([]): got %d purposes, %v; want none, nil", len(ps), err)
	}
}

func TestParseRetention(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, true}, {"0", 0, true}, {"30d", 30 * 24 * time.Hour, true}, {"720h", 720 * time.Hour, true},
		{"90m", 90 * time.Minute, true}, {"-1h", 0, false}, {"1y", 0, false}, {"d", 0, false}, {"99999d", 0, false},
	} {
		got, err := consent.ParseRetention(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseRetention(%q): got %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
