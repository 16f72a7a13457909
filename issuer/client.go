package issuer

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/url"
	"slices"
	"time"
)

// Client authentication methods (OIDC Core §9).
const (
	AuthPrivateKeyJWT     = "private_key_jwt"
	AuthClientSecretBasic = "client_secret_basic"
	AuthNone              = "none" // public clients: PKCE required
)

// Subject types (OIDC Core §8).
const (
	SubjectPairwise = "pairwise"
	SubjectPublic   = "public"
)

// Grant types a client may use.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
)

// Client is an agency's registered application (an OAuth client).
type Client struct {
	ID                     string
	Name                   string
	RedirectURIs           []string // matched exactly (RFC 9700 §4.1.3)
	PostLogoutRedirectURIs []string
	GrantTypes             []string
	AuthMethod             string
	// SecretHash is SHA-256 of the secret Cedula generated for the client.
	// The secret has 256 random bits, so a slow hash would add nothing.
	SecretHash []byte
	// JWKS is the client's public key set for private_key_jwt (RFC 7523).
	JWKS []byte
	// SubjectType is pairwise by default: each sector sees another "sub".
	SubjectType string
	// SectorID groups clients of one agency that share pairwise subjects;
	// empty means the host of the first redirect URI (OIDC Core §8.1).
	SectorID string
	// IDTokenAlg is the client's id_token_signed_response_alg (ES256 when
	// empty; RS256 and EdDSA available).
	IDTokenAlg           string
	BackchannelLogoutURI string
	// RequirePAR makes the client send every authorization request
	// through the PAR endpoint (RFC 9126 §6,
	// require_pushed_authorization_requests).
	RequirePAR bool
	Scopes     []string // scopes it may request beyond openid
	Created    time.Time
}

// Public reports whether the client cannot keep a secret.
func (c Client) Public() bool { return c.AuthMethod == AuthNone }

// Sector is the pairwise subject sector of the client.
func (c Client) Sector() string {
	if c.SectorID != "" {
		return c.SectorID
	}
	if len(c.RedirectURIs) > 0 {
		if u, err := url.Parse(c.RedirectURIs[0]); err == nil && u.Host != "" {
			return u.Host
		}
	}
	return "client:" + c.ID
}

// HasGrant reports whether the client may use grant type g.
func (c Client) HasGrant(g string) bool { return slices.Contains(c.GrantTypes, g) }

// Validate reports every problem with the client's configuration at once.
func (c Client) Validate() error {
	var probs []string
	if c.ID == "" || len(c.ID) > 128 {
		probs = append(probs, "id must have 1 to 128 characters")
	}
	if c.Name == "" {
		probs = append(probs, "name is required")
	}
	switch c.AuthMethod {
	case AuthPrivateKeyJWT:
		if len(c.JWKS) == 0 {
			probs = append(probs, "private_key_jwt needs a JWKS")
		}
	case AuthClientSecretBasic:
		if len(c.SecretHash) == 0 {
			probs = append(probs, "client_secret_basic needs a secret")
		}
	case AuthNone:
		if c.HasGrant(GrantClientCredentials) {
			probs = append(probs, "a public client cannot use client_credentials")
		}
	default:
		probs = append(probs, fmt.Sprintf("auth method %.60q is not one of private_key_jwt, client_secret_basic, none", c.AuthMethod))
	}
	switch c.SubjectType {
	case SubjectPairwise, SubjectPublic:
	default:
		probs = append(probs, fmt.Sprintf("subject type %.60q is not pairwise or public", c.SubjectType))
	}
	switch c.IDTokenAlg {
	case "", "ES256", "RS256", "EdDSA":
	default:
		probs = append(probs, fmt.Sprintf("id_token_signed_response_alg %.60q is not supported", c.IDTokenAlg))
	}
	if len(c.GrantTypes) == 0 {
		probs = append(probs, "at least one grant type is required")
	}
	for _, g := range c.GrantTypes {
		switch g {
		case GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials:
		default:
			probs = append(probs, fmt.Sprintf("grant type %.60q is not supported", g))
		}
	}
	if c.HasGrant(GrantAuthorizationCode) && len(c.RedirectURIs) == 0 {
		probs = append(probs, "authorization_code needs at least one redirect URI")
	}
	for _, list := range [][]string{c.RedirectURIs, c.PostLogoutRedirectURIs, {c.BackchannelLogoutURI}} {
		for _, r := range list {
			if r == "" {
				continue
			}
			u, err := url.Parse(r)
			switch {
			case err != nil || u.Scheme == "" || u.Fragment != "":
				probs = append(probs, fmt.Sprintf("URI %.200q must be absolute and have no fragment", r))
			case u.Scheme == "http" && !isLoopback(u.Hostname()):
				probs = append(probs, fmt.Sprintf("URI %.200q must use https (http only for localhost)", r))
			}
		}
	}
	if len(probs) > 0 {
		return &InvalidError{Kind: ErrInvalidClient, Problems: probs}
	}
	return nil
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// SecretMatches reports whether secret hashes to digest, in constant time.
func SecretMatches(digest []byte, secret string) bool {
	h := sha256.Sum256([]byte(secret))
	return len(digest) == len(h) && subtle.ConstantTimeCompare(digest, h[:]) == 1
}

// HashSecret returns the stored form of a client secret.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}
