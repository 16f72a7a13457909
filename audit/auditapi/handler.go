package auditapi

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/problem"
)

// Prefix is the path the Handler serves under: mount it with
// mux.Handle(auditapi.Prefix, h). It is the log's URL prefix in the sense
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
	// Logger receives the cause of every 500; nil discards.
	Logger *slog.Logger
}

// Handler serves the audit log's public HTTP API under Prefix (see the
// package documentation). It is safe for concurrent use.
type Handler struct {
	cfg Config
	log *slog.Logger
	mux *http.ServeMux
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
	h := &Handler{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux()}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	for pattern, fn := range map[string]func(http.ResponseWriter, *http.Request) error{
		"GET /audit/checkpoint":        h.checkpoint,
		"GET /audit/key":               h.key,
		"GET /audit/entries":           h.entries,
		"GET /audit/proof/inclusion":   h.inclusion,
		"GET /audit/proof/consistency": h.consistency,
		"GET /audit/tile/{path...}":    h.tile,
		"/audit/":                      h.other,
	} {
		h.mux.HandleFunc(pattern, h.serve(fn))
	}
	return h, nil
}

// ServeHTTP implements http.Handler. Paths are data: a request whose path
// is not in the one form the log's resources are named in is answered
// here, before the mux, which would clean the path and redirect to the
// result — possibly a resource outside the log.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if why := nonCanonical(r.URL); why != "" {
		h.serve(func(http.ResponseWriter, *http.Request) error {
			return notFound("no resource of the audit log has this path: %s", why)
		})(w, r)
		return
	}
	h.mux.ServeHTTP(w, r)
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

// apiError is an answer other than 200: a status, a title and a detail
// for the client, and the cause for the log.
type apiError struct {
	status        int
	title, detail string
}

func (e *apiError) Error() string { return e.detail }

func badRequest(format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, title: "Bad request", detail: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &apiError{status: http.StatusNotFound, title: "Not found", detail: fmt.Sprintf(format, args...)}
}

// serve adapts fn and is the one place where errors become problems
// (RFC 9457): the handlers' own *apiError as they are; the audit
// sentinels of a client's mistake as 400, ErrNotFound as 404; anything
// else as a 500 whose cause is logged, not sent.
func (h *Handler) serve(fn func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := fn(w, r)
		if err == nil {
			return
		}
		var ae *apiError
		switch {
		case errors.As(err, &ae):
		case errors.Is(err, audit.ErrNotFound):
			ae = &apiError{status: http.StatusNotFound, title: "Not found", detail: "not in the log"}
		case errors.Is(err, audit.ErrOutOfRange):
			ae = &apiError{status: http.StatusBadRequest, title: "Bad request", detail: "the request reaches beyond the log"}
		case audit.IsBadRequest(err):
			ae = &apiError{status: http.StatusBadRequest, title: "Bad request", detail: "a parameter is invalid"}
		default:
			if r.Context().Err() == nil {
				h.log.ErrorContext(r.Context(), "audit api: request failed", "path", r.URL.Path, "err", err,
					"corrupt", errors.Is(err, audit.ErrCorrupt))
			}
			ae = &apiError{status: http.StatusInternalServerError, title: "Internal error",
				detail: "the audit log could not answer; the cause is logged"}
		}
		if ae.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", "GET, HEAD")
		}
		problem.Write(w, problem.Problem{Title: ae.title, Status: ae.status, Detail: ae.detail, Lang: "en"})
	}
}

// other answers what no route matched: 405 for a known path with another
// method, 404 for the rest.
func (h *Handler) other(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		get := r.Clone(r.Context())
		get.Method = http.MethodGet
		if _, pattern := h.mux.Handler(get); pattern != "/audit/" {
			return &apiError{status: http.StatusMethodNotAllowed, title: "Method not allowed",
				detail: "the audit log is read with GET"}
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
