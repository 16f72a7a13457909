package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"flag"
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

const auditUsage = `Usage:
  cedula audit verify --url URL (--key VKEY | --key-file FILE | --trust-served-key) [--checkpoint SAVED] [--save FILE]
  cedula audit verify --dir DIR (--key VKEY | --key-file FILE | --trust-served-key) [--checkpoint SAVED] [--save FILE]
      check a whole audit log: the checkpoint's signature, every entry against
      its leaf hash, every tile, the root, and — with --checkpoint — that the
      log still extends a checkpoint saved earlier
  cedula audit mirror --url URL --dir DIR (--key VKEY | --key-file FILE | --trust-served-key)
      copy the log (checkpoint, key, tiles and entry bundles) into DIR so that
      any static file server can serve it; only what is new is fetched, and
      the copy is verified before its checkpoint is replaced
  cedula audit verify-export --file EXPORT --export-keys JWKS (--key VKEY | --key-file FILE)
      check a DPO export offline: its signature, the checkpoint's, and every
      entry's inclusion proof

URL is the log's prefix (C2SP tlog-tiles), e.g. https://cedula.example.gov.uy/audit:
the checkpoint is at URL/checkpoint and the tiles under URL/tile/. DIR holds the
same paths: DIR/checkpoint, DIR/key, DIR/tile/….

Pin the log's key: pass the verifier key (name+hash+base64) that the operator
publishes out of band — on their website, in an official gazette, in a
transparency report; ` + "`cedula keys list`" + ` prints it on the server — with --key
(repeatable: after a key rotation, pin the old and the new key) or --key-file
(one per line, # comments allowed). verify and mirror refuse to run without a
pinned key unless given --trust-served-key, which checks with the key the log
itself serves at URL/key (or DIR/key): that proves nothing against the
operator, and a warning says so.

verify exits non-zero on the first problem, naming the first bad entry as
"entry N: …"; it prints one line when all is well.
`

// runAudit runs `cedula audit verify|mirror …`.
func runAudit(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, auditUsage)
		return errors.New("cedula audit needs a subcommand: verify, mirror or verify-export")
	}
	switch args[0] {
	case "verify":
		return auditVerify(ctx, args[1:], stdout)
	case "mirror":
		return auditMirror(ctx, args[1:], stdout)
	case "verify-export":
		return auditVerifyExport(ctx, args[1:], stdout)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, auditUsage)
		return nil
	}
	return fmt.Errorf("cedula audit: unknown subcommand %q (verify, mirror)", args[0])
}

// auditFlags are the flags verify and mirror share.
type auditFlags struct {
	fs       *flag.FlagSet
	url, dir string
	keys     multi
	keyFile  string
	// trustServed admits the key the log serves when none is pinned.
	trustServed bool
}

func newAuditFlags(name string, stdout io.Writer) *auditFlags {
	f := &auditFlags{fs: flag.NewFlagSet("cedula audit "+name, flag.ContinueOnError)}
	f.fs.SetOutput(stdout)
	f.fs.Usage = func() { fmt.Fprint(stdout, auditUsage) }
	f.fs.StringVar(&f.url, "url", "", "the log's URL prefix, e.g. https://cedula.example.gov.uy/audit")
	f.fs.StringVar(&f.dir, "dir", "", "a copy of the log on disk (DIR/checkpoint, DIR/tile/…)")
	f.fs.Var(&f.keys, "key", "the log's verifier key, name+hash+base64 (repeatable)")
	f.fs.StringVar(&f.keyFile, "key-file", "", "a file of verifier keys, one per line")
	return f
}

// allowServedKey adds --trust-served-key (verify and mirror; an export is
// never checked against a key it does not pin).
func (f *auditFlags) allowServedKey() {
	f.fs.BoolVar(&f.trustServed, "trust-served-key", false,
		"without --key or --key-file, check with the key the log itself serves (proves nothing against its operator)")
}

func (f *auditFlags) parse(args []string) error {
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	if f.fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", f.fs.Name(), f.fs.Arg(0))
	}
	return nil
}

