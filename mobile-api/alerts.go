package mobileapi

import (
	"context"
	"encoding/json"

	"github.com/cedula/cedula/internal/httpapi"
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
	// Share stores the citizen's point, or area (whichever is not nil),
	// refusing (ErrInvalid's kin) anything else; Forget removes it.
	Share(ctx context.Context, citizenID string, lat, lon *float64, area *Geocode) error
	Forget(ctx context.Context, citizenID string) error
	// Areas lists the areas a citizen may share.
	Areas(ctx context.Context) []KnownArea
}

// ShareLocation stores where the citizen wants targeted alerts for.
func (a *API) ShareLocation(ctx context.Context, req ShareLocationRequestObject) (ShareLocationResponseObject, error) {
	b := req.Body
	if (b.Area == nil) == (b.Lat == nil && b.Lon == nil) || (b.Lat == nil) != (b.Lon == nil) {
		return nil, httpapi.BadRequest("share lat and lon, or an area")
	}
	if err := a.cfg.Locations.Share(ctx, callerOf(ctx).citizenID, b.Lat, b.Lon, b.Area); err != nil {
		return nil, err
	}
	return ShareLocation204Response{}, nil
}

// ListAlertAreas lists the areas a citizen may share instead of a point.
func (a *API) ListAlertAreas(ctx context.Context, _ ListAlertAreasRequestObject) (ListAlertAreasResponseObject, error) {
	areas := a.cfg.Locations.Areas(ctx)
	if areas == nil {
		areas = []KnownArea{}
	}
	return ListAlertAreas200JSONResponse{Areas: areas}, nil
}

// ForgetLocation stops sharing it.
func (a *API) ForgetLocation(ctx context.Context, _ ForgetLocationRequestObject) (ForgetLocationResponseObject, error) {
	if err := a.cfg.Locations.Forget(ctx, callerOf(ctx).citizenID); err != nil {
		return nil, err
	}
	return ForgetLocation204Response{}, nil
}

// Preferences keeps how citizens want agencies' messages to reach them
// (the journeys' outbox), as the API shows them.
type PreferenceStore interface {
	Get(ctx context.Context, citizenID string) (Preferences, error)
	Set(ctx context.Context, citizenID string, p Preferences) (Preferences, error)
}

// GetPreferences returns the citizen's delivery preferences.
func (a *API) GetPreferences(ctx context.Context, _ GetPreferencesRequestObject) (GetPreferencesResponseObject, error) {
	p, err := a.cfg.Preferences.Get(ctx, callerOf(ctx).citizenID)
	if err != nil {
		return nil, err
	}
	return GetPreferences200JSONResponse(p), nil
}

// SetPreferences stores them.
func (a *API) SetPreferences(ctx context.Context, req SetPreferencesRequestObject) (SetPreferencesResponseObject, error) {
	p, err := a.cfg.Preferences.Set(ctx, callerOf(ctx).citizenID, *req.Body)
	if err != nil {
		return nil, err
	}
	return SetPreferences200JSONResponse(p), nil
}
