package message

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"

	"github.com/cedula/cedula/journeys/rules"
)

// Sentinel errors; compare with errors.Is. A refused definition is a
// *rules.InvalidError (errors.Is(err, rules.ErrInvalid)); a placeholder
// outside the catalogue is rules.ErrUnknownAttribute, one outside the
// purpose's categories rules.ErrNotCovered.
var (
	// ErrLink: the template, or a message rendered from it, carries a
	// link. Government messages never do: citizens are told never to
	// follow one.
	ErrLink = errors.New("journeys: messages carry no links")
	// ErrMissingValue: rendering needs an attribute the citizen's values
	// do not hold; no message is sent rather than one with a hole.
	ErrMissingValue = errors.New("journeys: value missing for a placeholder")
)

// Limits on a template.
const (
	MaxSubjectLen = 120  // bytes
	MaxBodyLen    = 2000 // bytes
)

// Template is a message in one language. Placeholders are {{name}} (spaces
// allowed inside the braces), name an attribute of the catalogue; there is
// no other syntax and no escaping. The subject is one line.
type Template struct {
	Subject, Body string
}

// Languages a message must have, in this order.
var Languages = []string{"es", "en"}

// Message is a checked message: its templates parsed once, ready to render.
// Safe for concurrent use.
type Message struct {
	cat   *rules.Catalogue
	parts [2][2][]segment // [language][subject, body]
	reads []int
}

// segment is literal text, or the attribute at index attr when attr >= 0.
type segment struct {
	text string
	attr int
}

// New checks and parses a message for a purpose covering the data
// categories covered; es and en are both required. Every problem is
// reported at once, each naming its language and, where it is one, the
// placeholder.
func New(cat *rules.Catalogue, es, en Template, covered []string) (*Message, error) {
	m := &Message{cat: cat}
	var problems []rules.Problem
	seen := map[int]bool{}
	for li, t := range []Template{es, en} {
		lang := Languages[li]
		for fi, f := range []struct{ name, text string }{{"subject", t.Subject}, {"body", t.Body}} {
			segs, ps := parse(cat, lang, f.name, f.text, covered)
			problems = append(problems, ps...)
			m.parts[li][fi] = segs
			for _, s := range segs {
				if s.attr >= 0 && !seen[s.attr] {
					seen[s.attr] = true
					m.reads = append(m.reads, s.attr)
				}
			}
		}
	}
	if len(problems) > 0 {
		return nil, &rules.InvalidError{What: "message", Problems: problems}
	}
	slices.Sort(m.reads)
	return m, nil
}

// parse checks one field of a template and splits it into segments.
func parse(cat *rules.Catalogue, lang, field, s string, covered []string) ([]segment, []rules.Problem) {
	var ps []rules.Problem
	bad := func(err error, format string, args ...any) {
		ps = append(ps, rules.Problem{Err: err, Language: lang, Msg: field + ": " + fmt.Sprintf(format, args...)})
	}
	max := MaxBodyLen
	if field == "subject" {
		max = MaxSubjectLen
	}
	switch {
	case strings.TrimSpace(s) == "":
		bad(rules.ErrInvalid, "empty")
		return nil, ps
	case len(s) > max:
		bad(rules.ErrInvalid, "longer than %d bytes", max)
		return nil, ps
	case !utf8.ValidString(s):
		bad(rules.ErrInvalid, "not valid UTF-8")
		return nil, ps
	}
	for _, r := range s {
		if r == '\n' && field == "body" {
			continue
		}
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			bad(rules.ErrInvalid, "control or format character %U", r)
			return nil, ps
		}
	}
	var segs []segment
	var probe strings.Builder // s with each placeholder as "x", for links across them
	for rest := s; rest != ""; {
		i := strings.Index(rest, "{{")
		if i < 0 {
			segs = append(segs, segment{text: rest, attr: -1})
			probe.WriteString(rest)
			break
		}
		if i > 0 {
			segs = append(segs, segment{text: rest[:i], attr: -1})
			probe.WriteString(rest[:i])
		}
		j := strings.Index(rest[i:], "}}")
		if j < 0 {
			bad(rules.ErrInvalid, "{{ without }}")
			return nil, ps
		}
		name := strings.TrimSpace(rest[i+2 : i+j])
		rest = rest[i+j+2:]
		probe.WriteString("x")
		if name == "" || len(name) > 64 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
			bad(rules.ErrInvalid, "placeholder {{%.40s}} is not an attribute name", name)
			continue
		}
		if p := cat.Check(name, covered); p != nil {
			p.Language = lang
			if p.Err == rules.ErrUnknownAttribute {
				p.Msg = fmt.Sprintf("missing variable %q: no such attribute", name)
			}
			p.Msg = field + ": " + p.Msg
			ps = append(ps, *p)
			continue
		}
		idx, _ := cat.Index(name)
		segs = append(segs, segment{attr: idx})
	}
	if link := findLink(probe.String()); link != "" {
		bad(ErrLink, "carries a link (%q): messages never do", link)
	}
	return segs, ps
}

