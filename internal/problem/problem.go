// Package problem writes RFC 9457 problem details: the one place where a
// refusal becomes application/problem+json, shared by the HTTP edge
// (internal/httpapi), the pages (web) and the rooms' APIs. Titles and
// details are for the reader; causes never go in them.
package problem

import (
	"encoding/json"
	"net/http"
)

// Problem is an RFC 9457 problem details object (§3.1).
type Problem struct {
	// Type is a URI naming the problem type; dereferenced, it explains it
	// (§3.1.1). Empty means "about:blank".
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Instance identifies this occurrence (§3.1.5): the request ID.
	Instance string `json:"instance,omitempty"`
	// Lang, when set, becomes the Content-Language header.
	Lang string `json:"-"`
}

// ContentType is the media type of a problem (§6.1).
const ContentType = "application/problem+json"

// Write writes p with status p.Status. It is never cached.
func Write(w http.ResponseWriter, p Problem) {
	if p.Type == "" {
		p.Type = "about:blank"
	}
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("Cache-Control", "no-store")
	if p.Lang != "" {
		h.Set("Content-Language", p.Lang)
	}
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}
