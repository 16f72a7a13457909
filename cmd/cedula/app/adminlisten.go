package app

import (
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The admin listener (config admin_listen, loopback by default) serves what
// tells about the process itself — Prometheus metrics, Go's pprof profiles —
// apart from the public listener, with the health probes on both (load
// balancers probe the public one).

// adminHandler returns the admin listener's handler: /metrics from reg,
// pprof, /healthz and /readyz; anything else is a 404 problem.
func (s *Server) adminHandler(reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", healthz)
	mux.HandleFunc("GET /readyz", s.ready)
	// pprof.Index also serves the named profiles (heap, goroutine, …).
	// Not /debug/pprof/cmdline: the command line can hold a database URL
	// with its password.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /debug/pprof/cmdline", notFound)
	mux.HandleFunc("/", notFound)
	return mux
}

// AdminHandler is the handler of the admin listener.
func (s *Server) AdminHandler() http.Handler { return s.admin }

func healthz(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) }

func notFound(w http.ResponseWriter, _ *http.Request) {
	writeProblem(w, http.StatusNotFound, "Not found", "there is nothing at this path")
}
