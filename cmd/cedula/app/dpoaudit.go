package app

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cedula/cedula/internal/reqid"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/issuer"
)

// DPOScope is the scope a data protection officer's client_credentials
// token needs for the /dpo/ endpoints; a privileged scope
// (issuer.PrivilegedScopes).
const DPOScope = issuer.ScopeDPO

// ExportRing is the key ring (ES256) that signs audit exports; its public
// keys are served at GET /dpo/audit/export-keys.
const ExportRing = "audit-export"

// ExportJWSType is the "typ" of an export's signature.
const ExportJWSType = "cedula-audit-export+jws"

// Page sizes of GET /dpo/audit/search.
const defaultDPOAuditPage = 50

// ExportCheckpoint is the first line of an export.
type ExportCheckpoint struct {
	Checkpoint string     `json:"checkpoint"` // the signed note, C2SP tlog-checkpoint
	Size       int64      `json:"size"`
	Root       audit.Hash `json:"root"`
}

// ExportEntry is a line of an export: Data is the canonical encoding (the
// leaf), base64; Proof its inclusion proof in the checkpoint's tree.
type ExportEntry struct {
	Index    int64        `json:"index"`
	Data     []byte       `json:"data"`
	LeafHash audit.Hash   `json:"leaf_hash"`
	Proof    []audit.Hash `json:"proof"`
}

// ExportSignature is the last line of an export: a compact JWS (ES256,
// ring ExportRing, "typ" ExportJWSType) whose payload is ExportClaims.
type ExportSignature struct {
	Signature string `json:"signature"`
}

// ExportClaims is the payload of an export's signature. SHA256 is the
// SHA-256 of every byte of the body before the signature line (base64url,
// no padding); Lines counts those lines.
type ExportClaims struct {
	SHA256         string `json:"sha256"`
	Lines          int64  `json:"lines"`
	CheckpointSize int64  `json:"checkpoint_size"`
	Query          string `json:"query"`
	Issued         int64  `json:"iat"`
}

// mountDPO adds the DPO's views of the audit log.
func (s *Server) mountDPO(mux router) {
	mux.Handle("GET /dpo/audit/search", s.withScope(DPOScope, s.dpoSearch))
	mux.Handle("GET /dpo/audit/export", s.withScope(DPOScope, s.dpoExport))
	mux.HandleFunc("GET /dpo/audit/export-keys", s.jwksHandler(ExportRing))
}

// dpoQuery parses the filters of a search or export. It writes a 400
// problem and returns false when they are invalid.
func dpoQuery(w http.ResponseWriter, r *http.Request, paged bool) (audit.Query, bool) {
	v := r.URL.Query()
	q := audit.Query{ActorKind: audit.ActorKind(v.Get("actor_kind")), ActorID: v.Get("actor"), Action: v.Get("action"),
		Purpose: v.Get("purpose"), Subject: v.Get("subject"), Outcome: audit.Outcome(v.Get("outcome")), Limit: audit.MaxSearch}
	bad := func(title, detail string) (audit.Query, bool) {
		writeProblem(w, http.StatusBadRequest, title, detail)
		return audit.Query{}, false
	}
	for name, t := range map[string]*time.Time{"from": &q.From, "to": &q.To} {
		if s := v.Get(name); s != "" {
			p, err := time.Parse(time.RFC3339Nano, s)
			if err != nil || p.Year() < 1 || p.Year() > 9999 {
				return bad("Invalid time", name+" must be an RFC 3339 time, e.g. 2025-01-31T00:00:00Z")
			}
			*t = p
		}
	}
	if paged {
		q.Limit = defaultDPOAuditPage
		if s := v.Get("after"); s != "" {
			a, err := strconv.ParseInt(s, 10, 64)
			if err != nil || a < 1 {
				return bad("Invalid cursor", "after must be a positive integer, the next of a previous page")
			}
			q.After = a
		}
		if s := v.Get("limit"); s != "" {
			l, err := strconv.Atoi(s)
			if err != nil || l < 1 || l > audit.MaxSearch {
				return bad("Invalid limit", "limit must be an integer from 1 to "+strconv.Itoa(audit.MaxSearch))
			}
			q.Limit = l
		}
	} else if v.Has("after") || v.Has("limit") {
		return bad("Invalid parameter", "an export holds every matching entry: after and limit are not taken")
	}
	if err := q.Validate(); err != nil {
		return bad("Invalid query", strings.TrimPrefix(strings.TrimPrefix(err.Error(), "audit: invalid range: "), "audit: malformed input: "))
	}
	return q, true
}

