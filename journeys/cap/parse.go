package cap

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Namespace is the XML namespace of CAP 1.2.
const Namespace = "urn:oasis:names:tc:emergency:cap:1.2"

// dsig is XML Signature's namespace, whose elements the schema lets
// follow the last <info> (§3.3.3.1).
const dsig = "http://www.w3.org/2000/09/xmldsig#"

const xsi = "http://www.w3.org/2001/XMLSchema-instance"

// MaxSize bounds an alert, in bytes: it is read before anyone knows who
// sent it.
const MaxSize = 1 << 20

// maxProblems bounds the faults one error reports.
const maxProblems = 20

// xmlSpace is XML's whitespace.
const xmlSpace = " \t\r\n"

// Parse reads and checks a CAP 1.2 alert. Its error wraps ErrInvalid; it
// is one *Error, or several joined (errors.Join) when the document is
// well-formed XML, one for each fault up to twenty.
func Parse(b []byte) (*Alert, error) {
	if len(b) > MaxSize {
		return nil, &Error{Kind: ErrTooLarge, Why: fmt.Sprintf("%d bytes, more than %d", len(b), MaxSize)}
	}
	// encoding/xml takes bytes that are not UTF-8 in text as they are; a
	// CAP alert is UTF-8 (XML 1.0 §4.3.3), and what is stored, sealed and
	// sent to wallets must be too.
	if !utf8.Valid(b) {
		return nil, &Error{Kind: ErrSyntax, Why: "the alert is not valid UTF-8"}
	}
	r := &reader{d: xml.NewDecoder(bytes.NewReader(b)), polygons: map[string]polygonRead{}, circles: map[string]bool{}}
	root := r.document()
	if r.fatal != nil {
		return nil, r.fatal
	}
	a := r.alert(root)
	if len(r.errs) > 0 {
		return nil, errors.Join(r.errs...)
	}
	return a, nil
}

// node is an element read and placed by the schema: its text when it
// holds text, its children by name when it holds elements.
type node struct {
	path string
	text string
	kids map[string][]*node
}

func (n *node) one(name string) *node {
	if k := n.kids[name]; len(k) > 0 {
		return k[0]
	}
	return nil
}

// slot is an element of a schema's sequence and how often it may occur.
type slot struct {
	name     string
	min, max int
}

const many = 1 << 30

// schema is the sequence of each CAP 1.2 element that holds elements;
// every other element holds text.
var schema = map[string][]slot{
	"alert": {{"identifier", 1, 1}, {"sender", 1, 1}, {"sent", 1, 1}, {"status", 1, 1},
		{"msgType", 1, 1}, {"source", 0, 1}, {"scope", 1, 1}, {"restriction", 0, 1},
		{"addresses", 0, 1}, {"code", 0, many}, {"note", 0, 1}, {"references", 0, 1},
		{"incidents", 0, 1}, {"info", 0, many}},
	"info": {{"language", 0, 1}, {"category", 1, many}, {"event", 1, 1},
		{"responseType", 0, many}, {"urgency", 1, 1}, {"severity", 1, 1}, {"certainty", 1, 1},
		{"audience", 0, 1}, {"eventCode", 0, many}, {"effective", 0, 1}, {"onset", 0, 1},
		{"expires", 0, 1}, {"senderName", 0, 1}, {"headline", 0, 1}, {"description", 0, 1},
		{"instruction", 0, 1}, {"web", 0, 1}, {"contact", 0, 1}, {"parameter", 0, many},
		{"resource", 0, many}, {"area", 0, many}},
	"resource": {{"resourceDesc", 1, 1}, {"mimeType", 1, 1}, {"size", 0, 1}, {"uri", 0, 1},
		{"derefUri", 0, 1}, {"digest", 0, 1}},
	"area": {{"areaDesc", 1, 1}, {"polygon", 0, many}, {"circle", 0, many},
		{"geocode", 0, many}, {"altitude", 0, 1}, {"ceiling", 0, 1}},
	"eventCode": pair,
	"parameter": pair,
	"geocode":   pair,
}

var pair = []slot{{"valueName", 1, 1}, {"value", 1, 1}}

// reader reads the document into nodes and then into an Alert, keeping
// the faults it finds; fatal is set when the XML itself is broken.
type reader struct {
	d     *xml.Decoder
	errs  []error
	fatal *Error
	// polygons are those read so far by their text, and points their
	// points: a polygon repeated is read once.
	polygons map[string]polygonRead
	circles  map[string]bool // the distinct circles read, by their text
	points   int
}

type polygonRead struct {
	p   Polygon
	err error
}

func (r *reader) fail(path string, kind error, format string, args ...any) {
	switch {
	case len(r.errs) < maxProblems:
		r.errs = append(r.errs, &Error{Path: path, Kind: kind, Why: fmt.Sprintf(format, args...)})
	case len(r.errs) == maxProblems:
		r.errs = append(r.errs, &Error{Kind: ErrInvalid, Why: "more faults not reported"})
	}
}

