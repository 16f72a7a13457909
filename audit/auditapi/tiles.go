package auditapi

import (
	"encoding/binary"
	"fmt"
	"iter"
	"math"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/cedula/cedula/audit"
)

// The C2SP tlog-tiles layout (https://c2sp.org/tlog-tiles). Tiles are
// tlog.Tile values of height TileHeight; level -1 (tlog's "data" level)
// stands for the entry bundles.
const (
	// TileHeight is the height of every tile: 8 levels of the tree, so a
	// full tile holds TileWidth hashes (C2SP tlog-tiles, "Merkle Tree").
	TileHeight = 8
	// TileWidth is the number of hashes in a full tile and of entries in a
	// full entry bundle.
	TileWidth = 1 << TileHeight
	// EntriesLevel is the tlog.Tile level that names an entry bundle.
	EntriesLevel = -1
	// MaxBundleEntry is the longest entry an entry bundle can carry: its
	// length prefix is a big-endian uint16 (C2SP tlog-tiles, "Log entries").
	MaxBundleEntry = math.MaxUint16
	// maxLevel is the highest level a tile path may name (C2SP tlog-tiles:
	// 0 to 63).
	maxLevel = 63
)

// TilePath returns the path of t below the log's prefix, in the C2SP
// tlog-tiles form: tile/<L>/<N>[.p/<W>] for a hash tile and
// tile/entries/<N>[.p/<W>] for an entry bundle (t.L == EntriesLevel).
// <N> is written in 3-digit groups, all but the last prefixed with x
// (1234067 is x001/x234/067); .p/<W> marks a partial tile, W < TileWidth.
func TilePath(t tlog.Tile) string {
	b := make([]byte, 0, 32)
	b = append(b, "tile/"...)
	if t.L == EntriesLevel {
		b = append(b, "entries"...)
	} else {
		b = strconv.AppendInt(b, int64(t.L), 10)
	}
	b = append(b, '/')
	var groups [7]int64 // an int64 has at most 19 digits
	k := 0
	for n := t.N; ; n /= 1000 {
		groups[k] = n % 1000
		k++
		if n < 1000 {
			break
		}
	}
	for i := k - 1; i >= 0; i-- {
		if i > 0 {
			b = fmt.Appendf(b, "x%03d/", groups[i])
		} else {
			b = fmt.Appendf(b, "%03d", groups[i])
		}
	}
	if t.W > 0 && t.W < TileWidth {
		b = append(b, ".p/"...)
		b = strconv.AppendInt(b, int64(t.W), 10)
	}
	return string(b)
}

// ParseTilePath parses the path of a tile or entry bundle below the log's
// prefix, such as "tile/0/x001/234" or "tile/entries/000.p/17", and returns
// it as a tlog.Tile of height TileHeight (W is TileWidth for a full tile).
// It accepts only the canonical form TilePath writes — levels 0 to 63 and
// widths 1 to 255 without leading zeroes, 3-digit groups without a
// leading x000 — so that one tile has one URL; anything else is
// audit.ErrMalformed.
func ParseTilePath(path string) (tlog.Tile, error) {
	bad := func(why string) (tlog.Tile, error) {
		return tlog.Tile{}, fmt.Errorf("%w: tile path %.80q: %s", audit.ErrMalformed, path, why)
	}
	if len(path) > 80 {
		return bad("too long")
	}
	rest, ok := strings.CutPrefix(path, "tile/")
	if !ok {
		return bad("does not start with tile/")
	}
	elems := strings.Split(rest, "/")
	if len(elems) < 2 {
		return bad("no tile index")
	}
	t := tlog.Tile{H: TileHeight, W: TileWidth}
	if elems[0] == "entries" {
		t.L = EntriesLevel
	} else {
		l, ok := parseDecimal(elems[0])
		if !ok || l > maxLevel {
			return bad("the level is not a decimal from 0 to 63")
		}
		t.L = int(l)
	}
	elems = elems[1:]
	if last := len(elems) - 1; last >= 1 && strings.HasSuffix(elems[last-1], ".p") {
		w, ok := parseDecimal(elems[last])
		if !ok || w < 1 || w >= TileWidth {
			return bad("the width of a partial tile is not a decimal from 1 to 255")
		}
		t.W = int(w)
		elems[last-1] = strings.TrimSuffix(elems[last-1], ".p")
		elems = elems[:last]
	}
	for i, e := range elems {
		digits := e
		if i < len(elems)-1 {
			if digits, ok = strings.CutPrefix(e, "x"); !ok {
				return bad("an index group other than the last does not start with x")
			}
		}
		if len(digits) != 3 || strings.Trim(digits, "0123456789") != "" {
			return bad("an index group is not 3 digits")
		}
		g, _ := strconv.ParseInt(digits, 10, 64)
		if t.N > (math.MaxInt64-g)/1000 {
			return bad("the index is too large")
		}
		t.N = t.N*1000 + g
	}
	if TilePath(t) != path {
		return bad("not in canonical form")
	}
	return t, nil
}

