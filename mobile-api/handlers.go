package mobileapi

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/wallet"
)

// The operations of openapi/mobile.yaml (StrictServerInterface). The
// middleware has admitted the caller (callerOf) and validated the
// request.

// GetMe returns the citizen the token speaks for, named by the token's
// subject: Cedula's own citizen id never leaves it.
func (a *API) GetMe(ctx context.Context, req GetMeRequestObject) (GetMeResponseObject, error) {
	who := callerOf(ctx)
	c, err := a.cfg.Citizens.Citizen(ctx, who.citizenID)
	if errors.Is(err, issuer.ErrNotFound) {
		return nil, invalidToken("the citizen of the access token no longer exists").WithCause(err)
	} else if err != nil {
		return nil, err
	}
	me := Me{Id: who.subject, GivenName: c.GivenName, FamilyName: c.FamilyName, Birthdate: c.Birthdate}
	if l := MeLocale(c.Locale); l.Valid() {
		me.Locale = &l
	}
	tag, fresh := etag(me, req.Params.IfNoneMatch)
	if fresh {
		return GetMe304Response{Headers: NotModifiedResponseHeaders{ETag: &tag}}, nil
	}
	return GetMe200JSONResponse{Body: me, Headers: GetMe200ResponseHeaders{ETag: &tag}}, nil
}

// ListCredentials pages the citizen's credentials, most recently received
// first (then by id), by an opaque cursor.
func (a *API) ListCredentials(ctx context.Context, req ListCredentialsRequestObject) (ListCredentialsResponseObject, error) {
	who := callerOf(ctx)
	all, err := a.cfg.Wallet.Credentials(ctx, who.citizenID, who.lang)
	if err != nil {
		return nil, err
	}
	cs, next, err := pageOf(all, positionOf, req.Params.Cursor, req.Params.Limit)
	if err != nil {
		return nil, err
	}
	page := CredentialPage{Items: make([]Credential, 0, len(cs)), NextCursor: next}
	for _, c := range cs {
		page.Items = append(page.Items, credential(c))
	}
	answer, fresh, err := encodeTagged(page, req.Params.IfNoneMatch)
	if err != nil {
		return nil, err
	}
	if fresh {
		return ListCredentials304Response{Headers: NotModifiedResponseHeaders{ETag: &answer.tag}}, nil
	}
	return answer, nil
}

// GetCredential returns one of the citizen's credentials.
func (a *API) GetCredential(ctx context.Context, req GetCredentialRequestObject) (GetCredentialResponseObject, error) {
	who := callerOf(ctx)
	c, err := a.cfg.Wallet.Credential(ctx, who.citizenID, req.Id, who.lang)
	if err != nil {
		return nil, err
	}
	answer, fresh, err := encodeTagged(credential(c), req.Params.IfNoneMatch)
	if err != nil {
		return nil, err
	}
	if fresh {
		return GetCredential304Response{Headers: NotModifiedResponseHeaders{ETag: &answer.tag}}, nil
	}
	return answer, nil
}

// DeleteCredential deletes one of the citizen's credentials.
func (a *API) DeleteCredential(ctx context.Context, req DeleteCredentialRequestObject) (DeleteCredentialResponseObject, error) {
	if err := a.cfg.Wallet.DeleteCredential(ctx, callerOf(ctx).citizenID, req.Id); err != nil {
		return nil, err
	}
	return DeleteCredential204Response{}, nil
}

// PreviewOffer says what an offer would give.
func (a *API) PreviewOffer(ctx context.Context, req PreviewOfferRequestObject) (PreviewOfferResponseObject, error) {
	who := callerOf(ctx)
	p, err := a.cfg.Wallet.PreviewOffer(ctx, who.citizenID, req.Body.Offer, who.lang)
	if err != nil {
		return nil, err
	}
	return PreviewOffer200JSONResponse(preview(p)), nil
}

