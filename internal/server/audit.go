package server

import (
	"net/http"
	"net/url"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/audit/auditapi"
	auditstore "github.com/cedula/cedula/audit/sqlstore"
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
	return nil
}

// mountAudit serves the log: checkpoint, key, entries, proofs and tiles.
func (s *Server) mountAudit(mux *http.ServeMux) error {
	h, err := auditapi.New(auditapi.Config{Log: s.Audit, Checkpoints: s.Audit, Keys: s.Checkpointer, Logger: s.log})
	if err != nil {
		return err
	}
	mux.Handle(auditapi.Prefix, h)
	return nil
}
