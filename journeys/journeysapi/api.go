// Package journeysapi serves the journeys room on the edge: the agencies'
// journeys API (openapi/journeys.yaml, scope cedula:journeys) — define,
// read and retire journeys, count their reach, push what the agency knows
// of citizens — and the public check of messages citizens receive ("did
// this really come from the government?"), a page at /check in Spanish and
// English and its API POST /messages/check (openapi/messages.yaml), open
// to anyone without login, limited per address.
package journeysapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/internal/ratelimit"
	"github.com/cedula/cedula/internal/scopes"
	"github.com/cedula/cedula/journeys"
	"github.com/cedula/cedula/journeys/delivery"
	"github.com/cedula/cedula/web"
)

// Checks is how many checks an address may make: 30, then one every two
// seconds — plenty for people, too few to walk the code space.
var Checks = ratelimit.Rate{N: 30, Per: time.Minute}

// Config is what the API is built from.
type Config struct {
	Journeys *journeys.Service // required
	Guard    httpapi.Guard     // required
	// Subjects maps an agency's pairwise sub to the citizen.
	Subjects Subjects        // required
	Seals    *journeys.Seals // required
	// Outbox, when there is one, is whose dead letters agencies see.
	Outbox *delivery.Service
	// AgencyName names an agency for people (its ID when it has none).
	AgencyName func(ctx context.Context, id string) string // required
	Renderer   *web.Renderer                               // required
	// Secure marks the form's cookie Secure (https).
	Secure bool
	// ClientIP names the caller for the limit (default: RemoteAddr's).
	ClientIP func(*http.Request) string
	Now      func() time.Time
}

// API serves the check.
type API struct {
	cfg   Config
	limit *ratelimit.Limiter
	csrf  web.CSRF
}

// New checks cfg.
func New(cfg Config) (*API, error) {
	if err := httpapi.CheckConfig("journeysapi", map[string]bool{"Seals": cfg.Seals != nil, "AgencyName": cfg.AgencyName != nil,
		"Renderer": cfg.Renderer != nil, "Journeys": cfg.Journeys != nil, "Guard": cfg.Guard.Auth != nil, "Subjects": cfg.Subjects != nil}); err != nil {
		return nil, err
	}
	if cfg.ClientIP == nil {
		cfg.ClientIP = ratelimit.RemoteIP
	}
	return &API{cfg: cfg, limit: ratelimit.New(Checks, cfg.Now), csrf: web.CSRF{Secure: cfg.Secure}}, nil
}

// Mount adds the routes.
func (a *API) Mount(e *httpapi.Echo) {
	e.POST("/messages/check", a.checkAPI)
	e.GET("/check", httpapi.WrapHandler(http.HandlerFunc(a.page)))
	e.POST("/check", httpapi.WrapHandler(http.HandlerFunc(a.page)))
	g := a.cfg.Guard.Scope(scopes.Journeys)
	e.GET("/journeys", a.list, g)
	e.GET("/journeys/:id", a.get, g)
	e.PUT("/journeys/:id", a.put, g)
	e.DELETE("/journeys/:id", a.retire, g)
	e.POST("/journeys/:id/dry-run", a.dryRun, g)
	e.PUT("/journeys/registry/:sub", a.push, g)
	if a.cfg.Outbox != nil {
		e.GET("/journeys/outbox/dead", a.deadLetters, g)
		e.POST("/journeys/outbox/dead/:delivery/retry", a.requeue, g)
		e.DELETE("/journeys/outbox/dead/:delivery", a.discard, g)
	}
	e.POST("/alerts", a.alert, a.cfg.Guard.Scope(scopes.Alerts))
}

// checkRequest is the body of POST /messages/check.
type checkRequest struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Agency names the sender of a genuine message.
type Agency struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// CheckResult is the answer of POST /messages/check.
type CheckResult struct {
	Genuine bool       `json:"genuine"`
	Agency  *Agency    `json:"agency,omitempty"`
	Sent    *time.Time `json:"sent,omitempty"`
	// TextMatches, when a message was given, says whether it is the one
	// sent with the code.
	TextMatches *bool `json:"text_matches,omitempty"`
}

