package app

import (
	"errors"
	"net/http"
	"slices"

	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/pages"
)

// apiAuth admits the JSON APIs' callers: a client_credentials access
// token that carries the route's scope — a bearer token, or a DPoP-bound
// one with its proof. Refusals carry their RFC 6750 §3 / RFC 9449 §7.1
// challenge.
type apiAuth struct{ s *Server }

func (a apiAuth) Authenticate(r *http.Request, scope string) (httpapi.Caller, *httpapi.Error) {
	at, rerr := a.s.Provider.Authenticate(r, scope)
	if rerr != nil {
		e := &httpapi.Error{Status: rerr.Status, Challenge: rerr.Challenge}
		switch rerr.Status {
		case http.StatusForbidden:
			e.Title, e.Detail = "Forbidden", "the token lacks the "+scope+" scope"
		case http.StatusBadRequest:
			e.Title, e.Detail = "Bad request", rerr.Description
		default:
			e.Title, e.Detail = "Unauthorized", "send a valid access token from the client_credentials grant: "+rerr.Description
		}
		return httpapi.Caller{}, e
	}
	// A privileged scope counts only while the client holds it: its
	// removal by the operator ends the tokens issued before, at once and
	// on every replica.
	if at.CitizenID == "" && issuer.IsPrivileged(scope) {
		c, err := a.s.Store.Client(r.Context(), at.ClientID)
		if err != nil && !errors.Is(err, issuer.ErrNotFound) {
			return httpapi.Caller{}, &httpapi.Error{Status: http.StatusInternalServerError, Cause: err}
		}
		if err != nil || !slices.Contains(c.Scopes, scope) {
			return httpapi.Caller{}, &httpapi.Error{Status: http.StatusForbidden, Title: "Forbidden",
				Detail:    "the client no longer holds the " + scope + " scope",
				Challenge: `Bearer realm="cedula-admin", error="insufficient_scope", scope="` + scope + `"`}
		}
	}
	return httpapi.Caller{ClientID: at.ClientID, CitizenID: at.CitizenID}, nil
}

// citizenSessions finds the citizen of a request's login session cookie.
type citizenSessions struct{ s *Server }

func (cs citizenSessions) CitizenOf(r *http.Request) (string, error) {
	c, err := cs.s.Pages.CitizenFromRequest(r)
	if errors.Is(err, pages.ErrNoSession) {
		return "", httpapi.ErrNoSession
	}
	return c.ID, err
}
