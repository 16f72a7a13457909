package app

import (
	"github.com/cedula/cedula/internal/scopes"

	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cedula/cedula/internal/reqid"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/audit/auditapi"
	auditstore "github.com/cedula/cedula/audit/sqlstore"
	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/issuer"
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

// AuditVerifierKeys returns the verifier keys of the log's checkpoints
// (C2SP signed-note, the active key first, then the retired keys still
// published), making the checkpoint ring's first key if there is none yet:
// what the operator publishes out of band for verifiers to pin.
func (s *Server) AuditVerifierKeys(ctx context.Context) ([]string, error) {
	if _, err := s.Keys.Active(ctx, audit.CheckpointRing, keys.EdDSA); err != nil {
		return nil, err
	}
	return s.Checkpointer.VerifierKeys(ctx)
}

// AuditWriteScope lets an agency system record its own accesses to
// citizens' data in the audit log (POST /admin/audit).
const AuditWriteScope = scopes.Audit

// mountAudit adds the endpoint through which agency systems append to the
// log, and the citizens' and DPOs' views, and returns the handler of the
// log itself — checkpoint, key, entries, proofs and tiles.
func (s *Server) mountAudit(mux router) (http.Handler, error) {
	h, err := auditapi.New(auditapi.Config{Log: s.Audit, Checkpoints: s.Audit, Keys: s.Checkpointer, Logger: s.log})
	if err != nil {
		return nil, err
	}
	mux.Handle("POST /admin/audit", s.withScope(AuditWriteScope, s.appendAudit))
	mux.Handle("POST /admin/erasures", s.adminOnly(s.eraseSubject))
	mux.HandleFunc("GET /account/audit", s.citizenAudit)
	mux.HandleFunc("GET /account/export", s.citizenExport)
	mux.HandleFunc("GET /account/export-keys", s.jwksHandler(CitizenExportRing))
	s.mountDPO(mux)
	s.mountDPOPrivileges(mux)
	return h, nil
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

// AuditSubject returns the citizen's audit pseudonym (issuer.AuditSubject
// under the key derived from the server secret).
func (s *Server) AuditSubject(citizenID string) string {
	return issuer.AuditSubject(s.auditKey, citizenID)
}

// appendAudit appends one entry and answers 201 with its index once the
// entry is durable.
func (s *Server) appendAudit(w http.ResponseWriter, r *http.Request, caller string) {
	var in auditJSON
	if !decodeJSON(w, r, &in) {
		return
	}
	e := audit.Entry{Time: time.Now(), Actor: audit.Actor{Kind: audit.ActorClient, ID: caller}, Action: in.Action,
		Purpose: in.Purpose, LegalBasis: in.LegalBasis, ConsentRecord: in.ConsentRecord, Categories: in.Categories,
		Outcome: audit.Outcome(in.Outcome), RequestID: reqid.From(r.Context())}
	if err := e.Validate(); err != nil {
		writeProblem(w, http.StatusBadRequest, "Invalid audit entry", strings.TrimPrefix(err.Error(), "audit: invalid entry: "))
		return
	}
	if in.Sub != "" {
		if len(in.Sub) > audit.MaxFieldLen {
			writeProblem(w, http.StatusBadRequest, "Invalid audit entry", "sub is too long")
			return
		}
		citizenID, err := s.Provider.SubjectCitizen(r.Context(), caller, in.Sub)
		if errors.Is(err, issuer.ErrNotFound) {
			writeProblem(w, http.StatusBadRequest, "Unknown subject", "no citizen is known to this client by that sub")
			return
		} else if err != nil {
			s.internalError(w, r, err)
			return
		}
		e.Subject = s.AuditSubject(citizenID)
	}
	if len(in.Details) > 0 {
		if e.Subject == "" {
			writeProblem(w, http.StatusBadRequest, "Invalid audit entry", "details need a sub, whose key seals them")
			return
		}
		if len(in.Details) > audit.MaxPlainDetails {
			writeProblem(w, http.StatusBadRequest, "Invalid audit entry", fmt.Sprintf("details are %d bytes, at most %d allowed", len(in.Details), audit.MaxPlainDetails))
			return
		}
		sealed, err := s.Shredder.Seal(r.Context(), e.Subject, in.Details)
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

// eraseSubject crypto-shreds a citizen's audit details (GDPR Art. 17): the
// admin names the citizen by internal ID, Cedula erases the key of their
// audit pseudonym; their details become unreadable, every proof still
// verifies. The erasure is itself audited, without details.
func (s *Server) eraseSubject(w http.ResponseWriter, r *http.Request, caller string) {
	var in struct {
		CitizenID string `json:"citizen_id"`
	}
	if !decodeJSON(w, r, &in) {
		return
	}
	if in.CitizenID == "" {
		writeProblem(w, http.StatusBadRequest, "Invalid erasure", "citizen_id is required")
		return
	}
	if _, err := s.Store.Citizen(r.Context(), in.CitizenID); errors.Is(err, issuer.ErrNotFound) {
		writeProblem(w, http.StatusNotFound, "Unknown citizen", "no citizen has that id")
		return
	} else if err != nil {
		s.internalError(w, r, err)
		return
	}
	// Across the rooms, each step audited: the consents in force are
	// withdrawn (ending the agencies' access), the provider's personal data
	// erased, and last the key of the citizen's audit details destroyed.
	// The consent history and the log stay, under pseudonyms, as the proof
	// of what was done and of the erasure itself.
	ctx := r.Context()
	actor := audit.Actor{Kind: audit.ActorClient, ID: caller}
	withdrawn, err := s.withdrawAll(ctx, in.CitizenID, actor)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	erased, err := s.Store.EraseCitizen(ctx, in.CitizenID)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	subject := s.AuditSubject(in.CitizenID)
	if err := s.Shredder.Erase(ctx, subject); err != nil {
		s.internalError(w, r, err)
		return
	}
	i, err := s.Audit.Append(ctx, audit.Entry{Time: time.Now(), Actor: actor,
		Action: "audit.erase", Subject: subject, LegalBasis: "legal-obligation", Outcome: audit.Allowed, RequestID: reqid.From(ctx)})
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]int64{"index": i, "consents_withdrawn": int64(withdrawn),
		"passkeys_removed": int64(erased.Passkeys), "recovery_codes_removed": int64(erased.RecoveryCodes),
		"enrolments_removed": int64(erased.Enrolments), "sessions_ended": int64(erased.Sessions), "tokens_revoked": int64(erased.Tokens)})
}

// withdrawAll withdraws every consent of the citizen that a withdrawal
// applies to (given, renewed or awaiting renewal) and returns how many.
func (s *Server) withdrawAll(ctx context.Context, citizenID string, actor audit.Actor) (int, error) {
	recs, err := s.Consent.Records(ctx, citizenID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, rec := range recs {
		if rec.LegalBasis != consent.Consent || (rec.State != consent.StateGiven && rec.State != consent.StateRenewed && rec.State != consent.StateRenewalRequired) {
			continue
		}
		_, err := s.Consent.Withdraw(ctx, consent.Request{Subject: citizenID, Purpose: rec.Key.Purpose, Method: consent.MethodAPI, Actor: actor})
		if err != nil && !errors.Is(err, consent.ErrEffects) {
			return n, err
		}
		n++
	}
	return n, nil
}
