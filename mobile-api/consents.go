package mobileapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/consent/consentapi"
	"github.com/cedula/cedula/internal/httpapi"
)

// Ledger is the consent ledger as the citizen's app reads and changes it
// (*consent.Service). Subjects are citizen IDs; errors are consent's
// sentinels.
type Ledger interface {
	// Records returns every record of the citizen.
	Records(ctx context.Context, subject string) ([]consent.Record, error)
	// Record returns the citizen's record of the purpose; ErrNotFound for
	// an unknown purpose or no record.
	Record(ctx context.Context, subject, purpose string) (consent.Record, error)
	// History returns every event of every record of the citizen, in
	// ledger order.
	History(ctx context.Context, subject string) ([]consent.Event, error)
	// Purpose returns the current version of a purpose; ErrNotFound.
	Purpose(ctx context.Context, id string) (consent.Purpose, error)
	// Give and Withdraw change the citizen's record (consent.Service).
	Give(ctx context.Context, r consent.Request) (consent.Record, error)
	Withdraw(ctx context.Context, r consent.Request) (consent.Record, error)
}

// Receipts signs the receipt of the latest change of the citizen's record
// of a purpose, as the account page gives it (*consentapi.API); a 404
// problem without a record.
type Receipts interface {
	Receipt(ctx context.Context, citizenID, purpose, lang string) (consentapi.Receipt, error)
}

// Agencies names agencies for people.
type Agencies interface {
	// AgencyName is the name of the agency (OIDC client) clientID, or
	// clientID when it has none.
	AgencyName(ctx context.Context, clientID string) string
}

// noRecord is the answer for a purpose the citizen has no record of (or
// no such purpose): another citizen's records are never found either.
func noRecord(err error) *httpapi.Error {
	return httpapi.NotFound("you have no consent record for that purpose, or there is no such purpose").WithCause(err)
}

// consentProblem answers the ledger's refusals of a change; other errors
// pass.
func consentProblem(err error) error {
	switch {
	case errors.Is(err, consent.ErrNotFound):
		return noRecord(err)
	case errors.Is(err, consent.ErrNotConsentBased):
		return &httpapi.Error{Status: http.StatusConflict, Slug: "not-consent-based", Title: "Not based on consent",
			Detail: "this purpose rests on another legal basis, not on your consent", Cause: err}
	case errors.Is(err, consent.ErrTransition):
		return &httpapi.Error{Status: http.StatusConflict, Slug: "no-consent", Title: "No consent in force",
			Detail: "there is no consent in force to withdraw for this purpose", Cause: err}
	case errors.Is(err, consent.ErrConflict):
		return httpapi.Conflict("another change to the same record came first; read it again and retry").WithCause(err)
	}
	return err
}

// record returns the citizen's record of purpose, with its purpose;
// noRecord when there is none.
func (a *API) record(ctx context.Context, citizenID, purpose string) (consent.Record, consent.Purpose, error) {
	r, err := a.cfg.Ledger.Record(ctx, citizenID, purpose)
	if errors.Is(err, consent.ErrNotFound) || (err == nil && r.Seq == 0) {
		return r, consent.Purpose{}, noRecord(err)
	} else if err != nil {
		return r, consent.Purpose{}, err
	}
	p, err := a.cfg.Ledger.Purpose(ctx, purpose)
	return r, p, err
}

// consentOf is a record in the document's shape, its purpose named in
// lang.
func (a *API) consentOf(ctx context.Context, r consent.Record, p consent.Purpose, lang string) Consent {
	out := Consent{Purpose: p.ID, Name: p.Name.In(lang), Description: p.Description.In(lang), Controller: r.Key.Controller,
		ControllerName: a.cfg.Agencies.AgencyName(ctx, r.Key.Controller), LegalBasis: LegalBasis(r.LegalBasis),
		State: ConsentState(r.State), Method: string(r.Method), Categories: r.Categories, NoticeVersion: r.NoticeVersion,
		NoticeUrl: opt(p.NoticeURL), GivenAt: optTime(r.Given), ExpiresAt: optTime(r.Expires), UpdatedAt: r.Updated.UTC(),
		Withdrawable: p.LegalBasis == consent.Consent &&
			(r.State == consent.StateGiven || r.State == consent.StateRenewed || r.State == consent.StateRenewalRequired)}
	if out.Categories == nil {
		out.Categories = []string{}
	}
	if !out.LegalBasis.Valid() {
		out.LegalBasis = LegalBasis(p.LegalBasis)
	}
	return out
}

// ListConsents pages the citizen's records, most recently changed first.
func (a *API) ListConsents(ctx context.Context, req ListConsentsRequestObject) (ListConsentsResponseObject, error) {
	who := callerOf(ctx)
	all, err := a.cfg.Ledger.Records(ctx, who.citizenID)
	if err != nil {
		return nil, err
	}
	recs, next, err := pageOf(all, func(r consent.Record) position {
		return position{at: r.Updated.UnixMicro(), id: r.Key.Purpose + "\x00" + r.Key.Controller}
	}, req.Params.Cursor, req.Params.Limit)
	if err != nil {
		return nil, err
	}
	page := ConsentPage{Items: make([]Consent, 0, len(recs)), NextCursor: next}
	for _, r := range recs {
		p, err := a.cfg.Ledger.Purpose(ctx, r.Key.Purpose)
		if err != nil {
			return nil, err
		}
		page.Items = append(page.Items, a.consentOf(ctx, r, p, who.lang))
	}
	tag, fresh := etag(page, req.Params.IfNoneMatch)
	if fresh {
		return ListConsents304Response{Headers: NotModifiedResponseHeaders{ETag: &tag}}, nil
	}
	return ListConsents200JSONResponse{Body: page, Headers: ListConsents200ResponseHeaders{ETag: &tag}}, nil
}

