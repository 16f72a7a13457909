package app

import (
	"context"
	"encoding/hex"
	"io"
	"time"

	"github.com/cedula/cedula/internal/httpapi"

	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/adminapi"
	"github.com/cedula/cedula/issuer/demo"
	"github.com/cedula/cedula/issuer/pages"
)

// AdminScope is the scope an agency's client_credentials token needs for the
// admin API; a privileged scope (issuer.PrivilegedScopes).
const AdminScope = issuer.ScopeAdmin

func decodeHex(s string) ([]byte, error) { return hex.DecodeString(s) }

// mountAdmin adds the issuer room's admin API: citizens, enrolment links
// and clients, for registrars and operators, authenticated with a
// client_credentials access token carrying AdminScope.
func (s *Server) mountAdmin(e *httpapi.Echo) error {
	api, err := adminapi.New(adminapi.Config{Registrar: s.Registrar, Citizens: s.Store, Clients: s.Store, Provider: s.Provider,
		Log: s.Audit, Enrol: s.enrol, Guard: s.guard, Logger: s.log})
	if err != nil {
		return err
	}
	api.Mount(e)
	s.AdminAPI = api
	return nil
}

// SeedDemo sets up demo mode (package demo): the demo agency, its
// back-end clients, fictional citizens and their enrolment links.
func SeedDemo(ctx context.Context, s *Server, out io.Writer) error {
	return demo.Seed(ctx, demo.Deps{Registrar: s.Registrar, Passkeys: s.Store,
		Enrol: s.enrol, PublicURL: s.Config.PublicURL, DataDir: s.Config.DataDir}, out)
}

// enrol issues a passkey enrolment link for the citizen on behalf of by.
func (s *Server) enrol(ctx context.Context, citizenID, by string) (string, time.Time, error) {
	return pages.Enrol(ctx, s.Store, citizenID, by, s.Config.EnrolmentTTL.D(), s.Config.PublicURL)
}
