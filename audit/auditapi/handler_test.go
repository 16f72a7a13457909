package auditapi_test

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/audit/auditapi"
	"github.com/cedula/cedula/audit/auditapi/auditapitest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\ngot\n%s\nwant\n%s", name, got, want)
	}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request with an optional header "Name: value" pairs.
func do(t *testing.T, method, url string, header ...string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultTransport.RoundTrip(req) // no transparent gzip
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{res.StatusCode, res.Header, body}
}

// get fetches url and requires a 200.
func get(t *testing.T, url string) response {
	t.Helper()
	r := do(t, http.MethodGet, url)
	if r.status != http.StatusOK {
		t.Fatalf("GET %s: got %d %s, want 200", url, r.status, r.body)
	}
	return r
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	r := get(t, url)
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET %s: Content-Type got %q, want application/json", url, ct)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

var sigLine = regexp.MustCompile(`(?m)^— (\S+) \S+$`)

func TestCheckpoint(t *testing.T) {
	l := auditapitest.Start(t)
	if r := do(t, http.MethodGet, l.URL+"/checkpoint"); r.status != http.StatusNotFound {
		t.Errorf("checkpoint before the first one is signed: got %d, want 404", r.status)
	}
	l.Append(t, 0, 7)
	c := l.Checkpoint(t)
	r := get(t, l.URL+"/checkpoint")
	if !bytes.Equal(r.body, c.Note) {
		t.Errorf("checkpoint: got %q, want the signed note %q", r.body, c.Note)
	}
	for name, want := range map[string]string{"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-cache"} {
		if got := r.header.Get(name); got != want {
			t.Errorf("checkpoint %s: got %q, want %q", name, got, want)
		}
	}
	vs, err := audit.Verifiers(l.VerifierKey(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := audit.OpenCheckpoint(r.body, auditapitest.Origin, vs); err != nil {
		t.Errorf("served checkpoint does not open with the log's key: %v", err)
	}
	// The signature changes with the (random) key; the rest is fixed.
	golden(t, "checkpoint.golden", sigLine.ReplaceAll(r.body, []byte("— $1 <signature>")))
}

func TestKey(t *testing.T) {
	l := auditapitest.Start(t)
	if r := do(t, http.MethodGet, l.URL+"/key"); r.status != http.StatusNotFound {
		t.Errorf("key before the ring exists: got %d %s, want 404", r.status, r.body)
	}
	vkey := l.VerifierKey(t)
	r := get(t, l.URL+"/key")
	if got := string(r.body); got != vkey+"\n" {
		t.Errorf("key: got %q, want %q", got, vkey+"\n")
	}
	if ct := r.header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("key Content-Type: got %q", ct)
	}
}

// TestGoldenAnswers pins the JSON shapes of entries and proofs.
func TestGoldenAnswers(t *testing.T) {
	l := auditapitest.Start(t)
	l.Append(t, 0, 7)
	for _, tc := range []struct{ name, query string }{
		{"entries.golden", "/entries?start=1&end=3"},
		{"entries-empty.golden", "/entries?start=7&end=7"},
		{"inclusion.golden", "/proof/inclusion?index=2&size=7"},
		{"consistency.golden", "/proof/consistency?old=3&new=7"},
		{"consistency-empty.golden", "/proof/consistency?old=0&new=7"},
		{"problem.golden", "/proof/inclusion?index=7&size=7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, http.MethodGet, l.URL+tc.query)
			golden(t, tc.name, r.body)
		})
	}
	// The leaf form answers the same as the index form.
	leaf := audit.LeafHash(canonical(t, 2))
	byIndex := get(t, l.URL+"/proof/inclusion?index=2&size=7").body
	for _, enc := range []string{
		url.QueryEscape(base64.StdEncoding.EncodeToString(leaf[:])),
		base64.URLEncoding.EncodeToString(leaf[:]),
		base64.RawURLEncoding.EncodeToString(leaf[:]),
		hex.EncodeToString(leaf[:]),
	} {
		if got := get(t, l.URL+"/proof/inclusion?size=7&leaf="+enc).body; !bytes.Equal(got, byIndex) {
			t.Errorf("inclusion by leaf %s: got %s, want %s", enc, got, byIndex)
		}
	}
}

func canonical(t *testing.T, i int) []byte {
	t.Helper()
	b, err := auditapitest.Entry(i).Canonical()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mth is the Merkle Tree Hash of RFC 6962 §2.1 over leaf hashes, computed
// with transparency-dev/merkle's hasher: independent of golang.org/x/mod's
// tlog, which the log is built on.
func mth(leaves [][]byte) []byte {
	h := rfc6962.DefaultHasher
	switch len(leaves) {
	case 0:
		return h.EmptyRoot()
	case 1:
		return leaves[0]
	}
	k := 1
	for k<<1 < len(leaves) {
		k <<= 1
	}
	return h.HashChildren(mth(leaves[:k]), mth(leaves[k:]))
}

func hashes(hs []audit.Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}

// TestProofsVerify: proofs fetched over HTTP verify with an independent
// verifier against roots computed independently from the entries.
func TestProofsVerify(t *testing.T) {
	const n = 300 // a full tile and a partial one
	l := auditapitest.Start(t)
	l.Append(t, 0, n)
	cp := l.Checkpoint(t)

	var leaves [][]byte
	for start := 0; start < n; start += 128 {
		var es auditapi.Entries
		getJSON(t, fmt.Sprintf("%s/entries?start=%d&end=%d", l.URL, start, min(start+128, n)), &es)
		for _, e := range es.Entries {
			if e.Index != int64(len(leaves)) {
				t.Fatalf("entries: got index %d, want %d", e.Index, len(leaves))
			}
			if !bytes.Equal(e.Data, canonical(t, len(leaves))) {
				t.Fatalf("entry %d: got %q, want the canonical encoding of the appended entry", e.Index, e.Data)
			}
			leaves = append(leaves, rfc6962.DefaultHasher.HashLeaf(e.Data))
		}
	}
	if root := mth(leaves); !bytes.Equal(root, cp.Root[:]) {
		t.Fatalf("independent root of %d entries: got %x, checkpoint has %x", n, root, cp.Root)
	}

	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int64{1, 2, 3, 7, 8, 255, 256, 257, n}
	for range 10 {
		sizes = append(sizes, 1+rng.Int64N(n))
	}
	for _, size := range sizes {
		root := mth(leaves[:size])
		indexes := []int64{0, size - 1, size / 2, rng.Int64N(size)}
		for _, i := range indexes {
			var p auditapi.InclusionProof
			getJSON(t, fmt.Sprintf("%s/proof/inclusion?index=%d&size=%d", l.URL, i, size), &p)
			if p.Index != i || p.Size != size || !bytes.Equal(p.Root[:], root) {
				t.Errorf("inclusion %d in %d: got index %d size %d root %s, want root %x", i, size, p.Index, p.Size, p.Root, root)
			}
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(i), uint64(size), leaves[i], hashes(p.Proof), root); err != nil {
				t.Errorf("inclusion %d in %d does not verify: %v", i, size, err)
			}
			var byLeaf auditapi.InclusionProof
			getJSON(t, fmt.Sprintf("%s/proof/inclusion?leaf=%s&size=%d", l.URL, base64.RawURLEncoding.EncodeToString(leaves[i]), size), &byLeaf)
			if byLeaf.Index != i {
				t.Errorf("inclusion by leaf hash of entry %d: got index %d", i, byLeaf.Index)
			}
		}
		for _, old := range []int64{0, 1, size / 2, size - 1, size, rng.Int64N(size + 1)} {
			var p auditapi.ConsistencyProof
			getJSON(t, fmt.Sprintf("%s/proof/consistency?old=%d&new=%d", l.URL, old, size), &p)
			if p.Old != old || p.New != size {
				t.Errorf("consistency %d→%d: got %d→%d", old, size, p.Old, p.New)
			}
			if err := proof.VerifyConsistency(rfc6962.DefaultHasher, uint64(old), uint64(size), hashes(p.Proof), mth(leaves[:old]), root); err != nil {
				t.Errorf("consistency %d→%d does not verify: %v", old, size, err)
			}
		}
	}
}

// httpTiles reads tiles over HTTP for tlog.TileHashReader.
type httpTiles struct {
	t      *testing.T
	prefix string
}

func (r httpTiles) Height() int { return auditapi.TileHeight }

func (r httpTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, tl := range tiles {
		res := do(r.t, http.MethodGet, r.prefix+"/"+auditapi.TilePath(tl))
		if res.status != http.StatusOK {
			return nil, fmt.Errorf("%s: %d", auditapi.TilePath(tl), res.status)
		}
		out[i] = res.body
	}
	return out, nil
}

func (httpTiles) SaveTiles([]tlog.Tile, [][]byte) {}

// TestTilesRecomputeRoot: the tiles and entry bundles fetched over HTTP
// give back the entries and the checkpoint's root.
func TestTilesRecomputeRoot(t *testing.T) {
	const n = 300
	l := auditapitest.Start(t)
	l.Append(t, 0, n)
	cp := l.Checkpoint(t)

	var leaves [][]byte
	for tl := range auditapi.Tiles(0, n) {
		r := get(t, l.URL+"/"+auditapi.TilePath(tl))
		if ct := r.header.Get("Content-Type"); ct != "application/octet-stream" {
			t.Errorf("%s: Content-Type got %q", auditapi.TilePath(tl), ct)
		}
		wantCache := "public, max-age=31536000, immutable"
		if tl.W < auditapi.TileWidth {
			wantCache = "public, max-age=60"
		}
		if cc := r.header.Get("Cache-Control"); cc != wantCache {
			t.Errorf("%s: Cache-Control got %q, want %q", auditapi.TilePath(tl), cc, wantCache)
		}
		switch tl.L {
		case 0:
			if len(r.body) != tl.W*tlog.HashSize {
				t.Fatalf("%s: got %d bytes, want %d", auditapi.TilePath(tl), len(r.body), tl.W*tlog.HashSize)
			}
			for i := 0; i < tl.W; i++ {
				leaves = append(leaves, r.body[i*tlog.HashSize:(i+1)*tlog.HashSize])
			}
		case auditapi.EntriesLevel:
			es, err := auditapi.ParseBundle(r.body)
			if err != nil || len(es) != tl.W {
				t.Fatalf("%s: got %d entries, %v; want %d", auditapi.TilePath(tl), len(es), err, tl.W)
			}
			for i, e := range es {
				idx := int(tl.N)*auditapi.TileWidth + i
				if !bytes.Equal(e, canonical(t, idx)) {
					t.Errorf("bundle entry %d is not the appended entry", idx)
				}
				if !bytes.Equal(rfc6962.DefaultHasher.HashLeaf(e), leaves[idx]) {
					t.Errorf("bundle entry %d does not hash to its level-0 tile hash", idx)
				}
			}
		}
	}
	if len(leaves) != n {
		t.Fatalf("level-0 tiles: got %d hashes, want %d", len(leaves), n)
	}
	if root := mth(leaves); !bytes.Equal(root, cp.Root[:]) {
		t.Errorf("root from the level-0 tiles: got %x, want %s", root, cp.Root)
	}

	// tlog's tile client authenticates every tile it reads against the
	// checkpoint, upper levels included, and proves from tiles alone.
	thr := tlog.TileHashReader(tlog.Tree{N: n, Hash: cp.Root}, httpTiles{t, l.URL})
	if root, err := tlog.TreeHash(n, thr); err != nil || root != cp.Root {
		t.Errorf("tree hash from tiles: got %s, %v; want %s", root, err, cp.Root)
	}
	for _, i := range []int64{0, 255, 256, n - 1} {
		p, err := tlog.ProveRecord(n, i, thr)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(i), n, leaves[i], hashes(p), cp.Root[:]); err != nil {
			t.Errorf("inclusion of %d proved from tiles: %v", i, err)
		}
	}

	// A partial tile is the prefix of the full one.
	full := get(t, l.URL+"/tile/0/000").body
	if part := get(t, l.URL+"/tile/0/000.p/17").body; !bytes.Equal(part, full[:17*tlog.HashSize]) {
		t.Error("tile/0/000.p/17 is not the first 17 hashes of tile/0/000")
	}
}

