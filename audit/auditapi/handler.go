package auditapi

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/httpapi"
)

// Prefix is the path the Handler serves under (Handler.Mount). It is the log's URL prefix in the sense
// of C2SP tlog-tiles, without the trailing slash.
const Prefix = "/audit/"

// Cache-Control values.
const (
	// The checkpoint changes every second while entries arrive (C2SP
	// tlog-tiles: no caching beyond a few seconds).
	cacheCheckpoint = "no-cache"
	// Keys change only with a key rotation.
	cacheKeys = "public, max-age=300"
	// Full tiles and bundles never change (C2SP tlog-tiles: "immutable").
	cacheImmutable = "public, max-age=31536000, immutable"
	// A partial tile never changes either, but it is superseded by a wider
	// one within a second and a log may delete it.
	cachePartial = "public, max-age=60"
	// Entries and proofs for given sizes are fixed once the log reaches
	// those sizes; shorter-lived than tiles, as they are not part of the
	// static layout.
	cacheAnswer = "public, max-age=3600"
)

// KeySource gives the verifier keys of the log, in the signed-note
// verifier-key form (name+hash+base64 key), the active key first.
// *audit.Checkpointer implements it.
type KeySource interface {
	VerifierKeys(ctx context.Context) ([]string, error)
}

// StaticKeys is a KeySource with a fixed list of keys.
type StaticKeys []string

// VerifierKeys implements KeySource.
func (k StaticKeys) VerifierKeys(context.Context) ([]string, error) { return k, nil }

var _ KeySource = (*audit.Checkpointer)(nil)

// Config configures New. Log, Checkpoints and Keys are required.
type Config struct {
	// Log is read for entries, hashes, proofs and tiles.
	Log audit.Reader
	// Checkpoints gives the latest signed checkpoint.
	Checkpoints audit.Checkpoints
	// Keys gives the keys served at /audit/key.
	Keys KeySource
}

// Handler serves the audit log's public HTTP API under Prefix (see the
// package documentation) on the edge: Mount adds its routes. It is safe
// for concurrent use.
type Handler struct {
	cfg Config
}

// New checks cfg and returns the handler; it reports every problem at once.
func New(cfg Config) (*Handler, error) {
	var problems []error
	if cfg.Log == nil {
		problems = append(problems, errors.New("no log"))
	}
	if cfg.Checkpoints == nil {
		problems = append(problems, errors.New("no checkpoint store"))
	}
	if cfg.Keys == nil {
		problems = append(problems, errors.New("no key source"))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("auditapi: %w", errors.Join(problems...))
	}
	return &Handler{cfg: cfg}, nil
}

// resources are the log's routes below Prefix; "tile/*" takes every tile
// and bundle path, which ParseTilePath then checks whole.
func (h *Handler) resources() map[string]func(http.ResponseWriter, *http.Request) error {
	return map[string]func(http.ResponseWriter, *http.Request) error{
		"checkpoint":        h.checkpoint,
		"key":               h.key,
		"entries":           h.entries,
		"proof/inclusion":   h.inclusion,
		"proof/consistency": h.consistency,
		"tile/*":            h.tile,
	}
}

// Mount adds the log's routes to e: each resource its own route (logs and
// metrics name it), read with GET or HEAD; any other path below Prefix,
// or another method, is a 404 or 405 problem (answered here for every
// method, so that the Allow header is the log's).
func (h *Handler) Mount(e *httpapi.Echo) {
	for name, fn := range h.resources() {
		e.Any(Prefix+name, h.handle(func(w http.ResponseWriter, r *http.Request) error {
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				return h.other(w, r)
			}
			return fn(w, r)
		}))
	}
	e.Any(strings.TrimSuffix(Prefix, "/"), h.handle(h.other))
	e.Any(Prefix+"*", h.handle(h.other))
}

// handle adapts fn to the edge. Paths are data: a request whose path is
// not in the one form the log's resources are named in is refused before
// fn sees it — a path that would clean or decode to a resource's name is
// not that name. The errors of a client's mistake become problems here
// (public); anything else goes to the edge as it is, a 500 whose cause the
// edge logs and does not send.
func (h *Handler) handle(fn func(http.ResponseWriter, *http.Request) error) httpapi.HandlerFunc {
	return func(c httpapi.Context) error {
		r := c.Request()
		if why := nonCanonical(r.URL); why != "" {
			return notFound("no resource of the audit log has this path: %s", why)
		}
		return logErrors(fn(c.Response(), r))
	}
}

