package cap_test

import (
	"testing"

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
