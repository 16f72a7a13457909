package oidcop

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/cedula/cedula/issuer"
)

// client adapts issuer.Client to op.Client.
type client struct {
	c        issuer.Client
	loginURL string // base of the login page; the request ID is appended
	idTTL    time.Duration
	consent  Consent // nil: no purpose scopes
	// credentials admits credential scopes (nil: none).
	credentials Credentials
	// verified admits verified scopes (a bridge is configured).
	verified bool
}

var _ op.Client = client{}

func (c client) GetID() string                    { return c.c.ID }
func (c client) RedirectURIs() []string           { return c.c.RedirectURIs }
func (c client) PostLogoutRedirectURIs() []string { return c.c.PostLogoutRedirectURIs }

func (c client) ApplicationType() op.ApplicationType {
	if c.c.Public() {
		return op.ApplicationTypeNative
	}
	return op.ApplicationTypeWeb
}

func (c client) AuthMethod() oidc.AuthMethod {
	switch c.c.AuthMethod {
	case issuer.AuthPrivateKeyJWT:
		return oidc.AuthMethodPrivateKeyJWT
	case issuer.AuthClientSecretBasic:
		return oidc.AuthMethodBasic
	}
	return oidc.AuthMethodNone
}

func (c client) ResponseTypes() []oidc.ResponseType {
	if c.c.HasGrant(issuer.GrantAuthorizationCode) {
		return []oidc.ResponseType{oidc.ResponseTypeCode}
	}
	return nil
}

func (c client) GrantTypes() []oidc.GrantType {
	out := make([]oidc.GrantType, 0, len(c.c.GrantTypes))
	for _, g := range c.c.GrantTypes {
		out = append(out, oidc.GrantType(g))
	}
	return out
}

func (c client) LoginURL(id string) string { return c.loginURL + url.QueryEscape(id) }

// Opaque access tokens are looked up on every use, so revoking a grant
// (a withdrawn consent, a logout) takes effect at once.
func (c client) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }
func (c client) IDTokenLifetime() time.Duration      { return c.idTTL }

// DevMode in zitadel permits http redirect URIs; issuer.Client.Validate
// already admits http only for loopback hosts, and matching stays exact.
func (c client) DevMode() bool { return true }

func (c client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

func (c client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// IsScopeAllowed admits the client's registered scopes and the purpose
// scopes of its own purposes.
func (c client) IsScopeAllowed(scope string) bool {
	if id, ok := strings.CutPrefix(scope, PurposeScope); ok {
		return c.consent != nil && c.consent.PurposeOf(context.Background(), c.c.ID, id)
	}
	if c.credentials != nil && credentialScopeAllowed(c.credentials, c.c.Scopes, scope) {
		return true
	}
	if c.verified && strings.HasPrefix(scope, VerifiedScope) {
		return true // the bridge judges it against the request's purposes (Bridge.Plan)
	}
	return slices.Contains(c.c.Scopes, scope)
}
func (c client) IDTokenUserinfoClaimsAssertion() bool { return false }
func (c client) ClockSkew() time.Duration             { return 0 }
