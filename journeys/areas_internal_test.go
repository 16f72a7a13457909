package journeys

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/cedula/cedula/journeys/cap"
)

const gazetteer = `areas:
  - value_name: ISO3166-2
    value: UY-MO
    name: {es: Montevideo, en: Montevideo}
    polygons: ["-35.0,-56.5 -34.7,-56.5 -34.7,-56.0 -35.0,-56.0 -35.0,-56.5"]
  - value_name: ISO3166-2
    value: UY-CA
    name: {es: Canelones, en: Canelones}
    polygons:
      - "-34.7,-56.3 -34.3,-56.3 -34.3,-55.5 -34.7,-55.5 -34.7,-56.3"
      - "-34.9,-55.3 -34.8,-55.3 -34.8,-55.2 -34.9,-55.2 -34.9,-55.3"
`

// TestParseGazetteer: a gazetteer reads with its areas in order; one that
// breaks rules is refused with every problem named.
func TestParseGazetteer(t *testing.T) {
	g, err := ParseGazetteer([]byte(gazetteer))
	if err != nil {
		t.Fatal(err)
	}
	if as := g.Areas(); len(as) != 2 || as[1].Value != "UY-CA" || len(as[1].rings) != 2 || as[0].Name.EN != "Montevideo" {
		t.Fatalf("got %+v", as)
	}
	if k, ok := g.Area(cap.Pair{Name: "ISO3166-2", Value: "UY-CA"}); !ok || !k.Contains(-34.85, -55.25) || k.Contains(-34.85, -55.4) {
		t.Errorf("Canelones' second polygon: found %v, holds its point %v", ok, ok && k.Contains(-34.85, -55.25))
	}
	if _, ok := (*Gazetteer)(nil).Area(cap.Pair{Name: "ISO3166-2", Value: "UY-MO"}); ok {
		t.Error("no gazetteer knows an area")
	}
	for _, c := range []struct{ name, yaml, want string }{
		{"not YAML", "areas: [", "does not read as areas"},
		{"an unknown field", "areas:\n  - value_name: a\n    value: b\n    colour: red\n", "does not read as areas"},
		{"no geocode", "areas:\n  - name: {es: X, en: X}\n    polygons: [\"0,0 0,1 1,1 0,0\"]\n", "value_name and value are required"},
		{"twice", strings.Repeat("  - value_name: a\n    value: b\n    name: {es: X, en: X}\n    polygons: [\"0,0 0,1 1,1 0,0\"]\n", 2), "there twice"},
		{"no names", "areas:\n  - value_name: a\n    value: b\n    polygons: [\"0,0 0,1 1,1 0,0\"]\n", "name needs es and en"},
		{"no polygon", "areas:\n  - value_name: a\n    value: b\n    name: {es: X, en: X}\n", "at least one polygon"},
		{"an open polygon", "areas:\n  - value_name: a\n    value: b\n    name: {es: X, en: X}\n    polygons: [\"0,0 0,1 1,1 1,0\"]\n", "polygon 1: not closed"},
		{"a crossed polygon", "areas:\n  - value_name: a\n    value: b\n    name: {es: X, en: X}\n    polygons: [\"0,0 1,1 0,1 1,0 0,0\"]\n", "polygon 1: not simple"},
		{"a control character", "areas:\n  - value_name: \"a\\u0007\"\n    value: b\n    name: {es: X, en: X}\n    polygons: [\"0,0 0,1 1,1 0,0\"]\n", "without control characters"},
	} {
		y := c.yaml
		if c.name == "twice" {
			y = "areas:\n" + y
		}
		_, err := ParseGazetteer([]byte(y))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want ErrInvalid naming %q", c.name, err, c.want)
		}
	}
}

