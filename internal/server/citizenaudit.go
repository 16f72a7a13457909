package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/issuer/pages"
)

// Page sizes of GET /account/audit.
const (
	defaultCitizenAuditPage = 50
	maxCitizenAuditPage     = 200
)

// CitizenAudit is the answer of GET /account/audit: the logged-in
// citizen's own audit entries, newest first, each with an inclusion proof
// against the signed checkpoint given once (C2SP tlog-checkpoint note;
// its size and root repeated for convenience). Entries appended after that
// checkpoint appear once a later checkpoint covers them. Next, when not 0,
// is the ?after= cursor of the following (older) page.
type CitizenAudit struct {
	Checkpoint string              `json:"checkpoint"`
	Size       int64               `json:"size"`
	Root       audit.Hash          `json:"root"`
	Entries    []CitizenAuditEntry `json:"entries"`
	Next       int64               `json:"next,omitempty"`
}

// CitizenAuditEntry is one entry of CitizenAudit. Details are the entry's
// personal details decrypted (a JSON value), the string "erased" when the
// citizen's key was destroyed, absent when the entry has none. Proof is the
// inclusion proof of the entry's leaf (LeafHash of its canonical encoding)
// at Index in the tree of the checkpoint.
type CitizenAuditEntry struct {
	Index         int64           `json:"index"`
	Time          time.Time       `json:"time"`
	Action        string          `json:"action"`
	Actor         CitizenAuditWho `json:"actor"`
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

// CitizenAuditWho is who acted: kind and pseudonymous ID (audit.Actor).
type CitizenAuditWho struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
}

// citizenAudit serves GET /account/audit?after=&limit= to a citizen logged
// in with the pages' session cookie: who accessed their data and why.
func (s *Server) citizenAudit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	citizen, err := s.Pages.CitizenFromRequest(r)
	if errors.Is(err, pages.ErrNoSession) {
		writeProblem(w, http.StatusUnauthorized, "Unauthorized", "log in to Cedula to see who accessed your data")
		return
	} else if err != nil {
		s.internalError(w, r, err)
		return
	}
	q := r.URL.Query()
	var after int64
	if v := q.Get("after"); v != "" {
		if after, err = strconv.ParseInt(v, 10, 64); err != nil || after < 1 {
			writeProblem(w, http.StatusBadRequest, "Invalid cursor", "after must be a positive integer, the next of a previous page")
			return
		}
	}
	limit := defaultCitizenAuditPage
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > maxCitizenAuditPage {
			writeProblem(w, http.StatusBadRequest, "Invalid limit", "limit must be an integer from 1 to "+strconv.Itoa(maxCitizenAuditPage))
			return
		}
	}
	out := CitizenAudit{Entries: []CitizenAuditEntry{}}
	cp, err := s.Audit.LatestCheckpoint(ctx)
	if errors.Is(err, audit.ErrNotFound) {
		writeJSON(w, http.StatusOK, out) // nothing signed yet
		return
	} else if err != nil {
		s.internalError(w, r, err)
		return
	}
	out.Checkpoint, out.Size, out.Root = string(cp.Note), cp.Size, cp.Root
	// Only entries the checkpoint covers: each gets a proof against it.
	if after == 0 || after > cp.Size {
		after = cp.Size
	}
	if after == 0 {
		writeJSON(w, http.StatusOK, out)
		return
	}
	subject := s.AuditSubject(citizen.ID)
	recs, next, err := s.Audit.EntriesAbout(ctx, subject, after, limit)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	out.Next = next
	for _, rec := range recs {
		e, err := rec.Entry()
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		proof, err := audit.ProveInclusion(ctx, s.Audit, rec.Index, cp.Size)
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		leaf := rec.LeafHash()
		if err := audit.CheckInclusion(proof, rec.Index, cp.Size, leaf, cp.Root); err != nil {
			// The stored tree disagrees with the signed checkpoint.
			s.internalError(w, r, err)
			return
		}
		ce := CitizenAuditEntry{Index: rec.Index, Time: e.Time, Action: e.Action,
			Actor:   CitizenAuditWho{Kind: string(e.Actor.Kind), ID: e.Actor.ID},
			Purpose: e.Purpose, LegalBasis: e.LegalBasis, ConsentRecord: e.ConsentRecord, Categories: e.Categories,
			Outcome: string(e.Outcome), RequestID: e.RequestID, LeafHash: leaf, Proof: append([]audit.Hash{}, proof...)}
		if len(e.Details) > 0 {
			plain, err := s.Shredder.Open(ctx, subject, e.Details)
			switch {
			case errors.Is(err, audit.ErrErased):
				ce.Details = json.RawMessage(`"erased"`)
			case err != nil:
				s.internalError(w, r, err)
				return
			case json.Valid(plain):
				ce.Details = plain
			default:
				ce.Details, _ = json.Marshal(string(plain))
			}
		}
		out.Entries = append(out.Entries, ce)
	}
	writeJSON(w, http.StatusOK, out)
}
