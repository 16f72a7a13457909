package cap_test

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/journeys/cap"
)

func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parse(t testing.TB, name string) *cap.Alert {
	t.Helper()
	a, err := cap.Parse(read(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return a
}

func TestParseFlood(t *testing.T) {
	a := parse(t, "flood.xml")
	sent := time.Date(2026, 10, 14, 4, 30, 0, 0, time.UTC)
	if a.Identifier != "ES-CV-2026-0412" || a.Sender != "alertas@emergencias.cv.example" || !a.Sent.Equal(sent) {
		t.Errorf("got %s %s %v, want ES-CV-2026-0412 alertas@emergencias.cv.example %v", a.Identifier, a.Sender, a.Sent, sent)
	}
	if a.Status != cap.StatusActual || a.MsgType != cap.MsgAlert || a.Scope != cap.ScopePublic {
		t.Errorf("got %s %s %s, want Actual Alert Public", a.Status, a.MsgType, a.Scope)
	}
	if got, want := a.Ref().String(), "alertas@emergencias.cv.example,ES-CV-2026-0412,2026-10-14T06:30:00+02:00"; got != want {
		t.Errorf("Ref: got %s, want %s", got, want)
	}
	if got, want := a.Incidents, []string{"Júcar 2026-10", "ES-CV-DANA-07"}; !reflect.DeepEqual(got, want) {
		t.Errorf("incidents: got %q, want %q", got, want)
	}
	if got, want := a.Codes, []string{"profile:ES-CAP:1.0"}; !reflect.DeepEqual(got, want) {
		t.Errorf("codes: got %q, want %q", got, want)
	}
	if got, want := a.Languages(), []string{"es-ES", "en-US"}; !reflect.DeepEqual(got, want) {
		t.Errorf("languages: got %q, want %q", got, want)
	}
	if len(a.Info) != 2 {
		t.Fatalf("got %d infos, want 2", len(a.Info))
	}
	es, en := a.Info[0], a.Info[1]
	if got, want := es.Categories, []cap.Category{cap.CategoryMet, cap.CategoryGeo}; !reflect.DeepEqual(got, want) {
		t.Errorf("categories: got %v, want %v", got, want)
	}
	if got, want := es.ResponseTypes, []cap.ResponseType{cap.ResponseAvoid, cap.ResponsePrepare}; !reflect.DeepEqual(got, want) {
		t.Errorf("response types: got %v, want %v", got, want)
	}
	if es.Urgency != cap.UrgencyExpected || es.Severity != cap.SeveritySevere || es.Certainty != cap.CertaintyLikely {
		t.Errorf("got %s %s %s, want Expected Severe Likely", es.Urgency, es.Severity, es.Certainty)
	}
	if es.BypassQuietHours() {
		t.Error("a Severe, Expected warning bypasses quiet hours, want it not to")
	}
	if got, want := es.EventCodes, []cap.Pair{{Name: "SAME", Value: "FLW"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("event codes: got %v, want %v", got, want)
	}
	if got, want := es.Parameters, []cap.Pair{{Name: "awareness_level", Value: "3; orange; Severe"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("parameters: got %v, want %v", got, want)
	}
	if !en.Effective.Equal(a.Sent) {
		t.Errorf("effective without <effective>: got %v, want the sent time %v", en.Effective, a.Sent)
	}
	if want := time.Date(2026, 10, 15, 4, 30, 0, 0, time.UTC); !es.Expires.Equal(want) {
		t.Errorf("expires: got %v, want %v", es.Expires, want)
	}
	if want := (cap.Resource{Desc: "Mapa de la zona afectada", MimeType: "image/png", Size: 48213,
		URI: "https://alertas.emergencias.cv.example/mapas/ES-CV-2026-0412.png"}); !reflect.DeepEqual(es.Resources, []cap.Resource{want}) {
		t.Errorf("resources: got %+v, want %+v", es.Resources, want)
	}
	if len(es.Areas) != 2 {
		t.Fatalf("got %d areas, want 2", len(es.Areas))
	}
	zone, dam := es.Areas[0], es.Areas[1]
	if len(zone.Polygons) != 1 || len(zone.Polygons[0]) != 7 || zone.Polygons[0][1] != (cap.Point{Lat: 39.23, Lon: -0.38}) {
		t.Errorf("polygons: got %v, want one of 7 points, the second 39.23,-0.38", zone.Polygons)
	}
	if got, want := zone.Geocodes, []cap.Pair{{Name: "NUTS3", Value: "ES523"}, {Name: "INE", Value: "46017"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("geocodes: got %v, want %v", got, want)
	}
	if want := []cap.Circle{{Center: cap.Point{Lat: 39.1386, Lon: -0.6483}, Radius: 8}}; !reflect.DeepEqual(dam.Circles, want) {
		t.Errorf("circles: got %v, want %v", dam.Circles, want)
	}
	for _, tc := range []struct {
		name     string
		lat, lon float64
		area     *cap.Area
		want     bool
	}{
		{"Alzira, in the polygon", 39.151, -0.435, &zone, true},
		{"Carcaixent, in the polygon", 39.122, -0.448, &zone, true},
		{"Tous, in the circle", 39.1386, -0.6483, &dam, true},
		{"Tous, not in the polygon", 39.1386, -0.6483, &zone, false},
		{"Valencia city, in neither", 39.4699, -0.3763, &zone, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.area.Contains(tc.lat, tc.lon); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestUpdateAndCancel(t *testing.T) {
	alert, update, cancel := parse(t, "flood.xml"), parse(t, "flood-update.xml"), parse(t, "flood-cancel.xml")
	if update.MsgType != cap.MsgUpdate || len(update.References) != 1 || !update.References[0].Equal(alert.Ref()) {
		t.Errorf("update: got %s naming %v, want an Update naming %v", update.MsgType, update.References, alert.Ref())
	}
	for i, in := range update.Info {
		if !in.BypassQuietHours() {
			t.Errorf("update info %d: an Extreme, Immediate warning keeps quiet hours, want it to bypass them", i)
		}
	}
	if cancel.MsgType != cap.MsgCancel || len(cancel.Info) != 0 {
		t.Errorf("cancel: got %s with %d infos, want a Cancel without info", cancel.MsgType, len(cancel.Info))
	}
	var refs []string
	for _, r := range cancel.References {
		refs = append(refs, r.String())
	}
	if want := []string{alert.Ref().String(), update.Ref().String()}; !reflect.DeepEqual(refs, want) {
		t.Errorf("cancel references: got %q, want %q", refs, want)
	}
	if got, want := cancel.Ref().String(), "alertas@emergencias.cv.example,ES-CV-2026-0420,2026-10-15T16:00:00-00:00"; got != want {
		t.Errorf("a UTC reference: got %s, want %s", got, want)
	}
	if cancel.Expired(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Error("an alert without info expired, want it never to")
	}
}

func TestExpired(t *testing.T) {
	a := parse(t, "flood.xml")
	expires := time.Date(2026, 10, 15, 6, 30, 0, 0, time.FixedZone("CEST", 2*3600))
	for _, tc := range []struct {
		name string
		at   time.Time
		want bool
	}{
		{"when sent", a.Sent, false},
		{"a second before it expires", expires.Add(-time.Second), false},
		{"when it expires", expires, true},
		{"arriving a day late", expires.Add(24 * time.Hour), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := a.Expired(tc.at); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}

	// Expired on arrival: every info expired before the alert was received.
	late := edit(t, read(t, "flood.xml"), "2026-10-15T06:30:00+02:00", "2026-10-14T07:00:00+02:00", -1)
	a, err := cap.Parse(late)
	if err != nil {
		t.Fatal(err)
	}
	if received := time.Date(2026, 10, 14, 5, 15, 0, 0, time.UTC); !a.Expired(received) {
		t.Errorf("received at %v, after every info expired: got not expired, want expired", received)
	}

	// One info without <expires> keeps the alert alive.
	open := edit(t, read(t, "flood.xml"), "<expires>2026-10-15T06:30:00+02:00</expires>\n    <senderName>Valencian", "<senderName>Valencian", 1)
	if a, err = cap.Parse(open); err != nil {
		t.Fatal(err)
	}
	if at := expires.Add(time.Hour); a.Expired(at) || !a.Info[0].Expired(at) || a.Info[1].Expired(at) {
		t.Errorf("got alert %v, infos %v %v, want false, true, false", a.Expired(at), a.Info[0].Expired(at), a.Info[1].Expired(at))
	}
}

func TestLanguageDefault(t *testing.T) {
	b := edit(t, read(t, "flood.xml"), "<language>en-US</language>", "", 1)
	b = edit(t, b, "<language>es-ES</language>", "<language>es</language>", 1)
	a, err := cap.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := a.Languages(), []string{"es", "en-US"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// edit replaces old by new in b, n times (-1: every time), and fails when
// old is not there.
func edit(t testing.TB, b []byte, old, new string, n int) []byte {
	t.Helper()
	s := string(b)
	if !strings.Contains(s, old) {
		t.Fatalf("%q is not in the document", old)
	}
	return []byte(strings.Replace(s, old, new, n))
}

// faults are the *Errors in err.
func faults(err error) []*cap.Error {
	if e, ok := err.(*cap.Error); ok {
		return []*cap.Error{e}
	}
	var out []*cap.Error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, x := range j.Unwrap() {
			out = append(out, faults(x)...)
		}
	}
	return out
}

func TestParseReference(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want "" for a refusal
	}{
		{"a@b.example,ID-1,2026-10-14T06:30:00+02:00", "a@b.example,ID-1,2026-10-14T06:30:00+02:00"},
		{"a@b.example,ID-1,2026-10-14T04:30:00-00:00", "a@b.example,ID-1,2026-10-14T04:30:00-00:00"},
		{"a@b.example,ID-1", ""},
		{",ID-1,2026-10-14T06:30:00+02:00", ""},
		{"a@b.example,,2026-10-14T06:30:00+02:00", ""},
		{"a@b.example,ID&1,2026-10-14T06:30:00+02:00", ""},
		{"a@b.example,ID-1,2026-10-14T04:30:00Z", ""},
		{"a@b.example,ID-1,2026-10-14T04:30:00+00:00", ""},
		{"a@b.example,ID-1,2026-02-30T04:30:00+01:00", ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			r, err := cap.ParseReference(tc.in)
			switch {
			case tc.want == "" && err == nil:
				t.Errorf("got %v, want an error", r)
			case tc.want != "" && err != nil:
				t.Errorf("got %v, want %s", err, tc.want)
			case tc.want != "" && r.String() != tc.want:
				t.Errorf("got %s, want %s", r, tc.want)
			}
		})
	}
}
