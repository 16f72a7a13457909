package pages

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/cedula/cedula/internal/problem"
	"github.com/cedula/cedula/internal/ratelimit"

	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/passkey"
	"github.com/cedula/cedula/web"
)

// Problem types: each has a status, a title and a detail in the catalog
// (problem.<slug>.title, .detail), and a page at /problems/<slug> that its
// type URI names (RFC 9457 §3.1.1).
const (
	probMalformed       = "malformed-request"
	probBadRequest      = "bad-request"
	probCSRF            = "csrf"
	probRateLimited     = "rate-limited"
	probCeremony        = "ceremony-expired"
	probWebAuthn        = "webauthn-failed"
	probUV              = "user-verification"
	probUnknownPasskey  = "unknown-passkey"
	probAAGUID          = "authenticator-not-allowed"
	probRefused         = "passkey-refused"
	probExists          = "passkey-exists"
	probSession         = "session-required"
	probEnrolInvalid    = "enrolment-invalid"
	probEnrolExpired    = "enrolment-expired"
	probEnrolUsed       = "enrolment-used"
	probAuthRequest     = "auth-request-unknown"
	probRecoveryExpired = "recovery-expired"
	probOfferInvalid    = "offer-invalid"
	probNotFound        = "not-found"
	probServer          = "server-error"
)

var problemStatus = map[string]int{
	probMalformed:       http.StatusBadRequest,
	probBadRequest:      http.StatusBadRequest,
	probCSRF:            http.StatusForbidden,
	probRateLimited:     http.StatusTooManyRequests,
	probCeremony:        http.StatusBadRequest,
	probWebAuthn:        http.StatusBadRequest,
	probUV:              http.StatusBadRequest,
	probUnknownPasskey:  http.StatusBadRequest,
	probAAGUID:          http.StatusForbidden,
	probRefused:         http.StatusForbidden,
	probExists:          http.StatusConflict,
	probSession:         http.StatusUnauthorized,
	probEnrolInvalid:    http.StatusNotFound,
	probEnrolExpired:    http.StatusGone,
	probEnrolUsed:       http.StatusGone,
	probAuthRequest:     http.StatusNotFound,
	probRecoveryExpired: http.StatusUnauthorized,
	probOfferInvalid:    http.StatusNotFound,
	probNotFound:        http.StatusNotFound,
	probServer:          http.StatusInternalServerError,
}

// Errors of the pages' own, mapped like the sentinels of other packages.
var (
	errMalformed = errors.New("pages: malformed request body")
	errNoSession = errors.New("pages: no session")
	errRecovery  = errors.New("pages: no recovery in progress")
)

// classify maps an error to its problem type. Anything it does not know is
// a server error: the cause is logged and the citizen told nothing more.
func classify(err error) string {
	switch {
	case errors.Is(err, errMalformed), errors.Is(err, passkey.ErrMalformed):
		return probMalformed
	case errors.Is(err, web.ErrCSRF):
		return probCSRF
	case errors.Is(err, passkey.ErrCeremony):
		return probCeremony
	case errors.Is(err, passkey.ErrUserVerification):
		return probUV
	case errors.Is(err, passkey.ErrUnknownCredential):
		return probUnknownPasskey
	case errors.Is(err, passkey.ErrAAGUID):
		return probAAGUID
	case errors.Is(err, passkey.ErrVerification):
		return probWebAuthn
	case errors.Is(err, issuer.ErrCounter):
		return probRefused
	case errors.Is(err, issuer.ErrExists):
		return probExists
	case errors.Is(err, errNoSession):
		return probSession
	case errors.Is(err, errRecovery):
		return probRecoveryExpired
	}
	return probServer
}

// logFailure logs why a request failed: causes of server errors at error
// level, refusals at info level. Error texts hold no credential IDs, codes
// or tokens (passkey and the stores never put them there).
func (h *Handler) logFailure(r *http.Request, slug string, err error) {
	if err == nil {
		return
	}
	if problemStatus[slug] >= 500 {
		h.log.ErrorContext(r.Context(), "pages: request failed", "path", r.URL.Path, "err", err)
		return
	}
	h.log.InfoContext(r.Context(), "pages: request refused", "path", r.URL.Path, "problem", slug, "err", err)
}

func (h *Handler) problemType(slug string) string { return h.baseURL + "/problems/" + slug }

// fail answers a JSON call with problem JSON in the citizen's language.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, lang string, err error) {
	h.problem(w, r, lang, classify(err), err)
}

