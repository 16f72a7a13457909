package auditapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/reqid"
	"github.com/cedula/cedula/internal/scopes"
)

// The audit log's JSON APIs on the edge (Views), its contract in openapi/:
//
//	POST /admin/audit            an agency records its own use of a citizen's data (cedula:audit; agency.yaml)
//	GET /account/audit           the citizen's view: who accessed their data and why (session; account.yaml)
//	GET /dpo/audit/search        the DPO's search (cedula:dpo; dpo.yaml)
//	GET /dpo/audit/export        the DPO's signed export (cedula:dpo; dpo.yaml)
//	GET /dpo/audit/export-keys   the exports' verification keys (public)

// Store is what the views read and append.
type Store interface {
	audit.Reader
	audit.Searcher
	Append(ctx context.Context, entries ...audit.Entry) (int64, error)
	LatestCheckpoint(ctx context.Context) (audit.Checkpoint, error)
	EntriesAbout(ctx context.Context, subject string, after int64, limit int) ([]audit.Record, int64, error)
}

// Sealer seals and opens details under a subject's own key
// (*audit.Shredder).
type Sealer interface {
	Seal(ctx context.Context, subject string, details []byte) ([]byte, error)
	Open(ctx context.Context, subject string, sealed []byte) ([]byte, error)
}

// Subjects tells which citizen a client knows by a pairwise sub
// (ErrUnknownSubject when none).
type Subjects interface {
	SubjectCitizen(ctx context.Context, clientID, sub string) (citizenID string, err error)
}

// ErrUnknownSubject: no citizen is known to the client by that sub.
var ErrUnknownSubject = errors.New("auditapi: unknown subject")

// ViewsConfig is what Views are built from; every field but Logger is
// required.
type ViewsConfig struct {
	Log      Store
	Sealer   Sealer
	Guard    httpapi.Guard
	Subjects Subjects
	// Pseudonym is the citizen's audit pseudonym.
	Pseudonym func(citizenID string) string
	// Keys sign exports (ExportRing).
	Keys   keys.Manager
	Logger *slog.Logger
}

// Views serve the agencies', citizens' and DPOs' JSON views of the log.
type Views struct {
	cfg ViewsConfig
	log *slog.Logger
}

// NewViews checks cfg and returns the views.
func NewViews(cfg ViewsConfig) (*Views, error) {
	if err := httpapi.CheckConfig("auditapi", map[string]bool{"Log": cfg.Log != nil, "Sealer": cfg.Sealer != nil, "Guard": cfg.Guard.Auth != nil,
		"Guard.Sessions": cfg.Guard.Sessions != nil, "Subjects": cfg.Subjects != nil, "Pseudonym": cfg.Pseudonym != nil, "Keys": cfg.Keys != nil}); err != nil {
		return nil, err
	}
	v := &Views{cfg: cfg, log: cfg.Logger}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	return v, nil
}

// Mount adds the routes.
func (v *Views) Mount(e *httpapi.Echo) {
	g := v.cfg.Guard
	e.POST("/admin/audit", v.append, g.Scope(scopes.Audit))
	e.GET("/account/audit", v.citizen, g.Session("log in to Cedula to see who accessed your data"))
	e.GET("/dpo/audit/search", v.search, g.Scope(scopes.DPO))
	e.GET("/dpo/audit/export", v.export, g.Scope(scopes.DPO))
	e.GET("/dpo/audit/export-keys", httpapi.KeySet(v.cfg.Keys, ExportRing))
}

// Classify maps the views' errors to their public form. An invalid entry
// or query the client sent is answered where it is checked (public); the
// same errors from anywhere else are Cedula's own and stay 500s.
func Classify(err error) *httpapi.Error {
	switch {
	case errors.Is(err, ErrUnknownSubject):
		return &httpapi.Error{Status: http.StatusBadRequest, Slug: "unknown-subject", Title: "Unknown subject",
			Detail: "no citizen is known to this client by that sub"}
	}
	return nil
}

