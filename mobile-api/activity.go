package mobileapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/audit/auditapi"
)

// Activity is the citizen's own view of the audit log (*auditapi.Views):
// a page of at most limit entries about subject (the citizen's
// pseudonym) older than after (0: from the latest checkpoint), newest
// first, each proven against the latest signed checkpoint.
type Activity interface {
	About(ctx context.Context, subject string, after int64, limit int) (auditapi.Page, error)
}

// defaultActivityPage is the size of a page of activity when the app
// names none (as GET /account/audit).
const defaultActivityPage = 50

// ListActivity pages who accessed the citizen's data and why.
func (a *API) ListActivity(ctx context.Context, req ListActivityRequestObject) (ListActivityResponseObject, error) {
	who := callerOf(ctx)
	limit := defaultActivityPage
	if req.Params.Limit != nil {
		limit = *req.Params.Limit
	}
	var after int64
	if req.Params.Cursor != nil {
		var err error
		if after, err = decodeIndexCursor(*req.Params.Cursor); err != nil {
			return nil, badCursor(err)
		}
	}
	self := a.cfg.Pseudonym(who.citizenID)
	p, err := a.cfg.Activity.About(ctx, self, after, limit)
	if err != nil {
		return nil, err
	}
	page := ActivityPage{Checkpoint: p.Checkpoint, Size: int(p.Size), Items: make([]ActivityEntry, 0, len(p.Entries))}
	if p.Size > 0 {
		page.Root = b64(p.Root)
	}
	if p.Next != 0 {
		c := indexCursor(p.Next)
		page.NextCursor = &c
	}
	names := map[string]*string{} // purpose → its name, nil when not registered
	for _, e := range p.Entries {
		page.Items = append(page.Items, a.activityEntry(ctx, e, self, who.lang, names))
	}
	tag, fresh := etag(page, req.Params.IfNoneMatch)
	if fresh {
		return ListActivity304Response{Headers: NotModifiedResponseHeaders{ETag: &tag}}, nil
	}
	return ListActivity200JSONResponse{Body: page, Headers: ListActivity200ResponseHeaders{ETag: &tag}}, nil
}

// activityEntry is an entry in the document's shape: agencies and
// Cedula's components by name, people by kind only (the citizen's own
// acts marked self), the purpose named in lang where it is registered.
func (a *API) activityEntry(ctx context.Context, e auditapi.ViewEntry, self, lang string, names map[string]*string) ActivityEntry {
	out := ActivityEntry{Index: int(e.Index), Time: e.Time.UTC(), Action: e.Action, Outcome: e.Outcome, LeafHash: b64(e.LeafHash),
		Purpose: opt(e.Purpose), LegalBasis: opt(e.LegalBasis), ConsentRecord: opt(e.ConsentRecord), Proof: make([]string, 0, len(e.Proof))}
	out.Actor.Kind = ActivityEntryActorKind(e.Actor.Kind)
	switch audit.ActorKind(e.Actor.Kind) {
	case audit.ActorClient:
		out.Actor.Id, out.Actor.Name = opt(e.Actor.ID), opt(a.cfg.Agencies.AgencyName(ctx, e.Actor.ID))
	case audit.ActorSystem:
		out.Actor.Id, out.Actor.Name = opt(e.Actor.ID), opt(e.Actor.ID)
	case audit.ActorCitizen:
		if e.Actor.ID == self {
			t := true
			out.Actor.Self = &t
		}
	}
	if len(e.Categories) > 0 {
		out.Categories = &e.Categories
	}
	if len(e.Details) > 0 {
		var d any
		if json.Unmarshal(e.Details, &d) == nil {
			out.Details = &d
		}
	}
	for _, h := range e.Proof {
		out.Proof = append(out.Proof, b64(h))
	}
	if id := registryPurpose(e.Purpose, e.ConsentRecord); id != "" {
		name, ok := names[id]
		if !ok {
			if p, err := a.cfg.Ledger.Purpose(ctx, id); err == nil {
				n := p.Name.In(lang)
				name = &n
			}
			names[id] = name
		}
		out.PurposeName = name
	}
	return out
}

// registryPurpose is the registry ID of an entry's purpose: the consent
// ledger's entries name it in their consent record reference
// ("<purpose-id>@<version>/<record>#<seq>", consent.AuditRecord), their
// Purpose being the purpose's DPV code; other rooms' entries may name it
// in Purpose.
func registryPurpose(purpose, record string) string {
	if record != "" {
		if i := strings.IndexAny(record, "@/"); i > 0 {
			return record[:i]
		}
		return record
	}
	return purpose
}

// b64 is a hash in standard base64, as the log's own JSON writes it.
func b64(h audit.Hash) string { return base64.StdEncoding.EncodeToString(h[:]) }

// indexCursor is the opaque cursor of the page of entries before index.
func indexCursor(index int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("a:" + strconv.FormatInt(index, 10)))
}

func decodeIndexCursor(s string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, err
	}
	n, ok := strings.CutPrefix(string(b), "a:")
	i, err := strconv.ParseInt(n, 10, 64)
	if !ok || err != nil || i < 1 {
		return 0, errors.New("mobileapi: malformed activity cursor")
	}
	return i, nil
}
