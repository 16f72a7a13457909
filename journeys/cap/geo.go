package cap

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"
	"github.com/paulmach/orb/planar"
)

// Point is a WGS 84 coordinate pair in decimal degrees; CAP writes it
// "lat,lon" (§1.5, §3.2.4).
type Point struct {
	Lat, Lon float64
}

// Polygon is a closed ring of points as the alert gives it: at least four,
// the last equal to the first, the edges crossing nowhere (§3.2.4
// polygon).
type Polygon []Point

// Circle is a centre and a radius in kilometres (§3.2.4 circle).
type Circle struct {
	Center Point
	Radius float64
}

// MaxCircles bounds an alert's distinct circles: matching them against
// known areas costs each a polygon (Circle.Polygon).
const MaxCircles = 1000

// MaxPoints bounds the points of an alert's polygons, all together, a
// polygon repeated (as in each language's info) counted once: checking
// that no two edges cross costs up to the square of a polygon's points
// (some 0.1 s for 5000 points drawn to be the worst case).
const MaxPoints = 5000

// Contains says whether the point lies inside the polygon or on its edge,
// in the plane of longitude and latitude (a polygon across the
// antimeridian is read the long way round).
func (p Polygon) Contains(lat, lon float64) bool {
	if len(p) < 4 {
		return false
	}
	ring := make(orb.Ring, len(p))
	for i, q := range p {
		ring[i] = orb.Point{q.Lon, q.Lat}
	}
	return planar.RingContains(ring, orb.Point{lon, lat})
}

// Contains says whether the point lies within the circle: its great-circle
// (haversine) distance from the centre is at most the radius.
func (c Circle) Contains(lat, lon float64) bool {
	d := geo.DistanceHaversine(orb.Point{c.Center.Lon, c.Center.Lat}, orb.Point{lon, lat})
	return d <= c.Radius*1000
}

// decimal is the lexical form of xs:decimal: no exponent, no NaN or Inf.
var decimal = regexp.MustCompile(`^[+-]?(\d+(\.\d*)?|\.\d+)$`)

// parseDecimal reads an xs:decimal of at most 32 characters.
func parseDecimal(s string) (float64, error) {
	if len(s) > 32 || !decimal.MatchString(s) {
		return 0, fmt.Errorf("%s is not a decimal number", quote(s))
	}
	return strconv.ParseFloat(s, 64)
}

// parsePoint reads a "lat,lon" coordinate pair within WGS 84's ranges.
func parsePoint(s string) (Point, error) {
	lat, lon, ok := strings.Cut(s, ",")
	if !ok {
		return Point{}, fmt.Errorf("%s is not a lat,lon pair", quote(s))
	}
	var p Point
	var err error
	if p.Lat, err = parseDecimal(lat); err != nil {
		return Point{}, fmt.Errorf("latitude: %w", err)
	}
	if p.Lon, err = parseDecimal(lon); err != nil {
		return Point{}, fmt.Errorf("longitude: %w", err)
	}
	if p.Lat < -90 || p.Lat > 90 {
		return Point{}, fmt.Errorf("latitude %s is outside -90..90", quote(lat))
	}
	if p.Lon < -180 || p.Lon > 180 {
		return Point{}, fmt.Errorf("longitude %s is outside -180..180", quote(lon))
	}
	return p, nil
}

// parsePolygon reads a whitespace-delimited list of coordinate pairs
// (§3.2.4 polygon).
func parsePolygon(s string) (Polygon, error) {
	fields := strings.Fields(s)
	p := make(Polygon, len(fields))
	for i, f := range fields {
		var err error
		if p[i], err = parsePoint(f); err != nil {
			return nil, fmt.Errorf("pair %d: %w", i, err)
		}
	}
	if len(p) < 4 {
		return nil, fmt.Errorf("%d coordinate pairs, fewer than 4", len(p))
	}
	if p[0] != p[len(p)-1] {
		return nil, errors.New("not closed: the last pair is not the first")
	}
	switch i, j, ok := crossing(p); {
	case ok && i < 0:
		return nil, errors.New("degenerate: fewer than 3 distinct vertices")
	case ok:
		return nil, fmt.Errorf("not simple: edge %d meets edge %d", i, j)
	}
	return p, nil
}

