package app

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/cedula/cedula/audit"
)

// AuditPage is a page of audit entries as the citizen view (GET
// /account/audit) and the DPO search (GET /dpo/audit/search) answer it:
// newest first, each with an inclusion proof against the signed checkpoint
// given once (C2SP tlog-checkpoint note; its size and root repeated for
// convenience). Entries appended after that checkpoint appear once a later
// checkpoint covers them. Next, when not 0, is the ?after= cursor of the
// following (older) page.
type AuditPage struct {
	Checkpoint string       `json:"checkpoint"`
	Size       int64        `json:"size"`
	Root       audit.Hash   `json:"root"`
	Entries    []AuditEntry `json:"entries"`
	Next       int64        `json:"next,omitempty"`
}

// AuditEntry is one entry of an AuditPage. Subject is the pseudonym (in the
// DPO view only: a citizen sees their own entries). Details depend on the
// reader: for the citizen, their details decrypted (a JSON value) or
// "erased" when their key was destroyed; for a DPO, "sealed". They are
// absent when the entry has none. Proof is the inclusion proof of LeafHash
// at Index in the tree of the page's checkpoint.
type AuditEntry struct {
	Index         int64           `json:"index"`
	Time          time.Time       `json:"time"`
	Action        string          `json:"action"`
	Actor         AuditActor      `json:"actor"`
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

// AuditActor is who acted: kind and pseudonymous ID (audit.Actor).
type AuditActor struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
}

// auditPage builds a page of the entries read returns for a cursor (at
// most the latest checkpoint's size), each proven against that checkpoint.
// view fills what depends on the reader (subject, details) from the entry.
func (s *Server) auditPage(ctx context.Context, after int64,
	read func(after int64) ([]audit.Record, int64, error),
	view func(e audit.Entry, out *AuditEntry) error) (AuditPage, error) {
	out := AuditPage{Entries: []AuditEntry{}}
	cp, err := s.Audit.LatestCheckpoint(ctx)
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
		leaf, proof, err := s.proveAgainst(ctx, rec, cp)
		if err != nil {
			return out, err
		}
		ae := AuditEntry{Index: rec.Index, Time: e.Time, Action: e.Action, Actor: AuditActor{Kind: string(e.Actor.Kind), ID: e.Actor.ID},
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
func (s *Server) proveAgainst(ctx context.Context, rec audit.Record, cp audit.Checkpoint) (audit.Hash, []audit.Hash, error) {
	proof, err := audit.ProveInclusion(ctx, s.Audit, rec.Index, cp.Size)
	if err != nil {
		return audit.Hash{}, nil, err
	}
	leaf := rec.LeafHash()
	if err := audit.CheckInclusion(proof, rec.Index, cp.Size, leaf, cp.Root); err != nil {
		return audit.Hash{}, nil, err // the stored tree disagrees with the signed checkpoint
	}
	return leaf, append([]audit.Hash{}, proof...), nil
}
