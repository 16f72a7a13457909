package pages

import (
	"encoding/base64"
	"errors"
	"net/http"
	"time"

	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/web"
)

type passkeyView struct {
	ID          string // base64url credential ID, for the forms
	Name        string
	Created     time.Time
	LastUsed    time.Time
	BackupState bool
}

type accountData struct {
	Passkeys    []passkeyView
	CodesLeft   int
	Consents    []consentView
	Credentials []credentialView
}

type consentView struct {
	ConsentItem
	StateKey string // the catalog key of the state's name
}

type codesData struct {
	Codes    []string
	Replaced bool
	Next     string
}

// Notices /account shows after a change (?done=…).
var accountNotices = map[string]string{
	"renamed":   "account.done.renamed",
	"removed":   "account.done.removed",
	"added":     "account.done.added",
	"recovered": "account.done.recovered",
	"withdrawn": "consents.done.withdrawn",
	"renewed":   "consents.done.renewed",
	"objected":  "consents.done.objected",
}

// accountSession returns the session of a page request, or answers it:
// to the login page when there is none.
func (h *Handler) accountSession(w http.ResponseWriter, r *http.Request, lang string) (issuer.Session, bool) {
	sess, err := h.session(r)
	if errors.Is(err, errNoSession) {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return sess, false
	} else if err != nil {
		h.failPage(w, r, lang, err)
		return sess, false
	}
	return sess, true
}

// accountPage serves GET /account: the citizen's passkeys, recovery
// codes, consents and credentials.
func (h *Handler) accountPage(w http.ResponseWriter, r *http.Request) {
	lang := web.Negotiate(r)
	sess, ok := h.accountSession(w, r, lang)
	if !ok {
		return
	}
	notice := ""
	if key, ok := accountNotices[r.URL.Query().Get("done")]; ok {
		notice = web.T(lang, key)
	}
	h.renderAccount(w, r, lang, sess, http.StatusOK, nil, notice)
}

// renderAccount renders the account page; a notice confirms what the
// citizen just did.
func (h *Handler) renderAccount(w http.ResponseWriter, r *http.Request, lang string, sess issuer.Session, status int, errs []web.FieldError, notice string) {
	ctx := r.Context()
	keys, err := h.store.PasskeysOf(ctx, sess.CitizenID)
	if err != nil {
		h.failPage(w, r, lang, err)
		return
	}
	left, err := h.store.RecoveryCodesLeft(ctx, sess.CitizenID)
	if err != nil {
		h.failPage(w, r, lang, err)
		return
	}
	data := accountData{CodesLeft: left}
	if h.consents != nil {
		items, err := h.consents.Of(ctx, sess.CitizenID, lang)
		if err != nil {
			h.failPage(w, r, lang, err)
			return
		}
		for _, it := range items {
			data.Consents = append(data.Consents, consentView{ConsentItem: it, StateKey: consentStates[it.State]})
		}
	}
	if h.offers != nil {
		items, err := h.offers.Credentials(ctx, sess.CitizenID, lang)
		if err != nil {
			h.failPage(w, r, lang, err)
			return
		}
		for _, it := range items {
			data.Credentials = append(data.Credentials, viewCredential(it, h.now()))
		}
	}
	for _, p := range keys {
		data.Passkeys = append(data.Passkeys, passkeyView{
			ID: base64.RawURLEncoding.EncodeToString(p.ID), Name: p.Name,
			Created: p.Created, LastUsed: p.LastUsed, BackupState: p.BackupState,
		})
	}
	// The page's own path, so that the language switch returns to it.
	r.URL.Path, r.URL.RawQuery = "/account", ""
	confirm := notice != ""
	// Consents awaiting renewal (their notice changed) are told at the top
	// of the page, unless another notice has something to say.
	if notice == "" {
		renew := 0
		for _, c := range data.Consents {
			if c.Renewable && c.State == "renewal_required" {
				renew++
			}
		}
		switch {
		case renew == 1:
			notice = web.T(lang, "consents.renewal_one")
		case renew > 1:
			notice = web.T(lang, "consents.renewal_many", renew)
		}
	}
	p := web.NewPage(w, r, h.csrf, lang, "account.title", data)
	p.Errors, p.Notice, p.Confirm = errs, notice, confirm
	h.page(w, r, status, "account", p)
}

// accountForm starts a form POST on /account: CSRF, then the session.
func (h *Handler) accountForm(w http.ResponseWriter, r *http.Request) (string, issuer.Session, bool) {
	lang := web.Negotiate(r)
	if err := h.csrf.Check(r); err != nil {
		h.failPage(w, r, lang, err)
		return lang, issuer.Session{}, false
	}
	sess, ok := h.accountSession(w, r, lang)
	return lang, sess, ok
}

// formPasskeyID reads the credential ID a management form names.
func formPasskeyID(r *http.Request) ([]byte, bool) {
	id, err := base64.RawURLEncoding.DecodeString(r.PostFormValue("id"))
	return id, err == nil && len(id) > 0 && len(id) <= 1023 // WebAuthn L3 §5.1: at most 1023 bytes
}

