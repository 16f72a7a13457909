package sqlstore

import (
	"bytes"
	"time"
	"unicode/utf8"
)

// indexFields is what audit_index and audit_subjects hold of an entry.
type indexFields struct {
	action, actorID, actorKind, outcome, purpose, subject []byte
	micros                                                int64 // Entry.Time in µs since the Unix epoch
}

// scanIndexed reads the indexed fields from a canonical encoding by
// its fixed layout (audit.Entry.Canonical: members in one order, strings
// escaped per RFC 8785, the time in one layout), without a JSON decoder,
// which took a tenth of the CPU of a busy log. ok is false whenever data
// strays from that layout — including any string with an escape in it —
// and the caller then decodes it as JSON; when ok is true the fields are
// what that decoding gives (FuzzScanIndexed checks it).
func scanIndexed(data []byte) (f indexFields, ok bool) {
	p := data
	lit := func(s string) bool {
		if !bytes.HasPrefix(p, []byte(s)) {
			return false
		}
		p = p[len(s):]
		return true
	}
	// str reads a JSON string with no escapes, no control characters and
	// valid UTF-8: one that JSON decodes to its very bytes.
	str := func() ([]byte, bool) {
		if len(p) == 0 || p[0] != '"' {
			return nil, false
		}
		end := bytes.IndexByte(p[1:], '"')
		if end < 0 {
			return nil, false
		}
		v := p[1 : 1+end]
		for _, c := range v {
			if c < 0x20 || c == '\\' {
				return nil, false
			}
		}
		if !utf8.Valid(v) {
			return nil, false
		}
		p = p[2+end:]
		return v, true
	}
	var ok1, ok2, ok3, ok4, ok5, ok6 bool
	if !lit(`{"action":`) {
		return f, false
	}
	if f.action, ok1 = str(); !ok1 || !lit(`,"actor":{"id":`) {
		return f, false
	}
	if f.actorID, ok2 = str(); !ok2 || !lit(`,"kind":`) {
		return f, false
	}
	if f.actorKind, ok3 = str(); !ok3 || !lit(`},"categories":[`) {
		return f, false
	}
	for first := true; !lit(`]`); first = false {
		if !first && !lit(`,`) {
			return f, false
		}
		if _, ok := str(); !ok {
			return f, false
		}
	}
	if !lit(`,"consent_record":`) {
		return f, false
	}
	if _, ok := str(); !ok || !lit(`,"details":`) {
		return f, false
	}
	if _, ok := str(); !ok || !lit(`,"legal_basis":`) { // base64: no quotes, no escapes
		return f, false
	}
	if _, ok := str(); !ok || !lit(`,"outcome":`) {
		return f, false
	}
	if f.outcome, ok4 = str(); !ok4 || !lit(`,"purpose":`) {
		return f, false
	}
	if f.purpose, ok5 = str(); !ok5 || !lit(`,"request_id":`) {
		return f, false
	}
	if _, ok := str(); !ok || !lit(`,"subject":`) {
		return f, false
	}
	if f.subject, ok6 = str(); !ok6 || !lit(`,"time":`) {
		return f, false
	}
	ts, ok := str()
	if !ok || !lit(`,"v":1}`) || len(p) != 0 {
		return f, false
	}
	f.micros, ok = parseMicros(ts)
	return f, ok
}

// parseMicros reads a time in the canonical layout
// 2006-01-02T15:04:05.000000Z, false for anything time.Parse would not
// read the same way (other layouts, out-of-range fields).
func parseMicros(ts []byte) (int64, bool) {
	const layout = "dddd-dd-ddTdd:dd:dd.ddddddZ"
	if len(ts) != len(layout) {
		return 0, false
	}
	for i := range len(layout) {
		if layout[i] == 'd' {
			if ts[i] < '0' || ts[i] > '9' {
				return 0, false
			}
		} else if ts[i] != layout[i] {
			return 0, false
		}
	}
	num := func(from, to int) int {
		n := 0
		for _, c := range ts[from:to] {
			n = 10*n + int(c-'0')
		}
		return n
	}
	y, mo, d := num(0, 4), num(5, 7), num(8, 10)
	h, mi, s, us := num(11, 13), num(14, 16), num(17, 19), num(20, 26)
	if mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59 {
		return 0, false
	}
	t := time.Date(y, time.Month(mo), d, h, mi, s, us*1000, time.UTC)
	if t.Day() != d { // 31 April and the like roll over; time.Parse refuses them
		return 0, false
	}
	return t.UnixMicro(), true
}
