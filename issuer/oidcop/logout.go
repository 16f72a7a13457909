package oidcop

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/issuer"
)

// OpenID Connect Back-Channel Logout 1.0: when a citizen logs out at
// Cedula, every agency that holds tokens for them and registered a
// backchannel_logout_uri receives a signed logout token.

const backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"

// logoutToken builds and signs the logout token for client c (§2.4).
func (s *storage) logoutToken(ctx context.Context, c issuer.Client, sub string) (string, error) {
	alg := keys.ES256
	if c.IDTokenAlg != "" {
		alg = keys.Alg(c.IDTokenAlg)
	}
	k, err := s.keys.Active(ctx, rings[alg], alg)
	if err != nil {
		return "", err
	}
	now := s.now()
	claims := map[string]any{
		"iss": s.cfg.Issuer, "aud": c.ID, "sub": sub, "iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(),
		"jti": randomID(), "events": map[string]any{backchannelEvent: map[string]any{}},
	}
	return jose.SignJSON(ctx, k, claims, map[string]any{"typ": "logout+jwt"})
}

// EndGrant ends clientID's access to the citizen: the client is told by
// back-channel logout (when it registered a URI and holds live tokens) and
// every token it holds for the citizen is revoked. It returns how many.
func (p *Provider) EndGrant(ctx context.Context, citizenID, clientID string) (int, error) {
	p.st.backchannelLogoutTo(ctx, citizenID, clientID)
	return p.st.store.RevokeGrant(ctx, citizenID, clientID)
}

// backchannelLogoutTo notifies clientID if it holds live tokens of the
// citizen and registered a logout URI.
func (s *storage) backchannelLogoutTo(ctx context.Context, citizenID, clientID string) {
	ids, err := s.store.GrantClients(ctx, citizenID, s.now())
	if err != nil {
		s.log.WarnContext(ctx, "back-channel logout: list clients", "err", err)
		return
	}
	if !slices.Contains(ids, clientID) {
		return
	}
	c, err := s.store.Client(ctx, clientID)
	if err != nil || c.BackchannelLogoutURI == "" {
		return
	}
	tok, err := s.logoutToken(ctx, c, subject(s.secret, subjectSector(c), citizenID))
	if err != nil {
		s.log.WarnContext(ctx, "back-channel logout: sign", "client_id", c.ID, "err", err)
		return
	}
	go s.deliverLogout(context.WithoutCancel(ctx), c, tok)
}

// backchannelLogout notifies every client of the citizen with a logout URI.
// Delivery runs in the background with a few retries; failures are logged
// without the token.
func (s *storage) backchannelLogout(ctx context.Context, citizenID string) {
	ids, err := s.store.GrantClients(ctx, citizenID, s.now())
	if err != nil {
		s.log.WarnContext(ctx, "back-channel logout: list clients", "err", err)
		return
	}
	for _, id := range ids {
		c, err := s.store.Client(ctx, id)
		if err != nil || c.BackchannelLogoutURI == "" {
			continue
		}
		tok, err := s.logoutToken(ctx, c, subject(s.secret, subjectSector(c), citizenID))
		if err != nil {
			s.log.WarnContext(ctx, "back-channel logout: sign", "client_id", c.ID, "err", err)
			continue
		}
		go s.deliverLogout(context.WithoutCancel(ctx), c, tok)
	}
}

func (s *storage) deliverLogout(ctx context.Context, c issuer.Client, tok string) {
	body := url.Values{"logout_token": {tok}}.Encode()
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * time.Second)
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		req, _ := http.NewRequestWithContext(rctx, http.MethodPost, c.BackchannelLogoutURI, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, err := s.httpClient.Do(req)
		cancel()
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK || res.StatusCode == http.StatusNoContent {
				return
			}
			err = fmt.Errorf("status %d", res.StatusCode)
		}
		s.log.WarnContext(ctx, "back-channel logout delivery failed", "client_id", c.ID, "attempt", attempt+1, "err", err)
	}
}