func auditVerify(ctx context.Context, args []string, stdout io.Writer) error {
	f := newAuditFlags("verify", stdout)
	f.allowServedKey()
	savedPath := f.fs.String("checkpoint", "", "a checkpoint saved earlier: the log must still extend it")
	savePath := f.fs.String("save", "", "write the verified checkpoint to this file, for a later --checkpoint")
	if err := f.parse(args); err != nil {
		return err
	}
	var src tileSource
	switch {
	case (f.url == "") == (f.dir == ""):
		return errors.New("cedula audit verify: give either --url or --dir")
	case f.url != "":
		s, err := newHTTPSource(f.url)
		if err != nil {
			return err
		}
		src = s
	default:
		root, err := os.OpenRoot(f.dir)
		if err != nil {
			return fmt.Errorf("cedula audit verify: %w", err)
		}
		defer root.Close()
		src = dirSource{root: root, dir: f.dir}
	}
	var saved []byte
	if *savedPath != "" {
		b, err := os.ReadFile(*savedPath)
		if err != nil {
			return fmt.Errorf("saved checkpoint: %w", err)
		}
		saved = b
	}
	lk, err := loadKeys(ctx, f, src, stdout)
	if err != nil {
		return err
	}
	cpNote, err := readCheckpoint(ctx, src)
	if err != nil {
		return err
	}
	res, err := verifyLog(ctx, src, lk, cpNote, saved)
	if err != nil {
		return err
	}
	if *savePath != "" {
		if err := os.WriteFile(*savePath, cpNote, 0o644); err != nil {
			return fmt.Errorf("save the checkpoint: %w", err)
		}
	}
	fmt.Fprintf(stdout, "ok: %s\n", res.summary(src))
	return nil
}

