package oidcop

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"

	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/ratelimit"
	"github.com/cedula/cedula/issuer"
)

// Config configures the provider.
type Config struct {
	// Issuer is the public URL, the "iss" of every token (OIDC Discovery §3).
	Issuer string
	// LoginPath is where zitadel sends the browser to log in; the request
	// ID is appended as ?authRequestID=.
	LoginPath  string
	AccessTTL  time.Duration
	IDTTL      time.Duration
	RefreshTTL time.Duration
	// Secret keys the opaque access tokens' encryption and the pairwise
	// subjects. Every replica must share it. At least 32 bytes.
	Secret []byte
	// AllowInsecure permits an http issuer (localhost development and tests).
	AllowInsecure bool
	// Consent is the consent ledger: it admits purpose scopes and decides
	// which user claims userinfo releases. Without it no purpose scope is
	// allowed and userinfo releases no claim beyond "sub".
	Consent Consent
	// RequirePAR makes every client send its authorization requests
	// through the PAR endpoint (RFC 9126 §5); a client can also be
	// required to on its own (issuer.Client.RequirePAR).
	RequirePAR bool
	// ErrorPage, when set, shows a person's browser an authorization error
	// that cannot be sent back to the client (frontChannel): it writes the
	// page of e with status and no redirect. e.Parent is ErrClient,
	// ErrRedirectURI, ErrRequestURI, ErrAuthRequest or ErrMalformed, or nil
	// for a server error. Without it those errors are JSON.
	ErrorPage func(w http.ResponseWriter, r *http.Request, status int, e *oidc.Error)
	// Grants are grant types of other specifications the token endpoint
	// also serves (OpenID4VCI's pre-authorized code), by grant_type.
	Grants map[string]Grant
	// Metadata are members added to the authorization server metadata
	// (OpenID4VCI §12.3: pre-authorized_grant_anonymous_access_supported,
	// authorization_details_types_supported).
	Metadata map[string]any
	// Credentials, when set, lets wallets ask for credentials at the
	// authorization endpoint (OpenID4VCI §5).
	Credentials Credentials
	// Bridge, when set, serves verified_claims asked for with the claims
	// parameter (OpenID Connect for Identity Assurance 1.0); its metadata
	// goes in Metadata.
	Bridge Bridge
}

// GrantFailures is how many failed requests of an extra grant (a wrong
// pre-authorized code or transaction code) an address may make: 20, then
// one every 3 seconds.
var GrantFailures = ratelimit.Rate{N: 20, Per: time.Minute}

// Metrics counts what the provider does.
type Metrics struct {
	tokens *prometheus.CounterVec
	logins prometheus.Counter
}

// NewMetrics registers the provider's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cedula_tokens_issued_total", Help: "Access tokens issued, by kind (citizen or client).",
		}, []string{"kind"}),
		logins: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cedula_logins_total", Help: "Completed citizen logins to an agency.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.tokens, m.logins)
	}
	return m
}

func (m *Metrics) tokenIssued(client bool) {
	if m == nil {
		return
	}
	kind := "citizen"
	if client {
		kind = "client"
	}
	m.tokens.WithLabelValues(kind).Inc()
}

// Provider is the OpenID provider.
type Provider struct {
	st      *storage
	srv     *server
	op      *op.Provider
	handler http.Handler
	cfg     Config
}

