// Package auditclient checks a Cedula audit log from outside, as a
// citizen, a DPO, an auditor or a mirror does — with no access to the
// operator's database, only to the log's files (C2SP tlog-tiles: the
// checkpoint, the hash tiles and the entry bundles), served over HTTP or
// copied to a folder:
//
//   - Verify checks a checkpoint's signature with pinned keys, every entry
//     against its leaf hash, every tile against the tiles below, the tree's
//     root, and that the log still extends a checkpoint saved earlier;
//   - Mirror copies the log to a folder any static file server can serve,
//     fetching only what is new, and verifies the copy before replacing
//     its checkpoint.
//
// `cedula audit verify|mirror` are thin commands over it.
package auditclient

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/audit/auditapi"
)

// Mirror copies the log in src (checkpoint, key, tiles and entry bundles)
// into the folder dir so that any static file server can serve it: only
// what is new is fetched, and the copy is verified with lk before its
// checkpoint is replaced. It returns how many files it fetched and what
// it verified.
func Mirror(ctx context.Context, src Source, dir string, lk Keys) (int, Result, error) {
	var res Result
	cpNote, err := ReadCheckpoint(ctx, src)
	if err != nil {
		return 0, res, err
	}
	cp, err := OpenCheckpoint(cpNote, lk, "checkpoint at "+src.Where("checkpoint"))
	if err != nil {
		return 0, res, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, res, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return 0, res, err
	}
	defer root.Close()
	dst := dirSource{root: root, dir: dir}

	// What the copy's own checkpoint covers was verified when it was
	// written: its full tiles are kept, everything else is fetched.
	var saved []byte
	var oldSize int64
	switch b, err := root.ReadFile("checkpoint"); {
	case err == nil:
		old, err := OpenCheckpoint(b, lk, "the copy's checkpoint "+dst.Where("checkpoint"))
		if err != nil {
			return 0, res, err
		}
		if old.Size > cp.Size {
			return 0, res, fmt.Errorf("the copy in %s has %d entries, the log at %s only %d: the log shrank or forked",
				dir, old.Size, src.Where(""), cp.Size)
		}
		saved, oldSize = b, old.Size
	case !errors.Is(err, fs.ErrNotExist):
		return 0, res, err
	}
	missing := func(yield func(tlog.Tile) bool) {
		for t := range auditapi.Tiles(0, cp.Size) {
			end, _ := auditapi.TileEnd(t)
			if t.W == auditapi.TileWidth && end <= oldSize {
				if _, err := root.Stat(filepath.FromSlash(auditapi.TilePath(t))); err == nil {
					continue
				}
			}
			if !yield(t) {
				return
			}
		}
	}
	fetched := 0
	err = inOrder(ctx, missing, fetchers,
		func(ctx context.Context, t tlog.Tile) ([]byte, error) {
			return src.Read(ctx, auditapi.TilePath(t), tileLimit(t))
		},
		func(t tlog.Tile, data []byte) error {
			fetched++
			return writeAtomic(root, auditapi.TilePath(t), data)
		})
	if err != nil {
		return 0, res, err
	}
	res, err = Verify(ctx, dst, lk, cpNote, saved)
	if err != nil {
		return 0, res, fmt.Errorf("the copy does not verify, its checkpoint is left as it was: %w", err)
	}
	if err := writeAtomic(root, "key", []byte(strings.Join(lk.VKeys, "\n")+"\n")); err != nil {
		return 0, res, err
	}
	if err := writeAtomic(root, "checkpoint", cpNote); err != nil {
		return 0, res, err
	}
	return fetched, res, nil
}

// writeAtomic writes data to name below root through a temporary file and
// a rename, so that a static server never serves half a file.
func writeAtomic(root *os.Root, name string, data []byte) error {
	name = filepath.FromSlash(name)
	if dir := filepath.Dir(name); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	tmp := name + ".tmp"
	if err := root.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return root.Rename(tmp, name)
}

// Keys are the keys checkpoints are checked with.
type Keys struct {
	// VKeys are the signed-note verifier keys (name+hash+base64).
	VKeys []string
	// Origin is the keys' name, which is the log's origin.
	Origin string
	// Pinned is false for the key the log served itself.
	Pinned    bool
	verifiers note.Verifiers
}