// tooMany answers a caller past the limit.
func (a *API) tooMany(w http.ResponseWriter) *httpapi.Error {
	w.Header().Set("Retry-After", strconv.Itoa(int(a.limit.Refill().Seconds())+1))
	return httpapi.Problem(http.StatusTooManyRequests, "Too many requests", "too many checks from this address; try again in a moment")
}

func (a *API) checkAPI(c httpapi.Context) error {
	r := c.Request()
	if !a.limit.Allow(a.cfg.ClientIP(r)) {
		return a.tooMany(c.Response())
	}
	var in checkRequest
	if err := httpapi.Bind(c, &in); err != nil {
		return err
	}
	if strings.TrimSpace(in.Code) == "" && strings.TrimSpace(in.Message) == "" {
		return httpapi.BadRequest("give the code, the message, or both")
	}
	if len(in.Code) > 64 || len(in.Message) > journeys.MaxMessage {
		return httpapi.BadRequest("the code or the message is too long")
	}
	v, err := a.cfg.Seals.Check(r.Context(), in.Code, in.Message)
	if err != nil {
		return err
	}
	out := CheckResult{Genuine: v.Genuine, TextMatches: v.TextMatches}
	if v.Genuine {
		out.Agency = &Agency{ID: v.Agency, Name: a.cfg.AgencyName(r.Context(), v.Agency)}
		out.Sent = &v.Sent
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return httpapi.JSON(c, http.StatusOK, out)
}

// pageVerdict is a check's outcome as the page shows it.
type pageVerdict struct {
	Genuine                  bool
	AgencyName               string
	Sent                     time.Time
	TextChecked, TextMatches bool
}

type pageData struct {
	Code, Message string
	Verdict       *pageVerdict
}

// formTooLarge reads the form of r, and reports whether it was cut short
// by the body's limit.
func formTooLarge(r *http.Request) bool {
	err := r.ParseForm() // a multipart body is left for the next
	if err == nil {
		if err = r.ParseMultipartForm(2 * journeys.MaxMessage); errors.Is(err, http.ErrNotMultipart) {
			err = nil
		}
	}
	var tooLarge *http.MaxBytesError
	return errors.As(err, &tooLarge)
}

// page serves GET /check (the form) and POST /check (the form's answer).
func (a *API) page(w http.ResponseWriter, r *http.Request) {
	lang := web.Negotiate(r)
	data := pageData{}
	status := http.StatusOK
	var errs []web.FieldError
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, 2*journeys.MaxMessage)
		switch {
		case !a.limit.Allow(a.cfg.ClientIP(r)):
			w.Header().Set("Retry-After", strconv.Itoa(int(a.limit.Refill().Seconds())+1))
			status = http.StatusTooManyRequests
			errs = append(errs, web.FieldError{Message: web.T(lang, "problem.rate-limited.detail")})
		case formTooLarge(r):
			// Not the form's token missing: the form was cut short.
			status = http.StatusRequestEntityTooLarge
			errs = append(errs, web.FieldError{For: "message", Message: web.T(lang, "check.too_large")})
		case a.csrf.Check(r) != nil:
			status = http.StatusForbidden
			errs = append(errs, web.FieldError{Message: web.T(lang, "problem.csrf.detail")})
		default:
			data.Code, data.Message = r.PostFormValue("code"), r.PostFormValue("message")
			if strings.TrimSpace(data.Code) == "" && strings.TrimSpace(data.Message) == "" {
				status = http.StatusBadRequest
				errs = append(errs, web.FieldError{For: "code", Message: web.T(lang, "check.empty")})
				break
			}
			v, err := a.cfg.Seals.Check(r.Context(), data.Code, data.Message)
			if err != nil {
				http.Error(w, "the check failed; try again later", http.StatusServiceUnavailable)
				return
			}
			pv := &pageVerdict{Genuine: v.Genuine, Sent: v.Sent, TextChecked: v.TextMatches != nil}
			if v.Genuine {
				pv.AgencyName = a.cfg.AgencyName(r.Context(), v.Agency)
			}
			if v.TextMatches != nil {
				pv.TextMatches = *v.TextMatches
			}
			data.Verdict = pv
		}
	}
	p := web.NewPage(w, r, a.csrf, lang, "check.title", data)
	p.Errors = errs
	_ = a.cfg.Renderer.Render(w, status, "check", p)
}