// New builds the provider over store and keys, creating the signing key
// rings when they do not exist yet.
func New(ctx context.Context, cfg Config, store issuer.Store, km keys.Manager, log *slog.Logger, m *Metrics) (*Provider, error) {
	if len(cfg.Secret) < 32 {
		return nil, errors.New("oidcop: the secret must have at least 32 bytes")
	}
	for alg, ring := range rings {
		if _, err := km.Active(ctx, ring, alg); err != nil {
			return nil, fmt.Errorf("oidcop: signing key %s: %w", ring, err)
		}
	}
	st := &storage{
		store: store, keys: km, secret: derive(cfg.Secret, "pairwise"), cfg: cfg, log: log,
		now: func() time.Time { return time.Now().UTC() }, metrics: m,
		httpClient: &http.Client{Timeout: logoutTimeout}, consent: cfg.Consent,
		logouts: logoutWorker{wake: make(chan struct{}, 1)},
	}
	var cryptoKey [32]byte
	copy(cryptoKey[:], derive(cfg.Secret, "access-token"))
	opCfg := &op.Config{
		CryptoKey:                         cryptoKey,
		CodeMethodS256:                    true,
		AuthMethodPost:                    false,
		AuthMethodPrivateKeyJWT:           true,
		GrantTypeRefreshToken:             true,
		RequestObjectSupported:            false,
		SupportedUILocales:                []language.Tag{language.Spanish, language.English},
		SupportedScopes:                   []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopeOfflineAccess},
		SupportedClaims:                   []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "azp", "at_hash", "sid", "name", "given_name", "family_name", "birthdate", "locale", "email", "email_verified"},
		BackChannelLogoutSupported:        true,
		BackChannelLogoutSessionSupported: true,
	}
	tc, err := newTokenCrypto(cryptoKey[:])
	if err != nil {
		return nil, fmt.Errorf("oidcop: %w", err)
	}
	opts := []op.Option{op.WithCrypto(tc)}
	if cfg.AllowInsecure {
		opts = append(opts, op.WithAllowInsecure())
	}
	provider, err := op.NewProvider(opCfg, st, op.StaticIssuer(cfg.Issuer), opts...)
	if err != nil {
		return nil, fmt.Errorf("oidcop: %w", err)
	}
	endpoints := *op.DefaultEndpoints
	endpoints.DeviceAuthorization = nil // the device grant is not offered
	srv := &server{
		LegacyServer:  op.NewLegacyServer(provider, endpoints),
		st:            st,
		issuer:        cfg.Issuer,
		tokenURL:      cfg.Issuer + op.DefaultEndpoints.Token.Relative(),
		replay:        newReplayCache(),
		requirePAR:    cfg.RequirePAR,
		grants:        cfg.Grants,
		metadata:      cfg.Metadata,
		credentials:   cfg.Credentials,
		bridge:        cfg.Bridge,
		grantFailures: ratelimit.New(GrantFailures, nil),
	}
	handler := srv.wrap(op.RegisterLegacyServer(srv, op.AuthorizeCallbackHandler(provider)))
	return &Provider{st: st, srv: srv, op: provider, handler: handler, cfg: cfg}, nil
}

// derive returns a key for one use from the provider secret.
func derive(secret []byte, use string) []byte {
	h := sha256.New()
	h.Write([]byte("cedula-oidcop-" + use + "\x00"))
	h.Write(secret)
	return h.Sum(nil)
}

// Handler serves discovery, authorize, token, userinfo, introspection,
// revocation, end_session and the JWKS.
func (p *Provider) Handler() http.Handler { return p.handler }

// RequestInfo describes a pending authorization request for the consent page.
type RequestInfo struct {
	ClientID   string
	ClientName string
	Scopes     []string
	Claims     []string // user claims the scopes release
	UILocales  []string
	// ForceLogin is prompt=login; MaxAge the request's max_age (0: none).
	ForceLogin bool
	MaxAge     time.Duration
	// PromptNone is prompt=none (OIDC Core §3.1.2.1): no page may be
	// shown; the request completes silently or fails (Fail) with
	// login_required, consent_required or interaction_required.
	PromptNone bool
	// HintCitizenID is the citizen the request's id_token_hint named; ""
	// without a hint, and "?" for a hint naming nobody known.
	HintCitizenID string
	// Credentials are the credential configurations the request asks to
	// issue into the client's wallet (OpenID4VCI), each once, and
	// CredentialScopes the scopes that ask for them.
	Credentials      []string
	CredentialScopes []string
	// Verified is the bridge's plan for the verified claims the request
	// asks for (nil: none), for the consent page to describe.
	Verified json.RawMessage
}