// ErrNoPinnedKey refuses to check a log against nothing but its own word.
var ErrNoPinnedKey = errors.New("no verifier key pinned: pass the key the log's operator publishes out of band " +
	"(`cedula keys list` prints it on the server) with --key or --key-file; " +
	"--trust-served-key checks with the key the log itself serves instead, which proves nothing against its operator")

// LoadKeys returns the keys to check a log with: vkeys, the pinned keys
// (from the operator, out of band), or — only when there are none and
// trustServed — the key the log in src serves itself, with a warning on
// warn. Without either it returns ErrNoPinnedKey.
func LoadKeys(ctx context.Context, vkeys []string, trustServed bool, src Source, warn io.Writer) (Keys, error) {
	lk := Keys{VKeys: append([]string(nil), vkeys...), Pinned: true}
	if len(lk.VKeys) == 0 && !trustServed {
		return lk, ErrNoPinnedKey
	}
	if len(lk.VKeys) == 0 {
		b, err := src.Read(ctx, "key", 64<<10)
		if err != nil {
			return lk, fmt.Errorf("--trust-served-key: the log's key could not be read: %w", err)
		}
		lk.VKeys, lk.Pinned = KeyLines(b), false
		if len(lk.VKeys) == 0 {
			return lk, fmt.Errorf("--trust-served-key: %s holds no key", src.Where("key"))
		}
		fmt.Fprintf(warn, "warning: the key was not pinned: checking with the key the log itself serves at %s, "+
			"which proves nothing against its operator; pass --key or --key-file with the key published out of band\n",
			src.Where("key"))
	}
	for _, k := range lk.VKeys {
		v, err := note.NewVerifier(k)
		if err != nil {
			return lk, fmt.Errorf("key %.80q is not a signed-note verifier key (name+hash+base64): %v", k, err)
		}
		switch {
		case lk.Origin == "":
			lk.Origin = v.Name()
		case v.Name() != lk.Origin:
			return lk, fmt.Errorf("the keys name two logs, %q and %q", lk.Origin, v.Name())
		}
	}
	vs, err := audit.Verifiers(lk.VKeys...)
	if err != nil {
		return lk, err
	}
	lk.verifiers = vs
	return lk, nil
}

// openCheckpoint verifies and parses a checkpoint note, what naming it in
// errors.
func OpenCheckpoint(msg []byte, lk Keys, what string) (audit.Checkpoint, error) {
	c, err := audit.OpenCheckpoint(msg, lk.Origin, lk.verifiers)
	if errors.Is(err, audit.ErrBadSignature) {
		return c, fmt.Errorf("%s is not signed by the key %s: %w", what, keyNames(lk.VKeys), err)
	}
	if err != nil {
		return c, fmt.Errorf("%s: %w", what, err)
	}
	return c, nil
}

// keyLines returns the non-empty lines of b that are not # comments.
func KeyLines(b []byte) []string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

func ReadCheckpoint(ctx context.Context, src Source) ([]byte, error) {
	b, err := src.Read(ctx, "checkpoint", 64<<10)
	if err != nil {
		if hs, ok := src.(httpSource); ok && errors.Is(err, ErrAbsent) && strings.Trim(hs.prefix.Path, "/") == "" {
			return nil, fmt.Errorf("%w (is --url the log's prefix? Cedula serves it at %s/audit)", err, strings.TrimSuffix(hs.prefix.String(), "/"))
		}
		return nil, err
	}
	return b, nil
}

// The most bytes a file of the log may have.
const (
	fullTileBytes   = auditapi.TileWidth * tlog.HashSize
	fullBundleBytes = auditapi.TileWidth * (2 + auditapi.MaxBundleEntry)
)

func tileLimit(t tlog.Tile) int64 {
	if t.L == auditapi.EntriesLevel {
		return fullBundleBytes
	}
	return fullTileBytes
}

// fetchers is how many files are fetched at once.
const fetchers = 8

// verified is what verifyLog checked.
type Result struct {
	Checkpoint audit.Checkpoint
	// Saved is the checkpoint saved earlier the log was checked to extend.
	Saved *audit.Checkpoint
	Keys  Keys
}

