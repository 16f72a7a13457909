package mobileapi

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/wallet"
)

// Presentations (OpenID4VP 1.0) through the wallet: resolve what a
// verifier asks, approve with the claims the citizen chose (two steps
// with the phone's keys), decline, and the history.

// ResolvePresentation reads a scanned request and says who asks, for
// which purpose, and which of the citizen's credentials answer it.
func (a *API) ResolvePresentation(ctx context.Context, req ResolvePresentationRequestObject) (ResolvePresentationResponseObject, error) {
	who := callerOf(ctx)
	r, err := a.cfg.Wallet.ResolvePresentation(ctx, who.citizenID, req.Body.Request, who.lang)
	if err != nil {
		return nil, err
	}
	out := PresentationRequest{Id: r.ID, ExpiresAt: r.Expires.UTC(), Verifier: verifierOf(r.Verifier), Answerable: r.Answerable,
		Queries: make([]CredentialQueryMatch, 0, len(r.Queries))}
	if r.Purpose != "" {
		p, err := a.purposeOf(ctx, r.Purpose, who.lang)
		if err != nil {
			return nil, err
		}
		out.Purpose = &p
	}
	for _, q := range r.Queries {
		m := CredentialQueryMatch{Id: q.ID, Multiple: q.Multiple, Claims: make([]AskedClaim, 0, len(q.Claims)),
			Matches: make([]HeldMatch, 0, len(q.Matches))}
		if q.ClaimSets != nil {
			m.ClaimSets = &q.ClaimSets
		}
		for _, c := range q.Claims {
			ac := AskedClaim{Id: opt(c.ID), Path: nullables(c.Path), Label: opt(c.Label), Optional: c.Optional}
			if c.Values != nil {
				vs := nullables(c.Values)
				ac.Values = &vs
			}
			m.Claims = append(m.Claims, ac)
		}
		for _, h := range q.Matches {
			hm := HeldMatch{CredentialId: h.CredentialID, Name: h.Name, Vct: h.VCT, Status: HeldMatchStatus(h.Status), KeyMode: KeyMode(h.KeyMode)}
			if !hm.Status.Valid() {
				hm.Status = HeldMatchStatusUnknown
			}
			if hm.KeyMode == "" {
				hm.KeyMode = KeyModeSealed
			}
			if h.ClaimSets != nil {
				hm.ClaimSets = &h.ClaimSets
			}
			m.Matches = append(m.Matches, hm)
		}
		out.Queries = append(out.Queries, m)
	}
	if r.CredentialSets != nil {
		sets := make([]CredentialSet, 0, len(r.CredentialSets))
		for _, cs := range r.CredentialSets {
			sets = append(sets, CredentialSet{Options: cs.Options, Required: cs.Required})
		}
		out.CredentialSets = &sets
	}
	return ResolvePresentation200JSONResponse(out), nil
}

// purposeOf is the purpose a request names: the registry's, in lang, or
// just its id when it is not registered.
func (a *API) purposeOf(ctx context.Context, id, lang string) (PresentationPurpose, error) {
	out := PresentationPurpose{Id: id}
	p, err := a.cfg.Ledger.Purpose(ctx, id)
	if errors.Is(err, consent.ErrNotFound) {
		return out, nil
	} else if err != nil {
		return out, err
	}
	lb := LegalBasis(p.LegalBasis)
	out.Registered, out.Name, out.Description, out.Controller = true, opt(p.Name.In(lang)), opt(p.Description.In(lang)), opt(p.Controller)
	out.ControllerName = opt(a.cfg.Agencies.AgencyName(ctx, p.Controller))
	if lb.Valid() {
		out.LegalBasis = &lb
	}
	return out, nil
}

func verifierOf(v wallet.Verifier) PresentationVerifier {
	return PresentationVerifier{ClientId: v.ClientID, Name: v.Name, Verified: v.Verified, Logo: opt(v.LogoURI)}
}