// GetConsent returns the citizen's record of a purpose with its history.
func (a *API) GetConsent(ctx context.Context, req GetConsentRequestObject) (GetConsentResponseObject, error) {
	who := callerOf(ctx)
	r, p, err := a.record(ctx, who.citizenID, req.Purpose)
	if err != nil {
		return nil, err
	}
	events, err := a.cfg.Ledger.History(ctx, who.citizenID)
	if err != nil {
		return nil, err
	}
	body := ConsentDetail{Consent: a.consentOf(ctx, r, p, who.lang), History: []ConsentEvent{}}
	for _, e := range events {
		if e.RecordID != r.ID {
			continue
		}
		body.History = append(body.History, ConsentEvent{Record: e.Ref().String(), Type: ConsentEventType(e.Type), Time: e.Time.UTC(),
			Method: string(e.Method), Actor: ConsentEventActor(e.Actor.Kind), PurposeVersion: e.PurposeVersion,
			NoticeVersion: e.NoticeVersion, LegalBasis: LegalBasis(e.LegalBasis), ExpiresAt: optTime(e.Expires)})
	}
	tag, fresh := etag(body, req.Params.IfNoneMatch)
	if fresh {
		return GetConsent304Response{Headers: NotModifiedResponseHeaders{ETag: &tag}}, nil
	}
	return GetConsent200JSONResponse{Body: body, Headers: GetConsent200ResponseHeaders{ETag: &tag}}, nil
}

// GiveConsent records the citizen's consent, given through the app.
func (a *API) GiveConsent(ctx context.Context, req GiveConsentRequestObject) (GiveConsentResponseObject, error) {
	who := callerOf(ctx)
	r, err := a.change(ctx, a.cfg.Ledger.Give, who.citizenID, req.Purpose)
	if err != nil {
		return nil, err
	}
	p, err := a.cfg.Ledger.Purpose(ctx, req.Purpose)
	if err != nil {
		return nil, err
	}
	return GiveConsent201JSONResponse(a.consentOf(ctx, r, p, who.lang)), nil
}

// WithdrawConsent withdraws the citizen's consent (GDPR Art. 7(3)).
func (a *API) WithdrawConsent(ctx context.Context, req WithdrawConsentRequestObject) (WithdrawConsentResponseObject, error) {
	who := callerOf(ctx)
	if _, _, err := a.record(ctx, who.citizenID, req.Purpose); err != nil {
		return nil, err
	}
	r, err := a.change(ctx, a.cfg.Ledger.Withdraw, who.citizenID, req.Purpose)
	if err != nil {
		return nil, err
	}
	p, err := a.cfg.Ledger.Purpose(ctx, req.Purpose)
	if err != nil {
		return nil, err
	}
	return WithdrawConsent200JSONResponse(a.consentOf(ctx, r, p, who.lang)), nil
}

// change runs a citizen's change through the app (consent.MethodMobile).
// A change whose effects failed stands (consent.ErrEffects): it is
// logged, and every decision follows it.
func (a *API) change(ctx context.Context, op func(context.Context, consent.Request) (consent.Record, error), citizenID, purpose string) (consent.Record, error) {
	r, err := op(ctx, consent.Request{Subject: citizenID, Purpose: purpose, Method: consent.MethodMobile})
	if errors.Is(err, consent.ErrEffects) {
		a.log.ErrorContext(ctx, "mobileapi: consent changed, but ending the agency's access failed", "err", err)
		return r, nil
	}
	return r, consentProblem(err)
}

// GetConsentReceipt returns the signed receipt of the record's latest
// change.
func (a *API) GetConsentReceipt(ctx context.Context, req GetConsentReceiptRequestObject) (GetConsentReceiptResponseObject, error) {
	who := callerOf(ctx)
	if _, _, err := a.record(ctx, who.citizenID, req.Purpose); err != nil {
		return nil, err
	}
	rc, err := a.cfg.Receipts.Receipt(ctx, who.citizenID, req.Purpose, who.lang)
	if err != nil {
		return nil, err
	}
	body := ConsentReceipt{Receipt: rc.JWS, Keys: rc.Keys, Checkpoint: rc.Checkpoint}
	b, err := json.Marshal(rc.Claims)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &body.Claims); err != nil {
		return nil, err
	}
	tag, fresh := etag(body, req.Params.IfNoneMatch)
	if fresh {
		return GetConsentReceipt304Response{Headers: NotModifiedResponseHeaders{ETag: &tag}}, nil
	}
	return GetConsentReceipt200JSONResponse{Body: body, Headers: GetConsentReceipt200ResponseHeaders{ETag: &tag}}, nil
}