func TestBundleGzip(t *testing.T) {
	l := auditapitest.Start(t)
	l.Append(t, 0, 20)
	plain := do(t, http.MethodGet, l.URL+"/tile/entries/000.p/20")
	if plain.status != http.StatusOK || plain.header.Get("Content-Encoding") != "" {
		t.Fatalf("bundle without Accept-Encoding: got %d, Content-Encoding %q", plain.status, plain.header.Get("Content-Encoding"))
	}
	for _, ae := range []string{"gzip", "br, gzip;q=0.5, identity", "GZIP"} {
		r := do(t, http.MethodGet, l.URL+"/tile/entries/000.p/20", "Accept-Encoding", ae)
		if r.header.Get("Content-Encoding") != "gzip" {
			t.Errorf("Accept-Encoding %q: Content-Encoding got %q, want gzip", ae, r.header.Get("Content-Encoding"))
			continue
		}
		zr, err := gzip.NewReader(bytes.NewReader(r.body))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(got, plain.body) {
			t.Errorf("Accept-Encoding %q: the gunzipped bundle differs (%v)", ae, err)
		}
		if len(r.body) >= len(plain.body) {
			t.Errorf("Accept-Encoding %q: got %d bytes, not smaller than %d", ae, len(r.body), len(plain.body))
		}
	}
	for _, ae := range []string{"gzip;q=0", "br", "identity"} {
		if r := do(t, http.MethodGet, l.URL+"/tile/entries/000.p/20", "Accept-Encoding", ae); r.header.Get("Content-Encoding") != "" {
			t.Errorf("Accept-Encoding %q: got Content-Encoding %q, want none", ae, r.header.Get("Content-Encoding"))
		}
	}
}