// TestReach: where a targeted alert reaches — a point in its polygons or
// circles or in a known area it names; an area it names or crosses — and
// which of its areas it cannot match.
func TestReach(t *testing.T) {
	g, err := ParseGazetteer([]byte(gazetteer))
	if err != nil {
		t.Fatal(err)
	}
	mo, ca := cap.Pair{Name: "ISO3166-2", Value: "UY-MO"}, cap.Pair{Name: "ISO3166-2", Value: "UY-CA"}
	sq := func(s string) cap.Polygon {
		p, err := cap.ParsePolygon(s)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	f := func(v float64) *float64 { return &v }
	point := func(lat, lon float64) Location { return Location{Lat: f(lat), Lon: f(lon)} }
	area := func(p cap.Pair) Location { return Location{Area: &p} }
	cases := []struct {
		name      string
		areas     []cap.Area
		in, out   []Location
		unmatched int
	}{
		{"a geocode alone", []cap.Area{{Desc: "MO", Geocodes: []cap.Pair{mo}}},
			[]Location{point(-34.9, -56.2), area(mo)}, []Location{point(-34.5, -55.8), area(ca)}, 0},
		{"a polygon across Canelones' west", []cap.Area{{Desc: "W", Polygons: []cap.Polygon{sq("-34.6,-56.2 -34.4,-56.2 -34.4,-56.0 -34.6,-56.0 -34.6,-56.2")}}},
			[]Location{point(-34.5, -56.1), area(ca)}, []Location{point(-34.5, -55.8), area(mo)}, 0},
		{"a circle reaching Canelones' far polygon", []cap.Area{{Desc: "C", Circles: []cap.Circle{{Center: cap.Point{Lat: -34.85, Lon: -55.1}, Radius: 12}}}},
			[]Location{area(ca), point(-34.85, -55.15)}, []Location{area(mo), point(-34.5, -55.8)}, 0},
		{"an unknown geocode", []cap.Area{{Desc: "X", Geocodes: []cap.Pair{{Name: "SAME", Value: "012345"}}}},
			nil, []Location{area(mo), point(-34.9, -56.2)}, 1},
		{"an unknown geocode beside a polygon", []cap.Area{{Desc: "X", Geocodes: []cap.Pair{{Name: "SAME", Value: "012345"}},
			Polygons: []cap.Polygon{sq("-35,-57 -34,-57 -34,-56.9 -35,-56.9 -35,-57")}}}, nil, []Location{area(mo)}, 0},
		{"nothing shared", []cap.Area{{Desc: "MO", Geocodes: []cap.Pair{mo}}}, nil, []Location{{}}, 0},
	}
	for _, c := range cases {
		r, unmatched := g.reachOf(&cap.Alert{Info: []cap.Info{{Areas: c.areas}}})
		if len(unmatched) != c.unmatched {
			t.Errorf("%s: %d areas unmatched, want %d", c.name, len(unmatched), c.unmatched)
		}
		for _, l := range c.in {
			if !r.holds(l) {
				t.Errorf("%s: %+v is not reached", c.name, l)
			}
		}
		for _, l := range c.out {
			if r.holds(l) {
				t.Errorf("%s: %+v is reached", c.name, l)
			}
		}
	}
	// Without a gazetteer: polygons and circles only.
	r, unmatched := (*Gazetteer)(nil).reachOf(&cap.Alert{Info: []cap.Info{{Areas: []cap.Area{{Desc: "MO", Geocodes: []cap.Pair{mo}}}}}})
	if len(unmatched) != 1 || r.holds(point(-34.9, -56.2)) {
		t.Errorf("without a gazetteer a geocode is unmatched: %v", unmatched)
	}
}

// BenchmarkReach: the worst alert the bounds allow against the largest
// gazetteer — a comb of cap.MaxPoints points across the world, whose
// edges' bounds meet every area's, and cap.MaxCircles circles — matched
// against 20 areas of 10,000 points each (200,000, MaxAreaPoints).
func BenchmarkReach(b *testing.B) {
	var y strings.Builder
	y.WriteString("areas:\n")
	for i := range 20 {
		lat, lon := -50+float64(i/5)*30, -140+float64(i%5)*65
		fmt.Fprintf(&y, "  - value_name: bench\n    value: a%d\n    name: {es: A%d, en: A%d}\n    polygons:\n      - \"", i, i, i)
		const n = 9999
		for j := range n {
			a := 2 * math.Pi * float64(j) / n
			fmt.Fprintf(&y, "%.6f,%.6f ", lat+5*math.Sin(a), lon+5*math.Cos(a))
		}
		fmt.Fprintf(&y, "%.6f,%.6f\"\n", lat, lon+5)
	}
	g, err := ParseGazetteer([]byte(y.String()))
	if err != nil {
		b.Fatal(err)
	}
	// The comb: teeth across 300° of longitude, between the areas' rows.
	var comb cap.Polygon
	teeth := cap.MaxPoints / 4
	step := 170.0 / float64(teeth)
	for i := range teeth {
		lat := -85 + float64(i)*step
		comb = append(comb, cap.Point{Lat: lat, Lon: -150}, cap.Point{Lat: lat, Lon: 150},
			cap.Point{Lat: lat + step/2, Lon: 150}, cap.Point{Lat: lat + step/2, Lon: -149})
	}
	comb = append(comb, cap.Point{Lat: 89, Lon: -149}, cap.Point{Lat: 89, Lon: -151}, cap.Point{Lat: -85, Lon: -151})
	comb = append(comb, comb[0])
	ar := cap.Area{Desc: "bench", Polygons: []cap.Polygon{comb}}
	for i := range cap.MaxCircles {
		ar.Circles = append(ar.Circles, cap.Circle{Center: cap.Point{Lat: -80 + float64(i%160), Lon: -170 + float64(i%340)}, Radius: 50})
	}
	a := &cap.Alert{Info: []cap.Info{{Areas: []cap.Area{ar}}}}
	for b.Loop() {
		r, _ := g.reachOf(a)
		if len(r.touched) == 0 {
			b.Fatal("the comb reaches no area")
		}
	}
}

// FuzzReach: whatever alert an agency posts that parses, working out
// where it reaches among the known areas and whether points and areas are
// in it neither panics nor hangs.
func FuzzReach(f *testing.F) {
	for _, name := range []string{"flood.xml", "flood-update.xml", "flood-cancel.xml"} {
		b, err := os.ReadFile("cap/testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	g, err := ParseGazetteer([]byte(gazetteer))
	if err != nil {
		f.Fatal(err)
	}
	mo := cap.Pair{Name: "ISO3166-2", Value: "UY-MO"}
	lat, lon := -34.9, -56.2
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := cap.Parse(b)
		if err != nil {
			return
		}
		r, _ := g.reachOf(a)
		r.holds(Location{Lat: &lat, Lon: &lon})
		r.holds(Location{Area: &mo})
	})
}
