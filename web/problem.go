package web

import (
	"encoding/json"
	"net/http"
)

// Problem is an RFC 9457 problem details object. Title and Detail are
// meant for the citizen, in their language; they never carry internals
// (causes are logged, not sent).
type Problem struct {
	// Type is a URI naming the problem type; dereferenced, it gives a
	// page that explains it (RFC 9457 §3.1.1). Empty means "about:blank".
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Lang, when set, becomes the Content-Language header.
	Lang string `json:"-"`
}

// WriteProblem writes p as application/problem+json (RFC 9457 §3) with
// status p.Status. It is never cached.
func WriteProblem(w http.ResponseWriter, p Problem) {
	if p.Type == "" {
		p.Type = "about:blank"
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	if p.Lang != "" {
		h.Set("Content-Language", p.Lang)
	}
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}