// auditJSON is what an agency records: the actor is always the calling
// client, never a field of the request, and the citizen is named by the
// agency's own pairwise subject identifier (sub), never by a pseudonym it
// makes up: Cedula maps it to the citizen's audit pseudonym.
type auditJSON struct {
	Action string `json:"action"`
	// Sub is the subject identifier the calling client sees for the
	// citizen (its ID tokens' sub); "" when no citizen's data was touched.
	Sub           string   `json:"sub"`
	Purpose       string   `json:"purpose"`
	LegalBasis    string   `json:"legal_basis"`
	ConsentRecord string   `json:"consent_record"`
	Categories    []string `json:"categories"`
	Outcome       string   `json:"outcome"`
	// Details are personal details of the event (any JSON value); they
	// are stored sealed under the subject's own key, never in clear.
	Details json.RawMessage `json:"details,omitempty"`
}

// append serves POST /admin/audit: it appends one entry and answers 201
// with its index once the entry is durable.
func (v *Views) append(c httpapi.Context) error {
	var in auditJSON
	if err := httpapi.Bind(c, &in); err != nil {
		return err
	}
	ctx := c.Request().Context()
	caller := httpapi.CallerOf(c).ClientID
	e := audit.Entry{Time: time.Now(), Actor: audit.Actor{Kind: audit.ActorClient, ID: caller}, Action: in.Action,
		Purpose: in.Purpose, LegalBasis: in.LegalBasis, ConsentRecord: in.ConsentRecord, Categories: in.Categories,
		Outcome: audit.Outcome(in.Outcome), RequestID: reqid.From(ctx)}
	if err := e.Validate(); err != nil {
		return public(err, "invalid-entry", "Invalid audit entry")
	}
	bad := func(detail string) error {
		return &httpapi.Error{Status: http.StatusBadRequest, Slug: "invalid-entry", Title: "Invalid audit entry", Detail: detail}
	}
	if in.Sub != "" {
		if len(in.Sub) > audit.MaxFieldLen {
			return bad("sub is too long")
		}
		citizenID, err := v.cfg.Subjects.SubjectCitizen(ctx, caller, in.Sub)
		if err != nil {
			return err
		}
		e.Subject = v.cfg.Pseudonym(citizenID)
	}
	if len(in.Details) > 0 {
		if e.Subject == "" {
			return bad("details need a sub, whose key seals them")
		}
		if len(in.Details) > audit.MaxPlainDetails {
			return bad(fmt.Sprintf("details are %d bytes, at most %d allowed", len(in.Details), audit.MaxPlainDetails))
		}
		sealed, err := v.cfg.Sealer.Seal(ctx, e.Subject, in.Details)
		if errors.Is(err, audit.ErrErased) {
			return &httpapi.Error{Status: http.StatusConflict, Slug: "subject-erased", Title: "Subject erased",
				Detail: "this subject's data was erased; no new details can be recorded for it"}
		} else if err != nil {
			return err
		}
		e.Details = sealed
	}
	i, err := v.cfg.Log.Append(ctx, e)
	if err != nil {
		return err
	}
	return httpapi.JSON(c, http.StatusCreated, map[string]int64{"index": i})
}

// Page is a page of audit entries as the citizen view (GET
// /account/audit) and the DPO search (GET /dpo/audit/search) answer it:
// newest first, each with an inclusion proof against the signed checkpoint
// given once (C2SP tlog-checkpoint note; its size and root repeated for
// convenience). Entries appended after that checkpoint appear once a later
// checkpoint covers them. Next, when not 0, is the ?after= cursor of the
// following (older) page.
type Page struct {
	Checkpoint string      `json:"checkpoint"`
	Size       int64       `json:"size"`
	Root       audit.Hash  `json:"root"`
	Entries    []ViewEntry `json:"entries"`
	Next       int64       `json:"next,omitempty"`
}

