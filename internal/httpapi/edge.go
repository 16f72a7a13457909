package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cedula/cedula/internal/problem"
	"github.com/cedula/cedula/internal/reqid"
)

// Config configures the edge.
type Config struct {
	// BaseURL is the public URL; problem type URIs are BaseURL/problems/slug.
	BaseURL string
	Logger  *slog.Logger
	// Registry receives the request metrics; nil registers none.
	Registry prometheus.Registerer
	// Classifiers map the rooms' sentinel errors to public errors.
	Classifiers []Classifier
	// BodyLimit bounds JSON bodies (Bind); 0 means DefaultBodyLimit.
	BodyLimit int64
	// Language picks a request's language for what the APIs write for
	// people (Lang); nil means Spanish always.
	Language func(*http.Request) string
}

const langKey = "cedula.lang"

// Lang is the language of the request (es or en), as the edge's Language
// negotiates it.
func Lang(c Context) string {
	if f, ok := c.Get(langKey).(func(*http.Request) string); ok && f != nil {
		return f(c.Request())
	}
	return "es"
}

// Edge is the echo server with Cedula's middleware and error handler.
type Edge struct {
	e       *echo.Echo
	cfg     Config
	log     *slog.Logger
	metrics *metrics
}

const bodyLimitKey = "cedula.bodyLimit"

// New returns an edge with no routes.
func New(cfg Config) *Edge {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	ed := &Edge{e: e, cfg: cfg, log: cfg.Logger, metrics: newMetrics(cfg.Registry)}
	e.HTTPErrorHandler = ed.handleError
	e.Use(ed.middleware)
	return ed
}

// Echo is the server routes are added to (rooms' Mount methods take it).
func (ed *Edge) Echo() *echo.Echo { return ed.e }

// ServeHTTP serves a request.
func (ed *Edge) ServeHTTP(w http.ResponseWriter, r *http.Request) { ed.e.ServeHTTP(w, r) }

// Route names a request's route for logs and metrics: the template it
// matched ("/admin/citizens/:id/sessions"), or "unmatched".
func Route(c echo.Context) string {
	if p := c.Path(); p != "" {
		return p
	}
	return "unmatched"
}

// middleware gives every request an ID (the caller's X-Request-ID when it
// is a safe one), security headers, a body limit for Bind, an access log
// line without the query (it can carry codes and tokens) and metrics,
// answers a path with a NUL or bytes that are not UTF-8 with a 404, and
// turns a panic into a 500 problem.
func (ed *Edge) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		start := time.Now()
		r := c.Request()
		id := r.Header.Get("X-Request-ID")
		if !reqid.Valid(id) {
			id = reqid.New()
		}
		ctx := reqid.With(r.Context(), id)
		c.SetRequest(r.WithContext(ctx))
		h := c.Response().Header()
		h.Set("X-Request-ID", id)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		limit := ed.cfg.BodyLimit
		if limit <= 0 {
			limit = DefaultBodyLimit
		}
		c.Set(bodyLimitKey, limit)
		c.Set(langKey, ed.cfg.Language)
		defer func() {
			if p := recover(); p != nil {
				ed.log.ErrorContext(ctx, "panic", "panic", p, "route", Route(c))
				err = errors.New("panic in handler")
			}
			if err != nil {
				ed.handleError(err, c)
				err = nil
			}
			status := c.Response().Status
			route := Route(c)
			d := time.Since(start)
			ed.metrics.observe(route, status, d)
			ed.log.InfoContext(ctx, "request", "method", r.Method, "route", route, "status", status,
				"duration_ms", float64(d.Microseconds())/1000)
		}()
		// No resource is named with a NUL or bytes that are not UTF-8;
		// as a path parameter they would reach the database, which
		// (PostgreSQL) answers them with an error rather than no row.
		if p := r.URL.Path; strings.IndexByte(p, 0) >= 0 || !utf8.ValidString(p) {
			return &Error{Status: http.StatusNotFound, Slug: "not-found", Title: "Not found", Detail: "there is nothing at this address"}
		}
		return next(c)
	}
}