// token reads the next token; at a syntax error it sets fatal.
func (r *reader) token(path string) xml.Token {
	tok, err := r.d.Token()
	if err == nil {
		if d, ok := tok.(xml.Directive); ok {
			if bytes.HasPrefix(bytes.TrimLeft(d, xmlSpace), []byte("DOCTYPE")) {
				err = errors.New("a DOCTYPE is not allowed")
			} else {
				err = errors.New("a <!…> declaration is not allowed")
			}
		}
	}
	if err != nil {
		why := err.Error()
		if err == io.EOF {
			why = "the document ends early"
		}
		r.fatal = &Error{Path: path, Kind: ErrSyntax, Why: clip(why)}
		return nil
	}
	return tok
}

// clip cuts a message of encoding/xml, which may quote names of any
// length.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// document reads the prolog, the <alert> and what follows it.
func (r *reader) document() *node {
	var root *node
	for {
		tok, err := r.d.Token()
		if err == io.EOF {
			if root == nil {
				r.fatal = &Error{Kind: ErrSyntax, Why: "no <alert> element"}
			}
			return root
		}
		if err != nil {
			r.fatal = &Error{Kind: ErrSyntax, Why: clip(err.Error())}
			return nil
		}
		switch t := tok.(type) {
		case xml.Directive:
			r.fatal = &Error{Kind: ErrSyntax, Why: "a DOCTYPE or other <!…> declaration is not allowed"}
			return nil
		case xml.CharData:
			if len(bytes.Trim(t, xmlSpace)) > 0 {
				r.fatal = &Error{Kind: ErrSyntax, Why: "text outside the <alert> element"}
				return nil
			}
		case xml.StartElement:
			if root != nil {
				r.fatal = &Error{Kind: ErrSyntax, Why: fmt.Sprintf("<%s> after the <alert> element", clip(t.Name.Local))}
				return nil
			}
			if t.Name.Local != "alert" {
				r.fatal = &Error{Kind: ErrUnexpected, Why: fmt.Sprintf("the root is <%s>, not <alert>", clip(t.Name.Local))}
				return nil
			}
			if t.Name.Space != Namespace {
				r.fatal = &Error{Path: "alert", Kind: ErrNamespace, Why: fmt.Sprintf("namespace %s, not %s", quote(t.Name.Space), Namespace)}
				return nil
			}
			if root = r.element(t, ""); r.fatal != nil {
				return nil
			}
		}
	}
}

// element reads the element start opened, at path ("" for the alert,
// whose children's paths start from it), placing its children by the
// schema.
func (r *reader) element(start xml.StartElement, path string) *node {
	here := path
	if here == "" {
		here = "alert"
	}
	for _, a := range start.Attr {
		if a.Name.Space != "xmlns" && (a.Name.Space != "" || a.Name.Local != "xmlns") && a.Name.Space != xsi {
			r.fail(here, ErrUnexpected, "the attribute %s is not allowed", quote(a.Name.Local))
		}
	}
	slots, holdsElements := schema[start.Name.Local]
	n := &node{path: here, kids: map[string][]*node{}}
	counts := make([]int, len(slots))
	pos := 0 // the slot of the element last placed
	signed := false
	var text strings.Builder
	for {
		switch t := r.token(here).(type) {
		case nil:
			return nil
		case xml.EndElement:
			for i, s := range slots {
				if counts[i] < s.min {
					r.fail(here, ErrMissing, "no <%s>", s.name)
				}
			}
			n.text = text.String()
			return n
		case xml.CharData:
			if !holdsElements {
				text.Write(t)
			} else if len(bytes.Trim(t, xmlSpace)) > 0 {
				r.fail(here, ErrUnexpected, "text %s among the elements of <%s>", quote(string(t)), start.Name.Local)
			}
		case xml.StartElement:
			name := t.Name.Local
			i := -1
			for k, s := range slots {
				if s.name == name {
					i = k
				}
			}
			switch {
			case !holdsElements:
				r.fail(here, ErrUnexpected, "<%s> holds text, not the element <%s>", start.Name.Local, clip(name))
			case start.Name.Local == "alert" && t.Name.Space == dsig:
				signed = true // §3.3.3.1: signatures follow the infos
			case t.Name.Space != Namespace:
				r.fail(here, ErrNamespace, "<%s> is in namespace %s, not %s", clip(name), quote(t.Name.Space), Namespace)
			case i < 0:
				r.fail(here, ErrUnexpected, "<%s> is not an element of <%s>", clip(name), start.Name.Local)
			case signed:
				r.fail(here, ErrUnexpected, "<%s> after the signature", name)
			case counts[i] == slots[i].max:
				r.fail(here, ErrUnexpected, "more than %d <%s>", slots[i].max, name)
			default:
				if i < pos {
					r.fail(here, ErrUnexpected, "<%s> comes after <%s>, out of the schema's order", name, slots[pos].name)
				} else {
					pos = i
				}
				p := name
				if slots[i].max > 1 {
					p += "[" + strconv.Itoa(counts[i]) + "]"
				}
				if path != "" {
					p = path + "." + p
				}
				counts[i]++
				kid := r.element(t, p)
				if kid == nil {
					return nil
				}
				n.kids[name] = append(n.kids[name], kid)
				continue
			}
			if err := r.d.Skip(); err != nil {
				r.fatal = &Error{Path: here, Kind: ErrSyntax, Why: clip(err.Error())}
				return nil
			}
		}
	}
}
