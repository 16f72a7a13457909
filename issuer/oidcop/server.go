package oidcop

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/ratelimit"
	"github.com/cedula/cedula/issuer"
)

// server is zitadel's LegacyServer with Cedula's stricter rules on top.
type server struct {
	*op.LegacyServer
	st          *storage
	issuer      string
	tokenURL    string
	replay      *replayCache
	requirePAR  bool // every client must use PAR (RFC 9126 §5)
	grants      map[string]Grant
	metadata    map[string]any
	credentials Credentials
	bridge      Bridge // nil: the claims parameter is ignored
	// grantFailures limits failed extra-grant requests per address
	// (GrantFailures).
	grantFailures *ratelimit.Limiter
}

// VerifyClient authenticates the client at the token, introspection and
// revocation endpoints. Client assertions (private_key_jwt, RFC 7523 §2.2)
// are verified here for every grant, client_credentials included, which
// zitadel does not do.
func (s *server) VerifyClient(ctx context.Context, r *op.Request[op.ClientCredentials]) (op.Client, error) {
	cc := r.Data
	if cc.ClientAssertion != "" || cc.ClientAssertionType != "" {
		if cc.ClientSecret != "" {
			return nil, oidc.ErrInvalidRequest().WithDescription("client authentication must not use more than one method")
		}
		if cc.ClientAssertionType != oidc.ClientAssertionTypeJWTAssertion {
			return nil, oidc.ErrInvalidClient().WithDescription("unsupported client_assertion_type")
		}
		c, err := s.verifyAssertion(ctx, cc.ClientAssertion, cc.ClientID)
		if err != nil {
			return nil, err
		}
		return s.st.client(c), nil
	}
	return s.LegacyServer.VerifyClient(ctx, r)
}

// assertionClaims are the RFC 7523 §3 claims of a client assertion.
type assertionClaims struct {
	Iss string          `json:"iss"`
	Sub string          `json:"sub"`
	Aud json.RawMessage `json:"aud"`
	Exp *float64        `json:"exp"`
	Nbf *float64        `json:"nbf"`
	Iat *float64        `json:"iat"`
	Jti string          `json:"jti"`
}

// maxAssertionLifetime bounds how far in the future an assertion may expire,
// which also bounds the replay cache.
const maxAssertionLifetime = 10 * time.Minute

// clockSkew is tolerated on exp, nbf and iat.
const clockSkew = 30 * time.Second

func (s *server) verifyAssertion(ctx context.Context, assertion, formClientID string) (issuer.Client, error) {
	bad := func(why string) (issuer.Client, error) {
		return issuer.Client{}, oidc.ErrInvalidClient().WithDescription("invalid client assertion: %s", why)
	}
	var cl assertionClaims
	var c issuer.Client
	errBad := errors.New("bad assertion")
	var why string
	_, err := jose.VerifyWith([]byte(assertion), func(payload []byte) ([]byte, error) {
		if err := json.Unmarshal(payload, &cl); err != nil {
			why = "claims are not a JSON object"
			return nil, errBad
		}
		if cl.Iss == "" || cl.Iss != cl.Sub {
			why = "iss and sub must both be the client_id"
			return nil, errBad
		}
		if formClientID != "" && formClientID != cl.Iss {
			why = "client_id does not match the assertion"
			return nil, errBad
		}
		var err error
		c, err = s.st.clientByID(ctx, cl.Iss)
		if errors.Is(err, issuer.ErrNotFound) {
			why = "unknown client"
			return nil, errBad
		} else if err != nil {
			return nil, err
		}
		if c.AuthMethod != issuer.AuthPrivateKeyJWT {
			why = "the client is not registered for private_key_jwt"
			return nil, errBad
		}
		return c.JWKS, nil
	}, keys.ES256, keys.EdDSA, keys.RS256)
	switch {
	case errors.Is(err, errBad):
		return bad(why)
	case errors.Is(err, jose.ErrInvalid):
		return bad("signature does not verify with the client's registered keys")
	case err != nil:
		return issuer.Client{}, err
	}
	var aud []string
	if err := json.Unmarshal(cl.Aud, &aud); err != nil {
		var one string
		if json.Unmarshal(cl.Aud, &one) != nil {
			return bad("aud is missing")
		}
		aud = []string{one}
	}
	if !slices.Contains(aud, s.issuer) && !slices.Contains(aud, s.tokenURL) {
		return bad("aud must be the issuer or the token endpoint")
	}
	now := s.st.now()
	if cl.Exp == nil {
		return bad("exp is required")
	}
	exp := time.Unix(int64(*cl.Exp), 0)
	switch {
	case now.After(exp.Add(clockSkew)):
		return bad("expired")
	case exp.Sub(now) > maxAssertionLifetime:
		return bad("exp is too far in the future")
	case cl.Nbf != nil && time.Unix(int64(*cl.Nbf), 0).After(now.Add(clockSkew)):
		return bad("not yet valid")
	case cl.Iat != nil && time.Unix(int64(*cl.Iat), 0).After(now.Add(clockSkew)):
		return bad("issued in the future")
	case cl.Jti == "":
		return bad("jti is required")
	}
	if err := s.replay.add(c.ID+"\x00"+cl.Jti, exp.Add(clockSkew), now); err != nil {
		return bad("jti " + err.Error())
	}
	return c, nil
}