// handleError is the one place where an error becomes a response.
func (ed *Edge) handleError(err error, c echo.Context) {
	ctx := c.Request().Context()
	if c.Response().Committed {
		ed.log.WarnContext(ctx, "error after the response began", "err", err)
		return
	}
	var oe *OAuthError
	if errors.As(err, &oe) {
		ed.logCause(ctx, oe.Status, oe.Cause)
		h := c.Response().Header()
		if oe.Challenge != "" {
			h.Set("WWW-Authenticate", oe.Challenge)
		}
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		c.Response().WriteHeader(oe.Status)
		json.NewEncoder(c.Response()).Encode(map[string]string{"error": oe.Code, "error_description": oe.Description})
		return
	}
	pe := classify(err, ed.cfg.Classifiers)
	var he *echo.HTTPError
	if pe == nil && errors.As(err, &he) {
		pe = fromEcho(he)
	}
	if pe == nil {
		pe = &Error{Status: http.StatusInternalServerError, Slug: "server-error", Title: "Internal error", Cause: err}
	}
	// A server error says nothing of its cause; only an unavailability
	// written for the client (503 with a detail: try again later) is sent
	// as it is.
	if pe.Status == http.StatusInternalServerError || (pe.Status >= 500 && pe.Detail == "") {
		pe = &Error{Status: pe.Status, Slug: pe.Slug, Title: "Internal error", Cause: pe.Cause,
			Detail: "Something went wrong on our side. Quote request ID " + reqid.From(ctx) + "."}
	}
	ed.logCause(ctx, pe.Status, pe.Cause)
	if pe.Challenge != "" {
		c.Response().Header().Set("WWW-Authenticate", pe.Challenge)
	}
	typ := ""
	if pe.Slug != "" {
		typ = ed.cfg.BaseURL + "/problems/" + pe.Slug
	}
	problem.Write(c.Response(), problem.Problem{Type: typ, Title: pe.Title, Status: pe.Status, Detail: pe.Detail, Lang: "en"})
}

// logCause logs why a request failed: causes of server errors at error
// level, of refusals at info level.
func (ed *Edge) logCause(ctx context.Context, status int, cause error) {
	switch {
	case cause == nil:
	case status >= 500:
		ed.log.ErrorContext(ctx, "request failed", "status", status, "err", cause)
	default:
		ed.log.InfoContext(ctx, "request refused", "status", status, "err", cause)
	}
}

// fromEcho maps echo's own errors (no route, wrong method, …).
func fromEcho(he *echo.HTTPError) *Error {
	switch he.Code {
	case http.StatusNotFound:
		return &Error{Status: http.StatusNotFound, Slug: "not-found", Title: "Not found", Detail: "there is nothing at this address"}
	case http.StatusMethodNotAllowed:
		return &Error{Status: http.StatusMethodNotAllowed, Slug: "method-not-allowed", Title: "Method not allowed",
			Detail: "this address does not take that method"}
	case http.StatusRequestEntityTooLarge:
		return &Error{Status: he.Code, Slug: "too-large", Title: "Request too large", Detail: "the body is too large"}
	}
	if he.Code >= 500 {
		return &Error{Status: he.Code, Title: "Internal error", Cause: he}
	}
	return &Error{Status: he.Code, Title: http.StatusText(he.Code), Detail: http.StatusText(he.Code), Cause: he}
}

// metrics are the request counters and latency histograms by route
// template.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cedula_http_requests_total", Help: "HTTP requests by route template and status class.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "cedula_http_request_duration_seconds", Help: "HTTP request latency by route template.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"route"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.latency)
	}
	return m
}

func (m *metrics) observe(route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status/100)+"xx").Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

// The echo types rooms' APIs use, so that no room imports echo itself:
// the edge is the one place the framework is chosen.
type (
	Context        = echo.Context
	HandlerFunc    = echo.HandlerFunc
	MiddlewareFunc = echo.MiddlewareFunc
	Echo           = echo.Echo
	Group          = echo.Group
)

// WrapHandler adapts a net/http handler (the OpenID provider's, the
// pages') to a route.
func WrapHandler(h http.Handler) HandlerFunc { return echo.WrapHandler(h) }
