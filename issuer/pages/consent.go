package pages

import (
	"errors"
	"net/http"

	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/web"
)

type consentData struct {
	ClientName    string
	CitizenName   string
	Purpose       string
	Claims        []string
	Scopes        []string
	AuthRequestID string
	LoginURL      string
}

// consentPage serves GET /consent?authRequestID=…: what the agency asks
// for, for the logged-in citizen to allow or not.
func (h *Handler) consentPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.URL.Query().Get("authRequestID")
	if id == "" {
		h.errorPage(w, r, web.Negotiate(r), probBadRequest)
		return
	}
	info, err := h.flow.AuthRequestInfo(ctx, id)
	if err != nil {
		h.authRequestFailed(w, r, web.Negotiate(r), err)
		return
	}
	if info.PromptNone {
		h.silent(w, r, id, info)
		return
	}
	lang := web.Negotiate(r, info.UILocales...)
	sess, err := h.session(r)
	if errors.Is(err, errNoSession) || (err == nil && info.MaxAge > 0 && h.now().Sub(sess.AuthTime) > info.MaxAge) {
		http.Redirect(w, r, loginURL(id), http.StatusSeeOther)
		return
	} else if err != nil {
		h.failPage(w, r, lang, err)
		return
	}
	c, err := h.store.Citizen(ctx, sess.CitizenID)
	if errors.Is(err, issuer.ErrNotFound) {
		http.Redirect(w, r, loginURL(id), http.StatusSeeOther)
		return
	} else if err != nil {
		h.failPage(w, r, lang, err)
		return
	}
	purpose := info.Purpose
	if t, ok := info.PurposeByLang[lang]; ok {
		purpose = t
	}
	h.page(w, r, http.StatusOK, "consent", web.NewPage(w, r, h.csrf, lang, "consent.title", consentData{
		ClientName: info.ClientName, CitizenName: c.DisplayName(), Purpose: purpose,
		Claims: info.Claims, Scopes: info.Scopes, AuthRequestID: id, LoginURL: loginURL(id),
	}))
}

// consentDecision serves POST /consent: the citizen allows (the OIDC layer
// completes the request) or does not (the agency gets access_denied).
func (h *Handler) consentDecision(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	lang := web.Negotiate(r)
	if err := h.csrf.Check(r); err != nil {
		h.failPage(w, r, lang, err)
		return
	}
	id := r.PostFormValue("authRequestID")
	decision := r.PostFormValue("decision")
	if id == "" || (decision != "approve" && decision != "deny") {
		h.errorPage(w, r, lang, probBadRequest)
		return
	}
	sess, err := h.session(r)
	if errors.Is(err, errNoSession) {
		http.Redirect(w, r, loginURL(id), http.StatusSeeOther)
		return
	} else if err != nil {
		h.failPage(w, r, lang, err)
		return
	}
	info, err := h.flow.AuthRequestInfo(ctx, id)
	if err != nil {
		h.authRequestFailed(w, r, lang, err)
		return
	}
	var next string
	if decision == "approve" {
		next, err = h.flow.Complete(ctx, id, sess.CitizenID, sess.SID, sess.AMR, sess.AuthTime)
	} else {
		next, err = h.flow.Deny(ctx, id)
	}
	if err != nil {
		h.authRequestFailed(w, r, lang, err)
		return
	}
	// The consent ledger keeps the record (the provider gives the consent
	// to the purposes named when it completes the request); the log line
	// carries no personal data.
	h.log.InfoContext(ctx, "consent decision", "decision", decision, "client_id", info.ClientID,
		"scopes", info.Scopes, "claims", info.Claims)
	http.Redirect(w, r, next, http.StatusSeeOther)
}
