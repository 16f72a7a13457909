package app

import (
	"context"

	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/issuer"
	mobileapi "github.com/cedula/cedula/mobile-api"
)

// mountMobile mounts the mobile API the citizens' wallet app calls.
func (s *Server) mountMobile(e *httpapi.Echo) error {
	api, err := mobileapi.New(mobileapi.Config{Wallet: s.Wallet, Tokens: s.Provider, Citizens: mobileCitizens{s},
		Idempotency: s.mobileStore, Sealer: citizenSealer{s, "mobile/idempotency"}, Logger: s.log})
	if err != nil {
		return err
	}
	api.Mount(e)
	return nil
}

// mobileCitizens reads the citizen registry for the mobile API.
type mobileCitizens struct{ s *Server }

func (c mobileCitizens) Citizen(ctx context.Context, id string) (issuer.Citizen, error) {
	return c.s.Store.Citizen(ctx, id)
}

// citizenSealer seals a room's data for a citizen under their data key
// (the one erasure destroys), labelled with what the data is.
type citizenSealer struct {
	s     *Server
	label string
}

func (c citizenSealer) Seal(ctx context.Context, citizenID string, data []byte) ([]byte, error) {
	return c.s.Shredder.SealData(ctx, c.s.Pseudonyms.Of(citizenID), c.label, data)
}

func (c citizenSealer) Open(ctx context.Context, citizenID string, sealed []byte) ([]byte, error) {
	return c.s.Shredder.OpenData(ctx, c.s.Pseudonyms.Of(citizenID), c.label, sealed)
}