// Info describes the pending request id.
func (p *Provider) Info(ctx context.Context, id string) (RequestInfo, error) {
	r, err := p.st.store.AuthRequest(ctx, id)
	if err != nil {
		return RequestInfo{}, err
	}
	if p.st.now().Sub(r.Created) > authRequestTTL || r.Redeemed {
		return RequestInfo{}, fmt.Errorf("oidcop: authorization request: %w", issuer.ErrExpired)
	}
	c, err := p.st.store.Client(ctx, r.ClientID)
	if err != nil {
		return RequestInfo{}, err
	}
	info := RequestInfo{ClientID: c.ID, ClientName: c.Name, Scopes: r.Scopes, UILocales: r.UILocales, Verified: r.Verified,
		ForceLogin: slices.Contains(r.Prompt, oidc.PromptLogin), PromptNone: slices.Contains(r.Prompt, oidc.PromptNone)}
	if r.HintSubject != "" {
		info.HintCitizenID, err = p.st.store.SubjectCitizen(ctx, subjectSector(c), r.HintSubject)
		if errors.Is(err, issuer.ErrNotFound) {
			info.HintCitizenID = "?"
		} else if err != nil {
			return RequestInfo{}, err
		}
	}
	if r.MaxAge != nil {
		info.MaxAge = time.Duration(*r.MaxAge) * time.Second
		if *r.MaxAge == 0 {
			info.ForceLogin = true // OIDC Core §3.1.2.1: max_age=0 is prompt=login
		}
	}
	info.Credentials = p.credentialsOf(r.Scopes)
	for _, sc := range r.Scopes {
		if _, ok := p.isCredentialScope(sc); ok {
			info.CredentialScopes = append(info.CredentialScopes, sc)
		}
	}
	if slices.Contains(r.Scopes, oidc.ScopeProfile) {
		info.Claims = append(info.Claims, "name", "given_name", "family_name", "birthdate", "locale")
	}
	if slices.Contains(r.Scopes, oidc.ScopeEmail) {
		info.Claims = append(info.Claims, "email")
	}
	return info, nil
}

// Complete records that citizenID logged in (with amr at authTime, in
// login session sid) and consented to request id, and returns the URL that
// issues the code. The citizen's "allow" is their consent to the
// request's purposes, except those whose consent they withdrew or refused
// before: those are given again only when named in again, which the
// consent page asks for apart.
func (p *Provider) Complete(ctx context.Context, id, citizenID, sid string, amr []string, authTime time.Time, again []string) (string, error) {
	r, err := p.st.store.AuthRequest(ctx, id)
	if err != nil {
		return "", err
	}
	sub, err := p.Register(ctx, r.ClientID, citizenID)
	if err != nil {
		return "", err
	}
	if purposes := Purposes(r.Scopes); len(purposes) > 0 && p.st.consent != nil {
		// The citizen's "allow" is their consent to the purposes named:
		// recorded in the ledger (and audited) before any code exists.
		declined, err := p.st.consent.Declined(ctx, citizenID, r.ClientID, purposes)
		if err != nil {
			return "", err
		}
		purposes = slices.DeleteFunc(purposes, func(id string) bool { return slices.Contains(declined, id) && !slices.Contains(again, id) })
		if err := p.st.consent.Agree(ctx, citizenID, r.ClientID, purposes, consent.MethodWeb); err != nil {
			return "", err
		}
	}
	var verification string
	if len(r.Verified) > 0 && p.cfg.Bridge != nil {
		// The citizen's wallet presents what the agency asked, through
		// the verifier, now that they approved it.
		if verification, err = p.cfg.Bridge.Verify(ctx, citizenID, r.ClientID, r.Verified); err != nil {
			return "", err
		}
	}
	if err := p.st.store.CompleteAuthRequest(ctx, id, issuer.Completion{CitizenID: citizenID, Subject: sub, SessionID: sid,
		AMR: amr, AuthTime: authTime, Verification: verification}); err != nil {
		return "", err
	}
	if p.st.metrics != nil {
		p.st.metrics.logins.Inc()
	}
	return p.cfg.Issuer + op.DefaultEndpoints.Authorization.Relative() + "/callback?id=" + url.QueryEscape(id), nil
}

// Deny ends request id with error=access_denied (OIDC Core §3.1.2.6) and
// returns the client redirect that carries it.
func (p *Provider) Deny(ctx context.Context, id string) (string, error) {
	return p.Fail(ctx, id, oidc.ErrAccessDenied().WithDescription("the citizen declined"))
}

