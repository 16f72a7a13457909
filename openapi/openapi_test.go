package openapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cedula/cedula/internal/httpapi"

	"github.com/cedula/cedula/openapi"
)

// TestDocuments: every document loads, is a valid OpenAPI 3.0.3 document,
// and is served as JSON and YAML with a docs page listing it.
func TestDocuments(t *testing.T) {
	ds, err := openapi.Docs()
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != len(openapi.Names) {
		t.Fatalf("got %d documents, want %d", len(ds), len(openapi.Names))
	}
	e := httpapi.New(httpapi.Config{}).Echo()
	if err := openapi.Mount(e); err != nil {
		t.Fatal(err)
	}
	get := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec
	}
	page := get(openapi.Prefix)
	if page.Code != 200 || !strings.HasPrefix(page.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("docs page: %d %q", page.Code, page.Header().Get("Content-Type"))
	}
	for _, d := range ds {
		if d.T.OpenAPI != "3.0.3" {
			t.Errorf("%s: openapi %q, want 3.0.3", d.Name, d.T.OpenAPI)
		}
		if !strings.Contains(page.Body.String(), `href="`+d.Name+`.json"`) {
			t.Errorf("docs page does not link %s.json", d.Name)
		}
		rec := get(openapi.Prefix + d.Name + ".json")
		var v map[string]any
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &v) != nil || v["openapi"] != "3.0.3" {
			t.Errorf("%s.json: %d, not the document", d.Name, rec.Code)
		}
		if rec := get(openapi.Prefix + d.Name + ".yaml"); rec.Code != http.StatusOK || !strings.HasPrefix(rec.Body.String(), "openapi: 3.0.3") {
			t.Errorf("%s.yaml: %d, not the document", d.Name, rec.Code)
		}
	}
}