// Authorize refuses authorization requests without PKCE from public clients
// and any PKCE method but S256 (RFC 7636 §4.2; RFC 9700 §2.1.1), response
// modes other than query and fragment, and requests that did not come
// through PAR from a client that must use it (RFC 9126 §5, §6). The error
// goes back to the registered redirect URI.
func (s *server) Authorize(ctx context.Context, r *op.ClientRequest[oidc.AuthRequest]) (*op.Redirect, error) {
	c, _ := r.Client.(client)
	if !slices.Contains(responseModes, string(r.Data.ResponseMode)) && r.Data.ResponseMode != "" {
		mode := r.Data.ResponseMode
		r.Data.ResponseMode = "" // the error itself goes in the query
		return s.errorRedirect(ctx, r, oidc.ErrInvalidRequest().WithDescription("response_mode %q is not supported (query or fragment)", mode))
	}
	switch {
	case (s.requirePAR || c.c.RequirePAR) && !pushed(ctx):
		return s.errorRedirect(ctx, r, oidc.ErrInvalidRequest().WithDescription("authorization requests must be pushed to the PAR endpoint first (RFC 9126)"))
	case r.Data.CodeChallenge == "" && c.c.Public():
		return s.errorRedirect(ctx, r, oidc.ErrInvalidRequest().WithDescription("code_challenge is required (PKCE with S256)"))
	case r.Data.CodeChallenge != "" && r.Data.CodeChallengeMethod != oidc.CodeChallengeMethodS256:
		return s.errorRedirect(ctx, r, oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256"))
	}
	ctx, e := s.planClaims(ctx, r.Client.GetID(), r.Data.Scopes)
	if e != nil {
		return s.errorRedirect(ctx, r, e)
	}
	return s.LegacyServer.Authorize(ctx, r)
}

// errorRedirect sends e to the client's redirect URI (the wrapper adds iss).
func (s *server) errorRedirect(ctx context.Context, r *op.ClientRequest[oidc.AuthRequest], e *oidc.Error) (*op.Redirect, error) {
	return op.TryErrorRedirect(ctx, r.Data, e, s.Provider().Encoder(), nil)
}

// CodeExchange signs the ID token with the client's algorithm and requires
// the code_verifier whenever the request carried a challenge.
func (s *server) CodeExchange(ctx context.Context, r *op.ClientRequest[oidc.AccessTokenRequest]) (*op.Response, error) {
	ar, err := s.st.store.AuthRequestByCode(ctx, tokenHash(r.Data.Code))
	if err == nil && ar.CodeChallenge != "" && r.Data.CodeVerifier == "" {
		return nil, oidc.ErrInvalidGrant().WithDescription("code_verifier is required")
	}
	if err == nil && ar.DPoPJKT != "" && jktFrom(ctx) != ar.DPoPJKT {
		// RFC 9449 §10: the code is bound to the key its request named.
		return nil, errInvalidDPoP("the authorization code is bound to another DPoP key: prove possession of the key the authorization request named")
	}
	return s.LegacyServer.CodeExchange(withClientAlg(ctx, r.Client), r)
}

func (s *server) RefreshToken(ctx context.Context, r *op.ClientRequest[oidc.RefreshTokenRequest]) (*op.Response, error) {
	return s.LegacyServer.RefreshToken(withClientAlg(ctx, r.Client), r)
}

func withClientAlg(ctx context.Context, c op.Client) context.Context {
	if cl, ok := c.(client); ok && cl.c.IDTokenAlg != "" {
		return withIDTokenAlg(ctx, cl.c.IDTokenAlg)
	}
	return ctx
}

// replayCache remembers client assertion and DPoP proof IDs until they
// expire. It is per process: with several replicas an assertion could be
// replayed once on each within its (at most ten-minute) lifetime. It holds
// at most maxReplayEntries; when full of unexpired IDs it refuses new ones
// (the client retries later) rather than forget one early.
type replayCache struct {
	mu    sync.Mutex
	seen  map[string]time.Time
	sweep time.Time
}

// maxReplayEntries bounds the cache's memory (about 150 MB when full).
const maxReplayEntries = 1 << 20

func newReplayCache() *replayCache { return &replayCache{seen: map[string]time.Time{}} }

// Reasons add refuses an ID.
var (
	errReplayed   = errors.New("has been used before")
	errReplayFull = errors.New("cannot be checked for replay now (too many recent IDs); retry shortly")
)

// add records id until exp; errReplayed when it was already there,
// errReplayFull when the cache is full.
func (c *replayCache) add(id string, exp, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.Sub(c.sweep) > time.Minute || len(c.seen) >= maxReplayEntries {
		for k, e := range c.seen {
			if now.After(e) {
				delete(c.seen, k)
			}
		}
		c.sweep = now
	}
	if e, ok := c.seen[id]; ok && !now.After(e) {
		return errReplayed
	}
	if len(c.seen) >= maxReplayEntries {
		return errReplayFull
	}
	c.seen[id] = exp
	return nil
}

// Introspect answers RFC 7662 introspection for clients authenticated with
// a secret or a client assertion (zitadel's own path accepts assertions only
// with the issuer as audience). A client may introspect only tokens issued
// to it or naming it as audience; for any other token the answer is
// active=false (§2.2).
func (s *server) Introspect(ctx context.Context, r *op.Request[op.IntrospectionRequest]) (*op.Response, error) {
	cc := r.Data.ClientCredentials
	var caller issuer.Client
	var err error
	if cc.ClientAssertion != "" {
		caller, err = s.verifyAssertion(ctx, cc.ClientAssertion, cc.ClientID)
	} else {
		caller, err = s.st.clientBySecret(ctx, cc.ClientID, cc.ClientSecret)
	}
	if err != nil {
		return nil, err
	}
	resp := new(oidc.IntrospectionResponse)
	plain, err := s.Provider().Crypto().Decrypt(r.Data.Token)
	if err != nil {
		return op.NewResponse(resp), nil
	}
	tokenID, _, ok := strings.Cut(plain, ":")
	if !ok {
		return op.NewResponse(resp), nil
	}
	at, err := s.st.activeToken(ctx, tokenID)
	if err != nil || (at.ClientID != caller.ID && !slices.Contains(at.Audience, caller.ID)) {
		return op.NewResponse(resp), nil
	}
	if err := s.st.SetIntrospectionFromToken(ctx, resp, tokenID, at.Subject, caller.ID); err != nil {
		return op.NewResponse(new(oidc.IntrospectionResponse)), nil
	}
	return op.NewResponse(resp), nil
}
