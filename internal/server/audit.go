package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/audit/auditapi"
	auditstore "github.com/cedula/cedula/audit/sqlstore"
	"github.com/cedula/cedula/internal/keys"
)

// AuditOrigin names the audit log in its checkpoints: the public URL of its
// tiles without the scheme, as C2SP tlog-tiles recommends
// (e.g. "id.example.gob/audit").
func AuditOrigin(publicURL string) string {
	u, err := url.Parse(publicURL)
	if err != nil || u.Host == "" {
		return "cedula/audit"
	}
	return u.Host + u.Path + "/audit"
}

// openAudit opens the audit log on the server's database and the
// Checkpointer that signs its checkpoints with a key from the key manager.
func (s *Server) openAudit() error {
	s.Audit = auditstore.New(s.DB)
	cp, err := audit.NewCheckpointer(audit.CheckpointerConfig{
		Origin: AuditOrigin(s.Config.PublicURL),
		Log:    s.Audit,
		Store:  s.Audit,
		Keys:   s.Keys,
		Logger: s.log,
	})
	if err != nil {
		s.Audit.Close()
		return err
	}
	s.Checkpointer = cp
	w, err := keys.WrapperOf(s.Keys)
	if err != nil {
		s.Audit.Close()
		return err
	}
	s.Shredder, err = audit.NewShredder(audit.ShredderConfig{Keys: auditstore.NewSubjectKeys(s.DB), Wrapper: w})
	if err != nil {
		s.Audit.Close()
		return err
	}
	return nil
}

// AuditWriteScope lets an agency system record its own accesses to
// citizens' data in the audit log (POST /admin/audit).
const AuditWriteScope = "cedula:audit"

// mountAudit serves the log — checkpoint, key, entries, proofs and tiles —
// and the endpoint through which agency systems append to it.
func (s *Server) mountAudit(mux *http.ServeMux) error {
	h, err := auditapi.New(auditapi.Config{Log: s.Audit, Checkpoints: s.Audit, Keys: s.Checkpointer, Logger: s.log})
	if err != nil {
		return err
	}
	mux.Handle(auditapi.Prefix, h)
	mux.Handle("POST /admin/audit", s.withScope(AuditWriteScope, s.appendAudit))
	mux.Handle("POST /admin/erasures", s.adminOnly(s.eraseSubject))
	return nil
}

// auditJSON is what an agency records: the actor is always the calling
// client, never a field of the request.
type auditJSON struct {
	Action        string   `json:"action"`
	Subject       string   `json:"subject"`
	Purpose       string   `json:"purpose"`
	LegalBasis    string   `json:"legal_basis"`
	ConsentRecord string   `json:"consent_record"`
	Categories    []string `json:"categories"`
	Outcome       string   `json:"outcome"`
	// Details are personal details of the event (any JSON value); they
	// are stored sealed under the subject's own key, never in clear.
	Details json.RawMessage `json:"details,omitempty"`
}

// appendAudit appends one entry and answers 201 with its index once the
// entry is durable.
func (s *Server) appendAudit(w http.ResponseWriter, r *http.Request, caller string) {
	var in auditJSON
	if !decodeJSON(w, r, &in) {
		return
	}
	e := audit.Entry{Time: time.Now(), Actor: audit.Actor{Kind: audit.ActorClient, ID: caller}, Action: in.Action, Subject: in.Subject,
		Purpose: in.Purpose, LegalBasis: in.LegalBasis, ConsentRecord: in.ConsentRecord, Categories: in.Categories,
		Outcome: audit.Outcome(in.Outcome), RequestID: RequestID(r.Context())}
	if err := e.Validate(); err != nil {
		writeProblem(w, http.StatusBadRequest, "Invalid audit entry", strings.TrimPrefix(err.Error(), "audit: invalid entry: "))
		return
	}
	if len(in.Details) > 0 {
		if in.Subject == "" {
			writeProblem(w, http.StatusBadRequest, "Invalid audit entry", "details need a subject, whose key seals them")
			return
		}
		if len(in.Details) > audit.MaxPlainDetails {
			writeProblem(w, http.StatusBadRequest, "Invalid audit entry", fmt.Sprintf("details are %d bytes, at most %d allowed", len(in.Details), audit.MaxPlainDetails))
			return
		}
		sealed, err := s.Shredder.Seal(r.Context(), in.Subject, in.Details)
		if errors.Is(err, audit.ErrErased) {
			writeProblem(w, http.StatusConflict, "Subject erased", "this subject's data was erased; no new details can be recorded for it")
			return
		} else if err != nil {
			s.internalError(w, r, err)
			return
		}
		e.Details = sealed
	}
	i, err := s.Audit.Append(r.Context(), e)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]int64{"index": i})
}

// eraseSubject crypto-shreds a subject (GDPR Art. 17): their audit details
// become unreadable, every proof still verifies. The erasure is itself
// audited, without details.
func (s *Server) eraseSubject(w http.ResponseWriter, r *http.Request, caller string) {
	var in struct {
		Subject string `json:"subject"`
	}
	if !decodeJSON(w, r, &in) {
		return
	}
	if in.Subject == "" {
		writeProblem(w, http.StatusBadRequest, "Invalid erasure", "subject is required")
		return
	}
	if err := s.Shredder.Erase(r.Context(), in.Subject); err != nil {
		s.internalError(w, r, err)
		return
	}
	i, err := s.Audit.Append(r.Context(), audit.Entry{Time: time.Now(), Actor: audit.Actor{Kind: audit.ActorClient, ID: caller},
		Action: "audit.erase", Subject: in.Subject, LegalBasis: "legal-obligation", Outcome: audit.Allowed, RequestID: RequestID(r.Context())})
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]int64{"index": i})
}
