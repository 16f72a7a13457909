package oidcop

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	gojose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/random"
	"github.com/cedula/cedula/issuer"
)

// Key rings of the OpenID provider, one per ID token algorithm.
var rings = map[keys.Alg]string{
	keys.ES256: "oidc-es256",
	keys.RS256: "oidc-rs256",
	keys.EdDSA: "oidc-eddsa",
}

// storage implements op.Storage and op.ClientCredentialsStorage.
type storage struct {
	store   issuer.Store
	keys    keys.Manager
	secret  []byte // pairwise subject secret
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	metrics *Metrics
	clients clientCache
	// httpClient delivers back-channel logout tokens.
	httpClient *http.Client
	logouts    logoutWorker
	consent    Consent // cfg.Consent
}

var (
	_ op.Storage                        = (*storage)(nil)
	_ op.ClientCredentialsStorage       = (*storage)(nil)
	_ op.CanSetUserinfoFromRequest      = (*storage)(nil)
	_ op.CanTerminateSessionFromRequest = (*storage)(nil)
)

// randomID returns 256 random bits, base64url-encoded.
func randomID() string {
	return random.Token(32)
}

// tokenID returns an access token record ID: 64 bits of time then 128
// random bits, base64url (like a UUIDv7). The time prefix makes inserts
// append to the end of the index instead of touching random pages; the ID
// itself only travels sealed inside the opaque token.
func tokenID() string {
	b := make([]byte, 24)
	binary.BigEndian.PutUint64(b, uint64(time.Now().UnixMicro()))
	if _, err := rand.Read(b[8:]); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// tokenHash is how token and code values are stored: their SHA-256.
func tokenHash(v string) string {
	h := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// ---- auth requests (OIDC Core §3.1.2)

// CreateAuthRequest stores a request zitadel validated; hintSubject is the
// sub of its id_token_hint, when it had a valid one (OIDC Core §3.1.2.1).
func (s *storage) CreateAuthRequest(ctx context.Context, req *oidc.AuthRequest, hintSubject string) (op.AuthRequest, error) {
	r := issuer.AuthRequest{
		ID:                  randomID(),
		ClientID:            req.ClientID,
		RedirectURI:         req.RedirectURI,
		Scopes:              req.Scopes,
		State:               req.State,
		Nonce:               req.Nonce,
		ResponseType:        string(req.ResponseType),
		ResponseMode:        string(req.ResponseMode),
		CodeChallenge:       req.CodeChallenge,
		CodeChallengeMethod: string(req.CodeChallengeMethod),
		Prompt:              req.Prompt,
		MaxAge:              req.MaxAge,
		HintSubject:         hintSubject,
		Created:             s.now(),
		DPoPJKT:             codeJKTFrom(ctx),
		Verified:            planFrom(ctx),
	}
	for _, l := range req.UILocales {
		r.UILocales = append(r.UILocales, l.String())
	}
	if err := s.store.CreateAuthRequest(ctx, r); err != nil {
		return nil, err
	}
	return authRequest{r}, nil
}

func (s *storage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	r, err := s.store.AuthRequest(ctx, id)
	if err != nil {
		return nil, notFoundAs(err, oidc.ErrInvalidRequest().WithDescription("unknown or expired authorization request"))
	}
	if s.now().Sub(r.Created) > authRequestTTL {
		return nil, oidc.ErrInvalidRequest().WithDescription("the authorization request has expired")
	}
	if r.Redeemed {
		// Its code was exchanged: the request is kept only to recognise a
		// replayed code, and issues no other.
		return nil, oidc.ErrInvalidRequest().WithDescription("unknown or expired authorization request")
	}
	return authRequest{r}, nil
}

// authRequestTTL bounds the time between the authorization request and the
// code's redemption: long enough for a citizen to find their phone.
const authRequestTTL = 15 * time.Minute

func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	r, err := s.store.AuthRequestByCode(ctx, tokenHash(code))
	if err != nil {
		return nil, notFoundAs(err, oidc.ErrInvalidGrant().WithDescription("invalid or used authorization code"))
	}
	if s.now().Sub(r.Created) > authRequestTTL {
		return nil, oidc.ErrInvalidGrant().WithDescription("the authorization code has expired")
	}
	if r.Redeemed {
		// RFC 6749 §4.1.2: a code used twice is refused, and the tokens
		// the first use issued are revoked (RedeemCode's reuse path
		// revokes and records the refused redemption).
		return nil, s.redeem(ctx, r, issuer.AccessToken{ClientID: r.ClientID, CitizenID: r.CitizenID, Scopes: r.Scopes}, nil)
	}
	return authRequest{r}, nil
}

// redeem stores the tokens of the code of r, or maps its reuse to
// invalid_grant.
func (s *storage) redeem(ctx context.Context, r issuer.AuthRequest, at issuer.AccessToken, rt *issuer.RefreshToken) error {
	err := s.store.RedeemCode(ctx, r.ID, at, rt)
	if errors.Is(err, issuer.ErrReused) {
		s.log.WarnContext(ctx, "authorization code reuse detected; its tokens revoked", "client_id", r.ClientID)
		return oidc.ErrInvalidGrant().WithDescription("authorization code already used; the tokens issued for it have been revoked")
	}
	return notFoundAs(err, oidc.ErrInvalidGrant().WithDescription("invalid or used authorization code"))
}

func (s *storage) SaveAuthCode(ctx context.Context, id, code string) error {
	return s.store.SaveCode(ctx, id, tokenHash(code))
}

// DeleteAuthRequest is what zitadel calls once a code has been exchanged:
// the request is kept, marked redeemed by RedeemCode, so that a second
// redemption is recognised until the request expires (housekeeping then
// deletes it).
func (s *storage) DeleteAuthRequest(context.Context, string) error { return nil }

// ---- tokens

func (s *storage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	at := s.accessFor(ctx, req)
	var err error
	if r, ok := req.(authRequest); ok {
		err = s.redeem(ctx, r.r, at, nil)
	} else {
		err = s.store.CreateAccessToken(ctx, at)
	}
	if err != nil {
		return "", time.Time{}, err
	}
	s.metrics.tokenIssued(at.CitizenID == "")
	return at.ID, at.Expiration, nil
}

// accessFor builds the access token record for any request zitadel hands us.
func (s *storage) accessFor(ctx context.Context, req op.TokenRequest) issuer.AccessToken {
	at := issuer.AccessToken{
		ID:         tokenID(),
		Subject:    req.GetSubject(),
		Audience:   req.GetAudience(),
		Scopes:     req.GetScopes(),
		Expiration: s.now().Add(s.cfg.AccessTTL).Truncate(time.Microsecond),
		JKT:        jktFrom(ctx),
	}
	switch r := req.(type) {
	case authRequest:
		at.ClientID, at.CitizenID = r.r.ClientID, r.r.CitizenID
	case *tokenRequest:
		at.ClientID, at.CitizenID, at.FamilyID = r.clientID, r.citizenID, r.familyID
	case *clientRequest:
		at.ClientID = r.clientID
	}
	return at
}

func (s *storage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	at := s.accessFor(ctx, req)
	value := randomID()
	rt := issuer.RefreshToken{
		ID:         tokenHash(value),
		ClientID:   at.ClientID,
		CitizenID:  at.CitizenID,
		Subject:    at.Subject,
		Audience:   at.Audience,
		Scopes:     at.Scopes,
		Created:    s.now(),
		Expiration: s.now().Add(s.cfg.RefreshTTL).Truncate(time.Microsecond),
	}
	at.RefreshTokenID = rt.ID
	var err error
	switch r := req.(type) {
	case authRequest:
		// The first refresh token of a code's grant: the authorization
		// request is the family, so that the code's reuse revokes it all.
		rt.AMR, rt.AuthTime, rt.SessionID, rt.JKT = r.r.AMR, r.r.AuthTime, r.r.SessionID, jktFrom(ctx)
		err = s.redeem(ctx, r.r, at, &rt)
	case *tokenRequest:
		rt.AMR, rt.AuthTime, rt.FamilyID, rt.JKT, rt.SessionID = r.amr, r.authTime, r.familyID, r.jkt, r.sessionID
		err = s.store.RotateRefreshToken(ctx, tokenHash(current), rt, at)
		if errors.Is(err, issuer.ErrReused) {
			s.log.WarnContext(ctx, "refresh token reuse detected; grant revoked", "client_id", at.ClientID)
			return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("refresh token already used; the grant has been revoked")
		}
	default:
		return "", "", time.Time{}, fmt.Errorf("oidcop: no refresh token for a %T", req)
	}
	if err != nil {
		return "", "", time.Time{}, err
	}
	s.metrics.tokenIssued(false)
	return at.ID, value, at.Expiration, nil
}

func (s *storage) TokenRequestByRefreshToken(ctx context.Context, value string) (op.RefreshTokenRequest, error) {
	rt, err := s.store.RefreshToken(ctx, tokenHash(value))
	if err != nil {
		return nil, notFoundAs(err, oidc.ErrInvalidGrant().WithDescription("invalid refresh token"))
	}
	switch {
	case rt.Revoked:
		return nil, oidc.ErrInvalidGrant().WithDescription("the refresh token has been revoked")
	case rt.Used:
		// Reuse of a rotated token: someone holds a copy. Revoke the family
		// (RFC 9700 §4.14.2).
		if err := s.store.RevokeFamily(ctx, rt.FamilyID); err != nil {
			return nil, err
		}
		s.log.WarnContext(ctx, "refresh token reuse detected; grant revoked", "client_id", rt.ClientID)
		return nil, oidc.ErrInvalidGrant().WithDescription("refresh token already used; the grant has been revoked")
	case !s.now().Before(rt.Expiration):
		return nil, oidc.ErrInvalidGrant().WithDescription("the refresh token has expired")
	case rt.JKT != "" && rt.JKT != jktFrom(ctx):
		// RFC 9449 §5: a bound refresh token needs a proof from its key.
		return nil, oidc.ErrInvalidGrant().WithDescription("the refresh token is bound to a DPoP key; send a proof from that key")
	}
	return &tokenRequest{
		clientID: rt.ClientID, citizenID: rt.CitizenID, subject: rt.Subject, audience: rt.Audience,
		scopes: rt.Scopes, amr: rt.AMR, authTime: rt.AuthTime, familyID: rt.FamilyID, jkt: rt.JKT, sessionID: rt.SessionID,
	}, nil
}

// RevokeToken implements RFC 7009 §2.1: a refresh token revokes its whole
// family, an access token itself. Tokens of other clients are left alone and
// unknown tokens are not an error (§2.2).
func (s *storage) RevokeToken(ctx context.Context, tokenOrID, _ string, clientID string) *oidc.Error {
	if rt, err := s.store.RefreshToken(ctx, tokenHash(tokenOrID)); err == nil {
		if rt.ClientID != clientID {
			return nil
		}
		if err := s.store.RevokeFamily(ctx, rt.FamilyID); err != nil {
			return oidc.ErrServerError()
		}
		return nil
	}
	if at, err := s.store.AccessToken(ctx, tokenOrID); err == nil {
		if at.ClientID != clientID {
			return nil
		}
		if err := s.store.RevokeAccessToken(ctx, at.ID); err != nil {
			return oidc.ErrServerError()
		}
	}
	return nil
}

func (s *storage) GetRefreshTokenInfo(ctx context.Context, clientID, value string) (string, string, error) {
	rt, err := s.store.RefreshToken(ctx, tokenHash(value))
	if err != nil || rt.ClientID != clientID {
		return "", "", op.ErrInvalidRefreshToken
	}
	return rt.Subject, value, nil
}

// ---- keys

type ctxKey int

const idTokenAlgKey ctxKey = 0

// withIDTokenAlg carries the client's id_token_signed_response_alg to
// SigningKey, which zitadel calls without the client.
func withIDTokenAlg(ctx context.Context, alg string) context.Context {
	return context.WithValue(ctx, idTokenAlgKey, alg)
}

func (s *storage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	alg := keys.ES256
	if a, _ := ctx.Value(idTokenAlgKey).(string); a != "" {
		alg = keys.Alg(a)
	}
	ring, ok := rings[alg]
	if !ok {
		return nil, fmt.Errorf("oidcop: %w: %s", keys.ErrUnsupportedAlg, alg)
	}
	k, err := s.keys.Active(ctx, ring, alg)
	if err != nil {
		return nil, err
	}
	return signingKey{k: k, signer: jose.OpaqueSigner(ctx, k)}, nil
}

type signingKey struct {
	k      keys.Key
	signer gojose.OpaqueSigner
}

func (k signingKey) SignatureAlgorithm() gojose.SignatureAlgorithm {
	return gojose.SignatureAlgorithm(k.k.Alg())
}
func (k signingKey) Key() any   { return k.signer }
func (k signingKey) ID() string { return k.k.ID() }

func (s *storage) SignatureAlgorithms(context.Context) ([]gojose.SignatureAlgorithm, error) {
	return []gojose.SignatureAlgorithm{gojose.ES256, gojose.RS256, gojose.EdDSA}, nil
}

func (s *storage) KeySet(ctx context.Context) ([]op.Key, error) {
	var out []op.Key
	for _, alg := range []keys.Alg{keys.ES256, keys.RS256, keys.EdDSA} {
		pubs, err := s.keys.Verification(ctx, rings[alg])
		if err != nil {
			return nil, err
		}
		for _, p := range pubs {
			out = append(out, publicKey{p})
		}
	}
	return out, nil
}

type publicKey struct{ p keys.PublicKey }

func (k publicKey) ID() string                           { return k.p.ID }
func (k publicKey) Algorithm() gojose.SignatureAlgorithm { return gojose.SignatureAlgorithm(k.p.Alg) }
func (k publicKey) Use() string                          { return "sig" }
func (k publicKey) Key() any                             { return k.p.Key }

// ---- clients

func (s *storage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.clientByID(ctx, id)
	if err != nil {
		return nil, notFoundAs(err, oidc.ErrInvalidClient().WithDescription("unknown client"))
	}
	return s.client(c), nil
}

func (s *storage) client(c issuer.Client) client {
	return client{c: c, loginURL: s.cfg.LoginPath + "?authRequestID=", idTTL: s.cfg.IDTTL, consent: s.consent, credentials: s.cfg.Credentials, verified: s.cfg.Bridge != nil}
}

// AuthorizeClientIDSecret checks client_secret_basic (clientBySecret).
func (s *storage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	_, err := s.clientBySecret(ctx, id, secret)
	return err
}

// ClientCredentials authenticates a client_credentials request made with a
// secret; requests with a client assertion are authenticated by the server
// before this (see server.VerifyClient).
func (s *storage) ClientCredentials(ctx context.Context, id, secret string) (op.Client, error) {
	c, err := s.clientBySecret(ctx, id, secret)
	if err != nil {
		return nil, err
	}
	return s.client(c), nil
}

func (s *storage) ClientCredentialsTokenRequest(ctx context.Context, clientID string, scopes []string) (op.TokenRequest, error) {
	c, err := s.clientByID(ctx, clientID)
	if err != nil {
		return nil, oidc.ErrInvalidClient()
	}
	var granted []string
	for _, sc := range scopes {
		switch {
		case sc == "":
		case !slices.Contains(c.Scopes, sc):
			return nil, oidc.ErrInvalidScope().WithDescription("scope %q is not allowed for this client", sc)
		default:
			granted = append(granted, sc)
		}
	}
	return &clientRequest{clientID: clientID, scopes: granted}, nil
}

// ---- claims

// SetUserinfoFromScopes fills the ID token's user claims. Claims are
// released at the userinfo endpoint only (OIDC Core §5.4), so the ID token
// carries just the subject.
func (s *storage) SetUserinfoFromScopes(_ context.Context, info *oidc.UserInfo, userID, _ string, _ []string) error {
	info.Subject = userID
	return nil
}

// SetUserinfoFromRequest adds the ID token's sid (OIDC Back-Channel Logout
// 1.0 §2.1; Front-Channel Logout 1.0 §3): the login session the grant
// began in, the same for the ID tokens of its refreshes.
func (s *storage) SetUserinfoFromRequest(ctx context.Context, info *oidc.UserInfo, req op.IDTokenRequest, _ []string) error {
	var sid string
	switch r := req.(type) {
	case authRequest:
		sid = r.r.SessionID
	case *tokenRequest:
		sid = r.sessionID
	}
	if sid != "" {
		info.AppendClaims("sid", sid)
	}
	if r, ok := req.(authRequest); ok && len(r.r.Verified) > 0 && r.r.Verification != "" && s.cfg.Bridge != nil {
		vc, err := s.cfg.Bridge.Claims(ctx, r.r.CitizenID, r.r.ClientID, r.r.Verified, r.r.Verification, TargetIDToken)
		if err != nil {
			return err
		}
		if vc != nil {
			info.AppendClaims("verified_claims", vc)
		}
	}
	return nil
}

func (s *storage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, _, _ string) error {
	at, err := s.activeToken(ctx, tokenID)
	if err != nil {
		return err
	}
	if at.CitizenID == "" {
		return oidc.ErrInvalidRequest().WithDescription("the token was not issued for a citizen")
	}
	c, err := s.store.Citizen(ctx, at.CitizenID)
	if err != nil {
		return err
	}
	info.Subject = at.Subject
	// Claims go only as far as the consent ledger allows for the purposes
	// the token names; every decision, allow or deny, is audited.
	released, err := s.releasedScopes(ctx, at)
	if err != nil {
		return err
	}
	for _, sc := range released {
		switch sc {
		case oidc.ScopeProfile:
			info.GivenName, info.FamilyName, info.Name = c.GivenName, c.FamilyName, c.DisplayName()
			info.Birthdate = c.Birthdate
			if c.Locale != "" {
				info.Locale = oidc.NewLocale(language.Make(c.Locale))
			}
		case oidc.ScopeEmail:
			info.Email = c.Email
			info.EmailVerified = oidc.Bool(c.Email != "")
		}
	}
	return s.verifiedAtUserinfo(ctx, info, at)
}

// verifiedAtUserinfo adds the verified_claims the token's authorization
// request asked for at userinfo, while that request is kept (it is the
// token family's) and its verification's result lives.
func (s *storage) verifiedAtUserinfo(ctx context.Context, info *oidc.UserInfo, at issuer.AccessToken) error {
	// Verified claims are only ever asked under a purpose scope: other
	// tokens cost userinfo no read of their authorization request.
	if s.cfg.Bridge == nil || at.FamilyID == "" || len(Purposes(at.Scopes)) == 0 {
		return nil
	}
	r, err := s.store.AuthRequest(ctx, at.FamilyID)
	if errors.Is(err, issuer.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	if len(r.Verified) == 0 || r.Verification == "" || r.CitizenID != at.CitizenID || r.ClientID != at.ClientID {
		return nil
	}
	vc, err := s.cfg.Bridge.Claims(ctx, at.CitizenID, at.ClientID, r.Verified, r.Verification, TargetUserinfo)
	if err != nil || vc == nil {
		return err
	}
	info.AppendClaims("verified_claims", vc)
	return nil
}

func (s *storage) activeToken(ctx context.Context, id string) (issuer.AccessToken, error) {
	at, err := s.store.AccessToken(ctx, id)
	if err != nil {
		return at, notFoundAs(err, oidc.ErrInvalidRequest().WithDescription("invalid token"))
	}
	if at.Revoked || !s.now().Before(at.Expiration) {
		return at, oidc.ErrInvalidRequest().WithDescription("the token is no longer active")
	}
	return at, nil
}

// SetIntrospectionFromToken answers RFC 7662 §2.2; an inactive token leaves
// the response with active=false.
func (s *storage) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, tokenID, _, _ string) error {
	at, err := s.activeToken(ctx, tokenID)
	if err != nil {
		return err
	}
	resp.Active = true
	resp.Scope = at.Scopes
	resp.ClientID = at.ClientID
	resp.Subject = at.Subject
	resp.Audience = at.Audience
	resp.Expiration = oidc.FromTime(at.Expiration)
	resp.TokenType = "Bearer"
	if at.JKT != "" {
		resp.TokenType = "DPoP"
		resp.Claims = map[string]any{"cnf": map[string]string{"jkt": at.JKT}} // RFC 9449 §6.2
	}
	return nil
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// The JWT authorization grant (RFC 7523 §2.1) is not offered; client
// assertions are verified by server.VerifyClient.
func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*gojose.JSONWebKey, error) {
	return nil, oidc.ErrUnsupportedGrantType()
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, oidc.ErrUnsupportedGrantType()
}

func (s *storage) Health(ctx context.Context) error {
	_, err := s.store.Client(ctx, "\x00health")
	if errors.Is(err, issuer.ErrNotFound) {
		return nil
	}
	return err
}

// notFoundAs maps issuer.ErrNotFound to the protocol error e and passes
// other errors through (they become server_error).
func notFoundAs(err error, e *oidc.Error) error {
	if errors.Is(err, issuer.ErrNotFound) {
		return e
	}
	return err
}

// scopeList formats scopes for logs and pages.
func scopeList(s []string) string { return strings.Join(s, " ") }