// ViewEntry is one entry of an Page. Subject is the pseudonym (in the
// DPO view only: a citizen sees their own entries). Details depend on the
// reader: for the citizen, their details decrypted (a JSON value) or
// "erased" when their key was destroyed; for a DPO, "sealed". They are
// absent when the entry has none. Proof is the inclusion proof of LeafHash
// at Index in the tree of the page's checkpoint.
type ViewEntry struct {
	Index         int64           `json:"index"`
	Time          time.Time       `json:"time"`
	Action        string          `json:"action"`
	Actor         Actor           `json:"actor"`
	Subject       string          `json:"subject,omitempty"`
	Purpose       string          `json:"purpose,omitempty"`
	LegalBasis    string          `json:"legal_basis,omitempty"`
	ConsentRecord string          `json:"consent_record,omitempty"`
	Categories    []string        `json:"categories,omitempty"`
	Outcome       string          `json:"outcome"`
	RequestID     string          `json:"request_id,omitempty"`
	Details       json.RawMessage `json:"details,omitempty"`
	LeafHash      audit.Hash      `json:"leaf_hash"`
	Proof         []audit.Hash    `json:"proof"`
}

// Actor is who acted: kind and pseudonymous ID (audit.Actor).
type Actor struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
}

// auditPage builds a page of the entries read returns for a cursor (at
// most the latest checkpoint's size), each proven against that checkpoint.
// view fills what depends on the reader (subject, details) from the entry.
func (v *Views) page(ctx context.Context, after int64,
	read func(after int64) ([]audit.Record, int64, error),
	view func(e audit.Entry, out *ViewEntry) error) (Page, error) {
	out := Page{Entries: []ViewEntry{}}
	cp, err := v.cfg.Log.LatestCheckpoint(ctx)
	if errors.Is(err, audit.ErrNotFound) {
		return out, nil // nothing signed yet
	} else if err != nil {
		return out, err
	}
	out.Checkpoint, out.Size, out.Root = string(cp.Note), cp.Size, cp.Root
	// Only entries the checkpoint covers: each gets a proof against it.
	if after == 0 || after > cp.Size {
		after = cp.Size
	}
	if after == 0 {
		return out, nil
	}
	recs, next, err := read(after)
	if err != nil {
		return out, err
	}
	out.Next = next
	for _, rec := range recs {
		e, err := rec.Entry()
		if err != nil {
			return out, err
		}
		leaf, proof, err := v.prove(ctx, rec, cp)
		if err != nil {
			return out, err
		}
		ae := ViewEntry{Index: rec.Index, Time: e.Time, Action: e.Action, Actor: Actor{Kind: string(e.Actor.Kind), ID: e.Actor.ID},
			Purpose: e.Purpose, LegalBasis: e.LegalBasis, ConsentRecord: e.ConsentRecord, Categories: e.Categories,
			Outcome: string(e.Outcome), RequestID: e.RequestID, LeafHash: leaf, Proof: proof}
		if err := view(e, &ae); err != nil {
			return out, err
		}
		out.Entries = append(out.Entries, ae)
	}
	return out, nil
}

// proveAgainst returns rec's leaf hash and its inclusion proof in the tree
// of cp, checked against cp's root.
func (v *Views) prove(ctx context.Context, rec audit.Record, cp audit.Checkpoint) (audit.Hash, []audit.Hash, error) {
	proof, err := audit.ProveInclusion(ctx, v.cfg.Log, rec.Index, cp.Size)
	if err != nil {
		return audit.Hash{}, nil, err
	}
	leaf := rec.LeafHash()
	if err := audit.CheckInclusion(proof, rec.Index, cp.Size, leaf, cp.Root); err != nil {
		return audit.Hash{}, nil, err // the stored tree disagrees with the signed checkpoint
	}
	return leaf, append([]audit.Hash{}, proof...), nil
}

// Page sizes of GET /account/audit.
const (
	defaultCitizenAuditPage = 50
	maxCitizenAuditPage     = 200
)