func (v Result) Summary(src Source) string {
	s := fmt.Sprintf("%s at %s: %d entries, root %s, signed by %s", v.Checkpoint.Origin, src.Where(""), v.Checkpoint.Size,
		base64.StdEncoding.EncodeToString(v.Checkpoint.Root[:]), keyNames(v.Keys.VKeys))
	if !v.Keys.Pinned {
		s += " (key not pinned)"
	}
	if v.Saved != nil {
		s += fmt.Sprintf("; consistent with the saved checkpoint of %d entries", v.Saved.Size)
	}
	return s
}

// keyNames returns "name+hash" of each key.
func keyNames(vkeys []string) string {
	names := make([]string, len(vkeys))
	for i, k := range vkeys {
		parts := strings.SplitN(k, "+", 3)
		names[i] = strings.Join(parts[:min(2, len(parts))], "+")
	}
	return strings.Join(names, " or ")
}

// EntryError names the first entry that does not check out.
type EntryError struct {
	Index int64
	Msg   string
}

func (e *EntryError) Error() string { return fmt.Sprintf("entry %d: %s", e.Index, e.Msg) }

// verifyLog checks the log in src against its checkpoint cpNote (and, when
// saved is not nil, against a checkpoint saved earlier): the signatures,
// every entry against its leaf hash in the level-0 tiles, every hash of
// the upper tiles against the tiles below, and the roots of the tree
// recomputed from the entries. It stops at the first problem.
func Verify(ctx context.Context, src Source, lk Keys, cpNote, saved []byte) (Result, error) {
	res := Result{Keys: lk}
	cp, err := OpenCheckpoint(cpNote, lk, "checkpoint at "+src.Where("checkpoint"))
	if err != nil {
		return res, err
	}
	res.Checkpoint = cp
	if saved != nil {
		old, err := OpenCheckpoint(saved, lk, "saved checkpoint")
		if err != nil {
			return res, err
		}
		if old.Size > cp.Size {
			return res, fmt.Errorf("the saved checkpoint has %d entries, the log now only %d: the log shrank or forked", old.Size, cp.Size)
		}
		res.Saved = &old
	}
	inconsistent := func(size int64, root audit.Hash) error {
		return fmt.Errorf("the saved checkpoint is not consistent with the log: its first %d entries hash to %s, the saved checkpoint says %s: the log's history changed",
			size, root, res.Saved.Root)
	}
	if res.Saved != nil && res.Saved.Size == 0 && res.Saved.Root != audit.EmptyRoot {
		return res, inconsistent(0, audit.EmptyRoot)
	}

	// The upper tiles are small (a 32nd of the level-0 tiles and less):
	// read them first, check them as the tree is rebuilt from the leaves.
	upper := map[[2]int64][]byte{}
	for level := 1; cp.Size>>(auditapi.TileHeight*level) > 0; level++ {
		hashes := cp.Size >> (auditapi.TileHeight * level)
		for n := int64(0); n*auditapi.TileWidth < hashes; n++ {
			t := tlog.Tile{H: auditapi.TileHeight, L: level, N: n, W: int(min(hashes-n*auditapi.TileWidth, auditapi.TileWidth))}
			data, err := readHashTile(ctx, src, t)
			if err != nil {
				return res, err
			}
			upper[[2]int64{int64(level), n}] = data
		}
	}
	var tree treeBuilder
	checkUpper := func(height int, index int64, h audit.Hash) error {
		if height%auditapi.TileHeight != 0 {
			return nil
		}
		level := height / auditapi.TileHeight
		t := tlog.Tile{H: auditapi.TileHeight, L: level, N: index / auditapi.TileWidth}
		data := upper[[2]int64{int64(level), t.N}]
		i := int(index % auditapi.TileWidth)
		t.W = len(data) / tlog.HashSize
		if (i+1)*tlog.HashSize > len(data) {
			return fmt.Errorf("%s: no hash %d", auditapi.TilePath(t), i)
		}
		if got := data[i*tlog.HashSize : (i+1)*tlog.HashSize]; !bytes.Equal(got, h[:]) {
			first := index << height
			return fmt.Errorf("%s: hash %d is %s, but entries %d to %d hash to %s: the tile or an entry's hash was changed",
				auditapi.TilePath(t), i, base64.StdEncoding.EncodeToString(got), first, first+(1<<height)-1, h)
		}
		return nil
	}

	type pair struct {
		hashes  []byte
		entries [][]byte
	}
	bundles := func(yield func(int64) bool) {
		for k := int64(0); k*auditapi.TileWidth < cp.Size; k++ {
			if !yield(k) {
				return
			}
		}
	}
	err = inOrder(ctx, bundles, fetchers,
		func(ctx context.Context, k int64) (pair, error) {
			w := min(cp.Size-k*auditapi.TileWidth, auditapi.TileWidth)
			t := tlog.Tile{H: auditapi.TileHeight, L: 0, N: k, W: int(w)}
			hashes, err := readHashTile(ctx, src, t)
			if err != nil {
				return pair{}, err
			}
			t.L = auditapi.EntriesLevel
			entries, err := readBundle(ctx, src, t)
			return pair{hashes, entries}, err
		},
		func(k int64, p pair) error {
			first := k * auditapi.TileWidth
			path := auditapi.TilePath(tlog.Tile{H: auditapi.TileHeight, N: k, W: len(p.hashes) / tlog.HashSize})
			for i := range len(p.hashes) / tlog.HashSize {
				index := first + int64(i)
				if i >= len(p.entries) {
					return &EntryError{index, "missing from its entry bundle"}
				}
				leaf := tlog.RecordHash(p.entries[i])
				if want := p.hashes[i*tlog.HashSize : (i+1)*tlog.HashSize]; !bytes.Equal(leaf[:], want) {
					return &EntryError{index, fmt.Sprintf("its leaf hash is %s, but %s says %s: the entry or its hash was changed",
						leaf, path, base64.StdEncoding.EncodeToString(want))}
				}
				if _, err := audit.ParseEntry(p.entries[i]); err != nil {
					return &EntryError{index, fmt.Sprintf("not a canonical audit entry: %v", err)}
				}
				if err := tree.add(leaf, checkUpper); err != nil {
					return err
				}
				if res.Saved != nil && tree.n == res.Saved.Size {
					if root := tree.root(); root != res.Saved.Root {
						return inconsistent(tree.n, root)
					}
				}
			}
			if len(p.entries) > len(p.hashes)/tlog.HashSize {
				return &EntryError{first + int64(len(p.hashes)/tlog.HashSize), "in an entry bundle beyond the checkpoint's size"}
			}
			return nil
		})
	if err != nil {
		return res, err
	}
	if root := tree.root(); tree.n != cp.Size || root != cp.Root {
		return res, fmt.Errorf("the %d entries hash to root %s, but the checkpoint says %s for %d entries", tree.n, root, cp.Root, cp.Size)
	}
	return res, nil
}

