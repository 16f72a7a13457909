package pages

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/web"
)

// DefaultEnrolmentTTL is how long an enrolment link lasts when Enrol is
// given no TTL.
const DefaultEnrolmentTTL = 24 * time.Hour

// EnrolStore is the storage Enrol needs.
type EnrolStore interface {
	issuer.Citizens
	issuer.Enrolments
}

// Enrol creates a one-time enrolment link for the existing citizen
// citizenID, valid for ttl (DefaultEnrolmentTTL when 0), and returns it
// with its expiry. createdBy names the admin or client that asked. The
// link's token has 256 random bits and only its SHA-256 is stored; the
// link is returned once and must reach only the citizen. It returns an
// error wrapping issuer.ErrNotFound when there is no such citizen.
func Enrol(ctx context.Context, store EnrolStore, citizenID, createdBy string, ttl time.Duration, baseURL string) (link string, expires time.Time, err error) {
	if ttl <= 0 {
		ttl = DefaultEnrolmentTTL
	}
	if _, err := store.Citizen(ctx, citizenID); err != nil {
		return "", time.Time{}, fmt.Errorf("pages: enrol: %w", err)
	}
	token := newSecret()
	now := time.Now().UTC()
	e := issuer.Enrolment{TokenHash: hashSecret(token), CitizenID: citizenID, CreatedBy: createdBy, Created: now, Expires: now.Add(ttl)}
	if err := store.CreateEnrolment(ctx, e); err != nil {
		return "", time.Time{}, fmt.Errorf("pages: enrol: %w", err)
	}
	return strings.TrimRight(baseURL, "/") + "/enrol/" + token, e.Expires, nil
}

type enrolData struct {
	GivenName string
	Expires   time.Time
	Token     string
}

// enrolment finds the usable enrolment and its citizen for the token in
// the path. Its errors wrap issuer.ErrNotFound, ErrExpired or ErrUsed for
// links that cannot be used.
func (h *Handler) enrolment(r *http.Request) ([]byte, issuer.Enrolment, issuer.Citizen, error) {
	token := r.PathValue("token")
	if token == "" || len(token) > 128 {
		return nil, issuer.Enrolment{}, issuer.Citizen{}, issuer.ErrNotFound
	}
	hash := hashSecret(token)
	e, err := h.store.Enrolment(r.Context(), hash, h.now())
	if err != nil {
		return nil, e, issuer.Citizen{}, err
	}
	c, err := h.store.Citizen(r.Context(), e.CitizenID)
	return hash, e, c, err
}

// enrolProblem is the problem type of an enrolment that cannot be used.
func enrolProblem(err error) (string, bool) {
	switch {
	case errors.Is(err, issuer.ErrUsed):
		return probEnrolUsed, true
	case errors.Is(err, issuer.ErrExpired):
		return probEnrolExpired, true
	case errors.Is(err, issuer.ErrNotFound):
		return probEnrolInvalid, true
	}
	return "", false
}

// enrolPage serves GET /enrol/{token}.
func (h *Handler) enrolPage(w http.ResponseWriter, r *http.Request) {
	lang := web.Negotiate(r)
	if !h.limits.enrolIP.Allow(h.clientIP(r)) {
		h.errorPage(w, r, lang, probRateLimited)
		return
	}
	_, e, c, err := h.enrolment(r)
	if slug, ok := enrolProblem(err); ok {
		h.logFailure(r, slug, err)
		h.errorPage(w, r, lang, slug)
		return
	} else if err != nil {
		h.failPage(w, r, lang, err)
		return
	}
	lang = web.Negotiate(r, c.Locale)
	h.page(w, r, http.StatusOK, "enrol", web.NewPage(w, r, h.csrf, lang, "enrol.title",
		enrolData{GivenName: c.GivenName, Expires: e.Expires, Token: r.PathValue("token")}))
}

// enrolBegin serves POST /enrol/{token}/begin.
func (h *Handler) enrolBegin(w http.ResponseWriter, r *http.Request) {
	lang := web.Negotiate(r)
	var req emptyRequest
	if !h.api(w, r, lang, h.limits.enrolIP, &req) {
		return
	}
	_, _, c, err := h.enrolment(r)
	if slug, ok := enrolProblem(err); ok {
		h.problem(w, r, lang, slug, err)
		return
	} else if err != nil {
		h.fail(w, r, lang, err)
		return
	}
	h.beginRegistration(w, r, lang, c)
}

// enrolFinish serves POST /enrol/{token}/finish: verify the new passkey,
// use the link (exactly once, even with concurrent finishes), store the
// passkey, issue recovery codes, log the citizen in. The codes are in the
// answer and nowhere else.
func (h *Handler) enrolFinish(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	lang := web.Negotiate(r)
	var req finishRequest
	if !h.api(w, r, lang, h.limits.enrolIP, &req) {
		return
	}
	hash, _, c, err := h.enrolment(r)
	if slug, ok := enrolProblem(err); ok {
		h.problem(w, r, lang, slug, err)
		return
	} else if err != nil {
		h.fail(w, r, lang, err)
		return
	}
	if !h.limits.enrolCitizen.Allow(c.ID) {
		h.problem(w, r, lang, probRateLimited, nil)
		return
	}
	p, err := h.passkeys.VerifyRegistration(ctx, h.takeCeremony(w, r), c, req.Credential, passkeyName(lang, req.Name))
	if err != nil {
		h.fail(w, r, lang, err)
		return
	}
	// Only now is the link used: a failed ceremony leaves it usable.
	if _, err := h.store.UseEnrolment(ctx, hash, h.now()); err != nil {
		if slug, ok := enrolProblem(err); ok {
			h.problem(w, r, lang, slug, err)
			return
		}
		h.fail(w, r, lang, err)
		return
	}
	if err := h.store.AddPasskey(ctx, p); err != nil {
		h.fail(w, r, lang, err)
		return
	}
	codes, err := h.replaceCodes(ctx, c.ID)
	if err != nil {
		h.fail(w, r, lang, err)
		return
	}
	if err := h.startSession(ctx, w, r, c.ID, amrFor(p)); err != nil {
		h.fail(w, r, lang, err)
		return
	}
	h.log.InfoContext(ctx, "citizen enrolled a passkey", "citizen", c, "backup_eligible", p.BackupEligible)
	writeJSON(w, http.StatusOK, finished{Redirect: "/account", RecoveryCodes: codes})
}

// replaceCodes issues a citizen's recovery codes, discarding older ones.
func (h *Handler) replaceCodes(ctx context.Context, citizenID string) ([]string, error) {
	codes, hashes := newRecoveryCodes(codeCount)
	if err := h.store.ReplaceRecoveryCodes(ctx, citizenID, hashes); err != nil {
		return nil, err
	}
	return codes, nil
}

// passkeyName is the name for a new passkey: the citizen's, or a default
// in their language.
func passkeyName(lang, s string) string {
	if name, ok := issuer.CleanPasskeyName(s); ok {
		return name
	}
	if name, _ := issuer.CleanPasskeyName(s); name != "" {
		return string([]rune(name)[:issuer.MaxPasskeyName])
	}
	return web.T(lang, "passkey.default_name")
}
