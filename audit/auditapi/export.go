package auditapi

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/reqid"
)

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

// dpoQuery parses the filters of a search or export.
func dpoQuery(c httpapi.Context, paged bool) (audit.Query, error) {
	v := c.QueryParams()
	q := audit.Query{ActorKind: audit.ActorKind(v.Get("actor_kind")), ActorID: v.Get("actor"), Action: v.Get("action"),
		Purpose: v.Get("purpose"), Subject: v.Get("subject"), Outcome: audit.Outcome(v.Get("outcome")), Limit: audit.MaxSearch}
	bad := func(title, detail string) (audit.Query, error) {
		return audit.Query{}, &httpapi.Error{Status: http.StatusBadRequest, Slug: "invalid-query", Title: title, Detail: detail}
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
		var err error
		if q.After, err = cursor(c); err != nil {
			return audit.Query{}, err
		}
		if q.Limit, err = pageLimit(c, defaultDPOAuditPage, audit.MaxSearch); err != nil {
			return audit.Query{}, err
		}
	} else if v.Has("after") || v.Has("limit") {
		return bad("Invalid parameter", "an export holds every matching entry: after and limit are not taken")
	}
	if err := q.Validate(); err != nil {
		return audit.Query{}, public(err, "invalid-query", "Invalid query")
	}
	return q, nil
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
func (v *Views) auditDPO(ctx context.Context, caller, action string, q audit.Query) error {
	cats := []string{"audit-log"}
	vals, _ := url.ParseQuery(queryText(q))
	for k, vs := range vals {
		item := "query:" + k + "=" + vs[0]
		if len(item) > audit.MaxFieldLen {
			item = strings.ToValidUTF8(item[:audit.MaxFieldLen-3], "") + "..."
		}
		cats = append(cats, item)
	}
	_, err := v.cfg.Log.Append(ctx, audit.Entry{Time: time.Now(), Actor: audit.Actor{Kind: audit.ActorDPO, ID: caller},
		Action: action, Subject: q.Subject, Purpose: "dpv:LegalCompliance", LegalBasis: "legal-obligation",
		Categories: cats, Outcome: audit.Allowed, RequestID: reqid.From(ctx)})
	return err
}

// dpoSearch serves GET /dpo/audit/search.
func (v *Views) search(c httpapi.Context) error {
	ctx := c.Request().Context()
	q, err := dpoQuery(c, true)
	if err != nil {
		return err
	}
	if err := v.auditDPO(ctx, httpapi.CallerOf(c).ClientID, "audit.search", q); err != nil {
		return err
	}
	out, err := v.page(ctx, q.After, func(after int64) ([]audit.Record, int64, error) {
		q.After = after
		return v.cfg.Log.Search(ctx, q)
	}, func(e audit.Entry, ae *ViewEntry) error {
		// Details stay sealed under the subject's key: a DPO checks who
		// accessed what and why, not the content.
		ae.Subject = e.Subject
		if len(e.Details) > 0 {
			ae.Details = json.RawMessage(`"sealed"`)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return httpapi.JSON(c, http.StatusOK, out)
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
func (v *Views) export(c httpapi.Context) error {
	ctx := c.Request().Context()
	q, err := dpoQuery(c, false)
	if err != nil {
		return err
	}
	key, err := v.cfg.Keys.Active(ctx, ExportRing, keys.ES256)
	if err != nil {
		return err
	}
	if err := v.auditDPO(ctx, httpapi.CallerOf(c).ClientID, "audit.export", q); err != nil {
		return err
	}
	cp, err := v.cfg.Log.LatestCheckpoint(ctx)
	if errors.Is(err, audit.ErrNotFound) {
		c.Response().Header().Set("Retry-After", "1")
		return &httpapi.Error{Status: http.StatusServiceUnavailable, Slug: "no-checkpoint", Title: "No checkpoint yet",
			Detail: "the log has not signed a checkpoint yet; try again in a second"}
	} else if err != nil {
		return err
	}
	w := c.Response()
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
		v.log.ErrorContext(ctx, "audit export failed", "err", err)
		b, _ := json.Marshal(map[string]string{"error": "the export failed; quote request ID " + reqid.From(ctx)})
		bw.Write(append(b, '\n'))
		bw.Flush()
	}
	if err := line(ExportCheckpoint{Checkpoint: string(cp.Note), Size: cp.Size, Root: cp.Root}); err != nil {
		fail(err)
		return nil
	}
	q.After = cp.Size
	for q.After > 0 {
		recs, next, err := v.cfg.Log.Search(ctx, q)
		if err != nil {
			fail(err)
			return nil
		}
		for _, rec := range recs {
			leaf, proof, err := v.prove(ctx, rec, cp)
			if err == nil {
				err = line(ExportEntry{Index: rec.Index, Data: rec.Data, LeafHash: leaf, Proof: proof})
			}
			if err != nil {
				fail(err)
				return nil
			}
		}
		q.After = next
	}
	sig, err := jose.SignJSON(ctx, key, ExportClaims{SHA256: base64.RawURLEncoding.EncodeToString(h.Sum(nil)), Lines: lines,
		CheckpointSize: cp.Size, Query: queryText(q), Issued: time.Now().Unix()}, map[string]any{"typ": ExportJWSType})
	if err != nil {
		fail(err)
		return nil
	}
	b, _ := json.Marshal(ExportSignature{Signature: sig})
	bw.Write(append(b, '\n'))
	if err := bw.Flush(); err != nil {
		v.log.WarnContext(ctx, "audit export: client went away", "err", err)
	}
	return nil
}
