package oidcop

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/issuer"
)

// OpenID Connect Back-Channel Logout 1.0: when a citizen's session with
// Cedula ends — signing out, a recovery that removes their passkeys,
// erasure, an administrator ending their sessions, an agency's
// RP-initiated logout, a withdrawn consent — every agency the session
// logged in to is sent a signed logout token. The store queues the
// notifications in the transaction that ends the session (issuer.Logouts),
// so none is lost to a crash; any replica delivers them, with retries.

const backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"

// Delivery of queued logouts.
const (
	// logoutPoll is how often each replica looks for due notifications
	// besides being woken by its own changes.
	logoutPoll = 500 * time.Millisecond
	// logoutLease is how long a claimed notification is left to its
	// claimer before another replica may try it.
	logoutLease = time.Minute
	// logoutAttempts bounds the tries of one notification: the delays
	// double from 2 s, so the last try comes about an hour after the first.
	logoutAttempts = 12
	// logoutParallel bounds the deliveries in flight per replica.
	logoutParallel = 8
	// logoutTimeout bounds one delivery (§2.5 lets the OP time out).
	logoutTimeout = 5 * time.Second
)

// logoutToken builds and signs the logout token for client c (§2.4): sub
// (the client's pairwise identifier of the citizen) and, when the session
// is known, sid; no nonce; typ logout+jwt.
func (s *storage) logoutToken(ctx context.Context, c issuer.Client, sub, sid string) (string, error) {
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
	if sid != "" {
		claims["sid"] = sid
	}
	return jose.SignJSON(ctx, k, claims, map[string]any{"typ": "logout+jwt"})
}

// EndGrant ends clientID's access to the citizen: every token it holds for
// the citizen is revoked and its sessions with the citizen end, which
// queues its back-channel logout. It returns how many tokens.
func (p *Provider) EndGrant(ctx context.Context, citizenID, clientID string) (int, error) {
	n, err := p.st.store.RevokeGrant(ctx, citizenID, clientID)
	p.st.wakeLogouts()
	return n, err
}

// EndSessions ends every session of the citizen (an administrator's
// revocation: a lost phone, say), telling each agency the sessions logged
// in to. It returns how many login sessions ended.
func (p *Provider) EndSessions(ctx context.Context, citizenID string) (int, error) {
	n, err := p.st.store.DeleteSessionsOf(ctx, citizenID)
	p.st.wakeLogouts()
	return n, err
}

// TerminateSession is RP-initiated logout without the ID token's claims
// (see TerminateSessionFromRequest, which zitadel prefers).
func (s *storage) TerminateSession(ctx context.Context, userID, clientID string) error {
	return s.terminate(ctx, userID, clientID, "")
}

// TerminateSessionFromRequest serves RP-initiated logout (OpenID Connect
// RP-Initiated Logout 1.0 §2): the session the id_token_hint names by its
// sid ends — or, for a hint without sid, every session of the citizen —
// and every agency logged in through it is told by back-channel logout.
func (s *storage) TerminateSessionFromRequest(ctx context.Context, r *op.EndSessionRequest) (string, error) {
	sid := ""
	if r.IDTokenHintClaims != nil {
		sid = r.IDTokenHintClaims.SessionID
	}
	return r.RedirectURI, s.terminate(ctx, r.UserID, r.ClientID, sid)
}

func (s *storage) terminate(ctx context.Context, sub, clientID, sid string) error {
	if sub == "" || clientID == "" {
		return nil // no id_token_hint: nobody to log out
	}
	c, err := s.clientByID(ctx, clientID)
	if err != nil {
		return nil
	}
	citizenID, err := s.store.SubjectCitizen(ctx, subjectSector(c), sub)
	if errors.Is(err, issuer.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	defer s.wakeLogouts()
	if sid != "" {
		_, err = s.store.DeleteSessionsBySID(ctx, citizenID, sid)
		return err
	}
	_, err = s.store.DeleteSessionsOf(ctx, citizenID)
	return err
}

// logoutWorker delivers the queued notifications.
type logoutWorker struct {
	wake chan struct{}
	mu   sync.Mutex // one round at a time per replica
}

// wakeLogouts asks the worker for a round now (changes made through this
// replica are delivered without waiting for the next poll).
func (s *storage) wakeLogouts() {
	select {
	case s.logouts.wake <- struct{}{}:
	default:
	}
}

// RunLogouts delivers queued back-channel logouts until ctx ends: a round
// whenever this replica queued some and every logoutPoll otherwise.
func (p *Provider) RunLogouts(ctx context.Context) {
	t := time.NewTicker(logoutPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-p.st.logouts.wake:
		}
		for {
			n, err := p.DeliverLogouts(ctx)
			if err != nil {
				if ctx.Err() == nil {
					p.st.log.WarnContext(ctx, "back-channel logout: claim", "err", err)
				}
				break
			}
			if n < logoutBatch {
				break
			}
		}
	}
}

