package bench

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/cedula/cedula/internal/jose"
)

// Audience says what a client assertion's "aud" holds.
type Audience string

const (
	// AudTokenEndpoint is the token endpoint URL (RFC 7523 §3, OIDC Core
	// §9): the default.
	AudTokenEndpoint Audience = "token-endpoint"
	// AudIssuer is the authorization server's issuer identifier, as
	// draft-ietf-oauth-rfc7523bis requires and zitadel/oidc checks.
	AudIssuer Audience = "issuer"
	// AudBoth is an array of both.
	AudBoth Audience = "both"
)

// clientAssertionType is RFC 7523 §2.2's client_assertion_type.
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionLifetime is how long each client assertion is valid.
const assertionLifetime = time.Minute

// TokenConfig configures a TokenClient.
type TokenConfig struct {
	// Issuer is the authorization server's base URL; its discovery document
	// is Issuer + "/.well-known/openid-configuration".
	Issuer   string
	ClientID string
	// Key is the client's private key, registered (public half) at the
	// server for private_key_jwt.
	Key *jose.ClientKey
	// Secret, instead of Key, authenticates the client with
	// client_secret_basic (RFC 6749 §2.3.1).
	Secret   string
	Audience Audience // "" means AudTokenEndpoint; private_key_jwt only
	Scope    string   // optional
	// HTTP is the client for every request; NewHTTPClient makes a good one.
	HTTP *http.Client
}

// TokenClient obtains access tokens with the client_credentials grant
// (RFC 6749 §4.4), authenticating with private_key_jwt — a fresh RFC 7523
// client assertion per request — or client_secret_basic. It is safe for
// concurrent use.
type TokenClient struct {
	cfg      TokenConfig
	issuer   string
	endpoint string
	aud      []string
	basic    string // the Authorization header of client_secret_basic
}

// discovery is the part of an OpenID Provider Metadata document
// (OIDC Discovery 1.0 §3) the client needs.
type discovery struct {
	Issuer                string   `json:"issuer"`
	TokenEndpoint         string   `json:"token_endpoint"`
	TokenEndpointAuth     []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthAlgs []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	GrantTypes            []string `json:"grant_types_supported"`
}

// NewTokenClient reads the server's discovery document and checks that it
// offers what the client needs: a token endpoint, the client's
// authentication method (with the key's algorithm) and the
// client_credentials grant, where it lists them.
func NewTokenClient(ctx context.Context, cfg TokenConfig) (*TokenClient, error) {
	if cfg.Issuer == "" || cfg.ClientID == "" || (cfg.Key == nil) == (cfg.Secret == "") || cfg.HTTP == nil {
		return nil, errors.New("bench: token client needs an issuer URL, a client ID, a client key or secret (one of them) and an HTTP client")
	}
	if cfg.Audience == "" {
		cfg.Audience = AudTokenEndpoint
	}
	if !slices.Contains([]Audience{AudTokenEndpoint, AudIssuer, AudBoth}, cfg.Audience) {
		return nil, fmt.Errorf("bench: audience %q: want %s, %s or %s", cfg.Audience, AudTokenEndpoint, AudIssuer, AudBoth)
	}
	// OIDC Discovery 1.0 §4: the well-known path is appended to the issuer.
	u := strings.TrimSuffix(cfg.Issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("bench: discovery: %w", err)
	}
	resp, err := cfg.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("bench: discovery: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("bench: discovery %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("bench: discovery %s: status %d: %s", u, resp.StatusCode, oneLine(string(body)))
	}
	var d discovery
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, fmt.Errorf("bench: discovery %s: %w", u, err)
	}
	var problems []string
	if _, err := url.ParseRequestURI(d.TokenEndpoint); err != nil || d.TokenEndpoint == "" {
		problems = append(problems, "no valid token_endpoint")
	}
	if d.Issuer == "" && cfg.Audience != AudTokenEndpoint {
		problems = append(problems, "no issuer")
	}
	method := "private_key_jwt"
	if cfg.Secret != "" {
		method = "client_secret_basic"
	}
	if len(d.TokenEndpointAuth) > 0 && !slices.Contains(d.TokenEndpointAuth, method) {
		problems = append(problems, fmt.Sprintf("token_endpoint_auth_methods_supported %v lacks %s", d.TokenEndpointAuth, method))
	}
	if cfg.Key != nil && len(d.TokenEndpointAuthAlgs) > 0 && !slices.Contains(d.TokenEndpointAuthAlgs, string(cfg.Key.Alg())) {
		problems = append(problems, fmt.Sprintf("token_endpoint_auth_signing_alg_values_supported %v lacks the key's %s", d.TokenEndpointAuthAlgs, cfg.Key.Alg()))
	}
	if len(d.GrantTypes) > 0 && !slices.Contains(d.GrantTypes, "client_credentials") {
		problems = append(problems, fmt.Sprintf("grant_types_supported %v lacks client_credentials", d.GrantTypes))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("bench: discovery %s: %s", u, strings.Join(problems, "; "))
	}
	c := &TokenClient{cfg: cfg, issuer: d.Issuer, endpoint: d.TokenEndpoint}
	if cfg.Secret != "" {
		// RFC 6749 §2.3.1: both form-urlencoded, then HTTP Basic.
		c.basic = "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(cfg.ClientID)+":"+url.QueryEscape(cfg.Secret)))
	}
	switch cfg.Audience {
	case AudTokenEndpoint:
		c.aud = []string{d.TokenEndpoint}
	case AudIssuer:
		c.aud = []string{d.Issuer}
	case AudBoth:
		c.aud = []string{d.Issuer, d.TokenEndpoint}
	}
	return c, nil
}

// TokenEndpoint returns the token endpoint found by discovery.
func (c *TokenClient) TokenEndpoint() string { return c.endpoint }

// Issuer returns the issuer identifier found by discovery.
func (c *TokenClient) Issuer() string { return c.issuer }

// tokenResponse is RFC 6749 §5.1's successful response.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
}

// Request obtains one access token: a fresh client assertion, one POST to
// the token endpoint, a 200 with an access_token expected. It is the
// operation `cedula bench token` repeats.
func (c *TokenClient) Request(ctx context.Context) error {
	_, err := c.Token(ctx)
	return err
}

// Token obtains one access token, as Request does, and returns it.
func (c *TokenClient) Token(ctx context.Context) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if c.basic == "" {
		now := time.Now()
		assertion, err := c.cfg.Key.SignAssertion(jose.ClientAssertion{
			ClientID: c.cfg.ClientID,
			Audience: c.aud,
			IssuedAt: now,
			Expiry:   now.Add(assertionLifetime),
		})
		if err != nil {
			return "", err
		}
		form.Set("client_id", c.cfg.ClientID)
		form.Set("client_assertion_type", clientAssertionType)
		form.Set("client_assertion", assertion)
	}
	if c.cfg.Scope != "" {
		form.Set("scope", c.cfg.Scope)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if c.basic != "" {
		req.Header.Set("Authorization", c.basic)
	}
	resp, err := c.cfg.HTTP.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("token: status %d: %s", resp.StatusCode, oneLine(string(body)))
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		return "", fmt.Errorf("token: status 200 without an access_token: %s", oneLine(string(body)))
	}
	return tr.AccessToken, nil
}
