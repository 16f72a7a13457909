package pages

import (
	"errors"
	"net/http"
	"slices"

	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/web"
)

type consentData struct {
	ClientName  string
	CitizenName string
	Purposes    []purposeView
	// Credentials are what a wallet asks to receive (OpenID4VCI).
	Credentials []purposeView
	// Data and Permissions are catalog keys: what the scopes release and
	// allow, in plain words.
	Data          []string
	Permissions   []string
	AuthRequestID string
	LoginURL      string
	// Verified are the checked claims asked for from the wallet.
	Verified []VerifiedAsk
	// Again are the purposes the citizen declined before, which they may
	// give their consent to again apart from allowing the sign-in.
	Again []purposeView
}

type purposeView struct{ Name, Description, Scope string }

// What each scope releases or allows, as catalog keys. openid is the
// sign-in itself (OIDC Core §3.1.2.1) and purpose scopes are shown as their
// purposes; any other scope is never shown as written but as "other
// permissions the agency has not described".
var (
	scopeData = map[string]string{ // OIDC Core §5.4
		"profile": "consent.data.profile",
		"email":   "consent.data.email",
	}
	scopePermissions = map[string]string{
		"offline_access": "consent.permission.offline_access", // OIDC Core §11
	}
)

// describe says what a request asks for in lang: its purposes by their
// registered name and description, the data its scopes release and the
// other permissions they give.
func describe(info AuthRequestInfo, lang string) (purposes []purposeView, data, perms []string) {
	named := map[string]bool{}
	for _, sc := range info.CredentialScopes {
		named[sc] = true
	}
	for _, p := range info.Purposes {
		named[p.Scope] = true
		purposes = append(purposes, purposeView{Name: inLang(p.Name, lang), Description: inLang(p.Description, lang), Scope: p.Scope})
	}
	other := false
	for _, sc := range info.Scopes {
		switch {
		case sc == "openid" || named[sc]:
		case scopeData[sc] != "":
			data = appendNew(data, scopeData[sc])
		case scopePermissions[sc] != "":
			perms = appendNew(perms, scopePermissions[sc])
		default:
			other = true
		}
	}
	if other {
		perms = append(perms, "consent.permission.other")
	}
	return purposes, data, perms
}

// inLang picks the text for lang, else the first language that has one.
func inLang(text map[string]string, lang string) string {
	if t := text[lang]; t != "" {
		return t
	}
	for _, l := range web.Langs {
		if t := text[l]; t != "" {
			return t
		}
	}
	return ""
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
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
	purposes, data, perms := describe(info, lang)
	mine, err := h.flow.ForCitizen(ctx, id, c.ID, lang)
	if err != nil {
		h.authRequestFailed(w, r, lang, err)
		return
	}
	var again []purposeView
	for _, p := range purposes {
		if slices.Contains(mine.Declined, p.Scope) {
			again = append(again, p)
		}
	}
	var creds []purposeView
	for _, ca := range info.Credentials {
		creds = append(creds, purposeView{Name: inLang(ca.Name, lang), Description: inLang(ca.Description, lang)})
	}
	h.page(w, r, http.StatusOK, "consent", web.NewPage(w, r, h.csrf, lang, "consent.title", consentData{
		ClientName: info.ClientName, CitizenName: c.DisplayName(), Purposes: purposes, Credentials: creds,
		Data: data, Permissions: perms, AuthRequestID: id, LoginURL: loginURL(id), Verified: mine.Verified, Again: again,
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
		// Only purposes the request names may be given again.
		var again []string
		for _, sc := range r.PostForm["again"] {
			if slices.ContainsFunc(info.Purposes, func(p Purpose) bool { return p.Scope == sc }) && !slices.Contains(again, sc) {
				again = append(again, sc)
			}
		}
		next, err = h.flow.Complete(ctx, id, sess.CitizenID, sess.SID, sess.AMR, sess.AuthTime, again)
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
