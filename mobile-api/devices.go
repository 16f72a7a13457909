package mobileapi

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/issuer"
)

// DeviceStore keeps the devices citizens register for push notifications
// (mobile-api/sqlstore). Every method acts on one citizen's devices only.
// Methods are safe for concurrent use.
type DeviceStore interface {
	// AddDevice stores d, unless the citizen holds max devices already:
	// ErrTooManyDevices.
	AddDevice(ctx context.Context, d PushDevice, max int) error
	// Devices lists the citizen's devices, in no order.
	Devices(ctx context.Context, citizenID string) ([]PushDevice, error)
	// DeleteDevice deletes one of the citizen's devices; ErrNotFound when
	// the citizen has none of that id.
	DeleteDevice(ctx context.Context, citizenID, id string) error
}

// PushDevice is a device as stored: its name and push token only sealed
// under the citizen's key.
type PushDevice struct {
	ID, CitizenID string
	Platform      string // ios, android, web
	Sealed        []byte // sealedDevice, sealed (labelDevice)
	Created       time.Time
}

// sealedDevice is what is sealed of a device: with its id, so that a
// sealed value moved to another of the citizen's rows is refused.
type sealedDevice struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	PushToken string `json:"push_token"`
}

// Errors of a DeviceStore.
var (
	ErrNotFound       = errors.New("mobileapi: not found")
	ErrTooManyDevices = errors.New("mobileapi: too many devices")
)

// MaxDevices is the most devices a citizen may register.
const MaxDevices = 20

// noDevice is the answer for an id that names none of the citizen's
// devices.
func noDevice(err error) *httpapi.Error {
	return httpapi.NotFound("you have no device of that id").WithCause(err)
}

// RegisterDevice registers a device's push token, sealed under the
// citizen's key (the idempotent middleware keeps the answer).
func (a *API) RegisterDevice(ctx context.Context, req RegisterDeviceRequestObject) (RegisterDeviceResponseObject, error) {
	citizenID := callerOf(ctx).citizenID
	name, ok := issuer.CleanPasskeyName(req.Body.Name)
	if !ok {
		return nil, badName()
	}
	b := make([]byte, 16)
	rand.Read(b)
	d := PushDevice{ID: base64.RawURLEncoding.EncodeToString(b), CitizenID: citizenID, Platform: string(req.Body.Platform),
		Created: a.now().UTC().Truncate(time.Microsecond)}
	plain, err := json.Marshal(sealedDevice{ID: d.ID, Name: name, PushToken: req.Body.PushToken})
	if err != nil {
		return nil, err
	}
	if d.Sealed, err = a.cfg.Sealer.Seal(ctx, citizenID, labelDevice, plain); err != nil {
		return nil, err
	}
	if err := a.cfg.Devices.AddDevice(ctx, d, MaxDevices); errors.Is(err, ErrTooManyDevices) {
		return nil, &httpapi.Error{Status: http.StatusConflict, Slug: "too-many-devices", Title: "Too many devices",
			Detail: fmt.Sprintf("you have %d devices registered already; remove one first", MaxDevices), Cause: err}
	} else if err != nil {
		return nil, err
	}
	return RegisterDevice201JSONResponse{Id: d.ID, Platform: req.Body.Platform, Name: name, CreatedAt: d.Created}, nil
}

// ListDevices pages the citizen's devices, newest first; push tokens are
// never given back.
func (a *API) ListDevices(ctx context.Context, req ListDevicesRequestObject) (ListDevicesResponseObject, error) {
	citizenID := callerOf(ctx).citizenID
	all, err := a.cfg.Devices.Devices(ctx, citizenID)
	if err != nil {
		return nil, err
	}
	ds, next, err := pageOf(all, func(d PushDevice) position { return position{at: d.Created.UnixMicro(), id: d.ID} },
		req.Params.Cursor, req.Params.Limit)
	if err != nil {
		return nil, err
	}
	page := DevicePage{Items: make([]Device, 0, len(ds)), NextCursor: next}
	for _, d := range ds {
		sd, err := a.openDevice(ctx, d)
		if err != nil {
			return nil, err
		}
		page.Items = append(page.Items, Device{Id: d.ID, Platform: Platform(d.Platform), Name: sd.Name, CreatedAt: d.Created.UTC()})
	}
	tag, fresh := etag(page, req.Params.IfNoneMatch)
	if fresh {
		return ListDevices304Response{Headers: NotModifiedResponseHeaders{ETag: &tag}}, nil
	}
	return ListDevices200JSONResponse{Body: page, Headers: ListDevices200ResponseHeaders{ETag: &tag}}, nil
}

// openDevice opens what is sealed of d.
func (a *API) openDevice(ctx context.Context, d PushDevice) (sealedDevice, error) {
	var sd sealedDevice
	plain, err := a.cfg.Sealer.Open(ctx, d.CitizenID, labelDevice, d.Sealed)
	if err != nil {
		return sd, err
	}
	if err := json.Unmarshal(plain, &sd); err != nil {
		return sd, err
	}
	if sd.ID != d.ID {
		return sd, errors.New("mobileapi: a sealed device is not the one of its row")
	}
	return sd, nil
}

// RemoveDevice removes one of the citizen's devices with its push token.
func (a *API) RemoveDevice(ctx context.Context, req RemoveDeviceRequestObject) (RemoveDeviceResponseObject, error) {
	if err := a.cfg.Devices.DeleteDevice(ctx, callerOf(ctx).citizenID, req.Id); errors.Is(err, ErrNotFound) {
		return nil, noDevice(err)
	} else if err != nil {
		return nil, err
	}
	return RemoveDevice204Response{}, nil
}
