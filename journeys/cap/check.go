package cap

import (
	"encoding/base64"
	"fmt"
	"mime"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// alert reads the alert's values, checking each and the rules between
// them (§3.2.1).
func (r *reader) alert(n *node) *Alert {
	a := &Alert{
		Identifier:  r.id(n.one("identifier")),
		Sender:      r.id(n.one("sender")),
		Sent:        r.time(n.one("sent")),
		Status:      enum(r, n.one("status"), statuses),
		MsgType:     enum(r, n.one("msgType"), msgTypes),
		Source:      text(n.one("source")),
		Scope:       enum(r, n.one("scope"), scopes),
		Restriction: text(n.one("restriction")),
		Addresses:   r.list(n.one("addresses")),
		Note:        text(n.one("note")),
		Incidents:   r.list(n.one("incidents")),
	}
	for _, c := range n.kids["code"] {
		a.Codes = append(a.Codes, c.text)
	}
	switch {
	case a.Scope == ScopeRestricted && strings.Trim(a.Restriction, xmlSpace) == "":
		r.fail("restriction", ErrRule, "a Restricted alert needs one")
	case a.Scope == ScopePrivate && n.one("addresses") == nil:
		r.fail("addresses", ErrRule, "a Private alert needs them")
	}
	r.references(a, n.one("references"))
	for _, in := range n.kids["info"] {
		a.Info = append(a.Info, r.info(in, a.Sent))
	}
	return a
}

// references reads the earlier messages the alert names, which an Update,
// Cancel, Ack or Error must name (§3.2.1 msgType).
func (r *reader) references(a *Alert, n *node) {
	if n == nil {
		if a.MsgType != MsgAlert && slices.Contains(msgTypes, a.MsgType) {
			r.fail("references", ErrRule, "required for msgType %s, to name the messages it is about", a.MsgType)
		}
		return
	}
	fields := strings.Fields(n.text)
	if len(fields) == 0 {
		r.fail(n.path, ErrValue, "empty")
	}
	self := a.Ref()
	for i, f := range fields {
		ref, err := ParseReference(f)
		switch {
		case err != nil:
			r.fail(n.path, ErrValue, "reference %d: %v", i, err)
			continue
		case ref.Equal(self) && !a.Sent.IsZero():
			r.fail(n.path, ErrRule, "reference %d names this very alert", i)
		case ref.Sent.After(a.Sent) && !a.Sent.IsZero():
			r.fail(n.path, ErrRule, "reference %d was sent after this alert, not before", i)
		}
		a.References = append(a.References, ref)
	}
}

// info reads an <info> (§3.2.2).
func (r *reader) info(n *node, sent time.Time) Info {
	in := Info{
		Language:    "en-US",
		Event:       text(n.one("event")),
		Urgency:     enum(r, n.one("urgency"), urgencies),
		Severity:    enum(r, n.one("severity"), severities),
		Certainty:   enum(r, n.one("certainty"), certainties),
		Audience:    text(n.one("audience")),
		Effective:   sent,
		Onset:       r.time(n.one("onset")),
		Expires:     r.time(n.one("expires")),
		SenderName:  text(n.one("senderName")),
		Headline:    text(n.one("headline")),
		Description: text(n.one("description")),
		Instruction: text(n.one("instruction")),
		Web:         r.uri(n.one("web")),
		Contact:     text(n.one("contact")),
		EventCodes:  r.pairs(n.kids["eventCode"]),
		Parameters:  r.pairs(n.kids["parameter"]),
	}
	if l := n.one("language"); l != nil {
		in.Language = strings.Trim(l.text, xmlSpace)
		if !language.MatchString(in.Language) {
			r.fail(l.path, ErrValue, "%s is not a language tag", quote(l.text))
		}
	}
	if e := n.one("effective"); e != nil {
		in.Effective = r.time(e)
	}
	for _, c := range n.kids["category"] {
		in.Categories = append(in.Categories, enum(r, c, categories))
	}
	for _, c := range n.kids["responseType"] {
		in.ResponseTypes = append(in.ResponseTypes, enum(r, c, responseTypes))
	}
	if e := n.one("expires"); e != nil && !in.Expires.IsZero() {
		switch {
		case !sent.IsZero() && !in.Expires.After(sent):
			r.fail(e.path, ErrRule, "expires at or before the alert is sent")
		case !in.Effective.IsZero() && !in.Expires.After(in.Effective):
			r.fail(e.path, ErrRule, "expires at or before it takes effect")
		}
	}
	for _, res := range n.kids["resource"] {
		in.Resources = append(in.Resources, r.resource(res))
	}
	for _, ar := range n.kids["area"] {
		in.Areas = append(in.Areas, r.area(ar))
	}
	return in
}

// resource reads a <resource> (§3.2.3).
func (r *reader) resource(n *node) Resource {
	res := Resource{
		Desc:     text(n.one("resourceDesc")),
		MimeType: text(n.one("mimeType")),
		URI:      text(n.one("uri")),
		Digest:   text(n.one("digest")),
	}
	if m := n.one("mimeType"); m != nil {
		if t, _, err := mime.ParseMediaType(m.text); err != nil || !strings.Contains(t, "/") {
			r.fail(m.path, ErrValue, "%s is not a MIME type", quote(m.text))
		}
	}
	if s := n.one("size"); s != nil {
		v := strings.Trim(s.text, xmlSpace)
		size, err := strconv.ParseInt(v, 10, 64)
		if err != nil || size < 0 {
			r.fail(s.path, ErrValue, "%s is not a size in bytes", quote(s.text))
		}
		res.Size = max(size, 0)
	}
	d := n.one("derefUri")
	if d != nil {
		b, err := base64.StdEncoding.DecodeString(strings.Map(dropSpace, d.text))
		if err != nil {
			r.fail(d.path, ErrValue, "not base64: %v", err)
		}
		res.Deref = b
	}
	if u := n.one("uri"); u != nil {
		ref, err := url.Parse(u.text)
		switch {
		case err != nil:
			r.fail(u.path, ErrValue, "%s is not a URI", quote(u.text))
		case !ref.IsAbs() && d == nil:
			r.fail(u.path, ErrRule, "a relative URI names the content of a <derefUri>, and there is none")
		}
	}
	return res
}

// area reads an <area> (§3.2.4).
func (r *reader) area(n *node) Area {
	ar := Area{Desc: text(n.one("areaDesc")), Geocodes: r.pairs(n.kids["geocode"])}
	for _, p := range n.kids["polygon"] {
		read, ok := r.polygons[p.text]
		if !ok {
			if n := len(strings.Fields(p.text)); r.points+n > MaxPoints {
				read.err = fmt.Errorf("the alert's polygons have more than %d points", MaxPoints)
			} else {
				r.points += n
				read.p, read.err = parsePolygon(p.text)
			}
			r.polygons[p.text] = read
		}
		if read.err != nil {
			r.fail(p.path, ErrValue, "%v", read.err)
			continue
		}
		ar.Polygons = append(ar.Polygons, slices.Clone(read.p))
	}
	for _, c := range n.kids["circle"] {
		circle, err := parseCircle(c.text)
		if err == nil && !r.circles[c.text] {
			if len(r.circles) == MaxCircles {
				err = fmt.Errorf("the alert has more than %d circles", MaxCircles)
			} else {
				r.circles[c.text] = true
			}
		}
		if err != nil {
			r.fail(c.path, ErrValue, "%v", err)
			continue
		}
		ar.Circles = append(ar.Circles, circle)
	}
	ar.Altitude = r.decimal(n.one("altitude"))
	ar.Ceiling = r.decimal(n.one("ceiling"))
	if c := n.one("ceiling"); c != nil {
		switch {
		case n.one("altitude") == nil:
			r.fail(c.path, ErrRule, "a <ceiling> goes only with an <altitude>")
		case ar.Altitude != nil && ar.Ceiling != nil && *ar.Ceiling < *ar.Altitude:
			r.fail(c.path, ErrRule, "the ceiling is below the altitude")
		}
	}
	return ar
}

// pairs reads eventCodes, parameters or geocodes: a named value each.
func (r *reader) pairs(ns []*node) []Pair {
	var ps []Pair
	for _, n := range ns {
		p := Pair{Name: text(n.one("valueName")), Value: text(n.one("value"))}
		if v := n.one("valueName"); v != nil && strings.Trim(p.Name, xmlSpace) == "" {
			r.fail(v.path, ErrValue, "empty")
		}
		ps = append(ps, p)
	}
	return ps
}

// text is an element's text, "" when it is absent.
func text(n *node) string {
	if n == nil {
		return ""
	}
	return n.text
}

// enum reads a value of an enumeration, which the schema spells exactly.
func enum[T ~string](r *reader, n *node, set []T) T {
	if n == nil {
		return ""
	}
	v := T(n.text)
	if !slices.Contains(set, v) {
		r.fail(n.path, ErrValue, "%s is not one of %v", quote(n.text), set)
	}
	return v
}

// id reads an identifier or a sender.
func (r *reader) id(n *node) string {
	if n == nil {
		return ""
	}
	if err := checkID(n.text); err != nil {
		r.fail(n.path, ErrValue, "%v", err)
	}
	return n.text
}

func (r *reader) time(n *node) time.Time {
	if n == nil {
		return time.Time{}
	}
	t, err := parseTime(n.text)
	if err != nil {
		r.fail(n.path, ErrValue, "%v", err)
	}
	return t
}

// uri reads a full absolute URI.
func (r *reader) uri(n *node) string {
	if n == nil {
		return ""
	}
	if u, err := url.Parse(n.text); err != nil || !u.IsAbs() {
		r.fail(n.path, ErrValue, "%s is not an absolute URI", quote(n.text))
	}
	return n.text
}

func (r *reader) decimal(n *node) *float64 {
	if n == nil {
		return nil
	}
	v, err := parseDecimal(strings.Trim(n.text, xmlSpace))
	if err != nil {
		r.fail(n.path, ErrValue, "%v", err)
		return nil
	}
	return &v
}

// list splits a group listing on whitespace, an item with spaces being
// enclosed in double quotes (§3.2.1 addresses, incidents).
func (r *reader) list(n *node) []string {
	if n == nil {
		return nil
	}
	var items []string
	s := strings.Trim(n.text, xmlSpace)
	for s != "" {
		var item string
		if s[0] == '"' {
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				r.fail(n.path, ErrValue, "a quote is not closed")
				return items
			}
			item, s = s[1:1+end], s[2+end:]
			if s != "" && !strings.ContainsAny(s[:1], xmlSpace) {
				r.fail(n.path, ErrValue, "no space after the quoted %s", quote(item))
				return items
			}
		} else {
			end := strings.IndexAny(s, xmlSpace)
			if end < 0 {
				end = len(s)
			}
			item, s = s[:end], s[end:]
			if strings.Contains(item, `"`) {
				r.fail(n.path, ErrValue, "a quote inside %s", quote(item))
				return items
			}
		}
		if item == "" {
			r.fail(n.path, ErrValue, "an empty quoted item")
		} else {
			items = append(items, item)
		}
		s = strings.TrimLeft(s, xmlSpace)
	}
	if len(items) == 0 {
		r.fail(n.path, ErrValue, "empty")
	}
	return items
}

// language is xs:language, the type of <language>.
var language = regexp.MustCompile(`^[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*$`)

func dropSpace(r rune) rune {
	if strings.ContainsRune(xmlSpace, r) {
		return -1
	}
	return r
}
