package mobileapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/http"

	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/issuer"
)

// Passkeys are the citizen's passkeys as the account page manages them
// (the issuer's Store). Every method acts on citizenID's own passkeys:
// another citizen's id is issuer.ErrNotFound.
type Passkeys interface {
	// PasskeysOf lists the citizen's passkeys.
	PasskeysOf(ctx context.Context, citizenID string) ([]issuer.Passkey, error)
	// RenamePasskey renames one.
	RenamePasskey(ctx context.Context, citizenID string, id []byte, name string) error
	// DeletePasskey removes one; issuer.ErrLastPasskey for the last one
	// while no unused recovery codes remain.
	DeletePasskey(ctx context.Context, citizenID string, id []byte) error
}

func passkeyOf(p issuer.Passkey) Passkey {
	return Passkey{Id: base64.RawURLEncoding.EncodeToString(p.ID), Name: p.Name, CreatedAt: p.Created.UTC(),
		LastUsedAt: optTime(p.LastUsed), BackedUp: p.BackupState}
}

// noPasskey is the answer for an id that names none of the citizen's
// passkeys.
func noPasskey(err error) *httpapi.Error {
	return httpapi.NotFound("you have no passkey of that id").WithCause(err)
}

// passkeyID reads a passkey id of the path (base64url, WebAuthn L3 §5.1:
// at most 1023 bytes); one that cannot be is not found.
func passkeyID(s string) ([]byte, error) {
	id, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(id) == 0 || len(id) > 1023 {
		return nil, noPasskey(err)
	}
	return id, nil
}

// ListPasskeys pages the citizen's passkeys, newest first.
func (a *API) ListPasskeys(ctx context.Context, req ListPasskeysRequestObject) (ListPasskeysResponseObject, error) {
	all, err := a.cfg.Passkeys.PasskeysOf(ctx, callerOf(ctx).citizenID)
	if err != nil {
		return nil, err
	}
	ps, next, err := pageOf(all, func(p issuer.Passkey) position {
		return position{at: p.Created.UnixMicro(), id: base64.RawURLEncoding.EncodeToString(p.ID)}
	}, req.Params.Cursor, req.Params.Limit)
	if err != nil {
		return nil, err
	}
	page := PasskeyPage{Items: make([]Passkey, 0, len(ps)), NextCursor: next}
	for _, p := range ps {
		page.Items = append(page.Items, passkeyOf(p))
	}
	tag, fresh := etag(page, req.Params.IfNoneMatch)
	if fresh {
		return ListPasskeys304Response{Headers: NotModifiedResponseHeaders{ETag: &tag}}, nil
	}
	return ListPasskeys200JSONResponse{Body: page, Headers: ListPasskeys200ResponseHeaders{ETag: &tag}}, nil
}

// RenamePasskey renames one of the citizen's passkeys, the name cleaned as
// the account page cleans it.
func (a *API) RenamePasskey(ctx context.Context, req RenamePasskeyRequestObject) (RenamePasskeyResponseObject, error) {
	citizenID := callerOf(ctx).citizenID
	id, err := passkeyID(req.Id)
	if err != nil {
		return nil, err
	}
	name, ok := issuer.CleanPasskeyName(req.Body.Name)
	if !ok {
		return nil, badName()
	}
	if err := a.cfg.Passkeys.RenamePasskey(ctx, citizenID, id, name); errors.Is(err, issuer.ErrNotFound) {
		return nil, noPasskey(err)
	} else if err != nil {
		return nil, err
	}
	all, err := a.cfg.Passkeys.PasskeysOf(ctx, citizenID)
	if err != nil {
		return nil, err
	}
	for _, p := range all {
		if bytes.Equal(p.ID, id) {
			return RenamePasskey200JSONResponse(passkeyOf(p)), nil
		}
	}
	return nil, noPasskey(nil) // removed meanwhile
}

// badName is the problem of a name that is empty or too long once
// cleaned.
func badName() *httpapi.Error {
	return &httpapi.Error{Status: http.StatusBadRequest, Slug: "invalid-request", Title: "Invalid request",
		Detail: `body field "name": it must hold 1 to 64 characters besides spaces and control characters`}
}

// RemovePasskey removes one of the citizen's passkeys, but not the last
// while they have no recovery codes left (as the account page).
func (a *API) RemovePasskey(ctx context.Context, req RemovePasskeyRequestObject) (RemovePasskeyResponseObject, error) {
	id, err := passkeyID(req.Id)
	if err != nil {
		return nil, err
	}
	err = a.cfg.Passkeys.DeletePasskey(ctx, callerOf(ctx).citizenID, id)
	switch {
	case errors.Is(err, issuer.ErrLastPasskey):
		return nil, &httpapi.Error{Status: http.StatusConflict, Slug: "last-passkey", Title: "Last passkey",
			Detail: "this is your last passkey and you have no recovery codes left, so you could not log in again: " +
				"add another passkey or make recovery codes on your account page first", Cause: err}
	case errors.Is(err, issuer.ErrNotFound):
		return nil, noPasskey(err)
	case err != nil:
		return nil, err
	}
	return RemovePasskey204Response{}, nil
}
