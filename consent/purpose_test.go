package consent_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/consent"
)

func validPurpose() consent.Purpose {
	return consent.Purpose{
		ID:            "tax-reminders",
		Name:          consent.Text{ES: "Recordatorios de impuestos", EN: "Tax reminders"},
		Description:   consent.Text{ES: "Avisos antes del vencimiento.", EN: "Reminders before a deadline."},
		Controller:    "dgi-portal",
		LegalBasis:    consent.Consent,
		Categories:    []string{"identity", "contact"},
		Retention:     365 * 24 * time.Hour,
		DPV:           "dpv:ServiceProvision",
		NoticeVersion: "2026-01",
		NoticeURL:     "https://dgi.example.gub.uy/privacidad",
	}
}

func TestPurposeValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(p *consent.Purpose)
		want   []string // fragments of the error; nil for valid
	}{
		{"valid", func(p *consent.Purpose) {}, nil},
		{"public task with profiling", func(p *consent.Purpose) { p.LegalBasis, p.Profiling = consent.PublicTask, true }, nil},
		{"no retention", func(p *consent.Purpose) { p.Retention = 0 }, nil},
		{"http on localhost", func(p *consent.Purpose) { p.NoticeURL = "http://localhost:8080/notice" }, nil},
		{"DPO category CURIE", func(p *consent.Purpose) { p.Categories = []string{"dpv-pd:Contact"} }, nil},
		{"id with uppercase", func(p *consent.Purpose) { p.ID = "Tax" }, []string{"id"}},
		{"id ending in a hyphen", func(p *consent.Purpose) { p.ID = "tax-" }, []string{"id"}},
		{"id too long", func(p *consent.Purpose) { p.ID = strings.Repeat("a", 65) }, []string{"id"}},
		{"negative version", func(p *consent.Purpose) { p.Version = -1 }, []string{"version"}},
		{"no English name", func(p *consent.Purpose) { p.Name.EN = " " }, []string{"name.en is empty"}},
		{"no Spanish description", func(p *consent.Purpose) { p.Description.ES = "" }, []string{"description.es is empty"}},
		{"controller with a space", func(p *consent.Purpose) { p.Controller = "dgi portal" }, []string{"controller"}},
		{"unknown basis", func(p *consent.Purpose) { p.LegalBasis = "public-task" }, []string{"legal basis"}},
		{"no categories", func(p *consent.Purpose) { p.Categories = nil }, []string{"no categories"}},
		{"repeated category", func(p *consent.Purpose) { p.Categories = []string{"a", "b", "a"} }, []string{`"a" is repeated`}},
		{"category with a comma", func(p *consent.Purpose) { p.Categories = []string{"a,b"} }, []string{"category"}},
		{"negative retention", func(p *consent.Purpose) { p.Retention = -time.Hour }, []string{"retention"}},
		{"DPV without prefix", func(p *consent.Purpose) { p.DPV = "ServiceProvision" }, []string{"dpv"}},
		{"DPV of another vocabulary", func(p *consent.Purpose) { p.DPV = "schema:Service" }, []string{"dpv"}},
		{"DPV lowercase", func(p *consent.Purpose) { p.DPV = "dpv:serviceProvision" }, []string{"dpv"}},
		{"no notice version", func(p *consent.Purpose) { p.NoticeVersion = "" }, []string{"notice version"}},
		{"notice over http", func(p *consent.Purpose) { p.NoticeURL = "http://dgi.example.gub.uy/p" }, []string{"notice url"}},
		{"notice URL relative", func(p *consent.Purpose) { p.NoticeURL = "/privacidad" }, []string{"notice url"}},
		{"everything wrong at once", func(p *consent.Purpose) { *p = consent.Purpose{} },
			[]string{"id", "name.es", "name.en", "description.es", "description.en", "controller", "legal basis",
				"no categories", "dpv", "notice version", "notice url"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := validPurpose()
			tc.change(&p)
			err := p.Validate()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate: got %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, consent.ErrInvalid) {
				t.Fatalf("Validate: got %v, want ErrInvalid", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate: got %q, want it to mention %q", err, w)
				}
			}
		})
	}
}

func TestObjectable(t *testing.T) {
	for _, tc := range []struct {
		basis     consent.LegalBasis
		profiling bool
		want      bool
	}{
		{consent.PublicTask, true, true},
		{consent.LegitimateInterest, true, true},
		{consent.PublicTask, false, false},
		{consent.Consent, true, false},
		{consent.LegalObligation, true, false},
		{consent.Contract, true, false},
		{consent.VitalInterest, true, false},
	} {
		p := consent.Purpose{LegalBasis: tc.basis, Profiling: tc.profiling}
		if got := p.Objectable(); got != tc.want {
			t.Errorf("Objectable(%s, profiling %v): got %v, want %v", tc.basis, tc.profiling, got, tc.want)
		}
	}
}

func TestPurposeSame(t *testing.T) {
	a := validPurpose()
	b := validPurpose()
	b.Version, b.Created = 7, time.Now()
	b.Categories = []string{"contact", "identity"}
	if !a.Same(b) {
		t.Errorf("Same with another version, time and category order: got false, want true")
	}
	b.NoticeVersion = "2026-02"
	if a.Same(b) {
		t.Errorf("Same with another notice version: got true, want false")
	}
}
