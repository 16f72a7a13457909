package app

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/issuer/demo"
	"github.com/cedula/cedula/issuer/oidcop"
	"github.com/cedula/cedula/issuer/pages"
	"github.com/cedula/cedula/issuer/passkey"
	"github.com/cedula/cedula/issuer/vci"
)

// flow adapts the OpenID provider to what the pages need.
type flow struct {
	p       *oidcop.Provider
	consent *consent.Service
	issuer  *vci.Service // names the credentials a wallet asks for
	bridge  *bridge      // describes the verified claims asked for
}

func (f flow) AuthRequestInfo(ctx context.Context, id string) (pages.AuthRequestInfo, error) {
	i, err := f.p.Info(ctx, id)
	if err != nil {
		return pages.AuthRequestInfo{}, err
	}
	info := pages.AuthRequestInfo{ClientID: i.ClientID, ClientName: i.ClientName, Scopes: i.Scopes, Claims: i.Claims,
		UILocales: i.UILocales, ForceLogin: i.ForceLogin, MaxAge: i.MaxAge, PromptNone: i.PromptNone, HintCitizenID: i.HintCitizenID}
	// The purposes the agency names, from the registry, in both languages:
	// what the citizen's "allow" consents to.
	for _, sc := range i.Scopes {
		id, ok := strings.CutPrefix(sc, oidcop.PurposeScope)
		if !ok || id == "" {
			continue
		}
		p, err := f.consent.Purpose(ctx, id)
		if err != nil {
			continue // not the client's: the provider dropped the scope
		}
		info.Purposes = append(info.Purposes, pages.Purpose{Scope: sc,
			Name:        map[string]string{"es": p.Name.In("es"), "en": p.Name.In("en")},
			Description: map[string]string{"es": p.Description.In("es"), "en": p.Description.In("en")}})
	}
	info.CredentialScopes = i.CredentialScopes
	for _, id := range i.Credentials {
		if f.issuer == nil {
			break
		}
		t, ok := f.issuer.Type(id)
		if !ok {
			continue
		}
		es, en := t.DisplayIn("es"), t.DisplayIn("en")
		info.Credentials = append(info.Credentials, pages.CredentialAsk{Name: map[string]string{"es": es.Name, "en": en.Name},
			Description: map[string]string{"es": es.Description, "en": en.Description}})
	}
	return info, nil
}

func (f flow) Complete(ctx context.Context, id, citizenID, sid string, amr []string, authTime time.Time, again []string) (string, error) {
	return f.p.Complete(ctx, id, citizenID, sid, amr, authTime, oidcop.Purposes(again))
}

// ForCitizen says which of the request's purposes the citizen declined
// before, and what verified claims it asks for, with whether their wallet
// can answer.
func (f flow) ForCitizen(ctx context.Context, id, citizenID, lang string) (pages.CitizenView, error) {
	i, err := f.p.Info(ctx, id)
	if err != nil {
		return pages.CitizenView{}, err
	}
	var v pages.CitizenView
	declined, err := f.consent.Declined(ctx, citizenID, i.ClientID, oidcop.Purposes(i.Scopes))
	if err != nil {
		return v, err
	}
	for _, p := range declined {
		v.Declined = append(v.Declined, oidcop.PurposeScope+p)
	}
	if len(i.Verified) > 0 && f.bridge != nil {
		if v.Verified, err = f.bridge.describe(ctx, citizenID, i.Verified, lang); err != nil {
			return v, err
		}
	}
	return v, nil
}

func (f flow) Deny(ctx context.Context, id string) (string, error) { return f.p.Deny(ctx, id) }

// Fail maps the pages' prompt=none outcomes to their OIDC errors.
func (f flow) Fail(ctx context.Context, id, code string) (string, error) {
	e := oidc.ErrInteractionRequired().WithDescription("the citizen must interact with Cedula")
	switch code {
	case pages.ErrLoginRequired:
		e = oidc.ErrLoginRequired().WithDescription("the citizen is not logged in (or not as the request requires)")
	case pages.ErrConsentRequired:
		e = (&oidc.Error{ErrorType: "consent_required"}).WithDescription("the citizen has not consented to this request") // OIDC Core §3.1.2.6
	}
	return f.p.Fail(ctx, id, e)
}

func (f flow) NeedsConsent(ctx context.Context, id, citizenID string) (bool, error) {
	return f.p.NeedsConsent(ctx, id, citizenID)
}

// authorizeErrorPage shows the citizen an authorization error that the
// provider cannot send back to the agency, on the pages' error page in
// their language.
func (s *Server) authorizeErrorPage(w http.ResponseWriter, r *http.Request, status int, e *oidc.Error) {
	s.Pages.AuthorizeError(w, r, pages.AuthorizeError{Status: status, Code: string(e.ErrorType), Reason: authorizeReason(e)})
}

func authorizeReason(e *oidc.Error) pages.AuthorizeReason {
	switch {
	case errors.Is(e, oidcop.ErrClient):
		return pages.ReasonClient
	case errors.Is(e, oidcop.ErrRedirectURI):
		return pages.ReasonRedirectURI
	case errors.Is(e, oidcop.ErrRequestURI):
		return pages.ReasonRequestURI
	case errors.Is(e, oidcop.ErrAuthRequest):
		return pages.ReasonExpired
	case e.ErrorType == oidc.ServerError:
		return pages.ReasonServer
	}
	return pages.ReasonMalformed
}

// mountPages adds the citizen pages (enrolment, login, consent, passkeys,
// recovery) and, in demo mode, the demo agency's site.
func (s *Server) mountPages(e *httpapi.Echo) error {
	pk, err := passkey.New(passkey.Config{
		RPID:           s.Config.RPID(),
		RPDisplayName:  s.Config.Passkeys.RPName,
		Origins:        s.Config.Origins(),
		AllowedAAGUIDs: s.Config.Passkeys.AAGUIDAllowList,
		Logger:         s.log,
	}, s.Store)
	if err != nil {
		return err
	}
	h, err := pages.New(pages.Config{
		Store:      s.Store,
		Passkeys:   pk,
		Flow:       flow{p: s.Provider, consent: s.Consent, issuer: s.Issuer, bridge: &bridge{s}},
		Consents:   accountConsents{s},
		Offers:     citizenOffers{s},
		Logger:     s.log,
		Secure:     s.Config.Secure(),
		BaseURL:    s.Config.PublicURL,
		SessionTTL: s.Config.SessionTTL.D(),
		Limits:     pages.Limits{LoginPerIP: perMinute(s.Config.RateLimits.LoginPerIP), EnrolPerIP: perMinute(s.Config.RateLimits.EnrolPerIP)},
	})
	if err != nil {
		return err
	}
	s.Pages = h
	h.Mount(e)
	e.Match([]string{http.MethodGet, http.MethodHead}, "/", func(c httpapi.Context) error {
		return c.Redirect(http.StatusFound, "/account")
	})
	if s.Config.Demo {
		demo.Mount(e, s.Config.PublicURL, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }))
	}
	return nil
}
