package app

import (
	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/journeys/journeysapi"
	"github.com/cedula/cedula/web"
)

// mountJourneys adds the journeys room's public check of messages.
func (s *Server) mountJourneys(e *httpapi.Echo) error {
	r, err := web.NewRenderer()
	if err != nil {
		return err
	}
	api, err := journeysapi.New(journeysapi.Config{Seals: s.Seals, AgencyName: s.agencyName, Renderer: r, Secure: s.Config.Secure()})
	if err != nil {
		return err
	}
	api.Mount(e)
	return nil
}
