package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"
)

// Caller is who an access token speaks for.
type Caller struct {
	ClientID  string
	CitizenID string // empty for a client's own (client_credentials) token
	Scopes    []string
}

// Authenticator checks the access token of a request for scope (the
// OpenID provider does, for bearer and DPoP-bound tokens). A refusal is an
// *Error with its status and WWW-Authenticate challenge.
type Authenticator interface {
	Authenticate(r *http.Request, scope string) (Caller, *Error)
}

const callerKey = "cedula.caller"

// Guard is how every API checks its callers: the authenticator (the OpenID
// provider, over bearer and DPoP-bound tokens) and what an admitted
// caller's request context gets (the audit actor). The wiring builds one
// and gives it to each API.
type Guard struct {
	Auth     Authenticator
	OnCaller func(context.Context, Caller) context.Context
	// Sessions finds the citizen logged in at Cedula's pages (Session).
	Sessions Sessions
}

// Sessions tells which citizen a request's login session cookie belongs
// to; ErrNoSession when it carries none that is valid.
type Sessions interface {
	CitizenOf(r *http.Request) (citizenID string, err error)
}

// ErrNoSession: the request carries no valid login session.
var ErrNoSession = errors.New("httpapi: no login session")

// Session admits requests of a citizen logged in at Cedula's pages (the
// citizen's own JSON: their audit view, receipts, export); CallerOf gives
// their CitizenID. Without a session it answers 401.
func (g Guard) Session(detail string) MiddlewareFunc {
	return func(next HandlerFunc) HandlerFunc {
		return func(c Context) error {
			id, err := g.Sessions.CitizenOf(c.Request())
			if errors.Is(err, ErrNoSession) {
				return &Error{Status: http.StatusUnauthorized, Slug: "login-required", Title: "Unauthorized", Detail: detail,
					Challenge: `Cookie realm="cedula"`}
			} else if err != nil {
				return err
			}
			c.Set(callerKey, Caller{CitizenID: id})
			return next(c)
		}
	}
}

// Scope admits client_credentials tokens carrying scope (RequireScope).
func (g Guard) Scope(scope string) MiddlewareFunc { return RequireScope(g.Auth, scope, g.OnCaller) }

// RequireScope admits requests whose access token carries scope and was
// issued to a client for itself (client_credentials), and passes the
// caller on (CallerOf). onCaller, when set, derives the request's context
// from the caller (the audit actor, say).
func RequireScope(a Authenticator, scope string, onCaller func(context.Context, Caller) context.Context) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			caller, err := a.Authenticate(c.Request(), scope)
			if err != nil {
				return err
			}
			if caller.CitizenID != "" {
				return &Error{Status: http.StatusForbidden, Title: "Forbidden", Detail: "a citizen's token cannot call this API",
					Challenge: `Bearer realm="cedula", error="insufficient_scope", scope="` + scope + `"`}
			}
			c.Set(callerKey, caller)
			if onCaller != nil {
				r := c.Request()
				c.SetRequest(r.WithContext(onCaller(r.Context(), caller)))
			}
			return next(c)
		}
	}
}

// CallerOf returns the caller RequireScope admitted.
func CallerOf(c echo.Context) Caller {
	caller, _ := c.Get(callerKey).(Caller)
	return caller
}

// CheckConfig reports, as an error of pkg, the names in fields whose value
// is false: what an API's New refuses to be built without.
func CheckConfig(pkg string, fields map[string]bool) error {
	var missing []string
	for name, ok := range fields {
		if !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	sort.Strings(missing)
	return fmt.Errorf("%s: missing %s", pkg, strings.Join(missing, ", "))
}
