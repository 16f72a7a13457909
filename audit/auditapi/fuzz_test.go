package auditapi_test

import (
	"errors"
	"path"
	"strings"
	"testing"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/audit/auditapi"
)

// FuzzParseTilePath: ParseTilePath on arbitrary strings never panics,
// refuses with ErrMalformed, and accepts only the one canonical path of a
// tile of C2SP tlog-tiles: TilePath gives it back, its level is 0 to 63 or
// the entry bundles', its width 1 to 256, and it holds no dot segment,
// empty segment or character outside [0-9a-z./].
func FuzzParseTilePath(f *testing.F) {
	for _, p := range []string{
		"tile/0/000", "tile/0/000.p/1", "tile/63/005.p/7", "tile/entries/x001/x234/067.p/8",
		"tile/0/x009/x223/x372/x036/x854/x775/807", "tile/0/../../etc/passwd", "tile/0/000.p/256",
		"tile/0/x000/001", "tile/00/000", "tile/entries/000.p/0", "tile//0/000", "tile/0/000/",
	} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		tl, err := auditapi.ParseTilePath(p)
		if err != nil {
			if !errors.Is(err, audit.ErrMalformed) {
				t.Fatalf("ParseTilePath(%q): got error %v, want ErrMalformed", p, err)
			}
			return
		}
		if got := auditapi.TilePath(tl); got != p {
			t.Fatalf("ParseTilePath(%q) = %+v, whose path is %q", p, tl, got)
		}
		if tl.H != auditapi.TileHeight || tl.L < auditapi.EntriesLevel || tl.L > 63 || tl.N < 0 || tl.W < 1 || tl.W > auditapi.TileWidth {
			t.Fatalf("ParseTilePath(%q) = %+v: out of range", p, tl)
		}
		if path.Clean("/"+p) != "/"+p || strings.Trim(p, "0123456789abcdefghijklmnopqrstuvwxyz./") != "" {
			t.Fatalf("ParseTilePath(%q) accepted a path that is not clean or holds other characters", p)
		}
	})
}
