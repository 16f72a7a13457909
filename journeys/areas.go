package journeys

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/cedula/cedula/journeys/cap"
)

// Areas Cedula knows by geocode (a gazetteer): what a CAP alert's
// <geocode> names — a department by its ISO 3166-2 code, a municipality
// by the statistics office's — with its boundary, so that targeted
// alerts given by geocode reach the citizens whose shared point lies
// inside, and so that a citizen can share an area rather than a point
// (their department, say: less than where they live) and still be
// reached by alerts that name it, or whose polygons or circles cross it.

// KnownArea is an area of the gazetteer.
type KnownArea struct {
	// ValueName and Value are the geocode as CAP writes it
	// (<valueName>ISO3166-2</valueName><value>UY-MO</value>).
	ValueName string `yaml:"value_name" json:"value_name"`
	Value     string `yaml:"value" json:"value"`
	// Name is the area for people, in Spanish and English.
	Name struct {
		ES string `yaml:"es" json:"es"`
		EN string `yaml:"en" json:"en"`
	} `yaml:"name" json:"name"`
	// Polygons are the boundary, each as CAP writes a polygon ("lat,lon
	// lat,lon …", closed and simple); the area is their union.
	Polygons []string `yaml:"polygons" json:"-"`

	rings []cap.Polygon
	boxes []cap.Box // the rings'
}

// Pair is the area's geocode.
func (k *KnownArea) Pair() cap.Pair { return cap.Pair{Name: k.ValueName, Value: k.Value} }

// Contains says whether a point lies in the area.
func (k *KnownArea) Contains(lat, lon float64) bool {
	for _, r := range k.rings {
		if r.Contains(lat, lon) {
			return true
		}
	}
	return false
}

// overlaps says whether the area shares a point with any of ps, whose
// boxes are boxes.
func (k *KnownArea) overlaps(ps []cap.Polygon, boxes []cap.Box) bool {
	for i, r := range k.rings {
		for j, p := range ps {
			if k.boxes[i].Meets(boxes[j]) && r.Overlaps(p) {
				return true
			}
		}
	}
	return false
}

// Gazetteer is the areas Cedula knows, by geocode.
type Gazetteer struct {
	areas []KnownArea
	index map[cap.Pair]int
}

// Limits of a gazetteer.
const (
	MaxAreas      = 2000
	MaxAreaPoints = 200_000 // all polygons' points together
)

// ParseGazetteer reads a gazetteer: YAML with a list of areas under
// "areas" (see docs/journeys.md). It returns every problem at once.
func ParseGazetteer(b []byte) (*Gazetteer, error) {
	var doc struct {
		Areas []KnownArea `yaml:"areas"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: the YAML does not read as areas: %v", ErrInvalid, err)
	}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if len(doc.Areas) > MaxAreas {
		bad("%d areas, more than %d", len(doc.Areas), MaxAreas)
		doc.Areas = doc.Areas[:MaxAreas]
	}
	g := &Gazetteer{index: map[cap.Pair]int{}}
	points := 0
	for i := range doc.Areas {
		a := &doc.Areas[i]
		where := fmt.Sprintf("area %d (%.64q %.64q)", i+1, a.ValueName, a.Value)
		if !label(a.ValueName) || !label(a.Value) {
			bad("%s: value_name and value are required, of at most 256 characters without control characters", where)
		}
		if _, dup := g.index[a.Pair()]; dup {
			bad("%s: the geocode is there twice", where)
		}
		if strings.TrimSpace(a.Name.ES) == "" || strings.TrimSpace(a.Name.EN) == "" || len(a.Name.ES) > 256 || len(a.Name.EN) > 256 {
			bad("%s: name needs es and en, of at most 256 bytes", where)
		}
		if len(a.Polygons) == 0 {
			bad("%s: at least one polygon is required", where)
		}
		for j, s := range a.Polygons {
			p, err := cap.ParsePolygon(s)
			if err != nil {
				bad("%s: polygon %d: %v", where, j+1, err)
				continue
			}
			points += len(p)
			a.rings = append(a.rings, p)
			a.boxes = append(a.boxes, p.Box())
		}
		g.index[a.Pair()] = i
	}
	if points > MaxAreaPoints {
		bad("%d points in all, more than %d", points, MaxAreaPoints)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrInvalid, strings.Join(problems, "; "))
	}
	g.areas = doc.Areas
	return g, nil
}

// label is a geocode's name or value: 1 to 256 bytes of UTF-8 without
// control characters.
func label(s string) bool {
	if s == "" || len(s) > 256 || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// Areas lists the areas, in the file's order.
func (g *Gazetteer) Areas() []KnownArea {
	if g == nil {
		return nil
	}
	return g.areas
}

// Area returns the area of a geocode.
func (g *Gazetteer) Area(p cap.Pair) (*KnownArea, bool) {
	if g == nil {
		return nil, false
	}
	i, ok := g.index[p]
	if !ok {
		return nil, false
	}
	return &g.areas[i], true
}

// reach is where a targeted alert reaches, worked out once per alert: its
// own areas, the known areas it names by geocode, and the known areas its
// polygons and circles cross.
type reach struct {
	areas   []cap.Area
	named   []*KnownArea          // known areas the alert names
	touched map[cap.Pair]struct{} // known areas the alert names or crosses
}

// reachOf works out where a reaches, and lists (by description) the
// areas it cannot match: neither a polygon nor a circle, and no geocode
// of a known area. Shapes repeated (as in each language's info) are
// matched once.
func (g *Gazetteer) reachOf(a *cap.Alert) (r reach, unmatched []string) {
	r.touched = map[cap.Pair]struct{}{}
	var shapes []cap.Polygon
	var boxes []cap.Box
	seen := map[string]bool{}
	shape := func(key string, p func() cap.Polygon) {
		if !seen[key] {
			seen[key] = true
			q := p()
			shapes, boxes = append(shapes, q), append(boxes, q.Box())
		}
	}
	for _, info := range a.Info {
		for _, ar := range info.Areas {
			r.areas = append(r.areas, ar)
			for _, p := range ar.Polygons {
				shape(fmt.Sprint(p), func() cap.Polygon { return p })
			}
			for _, c := range ar.Circles {
				shape(fmt.Sprint(c), c.Polygon)
			}
			named := false
			for _, p := range ar.Geocodes {
				if k, ok := g.Area(p); ok {
					named = true
					if _, seen := r.touched[p]; !seen {
						r.named = append(r.named, k)
					}
					r.touched[p] = struct{}{}
				}
			}
			if len(ar.Polygons) == 0 && len(ar.Circles) == 0 && !named {
				unmatched = append(unmatched, ar.Desc)
			}
		}
	}
	for i := range g.Areas() {
		k := &g.areas[i]
		if _, seen := r.touched[k.Pair()]; !seen && k.overlaps(shapes, boxes) {
			r.touched[k.Pair()] = struct{}{}
		}
	}
	return r, unmatched
}

// holds says whether a citizen's shared location is in the alert's reach:
// their point in one of its areas or a known area it names, or their
// area among those it names or crosses.
func (r *reach) holds(l Location) bool {
	if l.Area != nil {
		_, ok := r.touched[*l.Area]
		return ok
	}
	if l.Lat == nil || l.Lon == nil {
		return false
	}
	for i := range r.areas {
		if r.areas[i].Contains(*l.Lat, *l.Lon) {
			return true
		}
	}
	for _, k := range r.named {
		if k.Contains(*l.Lat, *l.Lon) {
			return true
		}
	}
	return false
}
