package audit_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/audit"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\ngot  %s\nwant %s", name, got, want)
	}
}

// sample is an entry with every field set, awkward strings included.
func sample() audit.Entry {
	return audit.Entry{
		Time:          time.Date(2026, 3, 1, 6, 30, 0, 123456789, time.FixedZone("UYT", -3*60*60)),
		Actor:         audit.Actor{Kind: audit.ActorClient, ID: "bps.gub.uy"},
		Action:        "credential.present",
		Subject:       "psn-7Qm2\"x\"\\/<é>\u2028\u007f\x1f\n",
		Purpose:       "dpv:ServiceProvision",
		LegalBasis:    "consent",
		ConsentRecord: "cr-01J9Z",
		Categories:    []string{"residence", "identity", "age-over-18"},
		Outcome:       audit.Allowed,
		RequestID:     "req-42",
		Details:       []byte{0x00, 0xff, 0x10, 0x20},
	}
}

func TestCanonicalGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		e    audit.Entry
	}{
		{"entry-full.golden", sample()},
		{"entry-minimal.golden", audit.Entry{
			Time:    time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC),
			Actor:   audit.Actor{Kind: audit.ActorSystem, ID: "oidc-provider"},
			Action:  "oidc.login",
			Outcome: audit.Failed,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.e.Canonical()
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name, got)
		})
	}
}

// TestCanonicalIsJCS: for entries without U+2028/U+2029 (which
// encoding/json escapes and RFC 8785 does not), the canonical encoding is
// what a generic JSON encoder with sorted keys and no HTML escaping gives —
// the RFC 8785 form.
func TestCanonicalIsJCS(t *testing.T) {
	e := sample()
	e.Subject = strings.NewReplacer("\u2028", "").Replace(e.Subject)
	got, err := e.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(got, &v); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	if want := bytes.TrimSuffix(b.Bytes(), []byte("\n")); !bytes.Equal(got, want) {
		t.Errorf("canonical:\ngot  %s\nwant %s", got, want)
	}
}