// TestBadRequests: every client mistake is a 400 problem, never a 500;
// what is not (yet) there is a 404.
func TestBadRequests(t *testing.T) {
	const n = 300
	l := auditapitest.Start(t)
	l.Append(t, 0, n)
	leaf5 := audit.LeafHash(canonical(t, 5))
	unknown := sha256.Sum256([]byte("not an entry"))
	for _, tc := range []struct {
		name, method, path string
		status             int
	}{
		{"entries without start", "GET", "/entries?end=1", 400},
		{"entries without end", "GET", "/entries?start=0", 400},
		{"entries start not a number", "GET", "/entries?start=a&end=1", 400},
		{"entries negative start", "GET", "/entries?start=-1&end=1", 400},
		{"entries signed start", "GET", "/entries?start=%2B1&end=2", 400},
		{"entries leading zero", "GET", "/entries?start=01&end=2", 400},
		{"entries empty start", "GET", "/entries?start=&end=2", 400},
		{"entries huge end", "GET", "/entries?start=0&end=99999999999999999999", 400},
		{"entries inverted", "GET", "/entries?start=3&end=2", 400},
		{"entries too many", "GET", "/entries?start=0&end=1001", 400},
		{"entries beyond the log", "GET", "/entries?start=0&end=301", 400},
		{"entries start beyond the log", "GET", "/entries?start=400&end=401", 400},
		{"entries repeated start", "GET", "/entries?start=0&start=1&end=2", 400},
		{"entries bad query", "GET", "/entries?start=%zz&end=1", 400},

		{"inclusion without size", "GET", "/proof/inclusion?index=0", 400},
		{"inclusion without index or leaf", "GET", "/proof/inclusion?size=3", 400},
		{"inclusion with index and leaf", "GET", "/proof/inclusion?index=5&size=9&leaf=" + hex.EncodeToString(leaf5[:]), 400},
		{"inclusion index at size", "GET", "/proof/inclusion?index=9&size=9", 400},
		{"inclusion index beyond size", "GET", "/proof/inclusion?index=10&size=9", 400},
		{"inclusion size 0", "GET", "/proof/inclusion?index=0&size=0", 400},
		{"inclusion size beyond the log", "GET", "/proof/inclusion?index=0&size=301", 400},
		{"inclusion negative index", "GET", "/proof/inclusion?index=-1&size=9", 400},
		{"inclusion index not a number", "GET", "/proof/inclusion?index=1e3&size=9999", 400},
		{"inclusion repeated size", "GET", "/proof/inclusion?index=0&size=9&size=10", 400},
		{"inclusion repeated leaf", "GET", "/proof/inclusion?size=9&leaf=" + hex.EncodeToString(leaf5[:]) + "&leaf=" + hex.EncodeToString(leaf5[:]), 400},
		{"inclusion malformed leaf", "GET", "/proof/inclusion?size=9&leaf=abc", 400},
		{"inclusion leaf of 31 bytes", "GET", "/proof/inclusion?size=9&leaf=" + hex.EncodeToString(leaf5[:31]), 400},
		{"inclusion leaf with an unescaped plus", "GET", "/proof/inclusion?size=9&leaf=" + strings.Repeat("+", 43) + "=", 400},
		{"inclusion leaf not hex", "GET", "/proof/inclusion?size=9&leaf=" + strings.Repeat("zz", 32), 400},
		{"inclusion leaf beyond the log's size", "GET", "/proof/inclusion?size=301&leaf=" + hex.EncodeToString(leaf5[:]), 400},
		{"inclusion unknown leaf", "GET", "/proof/inclusion?size=9&leaf=" + hex.EncodeToString(unknown[:]), 404},
		{"inclusion leaf after size", "GET", "/proof/inclusion?size=5&leaf=" + hex.EncodeToString(leaf5[:]), 404},

		{"consistency without old", "GET", "/proof/consistency?new=3", 400},
		{"consistency without new", "GET", "/proof/consistency?old=3", 400},
		{"consistency inverted", "GET", "/proof/consistency?old=5&new=3", 400},
		{"consistency beyond the log", "GET", "/proof/consistency?old=1&new=301", 400},
		{"consistency both beyond the log", "GET", "/proof/consistency?old=400&new=500", 400},
		{"consistency old not a number", "GET", "/proof/consistency?old=x&new=3", 400},
		{"consistency negative old", "GET", "/proof/consistency?old=-1&new=3", 400},

		{"tile without a path", "GET", "/tile/", 404},
		{"tile without an index", "GET", "/tile/0", 400},
		{"tile index of one digit", "GET", "/tile/0/0", 400},
		{"tile index of four digits", "GET", "/tile/0/0000", 400},
		{"tile level with a leading zero", "GET", "/tile/00/000", 400},
		{"tile level 64", "GET", "/tile/64/000", 400},
		{"tile level -1", "GET", "/tile/-1/000", 400},
		{"tile level data", "GET", "/tile/data/000", 400},
		{"tile index not canonical", "GET", "/tile/0/x000/000", 400},
		{"tile index group without x", "GET", "/tile/0/001/000", 400},
		{"tile index overflows", "GET", "/tile/0/x999/x999/x999/x999/x999/x999/x999/000", 400},
		{"tile width 0", "GET", "/tile/0/000.p/0", 400},
		{"tile width 256", "GET", "/tile/0/000.p/256", 400},
		{"tile width with a leading zero", "GET", "/tile/0/000.p/01", 400},
		{"tile width missing", "GET", "/tile/0/000.p", 400},
		{"tile with the height of tlog paths", "GET", "/tile/8/0/000", 400},
		{"bundle index not a number", "GET", "/tile/entries/abc", 400},
		{"bundle index of one digit", "GET", "/tile/entries/1", 400},

		{"tile beyond the log", "GET", "/tile/0/001", 404},
		{"partial tile beyond the log", "GET", "/tile/0/001.p/45", 404},
		{"level-1 full tile beyond the log", "GET", "/tile/1/000", 404},
		{"level-1 partial tile beyond the log", "GET", "/tile/1/000.p/2", 404},
		{"level-2 tile", "GET", "/tile/2/000.p/1", 404},
		{"level-63 tile", "GET", "/tile/63/000.p/1", 404},
		{"bundle beyond the log", "GET", "/tile/entries/001.p/45", 404},
		{"far bundle", "GET", "/tile/entries/x009/x223/x372/x036/x854/x775/807", 404},
		{"the prefix", "GET", "/", 404},
		{"an unknown resource", "GET", "/checkpoints", 404},
		{"an unknown proof", "GET", "/proof/", 404},

		{"POST checkpoint", "POST", "/checkpoint", 405},
		{"PUT tile", "PUT", "/tile/0/000", 405},
		{"DELETE entries", "DELETE", "/entries?start=0&end=1", 405},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, tc.method, l.URL+tc.path)
			if r.status != tc.status {
				t.Fatalf("%s %s: got %d %s, want %d", tc.method, tc.path, r.status, r.body, tc.status)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type: got %q, want application/problem+json", ct)
			}
			var p struct {
				Title  string `json:"title"`
				Status int    `json:"status"`
				Detail string `json:"detail"`
			}
			if err := json.Unmarshal(r.body, &p); err != nil || p.Status != tc.status || p.Title == "" || p.Detail == "" {
				t.Errorf("problem: got %s (%v), want status %d with a title and a detail", r.body, err, tc.status)
			}
			if tc.status == 405 && r.header.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow: got %q, want GET, HEAD", r.header.Get("Allow"))
			}
		})
	}
	// The same paths that exist answer 200, HEAD included.
	for _, p := range []string{"/tile/0/000", "/tile/0/001.p/44", "/tile/1/000.p/1", "/tile/entries/001.p/44",
		"/tile/0/000.p/255", "/entries?start=300&end=300", "/proof/consistency?old=300&new=300"} {
		for _, m := range []string{"GET", "HEAD"} {
			if r := do(t, m, l.URL+p); r.status != http.StatusOK {
				t.Errorf("%s %s: got %d %s, want 200", m, p, r.status, r.body)
			}
		}
	}
}