// ApprovePresentation answers a resolved request (the idempotent
// middleware keeps the answer): sent now with sealed keys, or the
// KB-JWTs' signing inputs for the phone.
func (a *API) ApprovePresentation(ctx context.Context, req ApprovePresentationRequestObject) (ApprovePresentationResponseObject, error) {
	ap := wallet.Approval{RequestID: req.Id, Credentials: req.Body.Credentials}
	if req.Body.ClaimSets != nil {
		ap.ClaimSets = *req.Body.ClaimSets
	}
	p, err := a.cfg.Wallet.Present(ctx, callerOf(ctx).citizenID, ap)
	if err != nil {
		return nil, err
	}
	if p.Pending != nil {
		out := ApprovePresentation202JSONResponse{Id: p.Pending.ID, ExpiresAt: p.Pending.Expires.UTC(),
			SigningInputs: make([]KBSigningInput, 0, len(p.Pending.SigningInputs))}
		for _, in := range p.Pending.SigningInputs {
			var key map[string]any
			if err := json.Unmarshal(in.Key, &key); err != nil {
				return nil, err
			}
			out.SigningInputs = append(out.SigningInputs, KBSigningInput{QueryId: in.QueryID, CredentialId: in.CredentialID,
				Alg: KBSigningInputAlg(in.Alg), Input: in.Input, Key: key})
		}
		return out, nil
	}
	return ApprovePresentation201JSONResponse(resultOf(p)), nil
}

// CompletePresentation sends a device-bound presentation with the phone's
// signatures.
func (a *API) CompletePresentation(ctx context.Context, req CompletePresentationRequestObject) (CompletePresentationResponseObject, error) {
	p, err := a.cfg.Wallet.FinishPresent(ctx, callerOf(ctx).citizenID, req.Id, req.Body.Signatures)
	if err != nil {
		return nil, err
	}
	return CompletePresentation201JSONResponse(resultOf(p)), nil
}

// DeclinePresentation tells the verifier no.
func (a *API) DeclinePresentation(ctx context.Context, req DeclinePresentationRequestObject) (DeclinePresentationResponseObject, error) {
	p, err := a.cfg.Wallet.DeclinePresentation(ctx, callerOf(ctx).citizenID, req.Id)
	if err != nil {
		return nil, err
	}
	return DeclinePresentation200JSONResponse(resultOf(p)), nil
}

func resultOf(p wallet.Presented) PresentationResult {
	return PresentationResult{Presentation: presentation(p.Presentation), RedirectUri: opt(p.RedirectURI)}
}

func presentation(p wallet.Presentation) Presentation {
	out := Presentation{Id: p.ID, At: p.At.UTC(), Outcome: PresentationOutcome(p.Outcome), Purpose: opt(p.Purpose),
		Verifier:    PresentationVerifier{ClientId: p.VerifierID, Name: p.VerifierName, Verified: p.VerifierVerified},
		Credentials: make([]PresentedCredential, 0, len(p.Credentials))}
	for _, c := range p.Credentials {
		pc := PresentedCredential{QueryId: c.QueryID, CredentialId: c.CredentialID, Vct: c.VCT, Claims: c.Claims}
		if pc.Claims == nil {
			pc.Claims = []string{}
		}
		out.Credentials = append(out.Credentials, pc)
	}
	return out
}

// ListPresentations pages the citizen's presentation history, newest
// first.
func (a *API) ListPresentations(ctx context.Context, req ListPresentationsRequestObject) (ListPresentationsResponseObject, error) {
	all, err := a.cfg.Wallet.Presentations(ctx, callerOf(ctx).citizenID)
	if err != nil {
		return nil, err
	}
	ps, next, err := pageOf(all, func(p wallet.Presentation) position { return position{at: p.At.UnixMicro(), id: p.ID} },
		req.Params.Cursor, req.Params.Limit)
	if err != nil {
		return nil, err
	}
	page := PresentationPage{Items: make([]Presentation, 0, len(ps)), NextCursor: next}
	for _, p := range ps {
		page.Items = append(page.Items, presentation(p))
	}
	tag, fresh := etag(page, req.Params.IfNoneMatch)
	if fresh {
		return ListPresentations304Response{Headers: NotModifiedResponseHeaders{ETag: &tag}}, nil
	}
	return ListPresentations200JSONResponse{Body: page, Headers: ListPresentations200ResponseHeaders{ETag: &tag}}, nil
}

// nullables is xs as the document's nullable items: nil stays nil.
func nullables(xs []any) []*any {
	out := make([]*any, len(xs))
	for i, x := range xs {
		if x != nil {
			out[i] = &x
		}
	}
	return out
}