// citizenAudit serves GET /account/audit?after=&limit= to a citizen logged
// in with the pages' session cookie: who accessed their data and why.
func (v *Views) citizen(c httpapi.Context) error {
	ctx := c.Request().Context()
	after, err := cursor(c)
	if err != nil {
		return err
	}
	limit, err := pageLimit(c, defaultCitizenAuditPage, maxCitizenAuditPage)
	if err != nil {
		return err
	}
	out, err := v.About(ctx, v.cfg.Pseudonym(httpapi.CallerOf(c).CitizenID), after, limit)
	if err != nil {
		return err
	}
	return httpapi.JSON(c, http.StatusOK, out)
}

// About is one page of the citizen's own view of the log (GET
// /account/audit, the mobile API's activity): at most limit entries about
// subject (the citizen's pseudonym) older than after (0: from the latest
// checkpoint), newest first, each proven against the latest checkpoint,
// with the details opened with the subject's key.
func (v *Views) About(ctx context.Context, subject string, after int64, limit int) (Page, error) {
	return v.page(ctx, after, func(after int64) ([]audit.Record, int64, error) {
		return v.cfg.Log.EntriesAbout(ctx, subject, after, limit)
	}, v.openDetails(ctx, subject))
}

// cursor reads ?after=, the next of a previous page (0 without one).
func cursor(c httpapi.Context) (int64, error) {
	s := c.QueryParam("after")
	if s == "" {
		return 0, nil
	}
	a, err := strconv.ParseInt(s, 10, 64)
	if err != nil || a < 1 {
		return 0, &httpapi.Error{Status: http.StatusBadRequest, Slug: "invalid-cursor", Title: "Invalid cursor",
			Detail: "after must be a positive integer, the next of a previous page"}
	}
	return a, nil
}

// pageLimit reads ?limit=, from 1 to max (def without one).
func pageLimit(c httpapi.Context, def, max int) (int, error) {
	s := c.QueryParam("limit")
	if s == "" {
		return def, nil
	}
	l, err := strconv.Atoi(s)
	if err != nil || l < 1 || l > max {
		return 0, &httpapi.Error{Status: http.StatusBadRequest, Slug: "invalid-limit", Title: "Invalid limit",
			Detail: "limit must be an integer from 1 to " + strconv.Itoa(max)}
	}
	return l, nil
}

// openDetails returns the function that puts an entry's details, opened
// with the subject's key, into the answer: the JSON itself, a JSON string
// for other bytes, or "erased".
func (v *Views) openDetails(ctx context.Context, subject string) func(e audit.Entry, ae *ViewEntry) error {
	return func(e audit.Entry, ae *ViewEntry) error {
		if len(e.Details) == 0 {
			return nil
		}
		plain, err := v.cfg.Sealer.Open(ctx, subject, e.Details)
		switch {
		case errors.Is(err, audit.ErrErased):
			ae.Details = json.RawMessage(`"erased"`)
		case err != nil:
			return err
		case json.Valid(plain):
			ae.Details = plain
		default:
			ae.Details, _ = json.Marshal(string(plain))
		}
		return nil
	}
}

// Trail is every entry about subject the latest checkpoint covers, newest
// first, each proven against it, with the details opened with the
// subject's key: the audit part of a citizen's export.
func (v *Views) Trail(ctx context.Context, subject string) (Page, error) {
	var out Page
	var all []ViewEntry
	for after := int64(0); ; {
		page, err := v.About(ctx, subject, after, audit.MaxEntries)
		if err != nil {
			return out, err
		}
		if after == 0 {
			out = page
		}
		all = append(all, page.Entries...)
		if page.Next == 0 {
			break
		}
		after = page.Next
	}
	out.Entries, out.Next = all, 0
	return out, nil
}

// public answers an *audit.InputError about what the client sent with its
// text, as a 400 titled title; other errors pass.
func public(err error, slug, title string) error {
	var ie *audit.InputError
	if errors.As(err, &ie) {
		return &httpapi.Error{Status: http.StatusBadRequest, Slug: slug, Title: title, Detail: ie.Text, Cause: err}
	}
	return err
}