func auditMirror(ctx context.Context, args []string, stdout io.Writer) error {
	f := newAuditFlags("mirror", stdout)
	f.allowServedKey()
	if err := f.parse(args); err != nil {
		return err
	}
	if f.url == "" || f.dir == "" {
		return errors.New("cedula audit mirror: give --url and --dir")
	}
	src, err := newHTTPSource(f.url)
	if err != nil {
		return err
	}
	lk, err := loadKeys(ctx, f, src, stdout)
	if err != nil {
		return err
	}
	cpNote, err := readCheckpoint(ctx, src)
	if err != nil {
		return err
	}
	cp, err := openCheckpoint(cpNote, lk, "checkpoint at "+src.where("checkpoint"))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(f.dir, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(f.dir)
	if err != nil {
		return err
	}
	defer root.Close()
	dst := dirSource{root: root, dir: f.dir}

	// What the copy's own checkpoint covers was verified when it was
	// written: its full tiles are kept, everything else is fetched.
	var saved []byte
	var oldSize int64
	switch b, err := root.ReadFile("checkpoint"); {
	case err == nil:
		old, err := openCheckpoint(b, lk, "the copy's checkpoint "+dst.where("checkpoint"))
		if err != nil {
			return err
		}
		if old.Size > cp.Size {
			return fmt.Errorf("the copy in %s has %d entries, the log at %s only %d: the log shrank or forked",
				f.dir, old.Size, f.url, cp.Size)
		}
		saved, oldSize = b, old.Size
	case !errors.Is(err, fs.ErrNotExist):
		return err
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
			return src.read(ctx, auditapi.TilePath(t), tileLimit(t))
		},
		func(t tlog.Tile, data []byte) error {
			fetched++
			return writeAtomic(root, auditapi.TilePath(t), data)
		})
	if err != nil {
		return err
	}
	res, err := verifyLog(ctx, dst, lk, cpNote, saved)
	if err != nil {
		return fmt.Errorf("the copy does not verify, its checkpoint is left as it was: %w", err)
	}
	if err := writeAtomic(root, "key", []byte(strings.Join(lk.vkeys, "\n")+"\n")); err != nil {
		return err
	}
	if err := writeAtomic(root, "checkpoint", cpNote); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ok: mirrored %s into %s (%d files fetched); %s\n", f.url, f.dir, fetched, res.summary(dst))
	return nil
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

// logKeys are the keys checkpoints are checked with.
type logKeys struct {
	vkeys     []string
	origin    string // the keys' name, which is the log's origin
	verifiers note.Verifiers
	pinned    bool
}

// errNoPinnedKey refuses to check a log against nothing but its own word.
var errNoPinnedKey = errors.New("no verifier key pinned: pass the key the log's operator publishes out of band " +
	"(`cedula keys list` prints it on the server) with --key or --key-file; " +
	"--trust-served-key checks with the key the log itself serves instead, which proves nothing against its operator")

// loadKeys reads the keys of --key and --key-file or, without them and
// with --trust-served-key, the key the log serves, with a warning.
func loadKeys(ctx context.Context, f *auditFlags, src tileSource, stdout io.Writer) (logKeys, error) {
	lk := logKeys{vkeys: append([]string(nil), f.keys...), pinned: true}
	if f.keyFile != "" {
		b, err := os.ReadFile(f.keyFile)
		if err != nil {
			return lk, fmt.Errorf("key file: %w", err)
		}
		lk.vkeys = append(lk.vkeys, keyLines(b)...)
		if len(lk.vkeys) == 0 {
			return lk, fmt.Errorf("key file %s holds no key", f.keyFile)
		}
	}
	if len(lk.vkeys) == 0 && !f.trustServed {
		return lk, fmt.Errorf("%s: %w", f.fs.Name(), errNoPinnedKey)
	}
	if len(lk.vkeys) == 0 {
		b, err := src.read(ctx, "key", 64<<10)
		if err != nil {
			return lk, fmt.Errorf("--trust-served-key: the log's key could not be read: %w", err)
		}
		lk.vkeys, lk.pinned = keyLines(b), false
		if len(lk.vkeys) == 0 {
			return lk, fmt.Errorf("--trust-served-key: %s holds no key", src.where("key"))
		}
		fmt.Fprintf(stdout, "warning: the key was not pinned: checking with the key the log itself serves at %s, "+
			"which proves nothing against its operator; pass --key or --key-file with the key published out of band\n",
			src.where("key"))
	}
	for _, k := range lk.vkeys {
		v, err := note.NewVerifier(k)
		if err != nil {
			return lk, fmt.Errorf("key %.80q is not a signed-note verifier key (name+hash+base64): %v", k, err)
		}
		switch {
		case lk.origin == "":
			lk.origin = v.Name()
		case v.Name() != lk.origin:
			return lk, fmt.Errorf("the keys name two logs, %q and %q", lk.origin, v.Name())
		}
	}
	vs, err := audit.Verifiers(lk.vkeys...)
	if err != nil {
		return lk, err
	}
	lk.verifiers = vs
	return lk, nil
}

// openCheckpoint verifies and parses a checkpoint note, what naming it in
// errors.
func openCheckpoint(msg []byte, lk logKeys, what string) (audit.Checkpoint, error) {
	c, err := audit.OpenCheckpoint(msg, lk.origin, lk.verifiers)
	if errors.Is(err, audit.ErrBadSignature) {
		return c, fmt.Errorf("%s is not signed by the key %s: %w", what, keyNames(lk.vkeys), err)
	}
	if err != nil {
		return c, fmt.Errorf("%s: %w", what, err)
	}
	return c, nil
}

// keyLines returns the non-empty lines of b that are not # comments.
func keyLines(b []byte) []string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

func readCheckpoint(ctx context.Context, src tileSource) ([]byte, error) {
	b, err := src.read(ctx, "checkpoint", 64<<10)
	if err != nil {
		if hs, ok := src.(httpSource); ok && errors.Is(err, errAbsent) && strings.Trim(hs.prefix.Path, "/") == "" {
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
type verified struct {
	cp    audit.Checkpoint
	saved *audit.Checkpoint
	keys  logKeys
}

func (v verified) summary(src tileSource) string {
	s := fmt.Sprintf("%s at %s: %d entries, root %s, signed by %s", v.cp.Origin, src.where(""), v.cp.Size,
		base64.StdEncoding.EncodeToString(v.cp.Root[:]), keyNames(v.keys.vkeys))
	if !v.keys.pinned {
		s += " (key not pinned)"
	}
	if v.saved != nil {
		s += fmt.Sprintf("; consistent with the saved checkpoint of %d entries", v.saved.Size)
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

// entryError names the first entry that does not check out.
type entryError struct {
	index int64
	msg   string
}

func (e *entryError) Error() string { return fmt.Sprintf("entry %d: %s", e.index, e.msg) }

// verifyLog checks the log in src against its checkpoint cpNote (and, when
// saved is not nil, against a checkpoint saved earlier): the signatures,
// every entry against its leaf hash in the level-0 tiles, every hash of
// the upper tiles against the tiles below, and the roots of the tree
// recomputed from the entries. It stops at the first problem.
func verifyLog(ctx context.Context, src tileSource, lk logKeys, cpNote, saved []byte) (verified, error) {
	res := verified{keys: lk}
	cp, err := openCheckpoint(cpNote, lk, "checkpoint at "+src.where("checkpoint"))
	if err != nil {
		return res, err
	}
	res.cp = cp
	if saved != nil {
		old, err := openCheckpoint(saved, lk, "saved checkpoint")
		if err != nil {
			return res, err
		}
		if old.Size > cp.Size {
			return res, fmt.Errorf("the saved checkpoint has %d entries, the log now only %d: the log shrank or forked", old.Size, cp.Size)
		}
		res.saved = &old
	}
	inconsistent := func(size int64, root audit.Hash) error {
		return fmt.Errorf("the saved checkpoint is not consistent with the log: its first %d entries hash to %s, the saved checkpoint says %s: the log's history changed",
			size, root, res.saved.Root)
	}
	if res.saved != nil && res.saved.Size == 0 && res.saved.Root != audit.EmptyRoot {
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
					return &entryError{index, "missing from its entry bundle"}
				}
				leaf := tlog.RecordHash(p.entries[i])
				if want := p.hashes[i*tlog.HashSize : (i+1)*tlog.HashSize]; !bytes.Equal(leaf[:], want) {
					return &entryError{index, fmt.Sprintf("its leaf hash is %s, but %s says %s: the entry or its hash was changed",
						leaf, path, base64.StdEncoding.EncodeToString(want))}
				}
				if _, err := audit.ParseEntry(p.entries[i]); err != nil {
					return &entryError{index, fmt.Sprintf("not a canonical audit entry: %v", err)}
				}
				if err := tree.add(leaf, checkUpper); err != nil {
					return err
				}
				if res.saved != nil && tree.n == res.saved.Size {
					if root := tree.root(); root != res.saved.Root {
						return inconsistent(tree.n, root)
					}
				}
			}
			if len(p.entries) > len(p.hashes)/tlog.HashSize {
				return &entryError{first + int64(len(p.hashes)/tlog.HashSize), "in an entry bundle beyond the checkpoint's size"}
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
func readHashTile(ctx context.Context, src tileSource, t tlog.Tile) ([]byte, error) {
	want := t.W * tlog.HashSize
	data, err := src.read(ctx, auditapi.TilePath(t), int64(want))
	if errors.Is(err, errAbsent) && t.W < auditapi.TileWidth {
		full := t
		full.W = auditapi.TileWidth
		if data, err = src.read(ctx, auditapi.TilePath(full), fullTileBytes); err == nil && len(data) == fullTileBytes {
			data = data[:want]
		}
	}
	if err != nil {
		return nil, err
	}
	if len(data) != want {
		return nil, fmt.Errorf("%s: %d bytes, want %d", src.where(auditapi.TilePath(t)), len(data), want)
	}
	return data, nil
}

// readBundle reads entry bundle t, or the first t.W entries of the full
// one when a partial bundle is gone.
func readBundle(ctx context.Context, src tileSource, t tlog.Tile) ([][]byte, error) {
	data, err := src.read(ctx, auditapi.TilePath(t), fullBundleBytes)
	partial := false
	if errors.Is(err, errAbsent) && t.W < auditapi.TileWidth {
		full := t
		full.W = auditapi.TileWidth
		data, err = src.read(ctx, auditapi.TilePath(full), fullBundleBytes)
		partial = true
	}
	if err != nil {
		return nil, err
	}
	entries, err := auditapi.ParseBundle(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src.where(auditapi.TilePath(t)), err)
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

// errAbsent: the file is not there (404, or no such file).
var errAbsent = errors.New("not found")

// tileSource reads the files of a log, by their path below its prefix:
// "checkpoint", "key", "tile/…".
type tileSource interface {
	// read returns the file at p, errAbsent when there is none, an error
	// when it is longer than limit.
	read(ctx context.Context, p string, limit int64) ([]byte, error)
	// where names p for messages.
	where(p string) string
}

type httpSource struct {
	prefix *url.URL
	client *http.Client
}

func newHTTPSource(raw string) (httpSource, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return httpSource{}, fmt.Errorf("--url %q is not an http(s) URL prefix without query", raw)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return httpSource{prefix: u, client: &http.Client{Timeout: 2 * time.Minute}}, nil
}

func (s httpSource) where(p string) string {
	u := *s.prefix
	if p != "" {
		u.Path = path.Join(u.Path, p)
	}
	return u.String()
}

func (s httpSource) read(ctx context.Context, p string, limit int64) ([]byte, error) {
	where := s.where(p)
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
		return nil, fmt.Errorf("%s: %w", where, errAbsent)
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

type dirSource struct {
	root *os.Root
	dir  string
}

func (s dirSource) where(p string) string { return filepath.Join(s.dir, filepath.FromSlash(p)) }

func (s dirSource) read(_ context.Context, p string, limit int64) ([]byte, error) {
	f, err := s.root.Open(filepath.FromSlash(p))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", s.where(p), errAbsent)
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
		return nil, fmt.Errorf("%s: longer than %d bytes", s.where(p), limit)
	}
	return b, nil
}