// parseDecimal parses a non-negative decimal without sign or leading
// zeroes (unless it is 0) that fits an int64.
func parseDecimal(s string) (int64, bool) {
	if s == "" || len(s) > 19 || (s[0] == '0' && len(s) > 1) || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// Tiles yields the tiles — hash tiles of every level and the entry
// bundles — that a log of newSize entries publishes and a log of oldSize
// entries did not (all of them for oldSize 0): the tiles of
// tlog.NewTiles(TileHeight, oldSize, newSize), in its order, each level-0
// tile followed by its entry bundle. It computes them as it goes, so a
// huge size costs nothing until the tiles are used.
func Tiles(oldSize, newSize int64) iter.Seq[tlog.Tile] {
	return func(yield func(tlog.Tile) bool) {
		emit := func(t tlog.Tile) bool {
			if !yield(t) {
				return false
			}
			if t.L == 0 {
				t.L = EntriesLevel
				return yield(t)
			}
			return true
		}
		for level := 0; newSize>>(TileHeight*level) > 0; level++ {
			oldN, newN := oldSize>>(TileHeight*level), newSize>>(TileHeight*level)
			if oldN == newN {
				continue
			}
			for n := oldN >> TileHeight; n < newN>>TileHeight; n++ {
				if !emit(tlog.Tile{H: TileHeight, L: level, N: n, W: TileWidth}) {
					return
				}
			}
			n := newN >> TileHeight
			if w := int(newN - n<<TileHeight); w > 0 {
				if !emit(tlog.Tile{H: TileHeight, L: level, N: n, W: w}) {
					return
				}
			}
		}
	}
}

// TileEnd returns the number of entries a log needs for t to exist: the
// end of the range of entries its hashes (or entries) cover. ok is false
// when that is beyond any int64 size, so t can never exist.
func TileEnd(t tlog.Tile) (end int64, ok bool) {
	level := max(t.L, 0)
	if t.N > (math.MaxInt64-int64(t.W))>>TileHeight {
		return 0, false
	}
	n := t.N<<TileHeight + int64(t.W) // hashes at level·TileHeight needed
	shift := uint(level * TileHeight)
	if shift >= 63 || n > math.MaxInt64>>shift {
		return 0, false
	}
	return n << shift, true
}

// AppendBundleEntry appends entry to an entry bundle: its length as a
// big-endian uint16, then its bytes (C2SP tlog-tiles, "Log entries"). An
// entry longer than MaxBundleEntry cannot be carried and is an error.
func AppendBundleEntry(bundle, entry []byte) ([]byte, error) {
	if len(entry) > MaxBundleEntry {
		return nil, fmt.Errorf("auditapi: an entry of %d bytes does not fit an entry bundle (at most %d)", len(entry), MaxBundleEntry)
	}
	bundle = binary.BigEndian.AppendUint16(bundle, uint16(len(entry)))
	return append(bundle, entry...), nil
}

// ParseBundle splits an entry bundle into its entries; the entries alias
// b. A bundle that ends inside an entry or its length is
// audit.ErrMalformed.
func ParseBundle(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, fmt.Errorf("%w: entry bundle: entry %d: a truncated length", audit.ErrMalformed, len(out))
		}
		n := int(binary.BigEndian.Uint16(b))
		if len(b)-2 < n {
			return nil, fmt.Errorf("%w: entry bundle: entry %d: %d bytes announced, %d left", audit.ErrMalformed, len(out), n, len(b)-2)
		}
		out = append(out, b[2:2+n:2+n])
		b = b[2+n:]
	}
	return out, nil
}