// nonCanonical says why u's path cannot name a resource of the log, or
// returns "": every resource (C2SP tlog-tiles, "APIs") is below Prefix and
// written with letters, digits, '.', '_' and '/' alone, so a path with a
// percent-escape, a dot segment, an empty segment or a trailing slash is
// no resource's name, whatever it would decode or clean to.
func nonCanonical(u *url.URL) string {
	p := u.Path
	switch {
	case !strings.HasPrefix(p, Prefix):
		return "it is not below " + Prefix
	case strings.ContainsRune(u.EscapedPath(), '%'):
		return "it holds a percent-escape"
	case p != Prefix && (path.Clean(p) != p || strings.HasSuffix(p, "/")):
		return "it holds a dot segment, an empty segment or a trailing slash"
	}
	return ""
}

func badRequest(format string, args ...any) error {
	return httpapi.BadRequest(fmt.Sprintf(format, args...))
}

func notFound(format string, args ...any) error {
	return httpapi.NotFound(fmt.Sprintf(format, args...))
}

// logErrors maps the audit sentinels of a client's mistake, as the log's
// routes meet them, to problems: ErrNotFound 404, ErrOutOfRange and the
// other bad requests 400. Everything else stays as it is. It is applied
// here and not in Classify, because the same sentinels from elsewhere in
// Cedula are not the client's doing.
func logErrors(err error) error {
	var pe *httpapi.Error
	switch {
	case err == nil, errors.As(err, &pe):
		return err
	case errors.Is(err, audit.ErrNotFound):
		return httpapi.NotFound("not in the log").WithCause(err)
	case errors.Is(err, audit.ErrOutOfRange):
		return httpapi.BadRequest("the request reaches beyond the log").WithCause(err)
	case audit.IsBadRequest(err):
		return httpapi.BadRequest("a parameter is invalid").WithCause(err)
	}
	return err
}

// other answers what no route matched: 405 for a resource's path with
// another method, 404 for the rest.
func (h *Handler) other(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		name := strings.TrimPrefix(r.URL.Path, Prefix)
		if _, ok := h.resources()[name]; ok || strings.HasPrefix(name, "tile/") {
			w.Header().Set("Allow", "GET, HEAD")
			return httpapi.Problem(http.StatusMethodNotAllowed, "Method not allowed", "the audit log is read with GET")
		}
	}
	return notFound("no such resource of the audit log")
}

// checkpoint serves the latest signed checkpoint (C2SP tlog-checkpoint;
// C2SP tlog-tiles, "Checkpoints").
func (h *Handler) checkpoint(w http.ResponseWriter, r *http.Request) error {
	c, err := h.cfg.Checkpoints.LatestCheckpoint(r.Context())
	if errors.Is(err, audit.ErrNotFound) {
		return notFound("the log has not signed a checkpoint yet")
	}
	if err != nil {
		return err
	}
	write(w, "text/plain; charset=utf-8", cacheCheckpoint, c.Note)
	return nil
}

// key serves the verifier keys, one per line.
func (h *Handler) key(w http.ResponseWriter, r *http.Request) error {
	vkeys, err := h.cfg.Keys.VerifierKeys(r.Context())
	if err != nil {
		return err
	}
	if len(vkeys) == 0 {
		return notFound("the log has no checkpoint key yet")
	}
	write(w, "text/plain; charset=utf-8", cacheKeys, []byte(strings.Join(vkeys, "\n")+"\n"))
	return nil
}

// Entry is one entry of an /audit/entries answer.
type Entry struct {
	Index int64 `json:"index"`
	// Data is the canonical encoding (the Merkle leaf), base64 in JSON so
	// that no JSON encoder re-escapes it.
	Data []byte `json:"data"`
}

// Entries is the answer of /audit/entries.
type Entries struct {
	Entries []Entry `json:"entries"`
}