func TestEmptyLog(t *testing.T) {
	l := auditapitest.Start(t)
	c := l.Checkpoint(t)
	if c.Size != 0 || c.Root != audit.EmptyRoot {
		t.Fatalf("checkpoint of the empty log: got size %d root %s", c.Size, c.Root)
	}
	if got := get(t, l.URL+"/checkpoint").body; !bytes.Equal(got, c.Note) {
		t.Errorf("checkpoint: got %q, want %q", got, c.Note)
	}
	var es auditapi.Entries
	getJSON(t, l.URL+"/entries?start=0&end=0", &es)
	if es.Entries == nil || len(es.Entries) != 0 {
		t.Errorf("entries of the empty log: got %#v, want an empty list", es.Entries)
	}
	for p, want := range map[string]int{
		"/tile/0/000.p/1": 404, "/tile/entries/000.p/1": 404, "/proof/inclusion?index=0&size=0": 400,
		"/proof/consistency?old=0&new=0": 200, "/entries?start=0&end=1": 400,
	} {
		if r := do(t, "GET", l.URL+p); r.status != want {
			t.Errorf("%s: got %d %s, want %d", p, r.status, r.body, want)
		}
	}
}

// TestDamagedLog: a store that lost a row answers 500, saying nothing of
// the cause, and logs it.
func TestDamagedLog(t *testing.T) {
	l := auditapitest.Start(t)
	l.Append(t, 0, 10)
	if _, err := l.DB.ExecContext(t.Context(), `UPDATE audit_entries SET hashes = NULL WHERE idx = 3`); err != nil {
		t.Fatal(err)
	}
	if _, err := l.DB.ExecContext(t.Context(), `DELETE FROM audit_entries WHERE idx = 4`); err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	h, err := auditapi.New(auditapi.Config{Log: l.Store, Checkpoints: l.Store, Keys: l.Checkpointer})
	if err != nil {
		t.Fatal(err)
	}
	edge := auditapitest.Edge(h, newLogger(&logged))
	for _, p := range []string{"/audit/tile/0/000.p/10", "/audit/tile/entries/000.p/10", "/audit/proof/inclusion?index=2&size=10", "/audit/entries?start=0&end=10"} {
		r := serve(edge, p)
		if r.status != http.StatusInternalServerError {
			t.Errorf("%s: got %d %s, want 500", p, r.status, r.body)
		}
		if bytes.Contains(r.body, []byte("audit_")) || bytes.Contains(r.body, []byte("damaged")) || bytes.Contains(r.body, []byte("missing")) {
			t.Errorf("%s: the problem tells the cause: %s", p, r.body)
		}
	}
	if !strings.Contains(logged.String(), "missing") {
		t.Errorf("log: got %q, want the cause", logged.String())
	}
}