// Fail ends request id with the error e (OIDC Core §3.1.2.6: for
// prompt=none login_required, consent_required, interaction_required) and
// returns the client redirect that carries it, with the request's state
// and the issuer (RFC 9207).
func (p *Provider) Fail(ctx context.Context, id string, e *oidc.Error) (string, error) {
	r, err := p.st.store.AuthRequest(ctx, id)
	if err != nil {
		return "", err
	}
	if err := p.st.store.DeleteAuthRequest(ctx, id); err != nil {
		return "", err
	}
	params := url.Values{"error": {string(e.ErrorType)}}
	if e.Description != "" {
		params.Set("error_description", e.Description)
	}
	if r.State != "" {
		params.Set("state", r.State)
	}
	return authResponseURL(r.RedirectURI, r.ResponseMode, params, p.cfg.Issuer)
}

// NeedsConsent reports whether citizenID must see the consent screen for
// request id: when they never logged in to the client's sector, or when a
// purpose the client names rests on consent and the citizen's consent to
// it is not in force. A prompt=none request that needs it fails with
// consent_required.
func (p *Provider) NeedsConsent(ctx context.Context, id, citizenID string) (bool, error) {
	r, err := p.st.store.AuthRequest(ctx, id)
	if err != nil {
		return false, err
	}
	c, err := p.st.clientByID(ctx, r.ClientID)
	if err != nil {
		return false, err
	}
	if len(p.credentialsOf(r.Scopes)) > 0 || len(r.Verified) > 0 {
		// Every issuance into a wallet, and every presentation from it,
		// is the citizen's own decision.
		return true, nil
	}
	sector := subjectSector(c)
	if _, err := p.st.store.SubjectCitizen(ctx, sector, subject(p.st.secret, sector, citizenID)); errors.Is(err, issuer.ErrNotFound) {
		return true, nil
	} else if err != nil {
		return false, err
	}
	purposes := Purposes(r.Scopes)
	if len(purposes) == 0 || p.st.consent == nil {
		return false, nil
	}
	ok, err := p.st.consent.Agreed(ctx, citizenID, r.ClientID, purposes)
	return !ok, err
}

// Subject returns the identifier client clientID sees for citizenID.
func (p *Provider) Subject(ctx context.Context, clientID, citizenID string) (string, error) {
	c, err := p.st.clientByID(ctx, clientID)
	if err != nil {
		return "", err
	}
	return subject(p.st.secret, subjectSector(c), citizenID), nil
}

// Register records that clientID knows citizenID (it registered them) and
// returns the sub it knows them by, as a login would: the client may then
// name the citizen by that sub in its API calls.
func (p *Provider) Register(ctx context.Context, clientID, citizenID string) (string, error) {
	c, err := p.st.store.Client(ctx, clientID)
	if err != nil {
		return "", err
	}
	sector := subjectSector(c)
	sub := subject(p.st.secret, sector, citizenID)
	if err := p.st.store.PutSubject(ctx, sector, sub, citizenID); err != nil {
		return "", err
	}
	return sub, nil
}

// AccessToken returns the active access token whose value is token (as
// sent in an Authorization header), or an error when it is unknown, revoked
// or expired.
func (p *Provider) AccessToken(ctx context.Context, token string) (issuer.AccessToken, error) {
	plain, err := p.op.Crypto().Decrypt(token)
	if err != nil {
		return issuer.AccessToken{}, fmt.Errorf("oidcop: access token: %w", issuer.ErrNotFound)
	}
	id, _, ok := strings.Cut(plain, ":")
	if !ok {
		return issuer.AccessToken{}, fmt.Errorf("oidcop: access token: %w", issuer.ErrNotFound)
	}
	at, err := p.st.store.AccessToken(ctx, id)
	if err != nil {
		return at, err
	}
	if at.Revoked || !p.st.now().Before(at.Expiration) {
		return issuer.AccessToken{}, fmt.Errorf("oidcop: access token: %w", issuer.ErrRevoked)
	}
	return at, nil
}

func (p *Provider) isCredentialScope(sc string) (string, bool) {
	if p.cfg.Credentials == nil {
		return "", false
	}
	return p.cfg.Credentials.IsCredentialScope(sc)
}

// credentialsOf lists the credential configurations scopes ask for.
func (p *Provider) credentialsOf(scopes []string) []string {
	var out []string
	for _, sc := range scopes {
		if id, ok := p.isCredentialScope(sc); ok && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}
