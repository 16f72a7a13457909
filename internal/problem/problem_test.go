package problem

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	w := httptest.NewRecorder()
	Write(w, Problem{Type: "https://id.example.gob/problems/csrf", Title: "La página caducó", Status: 403, Detail: "Recarga.", Lang: "es"})
	if w.Code != 403 {
		t.Errorf("status: got %d, want 403", w.Code)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("content type: got %q, want application/problem+json", ct)
	}
	if cl := w.Header().Get("Content-Language"); cl != "es" {
		t.Errorf("content language: got %q, want es", cl)
	}
	var got map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"type": "https://id.example.gob/problems/csrf", "title": "La página caducó", "status": 403.0, "detail": "Recarga."}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %v, want %v", k, got[k], v)
		}
	}
	w = httptest.NewRecorder()
	Write(w, Problem{Title: "x", Status: 400})
	if !strings.Contains(w.Body.String(), `"type":"about:blank"`) {
		t.Errorf("empty type: got %s, want about:blank", w.Body)
	}
}