// treeBuilder computes RFC 6962 Merkle tree hashes (§2.1) from the leaf
// hashes, in order, keeping only the roots of the complete subtrees on
// the right edge of the tree.
type treeBuilder struct {
	n     int64
	stack []audit.Hash // heights strictly decreasing from left to right
}

// add appends a leaf and calls complete for every complete subtree that
// this leaf closes: its height, its index among the subtrees of that
// height, and its hash.
func (b *treeBuilder) add(leaf audit.Hash, complete func(height int, index int64, h audit.Hash) error) error {
	b.stack = append(b.stack, leaf)
	b.n++
	for h := 1; b.n&(1<<h-1) == 0; h++ {
		k := len(b.stack)
		node := tlog.NodeHash(b.stack[k-2], b.stack[k-1])
		b.stack = append(b.stack[:k-2], node)
		if err := complete(h, b.n>>h-1, node); err != nil {
			return err
		}
	}
	return nil
}

// root returns the tree hash of the leaves added so far.
func (b *treeBuilder) root() audit.Hash {
	if len(b.stack) == 0 {
		return audit.EmptyRoot
	}
	h := b.stack[len(b.stack)-1]
	for i := len(b.stack) - 2; i >= 0; i-- {
		h = tlog.NodeHash(b.stack[i], h)
	}
	return h
}

