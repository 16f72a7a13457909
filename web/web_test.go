package web

import (
	"html/template"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Every key a template names ({{.T "key"}}, {{$.T "key"}}) must exist,
// and every catalog entry must be filled in both languages.
func TestCatalogComplete(t *testing.T) {
	for key, m := range catalog {
		if strings.TrimSpace(m[0]) == "" || strings.TrimSpace(m[1]) == "" {
			t.Errorf("catalog %q: got es %q en %q, want both filled", key, m[0], m[1])
		}
		if strings.Count(m[0], "%") != strings.Count(m[1], "%") {
			t.Errorf("catalog %q: got %d verbs in es and %d in en, want the same", key, strings.Count(m[0], "%"), strings.Count(m[1], "%"))
		}
	}
	used := regexp.MustCompile(`\.T "([^"]+)"`)
	files, _ := fs.Glob(templateFS, "templates/*.html")
	for _, f := range files {
		b, _ := fs.ReadFile(templateFS, f)
		for _, m := range used.FindAllStringSubmatch(string(b), -1) {
			if !Has(m[1]) {
				t.Errorf("%s uses %q: got no catalog entry, want one", f, m[1])
			}
		}
	}
}

func TestNegotiate(t *testing.T) {
	tests := []struct {
		name, cookie, accept string
		hints                []string
		want                 string
	}{
		{"default", "", "", nil, "es"},
		{"accept en", "", "en-GB,en;q=0.9", nil, "en"},
		{"accept es-CL", "", "es-CL,es;q=0.9,en;q=0.8", nil, "es"},
		{"accept prefers en by q", "", "es;q=0.5,en;q=0.9", nil, "en"},
		{"accept unsupported", "", "fr-FR,de;q=0.8", nil, "es"},
		{"accept garbage", "", ";;;,,q=x", nil, "es"},
		{"cookie wins", "en", "es", []string{"es"}, "en"},
		{"bad cookie ignored", "xx", "en", nil, "en"},
		{"hint over accept", "", "es", []string{"en-US"}, "en"},
		{"unsupported hint skipped", "", "en", []string{"fr"}, "en"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if tc.cookie != "" {
				r.AddCookie(&http.Cookie{Name: LangCookie, Value: tc.cookie})
			}
			if tc.accept != "" {
				r.Header.Set("Accept-Language", tc.accept)
			}
			if got := Negotiate(r, tc.hints...); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTAndDate(t *testing.T) {
	if got := T("en", "consent.heading", "Agencia Tributaria"); got != "Share your data with Agencia Tributaria?" {
		t.Errorf("got %q", got)
	}
	if got := T("es", "no.such.key"); got != "[[no.such.key]]" {
		t.Errorf("missing key: got %q, want [[no.such.key]]", got)
	}
	d := time.Date(2026, 3, 2, 10, 4, 0, 0, time.UTC)
	if got := Date("es", d); got != "2 de marzo de 2026, 10:04 UTC" {
		t.Errorf("es date: got %q", got)
	}
	if got := Date("en", d); got != "2 March 2026, 10:04 UTC" {
		t.Errorf("en date: got %q", got)
	}
}

func TestCSRF(t *testing.T) {
	c := CSRF{}
	// A page: the browser has no cookie yet.
	w := httptest.NewRecorder()
	token := c.Token(w, httptest.NewRequest("GET", "/login", nil))
	cookies := w.Result().Cookies()
	if len(cookies) != 1 || cookies[0].Name != "cedula_csrf" || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteLaxMode {
		t.Fatalf("cookie: got %+v, want one HttpOnly SameSite=Lax cedula_csrf", cookies)
	}
	cookie := cookies[0]

	// A second page reuses the cookie but gets a different token.
	w2 := httptest.NewRecorder()
	r2 := httptest.NewRequest("GET", "/login", nil)
	r2.AddCookie(cookie)
	token2 := c.Token(w2, r2)
	if len(w2.Result().Cookies()) != 0 {
		t.Errorf("second page: got a new cookie, want the existing one kept")
	}
	if token2 == token {
		t.Errorf("second token: got the same as the first, want a fresh mask")
	}

	form := func(tok string, ck *http.Cookie, hdr map[string]string) *http.Request {
		r := httptest.NewRequest("POST", "/consent", strings.NewReader(url.Values{CSRFField: {tok}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if ck != nil {
			r.AddCookie(ck)
		}
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		return r
	}
	other := &http.Cookie{Name: "cedula_csrf", Value: strings.Repeat("A", 43)}
	tests := []struct {
		name string
		r    *http.Request
		ok   bool
	}{
		{"form token", form(token, cookie, nil), true},
		{"second token", form(token2, cookie, nil), true},
		{"header token", func() *http.Request {
			r := httptest.NewRequest("POST", "/login/begin", strings.NewReader("{}"))
			r.Header.Set(CSRFHeader, token)
			r.AddCookie(cookie)
			return r
		}(), true},
		{"same-origin fetch", form(token, cookie, map[string]string{"Sec-Fetch-Site": "same-origin"}), true},
		{"no cookie", form(token, nil, nil), false},
		{"other cookie", form(token, other, nil), false},
		{"no token", form("", cookie, nil), false},
		{"garbage token", form("not-base64!", cookie, nil), false},
		{"cookie value as token", form(cookie.Value, cookie, nil), false},
		{"cross-site", form(token, cookie, map[string]string{"Sec-Fetch-Site": "cross-site"}), false},
		{"foreign origin", form(token, cookie, map[string]string{"Origin": "https://evil.example"}), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Check(tc.r)
			if (err == nil) != tc.ok {
				t.Errorf("got %v, want ok=%v", err, tc.ok)
			}
		})
	}

	// Over https the cookie has the __Host- prefix and is Secure.
	w3 := httptest.NewRecorder()
	CSRF{Secure: true}.Token(w3, httptest.NewRequest("GET", "https://id.example.gob/login", nil))
	if ck := w3.Result().Cookies(); len(ck) != 1 || ck[0].Name != "__Host-cedula_csrf" || !ck[0].Secure || ck[0].Path != "/" {
		t.Errorf("secure cookie: got %+v, want __Host-cedula_csrf, Secure, Path=/", ck)
	}
}

// sampleData holds data of the shape each page's handler passes.
var sampleData = map[string]any{
	"login": map[string]any{"ClientName": "Agencia Tributaria", "AuthRequestID": "req-1"},
	"consent": map[string]any{"ClientName": "Agencia Tributaria", "CitizenName": "Ana Pérez",
		"Purposes":      []map[string]string{{"Name": "Declaración de impuestos", "Description": "Tu nombre para la declaración."}},
		"Credentials":   []map[string]string{{"Name": "Identificación personal", "Description": "Tus datos de identidad."}},
		"Data":          []string{"consent.data.profile", "consent.data.email"},
		"Permissions":   []string{"consent.permission.offline_access", "consent.permission.other"},
		"AuthRequestID": "req-1", "LoginURL": "/login?authRequestID=req-1"},
	"enrol": map[string]any{"GivenName": "Ana", "Expires": time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC), "Token": "tok"},
	"codes": map[string]any{"Codes": []string{"ABCD-EFGH-JKMN-PQRS"}, "Replaced": true, "Next": "/account"},
	"account": map[string]any{"Passkeys": []map[string]any{{"ID": "AAA", "Name": "Mi teléfono", "Created": time.Now(), "LastUsed": time.Time{}, "BackupState": true}}, "CodesLeft": 1,
		"Consents": []map[string]any{{"Purpose": "tax", "Name": "Impuestos", "Description": "…", "Agency": "DGI", "State": "given", "StateKey": "consents.state.given",
			"Since": time.Now(), "Withdrawable": true, "Renewable": true, "Objectable": true, "ReceiptURL": "/account/consents/receipt?purpose=tax", "NoticeURL": "https://dgi.example/privacy"}},
		"Credentials": []map[string]any{
			{"Name": "Identificación personal", "Agency": "Registro Civil", "State": "issued", "StateKey": "credentials.state.issued", "Status": "valid", "StatusKey": "credentials.status.valid",
				"Created": time.Now(), "Issued": time.Now(), "Expires": time.Now().AddDate(1, 0, 0), "OfferPage": "", "OfferExpires": time.Now()},
			{"Name": "Certificado de residencia", "Agency": "Registro Civil", "State": "offered", "StateKey": "credentials.state.offered", "Status": "valid", "StatusKey": "",
				"Created": time.Now(), "Issued": time.Time{}, "Expires": time.Time{}, "OfferPage": "/offer/abc", "OfferExpires": time.Now().Add(time.Hour)}}},
	"offer": map[string]any{"Name": "Identificación personal", "Description": "Tus datos de identidad.", "Agency": "Registro Civil",
		"URI":    "openid-credential-offer://?credential_offer_uri=https%3A%2F%2Fid.example.gob%2Fvci%2Foffers%2Fabc",
		"Link":   template.URL("openid-credential-offer://?credential_offer_uri=https%3A%2F%2Fid.example.gob%2Fvci%2Foffers%2Fabc"),
		"QRCode": "/vci/offers/abc/qr.png", "TxCodeLength": 6, "Expires": time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)},
	"recover": map[string]any{"FieldError": "Ese código no es válido"},
	"check": map[string]any{"Code": "K7QF-9XWM-3DPA", "Message": "Hola",
		"Verdict": map[string]any{"Genuine": true, "AgencyName": "Seguridad Social", "Sent": time.Now(), "TextChecked": true, "TextMatches": false}},
	"recover_passkey": map[string]any{},
	"error":           map[string]any{"Detail": "problem.csrf.detail", "Code": "invalid_request", "Back": "/login", "BackLabel": "problem.back"},
}

func TestRenderEveryPage(t *testing.T) {
	r, err := NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	for name := range r.pages {
		if _, ok := sampleData[name]; !ok {
			t.Errorf("page %s: no sample data in the test", name)
		}
	}
	for name, data := range sampleData {
		for _, lang := range Langs {
			t.Run(name+"/"+lang, func(t *testing.T) {
				w := httptest.NewRecorder()
				req := httptest.NewRequest("GET", "/x?y=1", nil)
				title := name + ".title"
				if !Has(title) {
					title = "problem.csrf.title"
				}
				p := NewPage(w, req, CSRF{}, lang, title, data)
				p.Errors = []FieldError{{For: "code", Message: "msg"}}
				if err := r.Render(w, http.StatusTeapot, name, p); err != nil {
					t.Fatalf("render: got %v, want nil", err)
				}
				body := w.Body.String()
				if w.Code != http.StatusTeapot {
					t.Errorf("status: got %d, want 418", w.Code)
				}
				if strings.Contains(body, "[[") {
					t.Errorf("body has an untranslated key: %s", body[strings.Index(body, "[["):][:40])
				}
				for _, want := range []string{`<html lang="` + lang + `">`, `href="#main"`, `id="main"`, `role="alert"`, `<a href="#code">msg</a>`, `name="csrf-token"`} {
					if !strings.Contains(body, want) {
						t.Errorf("body: want %q in it", want)
					}
				}
				if got := w.Header().Get("Content-Security-Policy"); !strings.Contains(got, "script-src 'self'") {
					t.Errorf("CSP: got %q", got)
				}
				if got := w.Header().Get("Cache-Control"); got != "no-store" {
					t.Errorf("Cache-Control: got %q, want no-store", got)
				}
				if strings.Contains(body, "<script>") || strings.Contains(body, " style=") || strings.Contains(body, " onclick=") {
					t.Errorf("body has inline script or style, which the CSP forbids")
				}
			})
		}
	}
	if err := r.Render(httptest.NewRecorder(), 200, "nope", &Page{Lang: "es"}); err == nil {
		t.Errorf("unknown page: got nil, want an error")
	}
}

func TestLangSwitchLinks(t *testing.T) {
	p := &Page{Lang: "es", Path: "/login?authRequestID=a&b"}
	if got, want := p.LangURL("en"), "/lang?to=en&next=%2Flogin%3FauthRequestID%3Da%26b"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestStatic(t *testing.T) {
	h := Static()
	for path, want := range map[string]int{"/static/style.css": 200, "/static/webauthn.js": 200, "/static/pages.js": 200, "/static/": 404, "/static/nope.js": 404} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		if w.Code != want {
			t.Errorf("%s: got %d, want %d", path, w.Code, want)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/static/webauthn.js", nil))
	if ct := w.Header().Get("Content-Type"); !strings.Contains(ct, "javascript") {
		t.Errorf("webauthn.js content type: got %q, want JavaScript", ct)
	}
}