// Reads returns the attributes the message's placeholders read, in
// catalogue order: with the rule's, what to ask the consent ledger about.
func (m *Message) Reads() []rules.Attribute {
	all := m.cat.Attributes()
	out := make([]rules.Attribute, len(m.reads))
	for i, j := range m.reads {
		out[i] = all[j]
	}
	return out
}

// Render fills the template in lang ("es" or "en"; Spanish for any other)
// with the citizen's values. It fails with ErrMissingValue naming the
// attribute when v does not hold one, and with ErrLink when the values
// would make a link; it never panics.
func (m *Message) Render(lang string, v *rules.Values) (subject, body string, err error) {
	if v == nil || v.Catalogue() != m.cat {
		return "", "", fmt.Errorf("%w: values missing or of another catalogue", rules.ErrInvalid)
	}
	li := 0
	if lang == "en" {
		li = 1
	}
	var buf []byte
	out := [2]string{}
	for fi, segs := range m.parts[li] {
		buf = buf[:0]
		for _, s := range segs {
			if s.attr < 0 {
				buf = append(buf, s.text...)
				continue
			}
			x := v.Get(s.attr)
			if x == nil {
				return "", "", fmt.Errorf("%w: %s", ErrMissingValue, m.cat.Attributes()[s.attr].Name)
			}
			buf = appendValue(buf, Languages[li], x)
		}
		out[fi] = string(buf)
		if link := findLink(out[fi]); link != "" {
			return "", "", fmt.Errorf("%w: the rendered message would carry one", ErrLink)
		}
	}
	return out[0], out[1], nil
}

var monthsES = [...]string{"", "enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre"}

// appendValue formats x for a reader of lang.
func appendValue(dst []byte, lang string, x ref.Val) []byte {
	switch x := x.(type) {
	case types.String:
		return append(dst, x...)
	case types.Int:
		return strconv.AppendInt(dst, int64(x), 10)
	case types.Double:
		s := strconv.FormatFloat(float64(x), 'f', -1, 64)
		if lang == "es" {
			s = strings.Replace(s, ".", ",", 1)
		}
		return append(dst, s...)
	case types.Bool:
		switch {
		case lang == "es" && bool(x):
			return append(dst, "sí"...)
		case bool(x):
			return append(dst, "yes"...)
		}
		return append(dst, "no"...)
	case types.Timestamp:
		t := x.Time.UTC()
		if lang == "es" {
			return fmt.Appendf(dst, "%d de %s de %d", t.Day(), monthsES[t.Month()], t.Year())
		}
		return t.AppendFormat(dst, "2 January 2006")
	}
	if l, ok := x.Value().([]string); ok {
		return append(dst, strings.Join(l, ", ")...)
	}
	return fmt.Append(dst, x.Value())
}
