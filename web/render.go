package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

// FieldError is one entry of a page's error summary. For names the id of
// the field at fault, so the summary can link to it (WCAG 2.2 SC 3.3.1).
type FieldError struct {
	For     string
	Message string // already in the page's language
}

// Page is what every template receives. Handlers fill Title and whatever
// their template reads from Data; NewPage fills the rest.
type Page struct {
	Lang  string
	Title string // catalog key of the page's title
	CSRF  string // token for forms and for webauthn.js
	Path  string // where the language switch returns to
	// Errors fill the error summary at the top of the page (role=alert).
	Errors []FieldError
	// Notice is a confirmation shown in a status region.
	Notice string
	// Confirm marks Notice as the confirmation of what the citizen just
	// did (a passkey created, a consent withdrawn): the notice takes the
	// focus when the page loads, so that a screen reader reads it out at
	// once (WCAG 2.2 SC 4.1.3) — a live region that a page loads already
	// filled is not announced.
	Confirm bool
	Data    any
}

// NewPage starts a page for r in lang, with a CSRF token.
func NewPage(w http.ResponseWriter, r *http.Request, csrf CSRF, lang, title string, data any) *Page {
	path := r.URL.Path
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		path = r.URL.RequestURI()
	}
	return &Page{Lang: lang, Title: title, CSRF: csrf.Token(w, r), Path: path, Data: data}
}

// T translates key into the page's language.
func (p *Page) T(key string, args ...any) string { return T(p.Lang, key, args...) }

// Date formats t in the page's language.
func (p *Page) Date(t time.Time) string { return Date(p.Lang, t) }

// Langs lists the languages the switch offers.
func (p *Page) Langs() []string { return Langs }

// LangURL is the language switch's link to lang, returning to this page.
func (p *Page) LangURL(lang string) string {
	return "/lang?to=" + url.QueryEscape(lang) + "&next=" + url.QueryEscape(p.Path)
}

// Renderer executes the embedded templates inside the common layout.
type Renderer struct {
	pages map[string]*template.Template
}

// NewRenderer parses the embedded templates: layout.html and one file per
// page, named after the page.
func NewRenderer() (*Renderer, error) {
	layout, err := template.ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("web: parse layout: %w", err)
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	r := &Renderer{pages: map[string]*template.Template{}}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, fmt.Errorf("web: parse %s: %w", n, err)
		}
		r.pages[name] = t
	}
	return r, nil
}

// Has reports whether there is a page template called name.
func (r *Renderer) Has(name string) bool {
	_, ok := r.pages[name]
	return ok
}

// ContentSecurityPolicy is sent with every page: scripts and styles only
// from Cedula's own static files, no framing. form-action is left open
// because the consent form's answer redirects to the agency.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; base-uri 'none'; frame-ancestors 'none'"

// Render writes page p with template name and HTTP status. Pages are never
// cached: they carry CSRF tokens and personal data. An error means a bug
// in a template (the tests render every page in both languages); a bare
// 500 has then been written, and the caller should log the error.
func (r *Renderer) Render(w http.ResponseWriter, status int, name string, p *Page) error {
	t, ok := r.pages[name]
	if !ok {
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return fmt.Errorf("web: no page template %q", name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return fmt.Errorf("web: render %s: %w", name, err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Language", p.Lang)
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	// Enrolment links carry their token in the path: never pass it on.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Vary", "Cookie, Accept-Language")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
	return nil
}

//go:embed static
var staticFS embed.FS

// Static serves the embedded static files; mount it at /static/.
func Static() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") { // no directory listings
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
}
