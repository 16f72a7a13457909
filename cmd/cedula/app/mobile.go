package app

import (
	"context"
	"errors"
	"time"

	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/internal/ratelimit"
	"github.com/cedula/cedula/issuer"
	mobileapi "github.com/cedula/cedula/mobile-api"
)

// mountMobile mounts the mobile API the citizens' wallet app calls.
func (s *Server) mountMobile(e *httpapi.Echo) error {
	api, err := mobileapi.New(mobileapi.Config{Wallet: s.Wallet, Tokens: s.Provider, Citizens: mobileCitizens{s},
		Idempotency: s.mobileStore, Sealer: citizenSealer{s}, Ledger: s.Consent, Receipts: s.consentAPI,
		Activity: s.auditViews, Pseudonym: s.Pseudonyms.Of, Agencies: mobileCitizens{s}, Passkeys: s.Store,
		Devices: s.mobileStore, Inbox: s.Inbox, Journeys: mobileJourneys{s}, Alerts: s.alerts, Locations: locations{s}, Preferences: preferences{s}, TokenLive: s.tokenLive, Rate: perMinute(s.Config.RateLimits.MobilePerCitizen),
		MaxStreams: s.Config.RateLimits.StreamsPerCitizen, Logger: s.log})
	if err != nil {
		return err
	}
	api.Mount(e)
	return nil
}

// tokenLive says whether an access token is still good: not revoked (the
// app logged out, the grant ended), not expired.
func (s *Server) tokenLive(ctx context.Context, id string) (bool, error) {
	at, err := s.Store.AccessToken(ctx, id)
	if errors.Is(err, issuer.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return !at.Revoked && time.Now().Before(at.Expiration), nil
}

// mobileCitizens reads the citizen registry and names agencies for the
// mobile API.
type mobileCitizens struct{ s *Server }

func (c mobileCitizens) Citizen(ctx context.Context, id string) (issuer.Citizen, error) {
	return c.s.Store.Citizen(ctx, id)
}

// AgencyName names an agency for the mobile API.
func (c mobileCitizens) AgencyName(ctx context.Context, clientID string) string {
	return c.s.agencyName(ctx, clientID)
}

// citizenSealer seals a room's data for a citizen under their data key
// (the one erasure destroys), labelled with what the data is.
type citizenSealer struct{ s *Server }

func (c citizenSealer) Seal(ctx context.Context, citizenID, label string, data []byte) ([]byte, error) {
	return c.s.Shredder.SealData(ctx, c.s.Pseudonyms.Of(citizenID), label, data)
}

func (c citizenSealer) Open(ctx context.Context, citizenID, label string, sealed []byte) ([]byte, error) {
	return c.s.Shredder.OpenData(ctx, c.s.Pseudonyms.Of(citizenID), label, sealed)
}

// perMinute is a configured limit of n requests a minute; 0 (the zero
// Rate) keeps the default.
func perMinute(n int) ratelimit.Rate {
	if n <= 0 {
		return ratelimit.Rate{}
	}
	return ratelimit.Rate{N: n, Per: time.Minute}
}