func (h *Handler) problem(w http.ResponseWriter, r *http.Request, lang, slug string, cause error) {
	h.logFailure(r, slug, cause)
	if slug == probRateLimited {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	}
	problem.Write(w, problem.Problem{
		Type:   h.problemType(slug),
		Title:  web.T(lang, "problem."+slug+".title"),
		Status: problemStatus[slug],
		Detail: web.T(lang, "problem."+slug+".detail"),
		Lang:   lang,
	})
}

type errorData struct {
	Detail    string // catalog key
	Code      string // an OAuth error code to show; empty for none
	Back      string // a link onwards; empty for none
	BackLabel string // catalog key
}

// errorPage answers a page request with the page of problem slug.
func (h *Handler) errorPage(w http.ResponseWriter, r *http.Request, lang, slug string) {
	h.errorPageBack(w, r, lang, slug, "/login", "problem.back", nil)
}

// failPage answers a page request for err.
func (h *Handler) failPage(w http.ResponseWriter, r *http.Request, lang string, err error) {
	slug := classify(err)
	h.errorPageBack(w, r, lang, slug, "/login", "problem.back", err)
}

func (h *Handler) errorPageBack(w http.ResponseWriter, r *http.Request, lang, slug, back, backLabel string, cause error) {
	h.logFailure(r, slug, cause)
	if slug == probRateLimited {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	}
	h.page(w, r, problemStatus[slug], "error", web.NewPage(w, r, h.csrf, lang, "problem."+slug+".title",
		errorData{Detail: "problem." + slug + ".detail", Back: back, BackLabel: backLabel}))
}

// page renders p, logging a template failure (a bug).
func (h *Handler) page(w http.ResponseWriter, r *http.Request, status int, name string, p *web.Page) {
	if err := h.render.Render(w, status, name, p); err != nil {
		h.log.ErrorContext(r.Context(), "pages: render", "page", name, "err", err)
	}
}

// problemPage serves /problems/{slug}: what a problem type means.
func (h *Handler) problemPage(w http.ResponseWriter, r *http.Request) {
	lang := web.Negotiate(r)
	slug := r.PathValue("slug")
	if _, ok := problemStatus[slug]; !ok {
		h.errorPage(w, r, lang, probNotFound)
		return
	}
	h.page(w, r, http.StatusOK, "error", web.NewPage(w, r, h.csrf, lang, "problem."+slug+".title",
		errorData{Detail: "problem." + slug + ".detail", Back: "/login", BackLabel: "problem.back"}))
}

// maxBody bounds JSON bodies: a credential is a few kilobytes.
const maxBody = 64 << 10

// api starts a JSON call: rate limit (when lim is not nil), CSRF, and a
// body that is one JSON object decoded into v. It answers the problem and
// returns false when the call must stop.
func (h *Handler) api(w http.ResponseWriter, r *http.Request, lang string, lim *ratelimit.Limiter, v any) bool {
	if lim != nil && !lim.Allow(h.clientIP(r)) {
		h.problem(w, r, lang, probRateLimited, nil)
		return false
	}
	if err := h.csrf.Check(r); err != nil {
		h.problem(w, r, lang, probCSRF, err)
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		h.problem(w, r, lang, probMalformed, errors.Join(errMalformed, err))
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		h.problem(w, r, lang, probMalformed, errors.Join(errMalformed, errors.New("trailing data")))
		return false
	}
	return true
}

// emptyRequest is the body of a begin call: an empty object. A JSON
// null, array or other value is malformed.
type emptyRequest struct{}

func (e *emptyRequest) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return errors.New("want a JSON object")
	}
	return nil
}

// finishRequest is the body of a finish call.
type finishRequest struct {
	// Credential is the PublicKeyCredential in its JSON form (WebAuthn L3
	// §5.1.8, §5.1.9).
	Credential    json.RawMessage `json:"credential"`
	AuthRequestID string          `json:"authRequestID"`
	Name          string          `json:"name"`
	RemoveOthers  bool            `json:"removeOthers"`
}

func (f *finishRequest) UnmarshalJSON(b []byte) error {
	type plain finishRequest
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	if len(p.Credential) == 0 || string(p.Credential) == "null" {
		return errors.New("credential is missing")
	}
	*f = finishRequest(p)
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// finished is the answer to a successful finish call.
type finished struct {
	Redirect      string   `json:"redirect"`
	RecoveryCodes []string `json:"recoveryCodes,omitempty"`
}