// rename serves POST /account/passkeys/rename.
func (h *Handler) rename(w http.ResponseWriter, r *http.Request) {
	lang, sess, ok := h.accountForm(w, r)
	if !ok {
		return
	}
	id, okID := formPasskeyID(r)
	name, okName := issuer.CleanPasskeyName(r.PostFormValue("name"))
	if !okID {
		h.errorPageBack(w, r, lang, probBadRequest, "/account", "account.title", nil)
		return
	}
	if !okName {
		field := "rename-" + base64.RawURLEncoding.EncodeToString(id)
		h.renderAccount(w, r, lang, sess, http.StatusBadRequest, []web.FieldError{{For: field, Message: web.T(lang, "account.error.name")}}, "")
		return
	}
	err := h.store.RenamePasskey(r.Context(), sess.CitizenID, id, name)
	if errors.Is(err, issuer.ErrNotFound) {
		h.renderAccount(w, r, lang, sess, http.StatusNotFound, []web.FieldError{{Message: web.T(lang, "account.error.notfound")}}, "")
		return
	} else if err != nil {
		h.failPage(w, r, lang, err)
		return
	}
	http.Redirect(w, r, "/account?done=renamed", http.StatusSeeOther)
}

// remove serves POST /account/passkeys/remove. The last passkey stays
// unless recovery codes remain (issuer.ErrLastPasskey).
func (h *Handler) remove(w http.ResponseWriter, r *http.Request) {
	lang, sess, ok := h.accountForm(w, r)
	if !ok {
		return
	}
	id, okID := formPasskeyID(r)
	if !okID {
		h.errorPageBack(w, r, lang, probBadRequest, "/account", "account.title", nil)
		return
	}
	err := h.store.DeletePasskey(r.Context(), sess.CitizenID, id)
	switch {
	case errors.Is(err, issuer.ErrLastPasskey):
		h.renderAccount(w, r, lang, sess, http.StatusConflict, []web.FieldError{{Message: web.T(lang, "account.error.last")}}, "")
		return
	case errors.Is(err, issuer.ErrNotFound):
		h.renderAccount(w, r, lang, sess, http.StatusNotFound, []web.FieldError{{Message: web.T(lang, "account.error.notfound")}}, "")
		return
	case err != nil:
		h.failPage(w, r, lang, err)
		return
	}
	h.log.InfoContext(r.Context(), "citizen removed a passkey", "citizen", issuer.Pseudonym(sess.CitizenID))
	http.Redirect(w, r, "/account?done=removed", http.StatusSeeOther)
}

// newCodes serves POST /account/recovery-codes: ten new codes, shown once.
func (h *Handler) newCodes(w http.ResponseWriter, r *http.Request) {
	lang, sess, ok := h.accountForm(w, r)
	if !ok {
		return
	}
	codes, err := h.replaceCodes(r.Context(), sess.CitizenID)
	if err != nil {
		h.failPage(w, r, lang, err)
		return
	}
	h.log.InfoContext(r.Context(), "citizen replaced their recovery codes", "citizen", issuer.Pseudonym(sess.CitizenID))
	r.URL.Path = "/account"
	h.page(w, r, http.StatusOK, "codes", web.NewPage(w, r, h.csrf, lang, "codes.title",
		codesData{Codes: codes, Replaced: true, Next: "/account"}))
}

// addBegin serves POST /account/passkeys/begin: another passkey for the
// logged-in citizen.
func (h *Handler) addBegin(w http.ResponseWriter, r *http.Request) {
	lang := web.Negotiate(r)
	var req emptyRequest
	if !h.api(w, r, lang, nil, &req) {
		return
	}
	c, err := h.sessionCitizen(r)
	if err != nil {
		h.fail(w, r, lang, err)
		return
	}
	h.beginRegistration(w, r, lang, c)
}

// addFinish serves POST /account/passkeys/finish.
func (h *Handler) addFinish(w http.ResponseWriter, r *http.Request) {
	lang := web.Negotiate(r)
	var req finishRequest
	if !h.api(w, r, lang, nil, &req) {
		return
	}
	c, err := h.sessionCitizen(r)
	if err != nil {
		h.fail(w, r, lang, err)
		return
	}
	p, err := h.passkeys.FinishRegistration(r.Context(), h.takeCeremony(w, r), c, req.Credential, passkeyName(lang, req.Name))
	if err != nil {
		h.fail(w, r, lang, err)
		return
	}
	h.log.InfoContext(r.Context(), "citizen added a passkey", "citizen", c, "backup_eligible", p.BackupEligible)
	writeJSON(w, http.StatusOK, finished{Redirect: "/account?done=added"})
}

// sessionCitizen is the logged-in citizen of a JSON call, or errNoSession.
func (h *Handler) sessionCitizen(r *http.Request) (issuer.Citizen, error) {
	sess, err := h.session(r)
	if err != nil {
		return issuer.Citizen{}, err
	}
	c, err := h.store.Citizen(r.Context(), sess.CitizenID)
	if errors.Is(err, issuer.ErrNotFound) {
		return c, errNoSession
	}
	return c, err
}
