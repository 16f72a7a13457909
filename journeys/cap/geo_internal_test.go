package cap

import (
	"math"
	"strings"
	"testing"
)

func TestCrossing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pairs string
		want  bool
	}{
		{"a square", "0,0 0,1 1,1 1,0 0,0", false},
		{"a triangle", "0,0 0,1 1,0 0,0", false},
		{"a concave C", "0,0 0,3 1,3 1,1 2,1 2,3 3,3 3,0 0,0", false},
		{"a bowtie", "0,0 1,1 1,0 0,1 0,0", true},
		{"a figure eight meeting at a vertex", "0,0 1,1 2,0 2,2 1,1 0,2 0,0", true},
		{"a vertex on another edge", "0,0 0,2 1,2 0,1 -1,1 -1,0 0,0", true},
		{"an edge doubling back", "0,0 0,2 0,1 1,1 0,0", true},
		{"edges overlapping, not neighbours", "0,0 0,3 1,3 1,2 0,2 0,1 1,1 1,0 0,0", true},
		{"all on one line", "0,0 0,1 0,2 0,0", true},
		{"a repeated point", "0,0 0,1 0,1 1,1 0,0", false},
		{"one point", "0,0 0,0 0,0 0,0", true},
		{"the closing edge crossing the second", "0,0 2,0 2,2 3,1 -1,1 0,0", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p Polygon
			for _, f := range strings.Fields(tc.pairs) {
				q, err := parsePoint(f)
				if err != nil {
					t.Fatal(err)
				}
				p = append(p, q)
			}
			if _, _, got := crossing(p); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestDrawn: the polygons drawn to defeat the sweep are simple (the
// benchmark checks them at MaxPoints).
func TestDrawn(t *testing.T) {
	for name, p := range map[string]Polygon{"spiral": spiral(1000), "comb": comb(1000), "slant": slant(1000)} {
		if i, j, ok := crossing(p); ok {
			t.Errorf("%s: edges %d and %d cross, want none", name, i, j)
		}
	}
}

// comb is a closed polygon of about n points: n/4 teeth, each two edges
// across 300° of longitude, every edge's longitudes overlapping all the
// others'.
func comb(n int) Polygon {
	teeth := n / 4
	step := 170 / float64(teeth)
	var p Polygon
	for i := range teeth {
		lat := -85 + float64(i)*step
		p = append(p, Point{Lat: lat, Lon: -150}, Point{Lat: lat, Lon: 150},
			Point{Lat: lat + step/2, Lon: 150}, Point{Lat: lat + step/2, Lon: -149})
	}
	p = append(p, Point{Lat: 89, Lon: -149}, Point{Lat: 89, Lon: -151}, Point{Lat: -85, Lon: -151})
	return append(p, p[0])
}

// slant is a closed polygon of about n points whose edges are long,
// parallel diagonals, every edge's bounds overlapping all the others'.
func slant(n int) Polygon {
	teeth := n / 2
	d := 1.0 / float64(teeth)
	var p Polygon
	for i := range teeth {
		o := float64(i) * d
		if i%2 == 0 {
			p = append(p, Point{Lat: -80 + o, Lon: -150}, Point{Lat: 80 + o, Lon: 150})
		} else {
			p = append(p, Point{Lat: 80 + o, Lon: 150}, Point{Lat: -80 + o, Lon: -150})
		}
	}
	p = append(p, Point{Lat: 85, Lon: -160}, Point{Lat: 85, Lon: 160}, Point{Lat: -85, Lon: 160}, Point{Lat: -85, Lon: -160})
	return append(p, p[0])
}

// BenchmarkCrossing: the sweep over simple polygons of MaxPoints drawn
// to defeat it, their edges' bounds overlapping many others'.
func BenchmarkCrossing(b *testing.B) {
	for _, bc := range []struct {
		name string
		p    Polygon
	}{{"spiral", spiral(MaxPoints)}, {"comb", comb(MaxPoints)}, {"slant", slant(MaxPoints)}} {
		b.Run(bc.name, func(b *testing.B) {
			if i, j, ok := crossing(bc.p); ok {
				b.Fatalf("edges %d and %d cross, want none", i, j)
			}
			for b.Loop() {
				crossing(bc.p)
			}
		})
	}
}

// spiral is a closed polygon of n points: an Archimedean spiral of n/2
// points out from the centre to 80°, and back in beside itself.
func spiral(n int) Polygon {
	const step = 0.05 // radians between points
	half := n/2 - 1
	turns := float64(half) * step / (2 * math.Pi)
	k := 80 / (1 + turns) // degrees between turns
	at := func(i int, inward float64) Point {
		a := float64(i) * step
		r := k*(1+a/(2*math.Pi)) - inward
		return Point{Lat: r * math.Sin(a), Lon: r * math.Cos(a)}
	}
	p := make(Polygon, 0, n)
	for i := range half {
		p = append(p, at(i, 0))
	}
	for i := half - 1; i >= 0; i-- {
		p = append(p, at(i, 0.3*k))
	}
	return append(p, p[0])
}