func (h *Handler) entries(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r)
	if err != nil {
		return err
	}
	start, err := required(q, "start")
	if err != nil {
		return err
	}
	end, err := required(q, "end")
	if err != nil {
		return err
	}
	if start > end {
		return badRequest("start %d is after end %d", start, end)
	}
	if end-start > audit.MaxEntries {
		return badRequest("%d entries asked, at most %d at once", end-start, audit.MaxEntries)
	}
	if err := h.within(r.Context(), "end", end); err != nil {
		return err
	}
	recs, err := h.cfg.Log.Entries(r.Context(), start, end)
	if err != nil {
		return err
	}
	out := Entries{Entries: make([]Entry, len(recs))}
	for i, rec := range recs {
		out.Entries[i] = Entry{Index: rec.Index, Data: rec.Data}
	}
	return writeJSON(w, out)
}

// InclusionProof is the answer of /audit/proof/inclusion: the audit path
// of the entry at Index in the tree of Size entries, whose root hash is
// Root (RFC 6962 §2.1.1). Hashes are standard base64.
type InclusionProof struct {
	Index int64        `json:"index"`
	Size  int64        `json:"size"`
	Root  audit.Hash   `json:"root"`
	Proof []audit.Hash `json:"proof"`
}

func (h *Handler) inclusion(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q, err := query(r)
	if err != nil {
		return err
	}
	size, err := required(q, "size")
	if err != nil {
		return err
	}
	index, hasIndex, err := optional(q, "index")
	if err != nil {
		return err
	}
	leafs := q["leaf"]
	if len(leafs) > 1 {
		return badRequest("leaf is given %d times", len(leafs))
	}
	if hasIndex == (len(leafs) == 1) {
		return badRequest("give either index or leaf, not both and not neither")
	}
	if err := h.within(ctx, "size", size); err != nil {
		return err
	}
	var proof tlog.RecordProof
	if hasIndex {
		if index >= size {
			return badRequest("index %d is not below size %d", index, size)
		}
		if proof, err = audit.ProveInclusion(ctx, h.cfg.Log, index, size); err != nil {
			return err
		}
	} else {
		leaf, err := audit.ParseHash(leafs[0])
		if err != nil {
			return badRequest("leaf is not a SHA-256 hash in base64 (standard, percent-encoded, or URL-safe) or hex")
		}
		index, proof, err = audit.ProveInclusionByHash(ctx, h.cfg.Log, leaf, size)
		if errors.Is(err, audit.ErrNotFound) {
			return notFound("no entry of the tree of size %d has that leaf hash", size)
		}
		if err != nil {
			return err
		}
	}
	root, err := audit.TreeHash(ctx, h.cfg.Log, size)
	if err != nil {
		return err
	}
	return writeJSON(w, InclusionProof{Index: index, Size: size, Root: root, Proof: nonNil(proof)})
}

// ConsistencyProof is the answer of /audit/proof/consistency: the proof
// that the tree of New entries extends the tree of Old entries (RFC 6962
// §2.1.2); empty when Old is 0 or equals New.
type ConsistencyProof struct {
	Old   int64        `json:"old"`
	New   int64        `json:"new"`
	Proof []audit.Hash `json:"proof"`
}

func (h *Handler) consistency(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r)
	if err != nil {
		return err
	}
	oldSize, err := required(q, "old")
	if err != nil {
		return err
	}
	newSize, err := required(q, "new")
	if err != nil {
		return err
	}
	if oldSize > newSize {
		return badRequest("old size %d is after new size %d", oldSize, newSize)
	}
	if err := h.within(r.Context(), "new", newSize); err != nil {
		return err
	}
	proof, err := audit.ProveConsistency(r.Context(), h.cfg.Log, oldSize, newSize)
	if err != nil {
		return err
	}
	return writeJSON(w, ConsistencyProof{Old: oldSize, New: newSize, Proof: nonNil(proof)})
}

