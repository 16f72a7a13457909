package browsertest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cedula/cedula/internal/browsertest"
)

// TestAxeFindsViolations checks the checker: a page with known faults must
// come back with them.
func TestAxeFindsViolations(t *testing.T) {
	ctx := browsertest.Start(t, time.Minute)
	axe := browsertest.AxeSource(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/bad":
			// No lang, no title, an image without alt text, an input
			// without a label.
			fmt.Fprint(w, `<!doctype html><html><body><img src="/x.png"><input type="text"></body></html>`)
		default:
			fmt.Fprint(w, `<!doctype html><html lang="en"><head><title>Fine</title></head><body><main><h1>Fine</h1>`+
				`<label for="a">Name</label><input id="a" type="text"></main></body></html>`)
		}
	}))
	defer srv.Close()

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/bad")); err != nil {
		t.Fatal(err)
	}
	vs, err := browsertest.Axe(ctx, axe)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, v := range vs {
		ids = append(ids, v.ID)
	}
	for _, want := range []string{"html-has-lang", "document-title", "image-alt", "label"} {
		if !slices.Contains(ids, want) {
			t.Errorf("violations: got %v, want %s among them", ids, want)
		}
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/good")); err != nil {
		t.Fatal(err)
	}
	if vs, err := browsertest.Axe(ctx, axe); err != nil || len(vs) != 0 {
		t.Errorf("good page: got %v, %v; want no violations", vs, err)
	}
}

func TestVirtualAuthenticator(t *testing.T) {
	ctx := browsertest.Start(t, time.Minute)
	id, err := browsertest.AddAuthenticator(ctx)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := browsertest.Credentials(ctx, id)
	if err != nil || len(creds) != 0 {
		t.Errorf("new authenticator: got %d credentials, %v; want none", len(creds), err)
	}
	if err := browsertest.SetPresence(ctx, id, false); err != nil {
		t.Errorf("presence: %v", err)
	}
	if err := browsertest.SetUserVerified(ctx, id, false); err != nil {
		t.Errorf("user verification: %v", err)
	}
}