// logoutBatch is how many notifications one round claims.
const logoutBatch = 64

// DeliverLogouts runs one round: it claims the notifications due and
// delivers them, and returns how many it claimed. Each is settled: removed
// when delivered, when its client is gone or has no back-channel logout
// URI, or after logoutAttempts tries; otherwise retried later.
func (p *Provider) DeliverLogouts(ctx context.Context) (int, error) {
	s := p.st
	s.logouts.mu.Lock()
	defer s.logouts.mu.Unlock()
	ls, err := s.store.ClaimLogouts(ctx, s.now(), logoutLease, logoutBatch)
	if err != nil {
		return 0, err
	}
	sem := make(chan struct{}, logoutParallel)
	var wg sync.WaitGroup
	for _, l := range ls {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			s.settleLogout(ctx, l, s.deliverLogout(ctx, l))
		}()
	}
	wg.Wait()
	return len(ls), nil
}

// errNoLogoutURI: the client cannot be told (deleted, or no URI).
var errNoLogoutURI = errors.New("the client has no back-channel logout URI")

// deliverLogout sends one notification (§2.5).
func (s *storage) deliverLogout(ctx context.Context, l issuer.Logout) error {
	c, err := s.store.Client(ctx, l.ClientID)
	if errors.Is(err, issuer.ErrNotFound) || (err == nil && c.BackchannelLogoutURI == "") {
		return errNoLogoutURI
	} else if err != nil {
		return err
	}
	tok, err := s.logoutToken(ctx, c, subject(s.secret, subjectSector(c), l.CitizenID), l.SID)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	rctx, cancel := context.WithTimeout(ctx, logoutTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, c.BackchannelLogoutURI,
		strings.NewReader(url.Values{"logout_token": {tok}}.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := s.httpClient.Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	// §2.8: the RP answers 200 on success (204 is accepted too); 400 means
	// it refused the token, which another try will not change.
	switch {
	case res.StatusCode == http.StatusOK || res.StatusCode == http.StatusNoContent:
		return nil
	case res.StatusCode == http.StatusBadRequest:
		return fmt.Errorf("%w: status 400", errLogoutRefused)
	}
	return fmt.Errorf("status %d", res.StatusCode)
}

var errLogoutRefused = errors.New("the client refused the logout token")

// settleLogout removes or reschedules l after a delivery with outcome err.
// The log lines carry the client and the outcome, never the token.
func (s *storage) settleLogout(ctx context.Context, l issuer.Logout, err error) {
	var serr error
	switch {
	case err == nil, errors.Is(err, errNoLogoutURI):
		serr = s.store.FinishLogout(ctx, l.ID)
	case errors.Is(err, errLogoutRefused) || l.Attempts >= logoutAttempts:
		s.log.WarnContext(ctx, "back-channel logout given up", "client_id", l.ClientID, "attempts", l.Attempts, "err", err)
		serr = s.store.FinishLogout(ctx, l.ID)
	default:
		s.log.InfoContext(ctx, "back-channel logout failed; will retry", "client_id", l.ClientID, "attempt", l.Attempts, "err", err)
		serr = s.store.RetryLogout(ctx, l.ID, s.now().Add(time.Second<<min(l.Attempts, 11)))
	}
	if serr != nil && !errors.Is(serr, issuer.ErrNotFound) {
		s.log.WarnContext(ctx, "back-channel logout: settle", "client_id", l.ClientID, "err", serr)
	}
}
