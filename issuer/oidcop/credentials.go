package oidcop

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// Credentials is the credential issuer's part of authorization requests
// (OpenID4VCI §5): a wallet asks for credentials with a credential
// configuration's scope, with authorization_details of type
// openid_credential (RFC 9396), and with the issuer_state of an offer.
// The provider carries the last two as scopes of the request, which the
// tokens then hold, and answers authorization_details in the token
// response.
type Credentials interface {
	// IsCredentialScope reports whether scope asks for credentials of
	// a configuration (the configuration's scope, or a marker Scopes
	// made), and which configuration.
	IsCredentialScope(scope string) (configuration string, ok bool)
	// Scopes returns the scopes that carry a request's
	// authorization_details and issuer_state, or an error to tell the
	// client (invalid_authorization_details, invalid_request).
	Scopes(authorizationDetails, issuerState string) ([]string, error)
	// TokenDetails returns the authorization_details of a token response
	// for the token's scopes, nil when its request had none.
	TokenDetails(scopes []string) any
}

// credentialParams folds a request's authorization_details and
// issuer_state into its scope parameter (q is the request's query or
// pushed form). It reports whether the request asks for credentials.
func (s *server) credentialParams(q url.Values) (bool, *oidc.Error) {
	if s.credentials == nil {
		return false, nil
	}
	details, state := q.Get("authorization_details"), q.Get("issuer_state")
	scopes := strings.Fields(q.Get("scope"))
	if details != "" || state != "" {
		extra, err := s.credentials.Scopes(details, state)
		if err != nil {
			if details != "" {
				return false, &oidc.Error{ErrorType: "invalid_authorization_details", Description: err.Error()} // RFC 9396 §5
			}
			return false, oidc.ErrInvalidRequest().WithDescription("%s", err.Error())
		}
		for _, sc := range extra {
			if !slices.Contains(scopes, sc) {
				scopes = append(scopes, sc)
			}
		}
		q.Set("scope", strings.Join(scopes, " "))
		q.Del("authorization_details")
		q.Del("issuer_state")
	}
	for _, sc := range scopes {
		if _, ok := s.credentials.IsCredentialScope(sc); ok {
			return true, nil
		}
	}
	return false, nil
}

// credentialScopeAllowed admits a credential scope to a client that
// registered the configuration's scope: the wallets the operator admits.
func credentialScopeAllowed(cr Credentials, registered []string, scope string) bool {
	conf, ok := cr.IsCredentialScope(scope)
	return ok && slices.Contains(registered, conf)
}

// addTokenDetails adds authorization_details to a successful token
// response of the code or refresh grant whose scopes carry them.
func (s *server) addTokenDetails(w http.ResponseWriter, r *http.Request, next http.Handler) {
	rewriteToken(w, r, next, func(m map[string]any) bool {
		sc, _ := m["scope"].(string)
		d := s.credentials.TokenDetails(strings.Fields(sc))
		if d == nil {
			return false
		}
		m["authorization_details"] = d
		return true
	})
}

// rewriteCredentialParams applies credentialParams to an authorization
// request at the authorization endpoint (its query, or its form when
// posted).
func (s *server) rewriteCredentialParams(r *http.Request) *oidc.Error {
	if s.credentials == nil {
		return nil
	}
	if r.Method == http.MethodPost {
		if err := r.ParseForm(); err != nil {
			return nil // zitadel refuses it
		}
		_, e := s.credentialParams(r.PostForm)
		r.Form = nil
		return e
	}
	q := r.URL.Query()
	if q.Get("authorization_details") == "" && q.Get("issuer_state") == "" {
		return nil
	}
	if _, e := s.credentialParams(q); e != nil {
		return e
	}
	r.URL.RawQuery = q.Encode()
	return nil
}