// queryText is q's filters in a stable, non-personal form (query-string
// syntax, sorted): the subject is already a pseudonym, actors are client
// IDs or pseudonyms. Cursor and limit are left out.
func queryText(q audit.Query) string {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	if !q.From.IsZero() {
		v.Set("from", q.From.UTC().Format(time.RFC3339Nano))
	}
	if !q.To.IsZero() {
		v.Set("to", q.To.UTC().Format(time.RFC3339Nano))
	}
	set("actor_kind", string(q.ActorKind))
	set("actor", q.ActorID)
	set("action", q.Action)
	set("purpose", q.Purpose)
	set("outcome", string(q.Outcome))
	return v.Encode()
}

// auditDPO appends, durably, the entry that records a DPO's search or
// export. The subject filter, a pseudonym, is the entry's subject, so the
// citizen sees the search in their own view; the other filters go into
// the categories as "query:<name>=<value>" items (Entry has no field for
// free text that is not personal, and Details are sealed under a subject's
// key), with "audit-log", the data the DPO read.
func (s *Server) auditDPO(ctx context.Context, r *http.Request, caller, action string, q audit.Query) error {
	cats := []string{"audit-log"}
	v, _ := url.ParseQuery(queryText(q))
	for k, vs := range v {
		item := "query:" + k + "=" + vs[0]
		if len(item) > audit.MaxFieldLen {
			item = strings.ToValidUTF8(item[:audit.MaxFieldLen-3], "") + "..."
		}
		cats = append(cats, item)
	}
	_, err := s.Audit.Append(ctx, audit.Entry{Time: time.Now(), Actor: audit.Actor{Kind: audit.ActorDPO, ID: caller},
		Action: action, Subject: q.Subject, Purpose: "dpv:LegalCompliance", LegalBasis: "legal-obligation",
		Categories: cats, Outcome: audit.Allowed, RequestID: reqid.From(r.Context())})
	return err
}

