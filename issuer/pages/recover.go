package pages

import (
	"errors"
	"net/http"

	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/web"
)

type recoverData struct {
	FieldError string
}

// recoverPage serves GET /recover: the recovery code form.
func (h *Handler) recoverPage(w http.ResponseWriter, r *http.Request) {
	lang := web.Negotiate(r)
	h.page(w, r, http.StatusOK, "recover", web.NewPage(w, r, h.csrf, lang, "recover.title", recoverData{}))
}

func (h *Handler) recoverForm(w http.ResponseWriter, r *http.Request, lang string, status int, msg string) {
	p := web.NewPage(w, r, h.csrf, lang, "recover.title", recoverData{FieldError: msg})
	p.Errors = []web.FieldError{{For: "code", Message: msg}}
	h.page(w, r, status, "recover", p)
}

// recoverCode serves POST /recover: a valid recovery code is consumed and
// opens a short recovery session (cookie cedula_recovery) in which the
// citizen registers a new passkey.
func (h *Handler) recoverCode(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	lang := web.Negotiate(r)
	if !h.limits.recoverIP.Allow(h.clientIP(r)) {
		h.errorPage(w, r, lang, probRateLimited)
		return
	}
	if err := h.csrf.Check(r); err != nil {
		h.failPage(w, r, lang, err)
		return
	}
	code := r.PostFormValue("code")
	norm, ok := normalizeCode(code)
	if !ok {
		msg := "recover.error.code"
		if code == "" {
			msg = "recover.error.empty"
		}
		h.recoverForm(w, r, lang, http.StatusBadRequest, web.T(lang, msg))
		return
	}
	citizenID, err := h.store.UseRecoveryCode(ctx, hashCode(norm))
	if errors.Is(err, issuer.ErrNotFound) {
		h.log.InfoContext(ctx, "recovery code refused")
		h.recoverForm(w, r, lang, http.StatusBadRequest, web.T(lang, "recover.error.code"))
		return
	} else if err != nil {
		h.failPage(w, r, lang, err)
		return
	}
	if err := h.openSession(ctx, w, recoveryCookie, citizenID, "", []string{amrRecovery}, h.recTTL, http.SameSiteStrictMode); err != nil {
		h.failPage(w, r, lang, err)
		return
	}
	h.log.InfoContext(ctx, "recovery code used", "citizen", issuer.Pseudonym(citizenID))
	http.Redirect(w, r, "/recover/passkey", http.StatusSeeOther)
}

// recoverPasskeyPage serves GET /recover/passkey: register a new passkey.
func (h *Handler) recoverPasskeyPage(w http.ResponseWriter, r *http.Request) {
	lang := web.Negotiate(r)
	if _, err := h.recovery(r); err != nil {
		h.errorPageBack(w, r, lang, classify(err), "/recover", "recover.title", err)
		return
	}
	h.page(w, r, http.StatusOK, "recover_passkey", web.NewPage(w, r, h.csrf, lang, "recover.passkey_title", struct{}{}))
}

// recoveryCitizen is the citizen of the recovery in progress, or
// errRecovery.
func (h *Handler) recoveryCitizen(r *http.Request) (issuer.Citizen, error) {
	sess, err := h.recovery(r)
	if err != nil {
		return issuer.Citizen{}, err
	}
	c, err := h.store.Citizen(r.Context(), sess.CitizenID)
	if errors.Is(err, issuer.ErrNotFound) {
		return c, errRecovery
	}
	return c, err
}

// recoverBegin serves POST /recover/begin.
func (h *Handler) recoverBegin(w http.ResponseWriter, r *http.Request) {
	lang := web.Negotiate(r)
	var req emptyRequest
	if !h.api(w, r, lang, h.limits.recoverIP, &req) {
		return
	}
	c, err := h.recoveryCitizen(r)
	if err != nil {
		h.fail(w, r, lang, err)
		return
	}
	if !h.limits.recoverCitizen.Allow(c.ID) {
		h.problem(w, r, lang, probRateLimited, nil)
		return
	}
	h.beginRegistration(w, r, lang, c)
}

// recoverFinish serves POST /recover/finish: store the new passkey; if the
// citizen asked, remove every other passkey and end every other session;
// then log them in.
func (h *Handler) recoverFinish(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	lang := web.Negotiate(r)
	var req finishRequest
	if !h.api(w, r, lang, h.limits.recoverIP, &req) {
		return
	}
	c, err := h.recoveryCitizen(r)
	if err != nil {
		h.fail(w, r, lang, err)
		return
	}
	p, err := h.passkeys.FinishRegistration(ctx, h.takeCeremony(w, r), c, req.Credential, passkeyName(lang, req.Name))
	if err != nil {
		h.fail(w, r, lang, err)
		return
	}
	removed := 0
	if req.RemoveOthers {
		if removed, err = h.store.DeletePasskeysExcept(ctx, c.ID, p.ID); err != nil {
			h.fail(w, r, lang, err)
			return
		}
		// Ends the recovery session too.
		if _, err := h.store.DeleteSessionsOf(ctx, c.ID); err != nil {
			h.fail(w, r, lang, err)
			return
		}
	}
	if err := h.endSession(ctx, w, r, recoveryCookie); err != nil {
		h.fail(w, r, lang, err)
		return
	}
	if err := h.startSession(ctx, w, r, c.ID, amrFor(p)); err != nil {
		h.fail(w, r, lang, err)
		return
	}
	h.log.InfoContext(ctx, "citizen recovered access with a new passkey", "citizen", c, "passkeys_removed", removed)
	writeJSON(w, http.StatusOK, finished{Redirect: "/account?done=recovered"})
}