// parseCircle reads "lat,lon radius" (§3.2.4 circle).
func parseCircle(s string) (Circle, error) {
	fields := strings.Fields(s)
	if len(fields) != 2 {
		return Circle{}, fmt.Errorf("%s is not \"lat,lon radius\"", quote(s))
	}
	center, err := parsePoint(fields[0])
	if err != nil {
		return Circle{}, err
	}
	r, err := parseDecimal(fields[1])
	if err != nil {
		return Circle{}, fmt.Errorf("radius: %w", err)
	}
	if r < 0 {
		return Circle{}, fmt.Errorf("radius %s is negative", quote(fields[1]))
	}
	return Circle{Center: center, Radius: r}, nil
}

// edge is a polygon's edge from a to b, numbered from the first pair, with
// its bounds.
type edge struct {
	a, b                     Point
	n                        int
	west, east, south, north float64
}

// crossing finds two edges of a closed ring that meet anywhere but at the
// vertex two neighbours share, or neighbours that double back over each
// other; repeated consecutive points are read as one, and a ring of fewer
// than three distinct vertices is degenerate (-1, -1, true). Edges are
// swept by their western end, so only edges whose bounds overlap are
// tested: a polygon of n points costs n log n, up to n² when most bounds
// overlap.
func crossing(p Polygon) (i, j int, ok bool) {
	var edges []edge
	for k := 0; k+1 < len(p); k++ {
		a, b := p[k], p[k+1]
		if a != b {
			edges = append(edges, edge{a: a, b: b, n: k,
				west: min(a.Lon, b.Lon), east: max(a.Lon, b.Lon),
				south: min(a.Lat, b.Lat), north: max(a.Lat, b.Lat)})
		}
	}
	m := len(edges)
	if m < 3 {
		return -1, -1, true
	}
	for k := range m {
		e, f := edges[k], edges[(k+1)%m]
		if orient(e.a, e.b, f.b) == 0 && dot(e.a, e.b, f.b) > 0 {
			return min(e.n, f.n), max(e.n, f.n), true
		}
	}
	order := make([]int, m)
	for k := range order {
		order[k] = k
	}
	slices.SortFunc(order, func(x, y int) int { return cmp.Compare(edges[x].west, edges[y].west) })
	for s, x := range order {
		e := &edges[x]
		for _, y := range order[s+1:] {
			f := &edges[y]
			if f.west > e.east {
				break
			}
			if f.south > e.north || e.south > f.north || (x+1)%m == y || (y+1)%m == x {
				continue // apart, or neighbours
			}
			if intersect(e.a, e.b, f.a, f.b) {
				return min(e.n, f.n), max(e.n, f.n), true
			}
		}
	}
	return 0, 0, false
}