// dpoSearch serves GET /dpo/audit/search.
func (s *Server) dpoSearch(w http.ResponseWriter, r *http.Request, caller string) {
	ctx := r.Context()
	q, ok := dpoQuery(w, r, true)
	if !ok {
		return
	}
	if err := s.auditDPO(ctx, r, caller, "audit.search", q); err != nil {
		s.internalError(w, r, err)
		return
	}
	out, err := s.auditPage(ctx, q.After, func(after int64) ([]audit.Record, int64, error) {
		q.After = after
		return s.Audit.Search(ctx, q)
	}, func(e audit.Entry, ae *AuditEntry) error {
		// Details stay sealed under the subject's key: a DPO checks who
		// accessed what and why, not the content.
		ae.Subject = e.Subject
		if len(e.Details) > 0 {
			ae.Details = json.RawMessage(`"sealed"`)
		}
		return nil
	})
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// dpoExport serves GET /dpo/audit/export: JSON Lines (application/jsonl).
// Line 1 is ExportCheckpoint, the latest signed checkpoint; then one
// ExportEntry per matching entry the checkpoint covers, newest first; the
// last line is ExportSignature. To verify: take every byte before the last
// line, check that its SHA-256 is the sha256 claim of the JWS, which must
// verify (ES256) with the JWKS of GET /dpo/audit/export-keys; check the
// checkpoint note with the log's key (GET /audit/…); check each entry's
// leaf hash (SHA-256 of 0x00 || data) and its proof against the
// checkpoint's root. A failure after the first line is reported on a last
// line {"error": …} instead of the signature: an export without a valid
// signature line is incomplete.
func (s *Server) dpoExport(w http.ResponseWriter, r *http.Request, caller string) {
	ctx := r.Context()
	q, ok := dpoQuery(w, r, false)
	if !ok {
		return
	}
	key, err := s.Keys.Active(ctx, ExportRing, keys.ES256)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if err := s.auditDPO(ctx, r, caller, "audit.export", q); err != nil {
		s.internalError(w, r, err)
		return
	}
	cp, err := s.Audit.LatestCheckpoint(ctx)
	if errors.Is(err, audit.ErrNotFound) {
		w.Header().Set("Retry-After", "1")
		writeProblem(w, http.StatusServiceUnavailable, "No checkpoint yet", "the log has not signed a checkpoint yet; try again in a second")
		return
	} else if err != nil {
		s.internalError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/jsonl")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Disposition", `attachment; filename="audit-export.jsonl"`)
	h := sha256.New()
	bw := bufio.NewWriterSize(w, 64<<10)
	var lines int64
	line := func(v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		b = append(b, '\n')
		h.Write(b)
		lines++
		_, err = bw.Write(b)
		return err
	}
	fail := func(err error) {
		s.log.ErrorContext(ctx, "audit export failed", "err", err)
		b, _ := json.Marshal(map[string]string{"error": "the export failed; quote request ID " + reqid.From(ctx)})
		bw.Write(append(b, '\n'))
		bw.Flush()
	}
	if err := line(ExportCheckpoint{Checkpoint: string(cp.Note), Size: cp.Size, Root: cp.Root}); err != nil {
		fail(err)
		return
	}
	q.After = cp.Size
	for q.After > 0 {
		recs, next, err := s.Audit.Search(ctx, q)
		if err != nil {
			fail(err)
			return
		}
		for _, rec := range recs {
			leaf, proof, err := s.proveAgainst(ctx, rec, cp)
			if err == nil {
				err = line(ExportEntry{Index: rec.Index, Data: rec.Data, LeafHash: leaf, Proof: proof})
			}
			if err != nil {
				fail(err)
				return
			}
		}
		q.After = next
	}
	sig, err := jose.SignJSON(ctx, key, ExportClaims{SHA256: base64.RawURLEncoding.EncodeToString(h.Sum(nil)), Lines: lines,
		CheckpointSize: cp.Size, Query: queryText(q), Issued: time.Now().Unix()}, map[string]any{"typ": ExportJWSType})
	if err != nil {
		fail(err)
		return
	}
	b, _ := json.Marshal(ExportSignature{Signature: sig})
	bw.Write(append(b, '\n'))
	if err := bw.Flush(); err != nil {
		s.log.WarnContext(ctx, "audit export: client went away", "err", err)
	}
}

// VerifyExport checks an export body as dpoExport documents, with the JWKS
// of its signing keys, and returns the checkpoint line and the entries. It
// does not check the checkpoint note's own signature (see
// audit.ParseCheckpoint); it checks every proof against its root.
func VerifyExport(body, jwks []byte) (ExportCheckpoint, []ExportEntry, error) {
	var cp ExportCheckpoint
	trimmed := strings.TrimSuffix(string(body), "\n")
	cut := strings.LastIndexByte(trimmed, '\n')
	if cut < 0 {
		return cp, nil, errors.New("export: no signature line")
	}
	signed, last := body[:cut+1], trimmed[cut+1:]
	var sl ExportSignature
	if err := json.Unmarshal([]byte(last), &sl); err != nil || sl.Signature == "" {
		return cp, nil, errors.New("export: the last line is not a signature")
	}
	payload, err := jose.Verify([]byte(sl.Signature), jwks, keys.ES256)
	if err != nil {
		return cp, nil, fmt.Errorf("export: signature: %w", err)
	}
	var claims ExportClaims
	if err := json.Unmarshal(payload, &claims); err != nil {
		return cp, nil, fmt.Errorf("export: signature claims: %w", err)
	}
	sum := sha256.Sum256(signed)
	if claims.SHA256 != base64.RawURLEncoding.EncodeToString(sum[:]) {
		return cp, nil, errors.New("export: the body does not match its signature")
	}
	lines := strings.Split(strings.TrimSuffix(string(signed), "\n"), "\n")
	if int64(len(lines)) != claims.Lines {
		return cp, nil, errors.New("export: line count differs from the signature's")
	}
	if err := json.Unmarshal([]byte(lines[0]), &cp); err != nil || cp.Size != claims.CheckpointSize {
		return cp, nil, errors.New("export: bad checkpoint line")
	}
	var out []ExportEntry
	for _, l := range lines[1:] {
		var e ExportEntry
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			return cp, nil, fmt.Errorf("export: line %d: %w", len(out)+2, err)
		}
		if audit.LeafHash(e.Data) != e.LeafHash {
			return cp, nil, fmt.Errorf("export: entry %d: leaf hash differs from its data", e.Index)
		}
		if err := audit.CheckInclusion(e.Proof, e.Index, cp.Size, e.LeafHash, cp.Root); err != nil {
			return cp, nil, fmt.Errorf("export: entry %d: %w", e.Index, err)
		}
		out = append(out, e)
	}
	return cp, out, nil
}
