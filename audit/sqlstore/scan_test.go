package sqlstore

import (
	"bytes"
	"testing"
	"time"

	"github.com/cedula/cedula/audit"
)

func scanEntries() []audit.Entry {
	base := audit.Entry{
		Time:   time.Date(2026, 3, 1, 9, 30, 0, 123456000, time.UTC),
		Actor:  audit.Actor{Kind: audit.ActorClient, ID: "agency-7"},
		Action: "oidc.token", Subject: "psn-1", Purpose: "dpv:ServiceProvision", LegalBasis: "consent",
		Outcome: audit.Allowed, RequestID: "req-1",
	}
	var out []audit.Entry
	add := func(f func(e *audit.Entry)) {
		e := base
		f(&e)
		out = append(out, e)
	}
	add(func(e *audit.Entry) {})
	add(func(e *audit.Entry) { e.Categories = []string{"identity"} })
	add(func(e *audit.Entry) {
		e.Categories = []string{"identity", "contact", "health"}
		e.Details = []byte{0, 1, 2, 250}
	})
	add(func(e *audit.Entry) { e.ConsentRecord = "cr-9"; e.Outcome = audit.Denied; e.Purpose = "" })
	add(func(e *audit.Entry) { e.Action = "señal.léida"; e.Actor.ID = "機関 🚀" })
	add(func(e *audit.Entry) { e.Time = time.Date(1999, 12, 31, 23, 59, 59, 999999000, time.UTC) })
	add(func(e *audit.Entry) { e.Time = time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC) })
	// Escapes: the scanner leaves these to the JSON decoder.
	add(func(e *audit.Entry) { e.Action = `say "hi"` })
	add(func(e *audit.Entry) { e.Purpose = "tab\there" })
	add(func(e *audit.Entry) { e.Subject = `back\slash` })
	add(func(e *audit.Entry) { e.Categories = []string{"new\nline"} })
	return out
}

// TestScanIndexed: the scanner reads what the JSON decoder reads, and
// reads by itself every entry whose strings need no escape.
func TestScanIndexed(t *testing.T) {
	for i, e := range scanEntries() {
		data, err := e.Canonical()
		if err != nil {
			t.Fatal(err)
		}
		want, err := decodeIndexed(data)
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		got, ok := scanIndexed(data)
		escapes := bytes.IndexByte(data, '\\') >= 0
		if ok == escapes {
			t.Errorf("entry %d (%s): scanned %v, want %v", i, data, ok, !escapes)
		}
		if ok && !sameFields(got, want) {
			t.Errorf("entry %d: scanned %+v, decoded %+v", i, got, want)
		}
		if want.micros != e.Time.UnixMicro() {
			t.Errorf("entry %d: time %d, want %d", i, want.micros, e.Time.UnixMicro())
		}
	}
	for _, bad := range []string{
		``, `{}`, `{"action":"a"}`,
		`{"action":"a","actor":{"id":"b","kind":"client"},"categories":[],"consent_record":"","details":"","legal_basis":"","outcome":"allowed","purpose":"","request_id":"","subject":"","time":"2026-04-31T00:00:00.000000Z","v":1}`,
		`{"action":"a","actor":{"id":"b","kind":"client"},"categories":[],"consent_record":"","details":"","legal_basis":"","outcome":"allowed","purpose":"","request_id":"","subject":"","time":"2026-01-01T00:00:00Z","v":1}`,
		`{"action":"a","actor":{"id":"b","kind":"client"},"categories":[],"consent_record":"","details":"","legal_basis":"","outcome":"allowed","purpose":"","request_id":"","subject":"","time":"2026-01-01T00:00:00.000000Z","v":2}`,
		"{\"action\":\"\xff\",\"actor\":{\"id\":\"b\",\"kind\":\"client\"},\"categories\":[],\"consent_record\":\"\",\"details\":\"\",\"legal_basis\":\"\",\"outcome\":\"allowed\",\"purpose\":\"\",\"request_id\":\"\",\"subject\":\"\",\"time\":\"2026-01-01T00:00:00.000000Z\",\"v\":1}",
	} {
		if _, ok := scanIndexed([]byte(bad)); ok {
			t.Errorf("scanned %q", bad)
		}
	}
}

func sameFields(a, b indexFields) bool {
	return bytes.Equal(a.action, b.action) && bytes.Equal(a.actorID, b.actorID) && bytes.Equal(a.actorKind, b.actorKind) &&
		bytes.Equal(a.outcome, b.outcome) && bytes.Equal(a.purpose, b.purpose) && bytes.Equal(a.subject, b.subject) && a.micros == b.micros
}

// FuzzScanIndexed: whatever the bytes, when the scanner reads an encoding
// the JSON decoder reads it too, to the same fields.
func FuzzScanIndexed(f *testing.F) {
	for _, e := range scanEntries() {
		data, err := e.Canonical()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, ok := scanIndexed(data)
		if !ok {
			return
		}
		want, err := decodeIndexed(data)
		if err != nil {
			t.Fatalf("scanned %q, which JSON does not decode: %v", data, err)
		}
		if !sameFields(got, want) {
			t.Fatalf("%q: scanned %+v, decoded %+v", data, got, want)
		}
	})
}
