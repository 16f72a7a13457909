package cap_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"

	"github.com/cedula/cedula/journeys/cap"
)

// ring makes a polygon from lat,lon pairs, closing it.
func ring(pairs ...float64) cap.Polygon {
	var p cap.Polygon
	for i := 0; i+1 < len(pairs); i += 2 {
		p = append(p, cap.Point{Lat: pairs[i], Lon: pairs[i+1]})
	}
	return append(p, p[0])
}

func TestPolygonContains(t *testing.T) {
	// A C open to the east: its mouth lies in its bounding box but not in
	// it.
	c := ring(0, 0, 0, 3, 1, 3, 1, 1, 2, 1, 2, 3, 3, 3, 3, 0)
	across := ring(10, 179, 10, -179, 12, -179, 12, 179)
	for _, tc := range []struct {
		name     string
		p        cap.Polygon
		lat, lon float64
		want     bool
	}{
		{"in the lower arm", c, 0.5, 2, true},
		{"in the back", c, 1.5, 0.5, true},
		{"in the mouth, inside the bounding box", c, 1.5, 2, false},
		{"on the mouth's edge", c, 1, 2, true},
		{"at a vertex", c, 3, 3, true},
		{"outside the bounding box", c, 4, 1, false},
		{"far away", c, -45, -120, false},
		{"a polygon of no points", nil, 0, 0, false},
		{"across the antimeridian, read the long way: 0°", across, 11, 0, true},
		{"across the antimeridian, read the long way: 180°", across, 11, 180, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.p.Contains(tc.lat, tc.lon); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCircleContains(t *testing.T) {
	// Tous dam, 8 km; a degree of latitude is about 111.3 km.
	tous := cap.Circle{Center: cap.Point{Lat: 39.1386, Lon: -0.6483}, Radius: 8}
	for _, tc := range []struct {
		name     string
		c        cap.Circle
		lat, lon float64
		want     bool
	}{
		{"the centre", tous, 39.1386, -0.6483, true},
		{"7.8 km north", tous, 39.1386 + 0.070, -0.6483, true},
		{"8.1 km north", tous, 39.1386 + 0.073, -0.6483, false},
		{"7.8 km east, a degree of longitude being shorter", tous, 39.1386, -0.6483 + 0.0905, true},
		{"8.2 km east", tous, 39.1386, -0.6483 + 0.095, false},
		{"in the circle's bounding square, not in it", tous, 39.1386 + 0.06, -0.6483 + 0.077, false},
		{"radius 0, the centre", cap.Circle{Center: tous.Center}, 39.1386, -0.6483, true},
		{"radius 0, next to the centre", cap.Circle{Center: tous.Center}, 39.1387, -0.6483, false},
		{"across the antimeridian", cap.Circle{Center: cap.Point{Lat: 0, Lon: 179.99}, Radius: 5}, 0, -179.99, true},
		{"at the pole", cap.Circle{Center: cap.Point{Lat: 90, Lon: 0}, Radius: 200}, 89, 137, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.Contains(tc.lat, tc.lon); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func mustPolygon(t *testing.T, s string) cap.Polygon {
	t.Helper()
	p, err := cap.ParsePolygon(s)
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return p
}

// TestOverlaps: polygons overlap when an edge meets an edge or one holds
// the other — the cross of two bars, where no vertex of either lies in
// the other, included.
func TestOverlaps(t *testing.T) {
	square := mustPolygon(t, "-35,-57 -34,-57 -34,-56 -35,-56 -35,-57")
	cases := []struct {
		name string
		q    string
		want bool
	}{
		{"apart", "-33,-55 -32,-55 -32,-54 -33,-54 -33,-55", false},
		{"boxes apart but near", "-35,-55.9 -34,-55.9 -34,-55 -35,-55 -35,-55.9", false},
		{"inside", "-34.6,-56.6 -34.4,-56.6 -34.4,-56.4 -34.6,-56.4 -34.6,-56.6", true},
		{"around", "-36,-58 -33,-58 -33,-55 -36,-55 -36,-58", true},
		{"a bar across (no vertex inside either)", "-34.6,-58 -34.4,-58 -34.4,-55 -34.6,-55 -34.6,-58", true},
		{"sharing an edge", "-35,-56 -34,-56 -34,-55 -35,-55 -35,-56", true},
		{"a triangle whose box overlaps but not it", "-33,-56.9 -33,-55.1 -34.9,-55.1 -33,-56.9", false},
	}
	for _, c := range cases {
		q := mustPolygon(t, c.q)
		if got := square.Overlaps(q); got != c.want {
			t.Errorf("%s: Overlaps = %v, want %v", c.name, got, c.want)
		}
		if got := q.Overlaps(square); got != c.want {
			t.Errorf("%s (the other way): Overlaps = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestCirclePolygon: the polygon around a circle holds every point of the
// circle and little beyond it.
func TestCirclePolygon(t *testing.T) {
	for _, c := range []cap.Circle{{Center: cap.Point{Lat: -34.9, Lon: -56.16}, Radius: 12}, {Center: cap.Point{Lat: 60, Lon: 10}, Radius: 100}} {
		p := c.Polygon()
		if len(p) != 65 || p[0] != p[64] {
			t.Fatalf("got %d points, open %v; want 65, closed", len(p), p[0] != p[64])
		}
		if _, err := cap.ParsePolygon(polygonText(p)); err != nil {
			t.Errorf("the circle's polygon is not a valid CAP polygon: %v", err)
		}
		centre := orb.Point{c.Center.Lon, c.Center.Lat}
		for b := 0.0; b < 360; b += 7.5 {
			in := geo.PointAtBearingAndDistance(centre, b, c.Radius*1000*0.9999)
			if !p.Contains(in.Lat(), in.Lon()) {
				t.Errorf("radius %g km: a point of the circle at bearing %g is outside its polygon", c.Radius, b)
			}
			out := geo.PointAtBearingAndDistance(centre, b, c.Radius*1000*1.03)
			if p.Contains(out.Lat(), out.Lon()) {
				t.Errorf("radius %g km: a point 3%% beyond the circle at bearing %g is inside its polygon", c.Radius, b)
			}
		}
	}
}

func polygonText(p cap.Polygon) string {
	var b strings.Builder
	for i, q := range p {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%f,%f", q.Lat, q.Lon)
	}
	return b.String()
}
