package pages

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/cedula/cedula/internal/random"
	"github.com/cedula/cedula/issuer"
)

// amrRecovery marks the short session a used recovery code opens: it only
// lets the citizen register a new passkey, and is never a login.
const amrRecovery = "cedula-recovery"

// amrFor is the authentication methods reference (RFC 8176 §2) of a
// login with passkey p and user verification: proof of possession of a
// key that is device-bound (hwk) or synced (swk), a user presence test,
// and, since the authenticator verified the user (PIN or biometric), more
// than one factor (mfa).
func amrFor(p issuer.Passkey) []string {
	key := "hwk"
	if p.BackupEligible {
		key = "swk"
	}
	return []string{key, "user", "mfa"}
}

func newSecret() string { return random.Token(32) }

func hashSecret(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// sessionFrom finds the unexpired session named by cookie name.
// errNoSession means there is none; other errors are storage failures.
func (h *Handler) sessionFrom(r *http.Request, name string) (issuer.Session, error) {
	c, err := r.Cookie(name)
	if err != nil || c.Value == "" || len(c.Value) > 64 {
		return issuer.Session{}, errNoSession
	}
	s, err := h.store.Session(r.Context(), hashSecret(c.Value), h.now())
	if errors.Is(err, issuer.ErrNotFound) {
		return issuer.Session{}, errNoSession
	}
	return s, err
}

// session returns the citizen's login session, or errNoSession. A
// recovery session is not a login session.
func (h *Handler) session(r *http.Request) (issuer.Session, error) {
	s, err := h.sessionFrom(r, sessionCookie)
	if err == nil && slices.Contains(s.AMR, amrRecovery) {
		return issuer.Session{}, errNoSession
	}
	return s, err
}

// recovery returns the recovery session, or errRecovery.
func (h *Handler) recovery(r *http.Request) (issuer.Session, error) {
	s, err := h.sessionFrom(r, recoveryCookie)
	switch {
	case errors.Is(err, errNoSession):
		return s, errRecovery
	case err == nil && !slices.Contains(s.AMR, amrRecovery):
		return issuer.Session{}, errRecovery
	}
	return s, err
}

// startSession logs the citizen in: a new session (never one the browser
// brought, against session fixation) in a new cookie. When the browser
// brought a login session of the same citizen (a re-authentication, for
// prompt=login or max_age), the new cookie carries its SID on: the
// session goes on and the agencies logged in through it keep theirs.
// Otherwise the old session ends, which tells its agencies.
func (h *Handler) startSession(ctx context.Context, w http.ResponseWriter, r *http.Request, citizenID string, amr []string) error {
	var old []byte
	sid := ""
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" && len(c.Value) <= 64 {
		old = hashSecret(c.Value)
		prev, err := h.store.Session(ctx, old, h.now())
		if err == nil && prev.CitizenID == citizenID && prev.SID != "" && !slices.Contains(prev.AMR, amrRecovery) {
			sid = prev.SID
		}
	}
	if sid == "" {
		sid = newSecret()
	}
	if err := h.openSession(ctx, w, sessionCookie, citizenID, sid, amr, h.ttl, http.SameSiteLaxMode); err != nil {
		return err
	}
	if old != nil {
		// After the new row exists, so that a carried-on SID never has no
		// row and does not end.
		_ = h.store.DeleteSession(ctx, old)
	}
	return nil
}

// openSession stores a session in login session sid ("" for a recovery
// session, which logs in to no agency) and sets its cookie.
func (h *Handler) openSession(ctx context.Context, w http.ResponseWriter, cookie, citizenID, sid string, amr []string, ttl time.Duration, same http.SameSite) error {
	secret := newSecret()
	now := h.now().UTC()
	err := h.store.CreateSession(ctx, issuer.Session{
		IDHash: hashSecret(secret), SID: sid, CitizenID: citizenID, AMR: amr, AuthTime: now, Expires: now.Add(ttl),
	})
	if err != nil {
		return err
	}
	h.setCookie(w, cookie, secret, ttl, same)
	return nil
}

// endSession deletes the session named by cookie name and clears it.
func (h *Handler) endSession(ctx context.Context, w http.ResponseWriter, r *http.Request, name string) error {
	h.clearCookie(w, name)
	c, err := r.Cookie(name)
	if err != nil || c.Value == "" || len(c.Value) > 64 {
		return nil
	}
	if err := h.store.DeleteSession(ctx, hashSecret(c.Value)); err != nil && !errors.Is(err, issuer.ErrNotFound) {
		return err
	}
	return nil
}

// ErrNoSession: the request carries no unexpired login session cookie.
var ErrNoSession = errNoSession

// CitizenFromRequest returns the citizen logged in with the session cookie
// of r, for other rooms' citizen-facing APIs: ErrNoSession when there is no
// login session (a recovery session is none), another error when the
// store fails.
func (h *Handler) CitizenFromRequest(r *http.Request) (issuer.Citizen, error) {
	s, err := h.session(r)
	if err != nil {
		return issuer.Citizen{}, err
	}
	c, err := h.store.Citizen(r.Context(), s.CitizenID)
	if errors.Is(err, issuer.ErrNotFound) {
		return issuer.Citizen{}, errNoSession
	}
	return c, err
}

// SessionCookie is the name of the cookie that carries a login session.
const SessionCookie = sessionCookie
