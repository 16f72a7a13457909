package consent

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// LegalBasis is the GDPR Art. 6(1) ground processing for a purpose rests on.
type LegalBasis string

const (
	Consent            LegalBasis = "consent"             // Art. 6(1)(a)
	Contract           LegalBasis = "contract"            // Art. 6(1)(b)
	LegalObligation    LegalBasis = "legal_obligation"    // Art. 6(1)(c)
	VitalInterest      LegalBasis = "vital_interest"      // Art. 6(1)(d)
	PublicTask         LegalBasis = "public_task"         // Art. 6(1)(e)
	LegitimateInterest LegalBasis = "legitimate_interest" // Art. 6(1)(f)
)

// Valid reports whether b is one of the six bases.
func (b LegalBasis) Valid() bool {
	switch b {
	case Consent, Contract, LegalObligation, VitalInterest, PublicTask, LegitimateInterest:
		return true
	}
	return false
}

// Text is a string in both languages Cedula speaks.
type Text struct {
	ES, EN string
}

// In returns the text in lang ("es" or "en"), Spanish for any other.
func (t Text) In(lang string) string {
	if lang == "en" {
		return t.EN
	}
	return t.ES
}

// Limits on a purpose.
const (
	MaxIDLen          = 64   // bytes in a purpose ID or a data category
	MaxCategories     = 64   // data categories per purpose (audit.MaxCategories)
	MaxNameLen        = 200  // bytes in a name
	MaxDescriptionLen = 4000 // bytes in a description
	MaxControllerLen  = 255  // bytes in a controller (client) ID
	MaxNoticeLen      = 64   // bytes in a notice version
)

// Purpose is one version of an entry of the purpose registry: what an agency
// (the controller) processes which personal data for, and on which legal
// basis. Versions of an ID start at 1; every change is stored as a new
// version and old versions are kept, so a record can always be read
// against the text the citizen saw.
type Purpose struct {
	// ID is a slug: lowercase ASCII letters, digits and inner hyphens, at
	// most MaxIDLen bytes, e.g. "tax-reminders".
	ID string
	// Version is 1 for the first version of ID; 0 for one not yet stored.
	Version     int
	Name        Text
	Description Text
	// Controller is the OIDC client ID of the agency that processes.
	Controller string
	LegalBasis LegalBasis
	// Categories are the personal data categories processed, e.g.
	// "identity", "address": non-empty, distinct, each a token of letters,
	// digits and . _ : - (at most MaxIDLen bytes).
	Categories []string
	// Retention is how long a consent stays in force once given or
	// renewed; 0 means until withdrawn.
	Retention time.Duration
	// DPV is the W3C Data Privacy Vocabulary purpose concept, as a CURIE:
	// "dpv:ServiceProvision", "dpv:PersonalisedBenefits".
	DPV string
	// NoticeVersion names the privacy notice in force; a consent given
	// under another notice no longer counts (see Service.NoticeChanged).
	NoticeVersion string
	// NoticeURL is where the notice is published: https (http only on
	// localhost).
	NoticeURL string
	// Profiling says the purpose involves profiling (GDPR Art. 4(4)); with
	// basis public task or legitimate interest the citizen may object
	// (Art. 21(1)), see Objectable.
	Profiling bool
	// Created is when the store stored this version.
	Created time.Time
}

// Objectable reports whether the citizen may object to the purpose under
// GDPR Art. 21(1): it involves profiling and rests on public task or
// legitimate interest.
func (p Purpose) Objectable() bool {
	return p.Profiling && (p.LegalBasis == PublicTask || p.LegalBasis == LegitimateInterest)
}

