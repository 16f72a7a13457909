package mobileapi

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/internal/scopes"
	"github.com/cedula/cedula/issuer/oidcop"
	"github.com/cedula/cedula/web"
)

// caller is the citizen a request speaks for, and the language it asked
// for.
type caller struct {
	citizenID string    // Cedula's own id: never sent out
	subject   string    // the sub the app's tokens carry
	lang      string    // es or en
	expires   time.Time // the access token's
	tokenID   string
}

type callerKey struct{}

// callerOf returns the caller authenticate admitted.
func callerOf(ctx context.Context) caller {
	c, _ := ctx.Value(callerKey{}).(caller)
	return c
}

// authenticate admits requests with a DPoP-bound access token of a
// citizen carrying scopes.Wallet (RFC 9449 §7.1: the provider checks the
// proof against the method and URL), picks the language, and passes the
// caller on in the request's context. A refusal is a problem with the
// provider's WWW-Authenticate challenge.
func (a *API) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		at, rerr := a.cfg.Tokens.Authenticate(r, scopes.Wallet)
		if rerr != nil {
			return tokenProblem(rerr)
		}
		switch {
		case at.JKT == "":
			return invalidToken("the access token must be bound to a key and presented with a DPoP proof (RFC 9449)")
		case at.CitizenID == "":
			return invalidToken("the access token was not issued to a citizen")
		}
		who := caller{citizenID: at.CitizenID, subject: at.Subject, lang: web.Negotiate(r), expires: at.Expiration, tokenID: at.ID}
		c.SetRequest(r.WithContext(context.WithValue(r.Context(), callerKey{}, who)))
		h := c.Response().Header()
		h.Set("Content-Language", who.lang)
		h.Add("Vary", "Accept-Language")
		return next(c)
	}
}

// tokenProblem turns the provider's refusal into a problem carrying its
// challenge.
func tokenProblem(rerr *oidcop.ResourceError) *httpapi.Error {
	e := &httpapi.Error{Status: rerr.Status, Detail: rerr.Description, Challenge: rerr.Challenge, Cause: rerr}
	switch {
	case rerr.Status == http.StatusForbidden:
		e.Slug, e.Title = "insufficient-scope", "Forbidden"
	case rerr.Status == http.StatusBadRequest:
		e.Slug, e.Title = "invalid-request", "Bad request"
	case rerr.Code == "":
		e.Status, e.Slug, e.Title = http.StatusUnauthorized, "token-required", "Unauthorized"
	default:
		e.Status, e.Slug, e.Title = http.StatusUnauthorized, "invalid-token", "Unauthorized"
	}
	return e
}

// invalidToken is a 401 for a token the provider accepted but this API
// does not (RFC 9449 §7.1 challenge).
func invalidToken(detail string) *httpapi.Error {
	return &httpapi.Error{Status: http.StatusUnauthorized, Slug: "invalid-token", Title: "Unauthorized", Detail: detail,
		Challenge: `DPoP error="invalid_token", error_description="` + detail + `"`}
}

// rateLimit holds each citizen to Config.Rate: past it, 429 with the
// seconds until a request is allowed again (RFC 9110 §10.2.3).
func (a *API) rateLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !a.limit.Allow(callerOf(c.Request().Context()).citizenID) {
			secs := int(math.Ceil(a.limit.Refill().Seconds()))
			c.Response().Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
			return &httpapi.Error{Status: http.StatusTooManyRequests, Slug: "rate-limited", Title: "Too many requests",
				Detail: "this citizen's app is making requests too fast; wait as Retry-After says"}
		}
		return next(c)
	}
}