// AcceptOffer receives an offer's credentials into the wallet (the
// idempotent middleware keeps its answer); an offer that needs the
// citizen's login at the issuer answers the URL to open.
func (a *API) AcceptOffer(ctx context.Context, req AcceptOfferRequestObject) (AcceptOfferResponseObject, error) {
	who := callerOf(ctx)
	acc := wallet.Accept{Offer: req.Body.Offer, KeyMode: wallet.KeySealed}
	if req.Body.TxCode != nil {
		acc.TxCode = *req.Body.TxCode
	}
	if req.Body.KeyMode != nil {
		acc.KeyMode = wallet.KeyMode(*req.Body.KeyMode)
	}
	if req.Body.Grant != nil {
		acc.Grant = map[AcceptOfferRequestGrant]string{AuthorizationCode: wallet.GrantAuthorizationCode,
			PreAuthorizedCode: wallet.GrantPreAuthorized}[*req.Body.Grant]
	}
	var keys []json.RawMessage
	switch {
	case acc.KeyMode == wallet.KeyDevice && req.Body.DeviceKeys == nil:
		return nil, &wallet.Error{Kind: wallet.ErrOffer, Detail: "key_mode device needs device_keys: the public keys the phone holds"}
	case acc.KeyMode != wallet.KeyDevice && req.Body.DeviceKeys != nil:
		return nil, &wallet.Error{Kind: wallet.ErrOffer, Detail: "device_keys are for key_mode device only"}
	case acc.KeyMode == wallet.KeyDevice:
		keys = make([]json.RawMessage, 0, len(*req.Body.DeviceKeys))
		for _, k := range *req.Body.DeviceKeys {
			b, err := json.Marshal(k)
			if err != nil {
				return nil, err
			}
			keys = append(keys, b)
		}
	}
	var got wallet.Received
	var err error
	if acc.KeyMode == wallet.KeyDevice {
		var p wallet.Pending
		if p, err = a.cfg.Wallet.BeginDeviceAccept(ctx, who.citizenID, acc, keys); err == nil {
			return AcceptOffer202JSONResponse(pendingAcceptance(p)), nil
		}
	} else {
		got, err = a.cfg.Wallet.AcceptOffer(ctx, who.citizenID, acc, who.lang)
	}
	if errors.Is(err, wallet.ErrNeedsAuthorization) {
		auth, err := a.cfg.Wallet.BeginAuthorization(ctx, who.citizenID, acc, keys)
		if err != nil {
			return nil, err
		}
		return AcceptOffer200JSONResponse{Id: auth.ID, AuthorizationUrl: auth.URL, ExpiresAt: auth.Expires.UTC()}, nil
	}
	if err != nil {
		return nil, err
	}
	return AcceptOffer201JSONResponse(accepted(got)), nil
}

// pendingAcceptance is what the phone must sign.
func pendingAcceptance(p wallet.Pending) PendingAcceptance {
	out := PendingAcceptance{Id: p.ID, ExpiresAt: p.Expires.UTC()}
	for _, in := range p.SigningInputs {
		out.SigningInputs = append(out.SigningInputs, struct {
			Alg             PendingAcceptanceSigningInputsAlg `json:"alg"`
			ConfigurationId string                            `json:"configuration_id"`
			Input           string                            `json:"input"`
			Key             int                               `json:"key"`
		}{Alg: PendingAcceptanceSigningInputsAlg(in.Alg), ConfigurationId: in.ConfigurationID, Input: in.Input, Key: in.Key})
	}
	return out
}

// accepted is the answer of an acceptance.
func accepted(r wallet.Received) AcceptedOffer {
	out := AcceptedOffer{Credentials: make([]Credential, 0, len(r.Credentials))}
	for _, c := range r.Credentials {
		out.Credentials = append(out.Credentials, credential(c))
	}
	if len(r.Deferred) > 0 {
		ds := make([]DeferredIssuance, 0, len(r.Deferred))
		for _, d := range r.Deferred {
			ds = append(ds, deferredIssuance(d))
		}
		out.Deferred = &ds
	}
	return out
}

// CompleteOffer completes a device-bound acceptance with the phone's
// signatures.
func (a *API) CompleteOffer(ctx context.Context, req CompleteOfferRequestObject) (CompleteOfferResponseObject, error) {
	who := callerOf(ctx)
	got, err := a.cfg.Wallet.FinishDeviceAccept(ctx, who.citizenID, req.Id, req.Body.Signatures, who.lang)
	if err != nil {
		return nil, err
	}
	return CompleteOffer201JSONResponse(accepted(got)), nil
}
