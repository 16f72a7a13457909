package app

import (
	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/internal/scopes"
	"github.com/cedula/cedula/issuer/rights"
	"github.com/cedula/cedula/issuer/rights/rightsapi"

	"context"
	"errors"
	"net/url"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/audit/auditapi"
	auditstore "github.com/cedula/cedula/audit/sqlstore"
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

// DPOScope is the scope a data protection officer's client_credentials
// token needs for the /dpo/ endpoints; a privileged scope
// (issuer.PrivilegedScopes).
const DPOScope = scopes.DPO

// mountAudit adds the log itself — checkpoint, key, entries, proofs and
// tiles — the endpoint through which agency systems append to it, the
// citizens' and DPOs' views, and the citizen's rights over their data.
func (s *Server) mountAudit(e *httpapi.Echo) error {
	h, err := auditapi.New(auditapi.Config{Log: s.Audit, Checkpoints: s.Audit, Keys: s.Checkpointer})
	if err != nil {
		return err
	}
	h.Mount(e)
	views, err := auditapi.NewViews(auditapi.ViewsConfig{Log: s.Audit, Sealer: s.Shredder, Guard: s.guard,
		Subjects: subjects{s, auditapi.ErrUnknownSubject}, Pseudonym: s.Pseudonyms.Of, Keys: s.Keys, Logger: s.log})
	if err != nil {
		return err
	}
	views.Mount(e)
	s.auditViews = views
	rs, err := rights.New(rights.Config{Store: s.Store, Ledger: s.Consent, Log: s.Audit,
		Checkpoint: func(ctx context.Context) error { _, err := s.Checkpointer.Checkpoint(ctx); return err },
		Trail:      views.Trail, Erase: s.Shredder.Erase, Pseudonym: s.Pseudonyms.Of, Keys: s.Keys, Issuer: s.Config.PublicURL,
		// The wallet's rows (credentials, pending answers, presentation
		// history, inbox) and the mobile API's (devices, kept answers) go with
		// the citizen; their key is destroyed next.
		Forget: func(ctx context.Context, citizenID string) error {
			if _, err := s.walletStore.DeleteCitizen(ctx, citizenID); err != nil {
				return err
			}
			if _, err := s.inboxStore.DeleteCitizen(ctx, citizenID); err != nil {
				return err
			}
			_, err := s.mobileStore.DeleteCitizen(ctx, citizenID)
			return err
		}})
	if err != nil {
		return err
	}
	rightsapi.New(rs, s.guard, s.Keys, s.Config.PublicURL).Mount(e)
	return nil
}

// AuditSubject returns the citizen's audit pseudonym.
func (s *Server) AuditSubject(citizenID string) string { return s.Pseudonyms.Of(citizenID) }

// subjects finds the citizen a client knows by a sub for an API, which
// names an unknown sub with its own error.
type subjects struct {
	s       *Server
	unknown error
}

func (a subjects) SubjectCitizen(ctx context.Context, clientID, sub string) (string, error) {
	id, err := a.s.Provider.SubjectCitizen(ctx, clientID, sub)
	if errors.Is(err, issuer.ErrNotFound) {
		return "", a.unknown
	}
	return id, err
}
