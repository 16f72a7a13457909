package pages

import (
	"net/http"
	"strings"

	"github.com/cedula/cedula/web"
)

// AuthorizeReason says why an agency's authorization request stopped at
// Cedula; the page says it in plain words.
type AuthorizeReason string

// The reasons an authorization request stops where the error cannot be
// sent back to the agency (OIDC Core §3.1.2.6, RFC 6749 §4.1.2.1).
const (
	// ReasonClient: client_id is missing or names no registered agency.
	ReasonClient AuthorizeReason = "client"
	// ReasonRedirectURI: redirect_uri is missing or not registered for the
	// agency, so nothing may be sent there.
	ReasonRedirectURI AuthorizeReason = "redirect-uri"
	// ReasonRequestURI: the pushed request the request_uri names is
	// unknown, used, expired or another agency's (RFC 9126 §4).
	ReasonRequestURI AuthorizeReason = "request-uri"
	// ReasonExpired: the sign-in request the browser returns with is
	// unknown or has expired.
	ReasonExpired AuthorizeReason = "expired"
	// ReasonMalformed: any other flaw of the request.
	ReasonMalformed AuthorizeReason = "malformed"
	// ReasonServer: Cedula failed; the request may have been fine.
	ReasonServer AuthorizeReason = "server"
)

// AuthorizeError is an authorization error to show the citizen.
type AuthorizeError struct {
	Status int    // the HTTP status: 400, 404, or 500 for ReasonServer
	Code   string // the RFC 6749 §4.1.2.1 error code, shown for the agency's support
	Reason AuthorizeReason
}

// AuthorizeError answers an agency's authorization request that cannot go
// on and whose error cannot be sent back to the agency: a page in the
// citizen's language (their switch, then the request's ui_locales, OIDC
// Core §3.1.2.1, then Accept-Language) that says why in plain words and
// gives the error code, with e.Status and never a redirect.
func (h *Handler) AuthorizeError(w http.ResponseWriter, r *http.Request, e AuthorizeError) {
	lang := web.Negotiate(r, strings.Fields(r.FormValue("ui_locales"))...)
	key := "authorize." + string(e.Reason)
	if e.Reason == ReasonServer {
		key = "problem." + probServer
	} else if !web.Has(key + ".title") {
		key = "authorize." + string(ReasonMalformed)
	}
	status := e.Status
	if status < 400 || status > 599 {
		status = http.StatusBadRequest
	}
	h.log.InfoContext(r.Context(), "pages: authorization request refused", "path", r.URL.Path, "status", status,
		"error", publicCode(e.Code), "reason", string(e.Reason))
	h.page(w, r, status, "error", web.NewPage(w, r, h.csrf, lang, key+".title",
		errorData{Detail: key + ".detail", Code: publicCode(e.Code)}))
}

// publicCode returns an error code fit to show: RFC 6749 §4.1.2.1 codes
// are a few lowercase ASCII words joined by underscores; anything else is
// shown as invalid_request.
func publicCode(code string) string {
	if code == "" || len(code) > 64 {
		return "invalid_request"
	}
	for _, c := range code {
		if (c < 'a' || c > 'z') && c != '_' {
			return "invalid_request"
		}
	}
	return code
}
