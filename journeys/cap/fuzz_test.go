package cap_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cedula/cedula/journeys/cap"
)

// FuzzParse: any input is parsed or refused with ErrInvalid and a fault
// with its kind, never a panic; a parsed alert keeps the rules Parse
// checks, and its accessors answer.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/*.xml")
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds in testdata: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>a</identifier><sender>s</sender><sent>2026-01-01T00:00:00-00:00</sent><status>Test</status><msgType>Alert</msgType><scope>Public</scope><info><category>Geo</category><event>e</event><urgency>Past</urgency><severity>Minor</severity><certainty>Unknown</certainty><area><areaDesc>d</areaDesc><polygon>0,0 0,1 1,1 1,0 0,0</polygon><circle>0,0 1</circle><altitude>1</altitude><ceiling>2</ceiling></area></info></alert>`))
	kinds := []error{cap.ErrTooLarge, cap.ErrSyntax, cap.ErrNamespace, cap.ErrMissing, cap.ErrUnexpected, cap.ErrValue, cap.ErrRule}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := cap.Parse(b)
		if err != nil {
			if !errors.Is(err, cap.ErrInvalid) {
				t.Fatalf("%v is not ErrInvalid", err)
			}
			for _, e := range faults(err) {
				known := false
				for _, k := range kinds {
					known = known || e.Kind == k
				}
				if !known && e.Kind != cap.ErrInvalid {
					t.Fatalf("%v: kind %v", e, e.Kind)
				}
			}
			return
		}
		ref, err := cap.ParseReference(a.Ref().String())
		if err != nil || !ref.Equal(a.Ref()) || ref.String() != a.Ref().String() {
			t.Fatalf("the key %s reads back as %v, %v", a.Ref(), ref, err)
		}
		if a.MsgType != cap.MsgAlert && len(a.References) == 0 {
			t.Fatalf("an %s without references", a.MsgType)
		}
		for _, r := range a.References {
			if r.Sent.After(a.Sent) {
				t.Fatalf("a reference to %v, after %v", r, a.Sent)
			}
		}
		a.Expired(time.Now())
		a.Languages()
		for _, in := range a.Info {
			in.BypassQuietHours()
			if !in.Expires.IsZero() && !in.Expires.After(a.Sent) {
				t.Fatalf("expires %v, sent %v", in.Expires, a.Sent)
			}
			for _, ar := range in.Areas {
				for _, p := range ar.Polygons {
					if len(p) < 4 || p[0] != p[len(p)-1] {
						t.Fatalf("accepted the polygon %v", p)
					}
					if !p.Contains(p[0].Lat, p[0].Lon) {
						t.Fatalf("%v does not contain its first vertex", p)
					}
				}
				for _, c := range ar.Circles {
					if c.Radius < 0 || !c.Contains(c.Center.Lat, c.Center.Lon) {
						t.Fatalf("accepted the circle %v", c)
					}
				}
				ar.Contains(0, 0)
				if ar.Ceiling != nil && (ar.Altitude == nil || *ar.Ceiling < *ar.Altitude) {
					t.Fatalf("a ceiling %v over the altitude %v", *ar.Ceiling, ar.Altitude)
				}
			}
		}
	})
}