func TestNewReportsEveryProblem(t *testing.T) {
	_, err := auditapi.New(auditapi.Config{})
	for _, want := range []string{"no log", "no checkpoint store", "no key source"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New with no config: got %v, want it to say %q", err, want)
		}
	}
	if _, err := auditapi.New(auditapi.Config{Log: nilReader{}, Checkpoints: nilCheckpoints{}, Keys: auditapi.StaticKeys{"k"}}); err != nil {
		t.Errorf("New: %v", err)
	}
}

// TestEntryTooLongForABundle: C2SP tlog-tiles bundles carry entries of at
// most 65535 bytes, so the audit package refuses longer ones at append time
// and every entry of a log can be served in a bundle.
func TestEntryTooLongForABundle(t *testing.T) {
	l := auditapitest.Start(t)
	e := auditapitest.Entry(0)
	e.Details = bytes.Repeat([]byte{0xA5}, audit.MaxDetails)
	if _, err := l.Store.Append(t.Context(), e); err != nil {
		t.Fatalf("entry with the largest details: %v", err)
	}
	e.Categories = nil
	for i := 0; i < audit.MaxCategories; i++ {
		e.Categories = append(e.Categories, fmt.Sprintf("%04d-%s", i, strings.Repeat("c", 600)))
	}
	if _, err := l.Store.Append(t.Context(), e); !errors.Is(err, audit.ErrInvalidEntry) {
		t.Fatalf("entry of more than 65535 bytes: got %v, want ErrInvalidEntry", err)
	}
	h, err := auditapi.New(auditapi.Config{Log: l.Store, Checkpoints: l.Store, Keys: l.Checkpointer})
	if err != nil {
		t.Fatal(err)
	}
	if r := serve(auditapitest.Edge(h, nil), "/audit/tile/entries/000.p/1"); r.status != http.StatusOK {
		t.Errorf("bundle with the largest entry: got %d, want 200", r.status)
	}
}