// Validate reports every rule p breaks at once, wrapped in ErrInvalid.
func (p Purpose) Validate() error {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if !ValidID(p.ID) {
		bad("id %.80q is not a slug of at most %d bytes (a-z, 0-9, inner hyphens)", p.ID, MaxIDLen)
	}
	if p.Version < 0 {
		bad("version %d is negative", p.Version)
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{
		{"name.es", p.Name.ES, MaxNameLen}, {"name.en", p.Name.EN, MaxNameLen},
		{"description.es", p.Description.ES, MaxDescriptionLen}, {"description.en", p.Description.EN, MaxDescriptionLen},
	} {
		switch {
		case strings.TrimSpace(f.v) == "":
			bad("%s is empty", f.name)
		case !utf8.ValidString(f.v):
			bad("%s is not valid UTF-8", f.name)
		case len(f.v) > f.max:
			bad("%s is %d bytes, at most %d allowed", f.name, len(f.v), f.max)
		}
	}
	if !validToken(p.Controller, MaxControllerLen) {
		bad("controller %.80q is not a client ID (non-empty, printable, no spaces, at most %d bytes)", p.Controller, MaxControllerLen)
	}
	if !p.LegalBasis.Valid() {
		bad("legal basis %.40q is not one of consent, contract, legal_obligation, vital_interest, public_task, legitimate_interest", p.LegalBasis)
	}
	if err := checkCategories(p.Categories); err != nil {
		bad("%v", err)
	}
	if p.Retention < 0 {
		bad("retention %v is negative", p.Retention)
	}
	if !validDPV(p.DPV) {
		bad("dpv %.80q is not a DPV CURIE such as dpv:ServiceProvision", p.DPV)
	}
	if !validToken(p.NoticeVersion, MaxNoticeLen) {
		bad("notice version %.80q is empty, holds spaces or is longer than %d bytes", p.NoticeVersion, MaxNoticeLen)
	}
	if err := checkNoticeURL(p.NoticeURL); err != nil {
		bad("notice url: %v", err)
	}
	if len(problems) > 0 {
		return invalid(fmt.Sprintf("purpose %.80q", p.ID), problems...)
	}
	return nil
}

// Same reports whether p and q say the same thing: every field but Version
// and Created equal, categories compared as sets.
func (p Purpose) Same(q Purpose) bool {
	return p.ID == q.ID && p.Name == q.Name && p.Description == q.Description &&
		p.Controller == q.Controller && p.LegalBasis == q.LegalBasis &&
		slices.Equal(slices.Sorted(slices.Values(p.Categories)), slices.Sorted(slices.Values(q.Categories))) &&
		p.Retention == q.Retention && p.DPV == q.DPV && p.NoticeVersion == q.NoticeVersion &&
		p.NoticeURL == q.NoticeURL && p.Profiling == q.Profiling
}

// Covers reports whether every category of cats is one of p's.
func (p Purpose) Covers(cats []string) bool { return subset(cats, p.Categories) }

// subset reports whether every element of a is in b.
func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// ValidID reports whether id is a purpose ID: a slug of lowercase ASCII
// letters, digits and hyphens, neither starting nor ending with a hyphen,
// at most MaxIDLen bytes.
func ValidID(id string) bool {
	if id == "" || len(id) > MaxIDLen || id[0] == '-' || id[len(id)-1] == '-' {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// ValidCategory reports whether c is a data category: ASCII letters,
// digits and . _ : -, starting with a letter or digit, at most MaxIDLen
// bytes ("identity", "address", "dpv-pd:Contact").
func ValidCategory(c string) bool {
	if c == "" || len(c) > MaxIDLen {
		return false
	}
	for i := 0; i < len(c); i++ {
		b := c[i]
		alnum := b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
		if !alnum && (i == 0 || (b != '.' && b != '_' && b != ':' && b != '-')) {
			return false
		}
	}
	return true
}

func checkCategories(cats []string) error {
	var problems []string
	if len(cats) == 0 {
		problems = append(problems, "no categories")
	}
	if len(cats) > MaxCategories {
		problems = append(problems, fmt.Sprintf("%d categories, at most %d allowed", len(cats), MaxCategories))
	}
	for i, c := range cats {
		if !ValidCategory(c) {
			problems = append(problems, fmt.Sprintf("category %.80q is not a token of letters, digits and . _ : - of at most %d bytes", c, MaxIDLen))
		}
		if slices.Contains(cats[:i], c) {
			problems = append(problems, fmt.Sprintf("category %q is repeated", c))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// validToken: non-empty printable UTF-8 without spaces, at most max bytes.
func validToken(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	ascii := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			ascii = false
			break
		}
	}
	if ascii {
		return true
	}
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// validDPV checks a DPV CURIE: "dpv:" then a concept name of ASCII letters
// and digits starting with an uppercase letter, as DPV names its classes.
func validDPV(s string) bool {
	name, ok := strings.CutPrefix(s, "dpv:")
	if !ok || name == "" || len(s) > 128 || name[0] < 'A' || name[0] > 'Z' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func checkNoticeURL(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	if len(s) > 2048 {
		return fmt.Errorf("%d bytes, at most 2048 allowed", len(s))
	}
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("does not parse")
	}
	local := u.Hostname() == "localhost" || u.Hostname() == "127.0.0.1" || u.Hostname() == "::1"
	switch {
	case u.Host == "":
		return fmt.Errorf("%.80q is not an absolute URL", s)
	case u.Scheme == "https", u.Scheme == "http" && local:
		return nil
	default:
		return fmt.Errorf("%.80q is not https", s)
	}
}