func TestCanonicalNormalizes(t *testing.T) {
	a := sample()
	b := sample()
	b.Time = a.Time.UTC().Truncate(time.Microsecond)
	b.Categories = []string{"age-over-18", "identity", "residence"}
	ca, err := a.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	cb, err := b.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ca, cb) {
		t.Errorf("same entry in another zone and order:\ngot  %s\nwant %s", cb, ca)
	}
	if a.Categories[0] != "residence" {
		t.Errorf("Canonical sorted the caller's slice: got %q first, want %q", a.Categories[0], "residence")
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*audit.Entry)
		want   []string // parts of the message; nil means valid
	}{
		{"sample", func(*audit.Entry) {}, nil},
		{"no subject, purpose, details", func(e *audit.Entry) { e.Subject, e.Purpose, e.Details, e.Categories = "", "", nil, nil }, nil},
		{"zero time", func(e *audit.Entry) { e.Time = time.Time{} }, []string{"time is zero"}},
		{"year 10000", func(e *audit.Entry) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, []string{"years"}},
		{"bad actor kind", func(e *audit.Entry) { e.Actor.Kind = "agency" }, []string{`actor kind "agency"`}},
		{"no actor id", func(e *audit.Entry) { e.Actor.ID = "" }, []string{"actor id is empty"}},
		{"no action", func(e *audit.Entry) { e.Action = "" }, []string{"action is empty"}},
		{"bad outcome", func(e *audit.Entry) { e.Outcome = "ok" }, []string{`outcome "ok"`}},
		{"bad UTF-8", func(e *audit.Entry) { e.ConsentRecord = "\xc3(" }, []string{"consent record is not valid UTF-8"}},
		{"long field", func(e *audit.Entry) { e.RequestID = strings.Repeat("r", audit.MaxFieldLen+1) }, []string{"request id is 1025 bytes"}},
		{"repeated category", func(e *audit.Entry) { e.Categories = []string{"b", "a", "b"} }, []string{`category "b" is repeated`}},
		{"empty category", func(e *audit.Entry) { e.Categories = []string{"a", ""} }, []string{"a category is empty"}},
		{"too many categories", func(e *audit.Entry) {
			e.Categories = nil
			for i := range audit.MaxCategories + 1 {
				e.Categories = append(e.Categories, strings.Repeat("c", i+1))
			}
		}, []string{"65 categories"}},
		{"long details", func(e *audit.Entry) { e.Details = make([]byte, audit.MaxDetails+1) }, []string{"details are"}},
		{"every problem at once", func(e *audit.Entry) { *e = audit.Entry{} },
			[]string{"time is zero", "actor kind", "actor id is empty", "action is empty", "outcome"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := sample()
			tc.change(&e)
			err := e.Validate()
			if tc.want == nil {
				if err != nil {
					t.Errorf("Validate: got %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, audit.ErrInvalidEntry) {
				t.Fatalf("Validate: got %v, want ErrInvalidEntry", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate: got %q, want it to mention %q", err, w)
				}
			}
			if _, cerr := e.Canonical(); !errors.Is(cerr, audit.ErrInvalidEntry) {
				t.Errorf("Canonical: got %v, want ErrInvalidEntry", cerr)
			}
		})
	}
}

func TestParseEntryRoundTrip(t *testing.T) {
	for _, e := range []audit.Entry{sample(), {
		Time: time.Unix(0, 0), Actor: audit.Actor{Kind: audit.ActorDPO, ID: "dpo-1"}, Action: "audit.search", Outcome: audit.Denied,
	}} {
		data, err := e.Canonical()
		if err != nil {
			t.Fatal(err)
		}
		got, err := audit.ParseEntry(data)
		if err != nil {
			t.Fatalf("ParseEntry(%s): %v", data, err)
		}
		want := e
		want.Time = e.Time.UTC().Truncate(time.Microsecond)
		if want.Categories != nil {
			want.Categories = []string{"age-over-18", "identity", "residence"}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ParseEntry:\ngot  %+v\nwant %+v", got, want)
		}
		if got.Time.Location() != time.UTC {
			t.Errorf("ParseEntry Time: got zone %v, want UTC", got.Time.Location())
		}
	}
}

// TestParseEntryRefuses: every other spelling of an entry is refused.
func TestParseEntryRefuses(t *testing.T) {
	canon, err := sample().Canonical()
	if err != nil {
		t.Fatal(err)
	}
	c := string(canon)
	for _, tc := range []struct{ name, data string }{
		{"empty", ""},
		{"not JSON", "hello"},
		{"trailing newline", c + "\n"},
		{"leading space", " " + c},
		{"space after colon", strings.Replace(c, `"action":`, `"action": `, 1)},
		{"members reordered", strings.Replace(c, `{"action":"credential.present",`, `{`, 1)[:len(c)-len(`"action":"credential.present",`)-1] + `,"action":"credential.present"}`},
		{"unknown member", strings.Replace(c, `"v":1}`, `"v":1,"x":1}`, 1)},
		{"member missing", strings.Replace(c, `,"purpose":"dpv:ServiceProvision"`, ``, 1)},
		{"duplicate member", strings.Replace(c, `"v":1}`, `"v":1,"v":1}`, 1)},
		{"version 2", strings.Replace(c, `"v":1}`, `"v":2}`, 1)},
		{"version as float", strings.Replace(c, `"v":1}`, `"v":1.0}`, 1)},
		{"time without fraction", strings.Replace(c, `.123456Z`, `Z`, 1)},
		{"time with offset", strings.Replace(c, `09:30:00.123456Z`, `06:30:00.123456-03:00`, 1)},
		{"time with nanoseconds", strings.Replace(c, `.123456Z`, `.123456789Z`, 1)},
		{"categories unsorted", strings.Replace(c, `["age-over-18","identity","residence"]`, `["identity","age-over-18","residence"]`, 1)},
		{"categories null", strings.Replace(c, `["age-over-18","identity","residence"]`, `null`, 1)},
		{"escaped slash", strings.Replace(c, `\\/`, `\\\/`, 1)},
		{"uppercase escape", strings.Replace(c, `\u001f`, `\u001F`, 1)},
		{"escaped é", strings.Replace(c, `é`, `\u00e9`, 1)},
		{"details unpadded", strings.Replace(c, `"AP8QIA=="`, `"AP8QIA"`, 1)},
		{"details URL base64", strings.Replace(c, `"AP8QIA=="`, `"AP8QIA--"`, 1)},
		{"invalid outcome", strings.Replace(c, `"allowed"`, `"ok"`, 1)},
		{"invalid UTF-8", strings.Replace(c, `req-42`, "req-\xff", 1)},
		{"two values", c + c},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.data == c {
				t.Fatalf("test case did not change the encoding")
			}
			_, err := audit.ParseEntry([]byte(tc.data))
			if !errors.Is(err, audit.ErrMalformed) {
				t.Errorf("ParseEntry(%.120s): got %v, want ErrMalformed", tc.data, err)
			}
		})
	}
	if _, err := audit.ParseEntry(canon); err != nil {
		t.Errorf("ParseEntry(canonical): %v", err)
	}
}

func TestEntryLogValueRedacts(t *testing.T) {
	var b strings.Builder
	e := sample()
	for _, a := range e.LogValue().Group() {
		b.WriteString(a.String() + " ")
	}
	for _, secret := range []string{e.Subject, e.Actor.ID, e.ConsentRecord} {
		if strings.Contains(b.String(), secret) {
			t.Errorf("LogValue: got %q, want it without %q", b.String(), secret)
		}
	}
	if !strings.Contains(b.String(), e.Action) {
		t.Errorf("LogValue: got %q, want the action %q", b.String(), e.Action)
	}
}

func readTestdata(name string) ([]byte, error) { return os.ReadFile(filepath.Join("testdata", name)) }
