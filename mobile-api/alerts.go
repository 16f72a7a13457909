package mobileapi

import (
	"context"
	"encoding/json"
)

// Alerts are the public alerts the inbox stream carries to every wallet.
type Alerts interface {
	// Active returns the broadcast alerts in force, each as its JSON.
	Active(ctx context.Context) ([]json.RawMessage, error)
	// Subscribe delivers each broadcast alert published, updated or
	// cancelled from now on, until cancel.
	Subscribe() (alerts <-chan json.RawMessage, cancel func())
}

// Locations keeps where citizens want targeted alerts for.
type Locations interface {
	// Share stores the citizen's point; Forget removes it.
	Share(ctx context.Context, citizenID string, lat, lon float64) error
	Forget(ctx context.Context, citizenID string) error
}

// ShareLocation stores where the citizen wants targeted alerts for.
func (a *API) ShareLocation(ctx context.Context, req ShareLocationRequestObject) (ShareLocationResponseObject, error) {
	if err := a.cfg.Locations.Share(ctx, callerOf(ctx).citizenID, float64(req.Body.Lat), float64(req.Body.Lon)); err != nil {
		return nil, err
	}
	return ShareLocation204Response{}, nil
}

// ForgetLocation stops sharing it.
func (a *API) ForgetLocation(ctx context.Context, _ ForgetLocationRequestObject) (ForgetLocationResponseObject, error) {
	if err := a.cfg.Locations.Forget(ctx, callerOf(ctx).citizenID); err != nil {
		return nil, err
	}
	return ForgetLocation204Response{}, nil
}
