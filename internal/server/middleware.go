package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cedula/cedula/audit"
)

// RequestID returns the request's ID, set by the middleware.
func RequestID(ctx context.Context) string { return audit.RequestIDFrom(ctx) }

// validRequestID reports whether a caller's X-Request-ID may be kept: it
// ends up in logs and in audit entries, so only 1–64 characters of
// [A-Za-z0-9._:-], which cannot carry markup or much else.
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range []byte(id) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// httpMetrics are the request counters and latency histograms.
type httpMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cedula_http_requests_total", Help: "HTTP requests by route and status class.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "cedula_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// routeOf names a request's route for metrics without unbounded labels.
func routeOf(path string) string {
	for _, p := range []string{"/.well-known/", "/authorize", "/oauth/token", "/oauth/introspect", "/userinfo",
		"/revoke", "/end_session", "/keys", "/login", "/consent", "/enrol/", "/account", "/recover", "/admin/",
		"/static/", "/healthz", "/readyz", "/metrics", "/demo", "/audit/"} {
		if len(path) >= len(p) && path[:len(p)] == p {
			return p
		}
	}
	return "other"
}

// middleware adds a request ID, security headers, an access log line without
// personal data or tokens, metrics, and turns a panic into a 500 problem.
func middleware(next http.Handler, log *slog.Logger, m *httpMetrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-ID")
		if !validRequestID(id) {
			b := make([]byte, 8)
			rand.Read(b)
			id = hex.EncodeToString(b)
		}
		ctx := audit.WithRequestID(r.Context(), id)
		sw := &statusWriter{ResponseWriter: w}
		h := sw.Header()
		h.Set("X-Request-ID", id)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		defer func() {
			if p := recover(); p != nil {
				log.ErrorContext(ctx, "panic", "panic", p)
				if sw.status == 0 {
					writeProblem(sw, http.StatusInternalServerError, "Internal error", "Something went wrong on our side. Quote request ID "+id+".")
				}
			}
			route := routeOf(r.URL.Path)
			d := time.Since(start)
			m.requests.WithLabelValues(route, strconv.Itoa(sw.status/100)+"xx").Inc()
			m.latency.WithLabelValues(route).Observe(d.Seconds())
			// The path only, never the query: it can carry codes and tokens.
			log.InfoContext(ctx, "request", "method", r.Method, "route", route,
				"status", sw.status, "duration_ms", float64(d.Microseconds())/1000)
		}()
		next.ServeHTTP(sw, r.WithContext(ctx))
	})
}