// orient is the sign of the turn a→b→c: 1 left, -1 right, 0 straight.
func orient(a, b, c Point) int {
	v := (b.Lon-a.Lon)*(c.Lat-a.Lat) - (b.Lat-a.Lat)*(c.Lon-a.Lon)
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

// dot is the dot product of a-b and c-b: positive when a and c lie on the
// same side of b.
func dot(a, b, c Point) float64 {
	return (a.Lon-b.Lon)*(c.Lon-b.Lon) + (a.Lat-b.Lat)*(c.Lat-b.Lat)
}

// within says whether c, collinear with a and b, lies on the segment a-b.
func within(a, b, c Point) bool {
	return math.Min(a.Lon, b.Lon) <= c.Lon && c.Lon <= math.Max(a.Lon, b.Lon) &&
		math.Min(a.Lat, b.Lat) <= c.Lat && c.Lat <= math.Max(a.Lat, b.Lat)
}

// intersect says whether the segments a-b and c-d meet, touching
// included.
func intersect(a, b, c, d Point) bool {
	o1, o2, o3, o4 := orient(a, b, c), orient(a, b, d), orient(c, d, a), orient(c, d, b)
	if o1*o2 < 0 && o3*o4 < 0 {
		return true
	}
	return o1 == 0 && within(a, b, c) || o2 == 0 && within(a, b, d) ||
		o3 == 0 && within(c, d, a) || o4 == 0 && within(c, d, b)
}

// ParsePolygon reads a polygon written as CAP writes one ("lat,lon
// lat,lon …", closed, simple), as for an area Cedula knows by geocode.
func ParsePolygon(s string) (Polygon, error) { return parsePolygon(s) }

// Overlaps says whether two polygons share any point: an edge of one
// meets an edge of the other, or one lies within the other. Edges are
// swept by their western end, as in crossing, so that only edges whose
// bounds overlap are tested.
func (p Polygon) Overlaps(q Polygon) bool {
	if len(p) < 4 || len(q) < 4 {
		return false
	}
	pb, qb := p.bounds(), q.bounds()
	if pb.west > qb.east || qb.west > pb.east || pb.south > qb.north || qb.south > pb.north {
		return false
	}
	if p.Contains(q[0].Lat, q[0].Lon) || q.Contains(p[0].Lat, p[0].Lon) {
		return true
	}
	// Only the edges within the other's bounds can meet it; n is the
	// polygon an edge belongs to.
	var edges []edge
	add := func(r Polygon, n int, b edge) {
		for k := 0; k+1 < len(r); k++ {
			a, c := r[k], r[k+1]
			e := edge{a: a, b: c, n: n, west: min(a.Lon, c.Lon), east: max(a.Lon, c.Lon), south: min(a.Lat, c.Lat), north: max(a.Lat, c.Lat)}
			if e.west <= b.east && e.east >= b.west && e.south <= b.north && e.north >= b.south {
				edges = append(edges, e)
			}
		}
	}
	add(p, 0, qb)
	add(q, 1, pb)
	slices.SortFunc(edges, func(x, y edge) int { return cmp.Compare(x.west, y.west) })
	for i := range edges {
		e := &edges[i]
		for j := i + 1; j < len(edges); j++ {
			f := &edges[j]
			if f.west > e.east {
				break
			}
			if f.n == e.n || f.south > e.north || e.south > f.north {
				continue
			}
			if intersect(e.a, e.b, f.a, f.b) {
				return true
			}
		}
	}
	return false
}

// Box is a bounding box in degrees.
type Box struct{ South, West, North, East float64 }

// Box is the polygon's bounding box.
func (p Polygon) Box() Box {
	b := p.bounds()
	return Box{South: b.south, West: b.west, North: b.north, East: b.east}
}

// Meets says whether two boxes share any point.
func (b Box) Meets(c Box) bool {
	return b.West <= c.East && c.West <= b.East && b.South <= c.North && c.South <= b.North
}

// bounds is the polygon's bounding box.
func (p Polygon) bounds() edge {
	e := edge{west: math.Inf(1), east: math.Inf(-1), south: math.Inf(1), north: math.Inf(-1)}
	for _, q := range p {
		e.west, e.east = min(e.west, q.Lon), max(e.east, q.Lon)
		e.south, e.north = min(e.south, q.Lat), max(e.north, q.Lat)
	}
	return e
}

// Polygon is a polygon of 64 sides around the circle, its vertices a
// little farther than the radius so that its straight edges never cut
// inside the circle: what overlaps the circle overlaps the polygon (an
// area that only comes near the circle may overlap the polygon too —
// for an alert, reaching a few more is the safe side).
func (c Circle) Polygon() Polygon {
	const sides = 64
	r := c.Radius * 1000 / math.Cos(math.Pi/sides) * 1.01
	centre := orb.Point{c.Center.Lon, c.Center.Lat}
	p := make(Polygon, sides+1)
	for i := range sides {
		v := geo.PointAtBearingAndDistance(centre, float64(i)*360/sides, r)
		p[i] = Point{Lat: v.Lat(), Lon: v.Lon()}
	}
	p[sides] = p[0]
	return p
}
