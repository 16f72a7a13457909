package oidcop

import (
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/cedula/cedula/issuer"
)

// authRequest adapts issuer.AuthRequest to op.AuthRequest.
type authRequest struct{ r issuer.AuthRequest }

var _ op.AuthRequest = authRequest{}

func (a authRequest) GetID() string                      { return a.r.ID }
func (a authRequest) GetACR() string                     { return "" }
func (a authRequest) GetAMR() []string                   { return a.r.AMR }
func (a authRequest) GetAudience() []string              { return []string{a.r.ClientID} }
func (a authRequest) GetAuthTime() time.Time             { return a.r.AuthTime }
func (a authRequest) GetClientID() string                { return a.r.ClientID }
func (a authRequest) GetNonce() string                   { return a.r.Nonce }
func (a authRequest) GetRedirectURI() string             { return a.r.RedirectURI }
func (a authRequest) GetScopes() []string                { return a.r.Scopes }
func (a authRequest) GetState() string                   { return a.r.State }
func (a authRequest) GetSubject() string                 { return a.r.Subject }
func (a authRequest) Done() bool                         { return a.r.Done }
func (a authRequest) GetResponseType() oidc.ResponseType { return oidc.ResponseType(a.r.ResponseType) }
func (a authRequest) GetResponseMode() oidc.ResponseMode { return oidc.ResponseMode(a.r.ResponseMode) }

func (a authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if a.r.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.r.CodeChallenge, Method: oidc.CodeChallengeMethod(a.r.CodeChallengeMethod)}
}

// clientRequest is a client_credentials request (RFC 6749 §4.4). It is not
// an op.RefreshTokenRequest, so zitadel issues no refresh token for it
// (§4.4.3).
type clientRequest struct {
	clientID string
	scopes   []string
}

func (c *clientRequest) GetSubject() string    { return c.clientID }
func (c *clientRequest) GetAudience() []string { return []string{c.clientID} }
func (c *clientRequest) GetScopes() []string   { return c.scopes }

// tokenRequest is what a refresh token grant issues tokens for.
type tokenRequest struct {
	clientID  string
	citizenID string
	subject   string
	audience  []string
	scopes    []string
	amr       []string
	authTime  time.Time
	familyID  string // refresh token family
	jkt       string
	sessionID string // sid of the login session the grant began in
}

func (t *tokenRequest) GetSubject() string               { return t.subject }
func (t *tokenRequest) GetAudience() []string            { return t.audience }
func (t *tokenRequest) GetScopes() []string              { return t.scopes }
func (t *tokenRequest) GetAMR() []string                 { return t.amr }
func (t *tokenRequest) GetAuthTime() time.Time           { return t.authTime }
func (t *tokenRequest) GetClientID() string              { return t.clientID }
func (t *tokenRequest) SetCurrentScopes(scopes []string) { t.scopes = scopes }
