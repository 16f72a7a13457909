package pages

import (
	"net/http"
	"time"

	"github.com/cedula/cedula/web"
)

// switchLang serves GET /lang?to=en&next=…: the visible language switch.
// It sets the lang cookie and returns to next, a path on this site.
func (h *Handler) switchLang(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	to := q.Get("to")
	if !web.Supported(to) {
		h.errorPage(w, r, web.Negotiate(r), probBadRequest)
		return
	}
	h.setCookie(w, web.LangCookie, to, 365*24*time.Hour, http.SameSiteLaxMode)
	next := q.Get("next")
	if !localPath(next) {
		next = "/login"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}
