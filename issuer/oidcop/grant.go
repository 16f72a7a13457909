package oidcop

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/cedula/cedula/internal/ratelimit"
	"github.com/cedula/cedula/issuer"
)

// Grant serves, at the one token endpoint, a grant type another
// specification defines — OpenID4VCI's pre-authorized code. The provider
// checks the DPoP proof, if any, and makes the access token; the grant
// judges the request and stores the token with whatever the grant
// consumes, in one transaction.
type Grant interface {
	// Exchange receives the request's form and a token with its ID,
	// expiry and DPoP key set; it fills in whose the token is and what it
	// allows, stores it, and returns extra members of the token response.
	// An error with an OAuthError method is the client's, answered in
	// RFC 6749 §5.2 form; any other is the server's.
	Exchange(ctx context.Context, form url.Values, at *issuer.AccessToken) (map[string]any, error)
}

// GrantError is an error a Grant returns for a bad request.
type GrantError interface {
	OAuthError() (code, description string, status int)
}

// extraGrant serves a token request of grant g.
func (s *server) extraGrant(w http.ResponseWriter, r *http.Request, g Grant) {
	if r.Method != http.MethodPost {
		writeOAuthError(w, http.StatusMethodNotAllowed, oidc.ErrInvalidRequest().WithDescription("the token endpoint takes POST"))
		return
	}
	// The pre-authorized code and its short transaction code must not be
	// guessed at speed: failures spend the address's bucket.
	ip := ratelimit.RemoteIP(r)
	if s.grantFailures.Exhausted(ip) {
		w.Header().Set("Retry-After", strconv.Itoa(int(s.grantFailures.Refill().Seconds())+1))
		writeOAuthError(w, http.StatusTooManyRequests, oidc.ErrInvalidGrant().WithDescription("too many failed attempts from this address; retry later"))
		return
	}
	at := issuer.AccessToken{ID: tokenID(), Expiration: s.st.now().Add(s.st.cfg.AccessTTL).Truncate(time.Microsecond)}
	if len(r.Header.Values("DPoP")) > 0 {
		p, oerr := s.checkProof(r, s.tokenURL, "")
		if oerr != nil {
			writeOAuthError(w, http.StatusBadRequest, oerr)
			return
		}
		at.JKT = p.JKT
	}
	extra, err := g.Exchange(r.Context(), r.PostForm, &at)
	var ge GrantError
	switch {
	case errors.As(err, &ge):
		s.grantFailures.Allow(ip)
		code, desc, status := ge.OAuthError()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
		return
	case err != nil:
		s.st.log.ErrorContext(r.Context(), "token endpoint: grant failed", "grant_type", r.PostForm.Get("grant_type"), "err", err)
		writeOAuthError(w, http.StatusInternalServerError, oidc.ErrServerError().WithDescription("the token could not be issued; retry later"))
		return
	}
	token, err := s.Provider().Crypto().Encrypt(at.ID + ":" + at.Subject)
	if err != nil {
		writeOAuthError(w, http.StatusInternalServerError, oidc.ErrServerError())
		return
	}
	s.st.metrics.tokenIssued(false)
	resp := map[string]any{}
	for k, v := range extra {
		resp[k] = v
	}
	resp["access_token"], resp["expires_in"] = token, int64(time.Until(at.Expiration).Seconds())
	resp["token_type"] = oidc.BearerToken
	if at.JKT != "" {
		resp["token_type"] = "DPoP"
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	json.NewEncoder(w).Encode(resp)
}
