package auditapi_test

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/audit/auditapi"
)

func TestTilePathRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		tile tlog.Tile
		path string
	}{
		{tlog.Tile{H: 8, L: 0, N: 0, W: 256}, "tile/0/000"},
		{tlog.Tile{H: 8, L: 0, N: 0, W: 1}, "tile/0/000.p/1"},
		{tlog.Tile{H: 8, L: 2, N: 999, W: 255}, "tile/2/999.p/255"},
		{tlog.Tile{H: 8, L: 1, N: 1000, W: 256}, "tile/1/x001/000"},
		{tlog.Tile{H: 8, L: 0, N: 1234067, W: 256}, "tile/0/x001/x234/067"},
		{tlog.Tile{H: 8, L: 63, N: 5, W: 7}, "tile/63/005.p/7"},
		{tlog.Tile{H: 8, L: -1, N: 1234067, W: 8}, "tile/entries/x001/x234/067.p/8"},
		{tlog.Tile{H: 8, L: -1, N: 0, W: 256}, "tile/entries/000"},
		{tlog.Tile{H: 8, L: 0, N: math.MaxInt64, W: 256}, "tile/0/x009/x223/x372/x036/x854/x775/807"},
	} {
		if got := auditapi.TilePath(tc.tile); got != tc.path {
			t.Errorf("TilePath(%+v): got %q, want %q", tc.tile, got, tc.path)
		}
		got, err := auditapi.ParseTilePath(tc.path)
		if err != nil || got != tc.tile {
			t.Errorf("ParseTilePath(%q): got %+v, %v; want %+v", tc.path, got, err, tc.tile)
		}
	}
}

func TestParseTilePathRejects(t *testing.T) {
	for _, p := range []string{
		"", "tile", "tile/", "tile/0", "tile/0/", "/tile/0/000", "tiles/0/000", "tile/0/000/",
		"tile/0/0", "tile/0/00", "tile/0/0000", "tile/0/-01", "tile/0/+01", "tile/0/ 01", "tile/0/abc",
		"tile/00/000", "tile/01/000", "tile/64/000", "tile/-1/000", "tile/data/000", "tile/x/000",
		"tile/0/x000/001", "tile/0/x000/x001/002", "tile/0/001/002", "tile/0/x001", "tile/0/x01/002", "tile/0/xx01/002",
		"tile/0/000.p/0", "tile/0/000.p/256", "tile/0/000.p/01", "tile/0/000.p/", "tile/0/000.p", "tile/0/000.p/1/2",
		"tile/0/000.p/1x", "tile/0/000.q/1", "tile/0/x001.p/2/000", "tile/entries", "tile/entries/", "tile/entries/1",
		"tile/0/x009/x223/x372/x036/x854/x775/808", "tile/0/x999/x999/x999/x999/x999/x999/x999/000",
		"tile/8/x001/000.p/1/..", "tile/0/000\x00",
	} {
		if tl, err := auditapi.ParseTilePath(p); !errors.Is(err, audit.ErrMalformed) {
			t.Errorf("ParseTilePath(%q): got %+v, %v; want ErrMalformed", p, tl, err)
		}
	}
}

func TestTileEnd(t *testing.T) {
	for _, tc := range []struct {
		tile tlog.Tile
		end  int64
		ok   bool
	}{
		{tlog.Tile{H: 8, L: 0, N: 0, W: 1}, 1, true},
		{tlog.Tile{H: 8, L: 0, N: 1, W: 256}, 512, true},
		{tlog.Tile{H: 8, L: -1, N: 1, W: 44}, 300, true},
		{tlog.Tile{H: 8, L: 1, N: 0, W: 1}, 256, true},
		{tlog.Tile{H: 8, L: 2, N: 0, W: 2}, 2 << 16, true},
		{tlog.Tile{H: 8, L: 7, N: 0, W: 127}, 127 << 56, true},
		{tlog.Tile{H: 8, L: 7, N: 0, W: 128}, 0, false},
		{tlog.Tile{H: 8, L: 8, N: 0, W: 1}, 0, false},
		{tlog.Tile{H: 8, L: 63, N: 0, W: 1}, 0, false},
		{tlog.Tile{H: 8, L: 0, N: math.MaxInt64, W: 256}, 0, false},
	} {
		end, ok := auditapi.TileEnd(tc.tile)
		if end != tc.end || ok != tc.ok {
			t.Errorf("TileEnd(%+v): got %d, %v; want %d, %v", tc.tile, end, ok, tc.end, tc.ok)
		}
	}
}

func TestBundle(t *testing.T) {
	entries := [][]byte{[]byte("a"), {}, bytes.Repeat([]byte{'x'}, auditapi.MaxBundleEntry)}
	var b []byte
	for _, e := range entries {
		var err error
		if b, err = auditapi.AppendBundleEntry(b, e); err != nil {
			t.Fatal(err)
		}
	}
	if want := 3*2 + 1 + auditapi.MaxBundleEntry; len(b) != want {
		t.Errorf("bundle length: got %d, want %d", len(b), want)
	}
	got, err := auditapi.ParseBundle(b)
	if err != nil || len(got) != len(entries) {
		t.Fatalf("ParseBundle: got %d entries, %v; want %d", len(got), err, len(entries))
	}
	for i := range entries {
		if !bytes.Equal(got[i], entries[i]) {
			t.Errorf("entry %d: got %d bytes, want %d", i, len(got[i]), len(entries[i]))
		}
	}
	if _, err := auditapi.AppendBundleEntry(nil, make([]byte, auditapi.MaxBundleEntry+1)); err == nil {
		t.Error("AppendBundleEntry of 65536 bytes: got no error")
	}
	for _, bad := range [][]byte{{0}, {0, 2, 'a'}, {0, 1, 'a', 0}} {
		if _, err := auditapi.ParseBundle(bad); !errors.Is(err, audit.ErrMalformed) {
			t.Errorf("ParseBundle(%q): got %v, want ErrMalformed", bad, err)
		}
	}
}

// TestTiles: the tiles of a size are tlog's, each level-0 tile followed by
// its entry bundle.
func TestTiles(t *testing.T) {
	for _, sizes := range [][2]int64{{0, 0}, {0, 1}, {0, 256}, {0, 70000}, {255, 256}, {256, 256}, {300, 800}, {70000, 70001}, {1, 1 << 24}} {
		var want []tlog.Tile
		for _, tl := range tlog.NewTiles(8, sizes[0], sizes[1]) {
			want = append(want, tl)
			if tl.L == 0 {
				tl.L = -1
				want = append(want, tl)
			}
		}
		got := slices.Collect(auditapi.Tiles(sizes[0], sizes[1]))
		if !slices.Equal(got, want) {
			t.Errorf("Tiles(%d, %d): got %d tiles, want %d", sizes[0], sizes[1], len(got), len(want))
		}
	}
	// C2SP tlog-tiles' example: a tree of 70,000 entries has 273 full
	// level-0 tiles, a partial one of width 112, a full level-1 tile, a
	// partial one of width 17 and a partial level-2 tile of width 1.
	full := 0
	var others []string
	for tl := range auditapi.Tiles(0, 70000) {
		switch {
		case tl.L == 0 && tl.W == 256:
			full++
		case tl.L != auditapi.EntriesLevel:
			others = append(others, auditapi.TilePath(tl))
		}
	}
	want := []string{"tile/0/273.p/112", "tile/1/000", "tile/1/001.p/17", "tile/2/000.p/1"}
	if full != 273 || !slices.Equal(others, want) {
		t.Errorf("tiles of 70000 entries: got %d full level-0 tiles and %q, want 273 and %q", full, others, want)
	}
}