// tile serves a hash tile or an entry bundle (C2SP tlog-tiles, "Merkle
// Tree" and "Log entries"). A well-formed path of a tile the log does not
// have yet is 404, as it is on a static mirror.
func (h *Handler) tile(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	t, err := ParseTilePath(strings.TrimPrefix(r.URL.Path, Prefix))
	if err != nil {
		return badRequest("not a tile path of C2SP tlog-tiles: tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>]")
	}
	n, err := h.cfg.Log.Size(ctx)
	if err != nil {
		return err
	}
	if end, ok := TileEnd(t); !ok || end > n {
		return notFound("the log has no such tile yet (it has %d entries)", n)
	}
	cache := cacheImmutable
	if t.W < TileWidth {
		cache = cachePartial
	}
	if t.L == EntriesLevel {
		return h.bundle(w, r, t, cache)
	}
	data, err := tlog.ReadTileData(t, audit.HashReader(ctx, h.cfg.Log))
	if err != nil {
		return fmt.Errorf("tile %s: %w", TilePath(t), err)
	}
	write(w, "application/octet-stream", cache, data)
	return nil
}

func (h *Handler) bundle(w http.ResponseWriter, r *http.Request, t tlog.Tile, cache string) error {
	start := t.N * TileWidth
	recs, err := h.cfg.Log.Entries(r.Context(), start, start+int64(t.W))
	if err != nil {
		return fmt.Errorf("entry bundle %s: %w", TilePath(t), err)
	}
	var b []byte
	for _, rec := range recs {
		if b, err = AppendBundleEntry(b, rec.Data); err != nil {
			return fmt.Errorf("entry bundle %s: entry %d: %w", TilePath(t), rec.Index, err)
		}
	}
	// C2SP tlog-tiles: entry bundles SHOULD be compressed at the HTTP
	// layer; canonical JSON compresses well.
	if !acceptsGzip(r.Header.Values("Accept-Encoding")) {
		w.Header().Add("Vary", "Accept-Encoding")
		write(w, "application/octet-stream", cache, b)
		return nil
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("Cache-Control", cache)
	hd.Set("Content-Encoding", "gzip")
	hd.Add("Vary", "Accept-Encoding")
	zw := gzip.NewWriter(w)
	zw.Write(b)
	zw.Close()
	return nil
}

// acceptsGzip reports whether Accept-Encoding lists gzip with a non-zero
// quality (RFC 9110 §12.5.3).
func acceptsGzip(values []string) bool {
	for _, v := range values {
		for _, item := range strings.Split(v, ",") {
			params := strings.Split(item, ";")
			if !strings.EqualFold(strings.TrimSpace(params[0]), "gzip") {
				continue
			}
			q := 1.0
			for _, p := range params[1:] {
				k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(k, "q") {
					if f, err := strconv.ParseFloat(v, 64); err == nil {
						q = f
					}
				}
			}
			return q > 0
		}
	}
	return false
}

// within checks that size (a parameter named name) is not beyond the log.
func (h *Handler) within(ctx context.Context, name string, size int64) error {
	n, err := h.cfg.Log.Size(ctx)
	if err != nil {
		return err
	}
	if size > n {
		return badRequest("%s %d is beyond the log, which has %d entries", name, size, n)
	}
	return nil
}

// query parses the query string strictly (url.URL.Query drops errors).
func query(r *http.Request) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest("the query string does not parse")
	}
	return q, nil
}

// optional parses the integer parameter name, if present: one decimal
// without sign or leading zeroes, below 2⁶³.
func optional(q url.Values, name string) (n int64, present bool, err error) {
	vs := q[name]
	switch len(vs) {
	case 0:
		return 0, false, nil
	case 1:
	default:
		return 0, true, badRequest("%s is given %d times", name, len(vs))
	}
	n, ok := parseDecimal(vs[0])
	if !ok {
		return 0, true, badRequest("%s is not a decimal integer without sign or leading zeroes, below 2^63", name)
	}
	return n, true, nil
}

func required(q url.Values, name string) (int64, error) {
	n, present, err := optional(q, name)
	if err == nil && !present {
		err = badRequest("%s is required", name)
	}
	return n, err
}

func nonNil(hs []tlog.Hash) []audit.Hash {
	if hs == nil {
		return []audit.Hash{}
	}
	return hs
}

func write(w http.ResponseWriter, contentType, cache string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", cache)
	h.Set("X-Content-Type-Options", "nosniff")
	w.Write(body)
}

func writeJSON(w http.ResponseWriter, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	write(w, "application/json", cacheAnswer, append(b, '\n'))
	return nil
}
