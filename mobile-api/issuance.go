package mobileapi

import (
	"context"
	"math"

	"github.com/cedula/cedula/wallet"
)

// The issuance operations beyond the first call: the return from the
// citizen's login at the issuer, and deferred issuances.

// CompleteOfferAuthorization completes an acceptance with where the
// issuer's authorization server sent the browser back.
func (a *API) CompleteOfferAuthorization(ctx context.Context, req CompleteOfferAuthorizationRequestObject) (CompleteOfferAuthorizationResponseObject, error) {
	who := callerOf(ctx)
	b := req.Body
	cb := wallet.Callback{URL: deref(b.CallbackUrl), Code: deref(b.Code), State: deref(b.State), Error: deref(b.Error),
		ErrorDescription: deref(b.ErrorDescription)}
	if cb.URL == "" && cb.State == "" {
		return nil, &wallet.Error{Kind: wallet.ErrCallback, Detail: "give callback_url, or the callback's code (or error) and state"}
	}
	got, err := a.cfg.Wallet.FinishAuthorization(ctx, who.citizenID, req.Id, cb, who.lang)
	if err != nil {
		return nil, err
	}
	if got.Pending != nil {
		return CompleteOfferAuthorization202JSONResponse(pendingAcceptance(*got.Pending)), nil
	}
	return CompleteOfferAuthorization201JSONResponse(accepted(got)), nil
}

// ListDeferredIssuances pages the citizen's deferred issuances, newest
// first.
func (a *API) ListDeferredIssuances(ctx context.Context, req ListDeferredIssuancesRequestObject) (ListDeferredIssuancesResponseObject, error) {
	who := callerOf(ctx)
	all, err := a.cfg.Wallet.DeferredIssuances(ctx, who.citizenID, who.lang)
	if err != nil {
		return nil, err
	}
	ds, next, err := pageOf(all, func(d wallet.Deferred) position { return position{at: d.Created.UnixMicro(), id: d.ID} },
		req.Params.Cursor, req.Params.Limit)
	if err != nil {
		return nil, err
	}
	page := DeferredIssuancePage{Items: make([]DeferredIssuance, 0, len(ds)), NextCursor: next}
	for _, d := range ds {
		page.Items = append(page.Items, deferredIssuance(d))
	}
	return ListDeferredIssuances200JSONResponse(page), nil
}

// CollectDeferredIssuance asks the issuer for a deferred credential.
func (a *API) CollectDeferredIssuance(ctx context.Context, req CollectDeferredIssuanceRequestObject) (CollectDeferredIssuanceResponseObject, error) {
	who := callerOf(ctx)
	got, err := a.cfg.Wallet.CollectDeferred(ctx, who.citizenID, req.Id, who.lang)
	if err != nil {
		return nil, err
	}
	if len(got.Credentials) == 0 && len(got.Deferred) == 1 {
		d := got.Deferred[0]
		wait := max(1, int(math.Ceil(d.RetryAt.Sub(a.now()).Seconds())))
		return CollectDeferredIssuance202JSONResponse{Body: deferredIssuance(d), Headers: CollectDeferredIssuance202ResponseHeaders{RetryAfter: &wait}}, nil
	}
	return CollectDeferredIssuance201JSONResponse(accepted(got)), nil
}

func deferredIssuance(d wallet.Deferred) DeferredIssuance {
	return DeferredIssuance{Id: d.ID, Issuer: d.Issuer, IssuerName: d.IssuerName, ConfigurationId: d.ConfigurationID,
		Display: display(d.Display), KeyMode: KeyMode(d.KeyMode), CreatedAt: d.Created.UTC(), RetryAt: d.RetryAt.UTC(),
		ExpiresAt: d.Expires.UTC()}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