// readHashTile reads hash tile t, checking its length. A partial tile that
// is gone (a mirror may delete it once the full tile exists; C2SP
// tlog-tiles) is read from the full one.
func readHashTile(ctx context.Context, src Source, t tlog.Tile) ([]byte, error) {
	want := t.W * tlog.HashSize
	data, err := src.Read(ctx, auditapi.TilePath(t), int64(want))
	if errors.Is(err, ErrAbsent) && t.W < auditapi.TileWidth {
		full := t
		full.W = auditapi.TileWidth
		if data, err = src.Read(ctx, auditapi.TilePath(full), fullTileBytes); err == nil && len(data) == fullTileBytes {
			data = data[:want]
		}
	}
	if err != nil {
		return nil, err
	}
	if len(data) != want {
		return nil, fmt.Errorf("%s: %d bytes, want %d", src.Where(auditapi.TilePath(t)), len(data), want)
	}
	return data, nil
}

// readBundle reads entry bundle t, or the first t.W entries of the full
// one when a partial bundle is gone.
func readBundle(ctx context.Context, src Source, t tlog.Tile) ([][]byte, error) {
	data, err := src.Read(ctx, auditapi.TilePath(t), fullBundleBytes)
	partial := false
	if errors.Is(err, ErrAbsent) && t.W < auditapi.TileWidth {
		full := t
		full.W = auditapi.TileWidth
		data, err = src.Read(ctx, auditapi.TilePath(full), fullBundleBytes)
		partial = true
	}
	if err != nil {
		return nil, err
	}
	entries, err := auditapi.ParseBundle(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src.Where(auditapi.TilePath(t)), err)
	}
	if partial && len(entries) > t.W {
		entries = entries[:t.W]
	}
	return entries, nil
}

// inOrder calls fetch for each item, at most par at once, and use with
// each result in the order of the items, stopping at the first error.
func inOrder[In, Out any](ctx context.Context, items iter.Seq[In], par int,
	fetch func(context.Context, In) (Out, error), use func(In, Out) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		item In
		v    Out
		err  error
	}
	queue := make(chan chan result, par-1)
	go func() {
		defer close(queue)
		for item := range items {
			c := make(chan result, 1)
			select {
			case queue <- c:
			case <-ctx.Done():
				return
			}
			go func() {
				v, err := fetch(ctx, item)
				c <- result{item, v, err}
			}()
		}
	}()
	for c := range queue {
		r := <-c
		if r.err != nil {
			return r.err
		}
		if err := use(r.item, r.v); err != nil {
			return err
		}
	}
	// The queue also ends early when ctx ends.
	return ctx.Err()
}

// ErrAbsent: the file is not there (404, or no such file).
var ErrAbsent = errors.New("not found")

// Source reads the files of a log, by their path below its prefix:
// "checkpoint", "key", "tile/…".
type Source interface {
	// Read returns the file at p, ErrAbsent when there is none, an error
	// when it is longer than limit.
	Read(ctx context.Context, p string, limit int64) ([]byte, error)
	// Where names p for messages.
	Where(p string) string
}

type httpSource struct {
	prefix *url.URL
	client *http.Client
}

func HTTPSource(raw string) (Source, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return httpSource{}, fmt.Errorf("--url %q is not an http(s) URL prefix without query", raw)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return httpSource{prefix: u, client: &http.Client{Timeout: 2 * time.Minute}}, nil
}

func (s httpSource) Where(p string) string {
	u := *s.prefix
	if p != "" {
		u.Path = path.Join(u.Path, p)
	}
	return u.String()
}

func (s httpSource) Read(ctx context.Context, p string, limit int64) ([]byte, error) {
	where := s.Where(p)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, where, nil)
	if err != nil {
		return nil, err
	}
	res, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	switch {
	case res.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("%s: %w", where, ErrAbsent)
	case res.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%s: %s", where, res.Status)
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: longer than %d bytes", where, limit)
	}
	return b, nil
}

// DirSource reads a copy of a log in the folder dir (opened as root).
func DirSource(root *os.Root, dir string) Source { return dirSource{root: root, dir: dir} }

type dirSource struct {
	root *os.Root
	dir  string
}

func (s dirSource) Where(p string) string { return filepath.Join(s.dir, filepath.FromSlash(p)) }

func (s dirSource) Read(_ context.Context, p string, limit int64) ([]byte, error) {
	f, err := s.root.Open(filepath.FromSlash(p))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", s.Where(p), ErrAbsent)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: longer than %d bytes", s.Where(p), limit)
	}
	return b, nil
}
