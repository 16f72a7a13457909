package pages

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"

	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/web"
)

type loginData struct {
	ClientName    string
	AuthRequestID string
}

// consentURL and loginURL are where a pending sign-in request goes.
func consentURL(authRequestID string) string {
	return "/consent?authRequestID=" + url.QueryEscape(authRequestID)
}

func loginURL(authRequestID string) string {
	if authRequestID == "" {
		return "/login"
	}
	return "/login?authRequestID=" + url.QueryEscape(authRequestID)
}

// loginPage serves GET /login[?authRequestID=…]: the login page, or, when
// the citizen already has a session the request may reuse, straight on to
// consent (or to their account when no agency asked).
func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.URL.Query().Get("authRequestID")
	var info AuthRequestInfo
	if id != "" {
		var err error
		if info, err = h.flow.AuthRequestInfo(ctx, id); err != nil {
			h.authRequestFailed(w, r, web.Negotiate(r), err)
			return
		}
	}
	if id != "" && info.PromptNone {
		h.silent(w, r, id, info)
		return
	}
	lang := web.Negotiate(r, info.UILocales...)
	sess, err := h.session(r)
	switch {
	case err == nil && !info.ForceLogin && (info.MaxAge == 0 || h.now().Sub(sess.AuthTime) <= info.MaxAge):
		next := "/account"
		if id != "" {
			next = consentURL(id)
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	case err != nil && !errors.Is(err, errNoSession):
		h.failPage(w, r, lang, err)
		return
	}
	p := web.NewPage(w, r, h.csrf, lang, "login.title", loginData{ClientName: info.ClientName, AuthRequestID: id})
	if r.URL.Query().Get("done") == "signedout" {
		p.Notice = p.T("login.signed_out")
	}
	h.page(w, r, http.StatusOK, "login", p)
}

// silent answers a prompt=none request (OIDC Core §3.1.2.1) without
// showing any page: it completes when the citizen has a login session the
// request may reuse and nothing needs their consent, and otherwise sends
// the agency login_required or consent_required (§3.1.2.6).
func (h *Handler) silent(w http.ResponseWriter, r *http.Request, id string, info AuthRequestInfo) {
	ctx := r.Context()
	lang := web.Negotiate(r, info.UILocales...)
	fail := func(code string) {
		next, err := h.flow.Fail(ctx, id, code)
		if err != nil {
			h.authRequestFailed(w, r, lang, err)
			return
		}
		h.log.InfoContext(ctx, "silent authentication refused", "client_id", info.ClientID, "error", code)
		http.Redirect(w, r, next, http.StatusSeeOther)
	}
	sess, err := h.session(r)
	switch {
	case errors.Is(err, errNoSession):
		fail(ErrLoginRequired)
		return
	case err != nil:
		h.failPage(w, r, lang, err)
		return
	case info.ForceLogin, info.MaxAge > 0 && h.now().Sub(sess.AuthTime) > info.MaxAge,
		info.HintCitizenID != "" && info.HintCitizenID != sess.CitizenID:
		// max_age=0, a session too old for max_age, or an id_token_hint
		// naming someone else than who is logged in: only a login would do.
		fail(ErrLoginRequired)
		return
	}
	if _, err := h.store.Citizen(ctx, sess.CitizenID); errors.Is(err, issuer.ErrNotFound) {
		fail(ErrLoginRequired)
		return
	} else if err != nil {
		h.failPage(w, r, lang, err)
		return
	}
	needs, err := h.flow.NeedsConsent(ctx, id, sess.CitizenID)
	if err != nil {
		h.authRequestFailed(w, r, lang, err)
		return
	}
	if needs {
		fail(ErrConsentRequired)
		return
	}
	next, err := h.flow.Complete(ctx, id, sess.CitizenID, sess.SID, sess.AMR, sess.AuthTime, nil)
	if err != nil {
		h.authRequestFailed(w, r, lang, err)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// authRequestFailed answers a page for an AuthFlow failure.
func (h *Handler) authRequestFailed(w http.ResponseWriter, r *http.Request, lang string, err error) {
	if isNotFound(err) {
		h.logFailure(r, probAuthRequest, err)
		h.errorPage(w, r, lang, probAuthRequest)
		return
	}
	h.failPage(w, r, lang, err)
}

// loginBegin serves POST /login/begin: the options of a usernameless
// login (WebAuthn L3 §5.5), for a conditional or a modal request.
func (h *Handler) loginBegin(w http.ResponseWriter, r *http.Request) {
	lang := web.Negotiate(r)
	var req emptyRequest
	if !h.api(w, r, lang, h.limits.loginIP, &req) {
		return
	}
	l, err := h.passkeys.BeginLogin(r.Context())
	if err != nil {
		h.fail(w, r, lang, err)
		return
	}
	h.setCeremony(w, l.ID)
	writeJSON(w, http.StatusOK, l.Options)
}

// loginFinish serves POST /login/finish: it verifies the assertion, opens
// a session and says where to go next.
func (h *Handler) loginFinish(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	lang := web.Negotiate(r)
	var req finishRequest
	if !h.api(w, r, lang, h.limits.loginIP, &req) {
		return
	}
	// Per-citizen limit, keyed by the user handle the authenticator
	// returned (the citizen's ID, WebAuthn L3 §5.4.3) before any work.
	var peek struct {
		Response struct {
			UserHandle string `json:"userHandle"`
		} `json:"response"`
	}
	if json.Unmarshal(req.Credential, &peek) == nil && peek.Response.UserHandle != "" &&
		!h.limits.loginCitizen.Allow(peek.Response.UserHandle) {
		h.problem(w, r, lang, probRateLimited, nil)
		return
	}
	c, p, err := h.passkeys.FinishLogin(ctx, h.takeCeremony(w, r), req.Credential)
	if err != nil {
		h.fail(w, r, lang, err)
		return
	}
	if err := h.startSession(ctx, w, r, c.ID, amrFor(p)); err != nil {
		h.fail(w, r, lang, err)
		return
	}
	h.log.InfoContext(ctx, "citizen logged in", "citizen", c, "agency_request", req.AuthRequestID != "")
	next := "/account"
	if req.AuthRequestID != "" {
		next = consentURL(req.AuthRequestID)
	}
	writeJSON(w, http.StatusOK, finished{Redirect: next})
}

// logout serves POST /logout: it ends the session and returns to the
// login page (or to next, a local path).
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	lang := web.Negotiate(r)
	if err := h.csrf.Check(r); err != nil {
		h.failPage(w, r, lang, err)
		return
	}
	if err := h.endSession(r.Context(), w, r, sessionCookie); err != nil {
		h.failPage(w, r, lang, err)
		return
	}
	next := r.PostFormValue("next")
	if !localPath(next) {
		next = "/login?done=signedout"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}
