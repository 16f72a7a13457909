package pages_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/cedula/cedula/internal/browsertest"
	"github.com/cedula/cedula/internal/db/dbtest"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/pages"
	"github.com/cedula/cedula/issuer/passkey"
	"github.com/cedula/cedula/issuer/sqlstore"
)

// TestBrowser runs the pages in Chromium with a virtual authenticator:
// enrolment through a link, recovery codes, the account page, the language
// switch, sign-out, a passkey login for an agency (button fallback), consent,
// a login refused for want of user verification, a credential offer's page,
// and axe-core on every page on the way (no violations allowed).
func TestBrowser(t *testing.T) {
	// A browser that prefers Spanish, as a citizen's might.
	ctx := browsertest.Start(t, 3*time.Minute, chromedp.Flag("accept-lang", "es-CL,es"))
	axe := browsertest.AxeSource(t)
	site := startSite(t)
	origin, store, flow := site.origin, site.store, site.flow

	ana := issuer.Citizen{ID: issuer.NewCitizenID(), GivenName: "Ana", FamilyName: "Pérez", Email: "ana@example.gob", Created: time.Now()}
	if err := store.CreateCitizen(context.Background(), ana); err != nil {
		t.Fatal(err)
	}
	link, _, err := pages.Enrol(context.Background(), store, ana.ID, "test", 0, origin)
	if err != nil {
		t.Fatal(err)
	}

	tab := browsertest.Tab{T: t, Ctx: ctx}
	do, eval, waitTrue, waitPath := tab.Do, tab.Eval, tab.WaitTrue, tab.WaitPath

	// Enrolment page, before and after the passkey.
	do("open the enrolment link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("form.ceremony")))
	if got := eval(`document.documentElement.lang`); got != "es" {
		t.Errorf("enrolment page language: got %q, want es", got)
	}
	browsertest.CheckAxe(t, ctx, axe, "enrolment")
	auth, err := browsertest.AddAuthenticator(ctx)
	if err != nil {
		t.Fatal(err)
	}
	do("name and create the passkey",
		chromedp.SetValue(chromedp.ID("passkey-name"), "Chromium"),
		chromedp.Click(chromedp.CSS("form.ceremony button[type=submit]")),
		chromedp.WaitVisible(chromedp.ID("recovery-codes")))
	if n := eval(`String(document.querySelectorAll("#recovery-codes li code").length)`); n != "10" {
		t.Errorf("recovery codes shown: got %s, want 10", n)
	}
	if got := eval(`document.activeElement.id`); got != "passkey-created" {
		t.Errorf("focus after enrolment: got #%s, want the confirmation that the passkey was created", got)
	}
	browsertest.CheckAxe(t, ctx, axe, "recovery codes")
	creds, err := browsertest.Credentials(ctx, auth)
	if err != nil || len(creds) != 1 || !creds[0].IsResidentCredential || string(creds[0].UserHandle) != ana.ID {
		t.Fatalf("authenticator credentials: got %d (err %v), want one resident credential with Ana's user handle", len(creds), err)
	}

	// Account page, then English.
	do("continue to the account", chromedp.Click(chromedp.CSS("#recovery-codes a[data-continue]")))
	waitPath("/account")
	if body := eval(`document.querySelector("main").innerText`); !strings.Contains(body, "Chromium") || !strings.Contains(body, "Certificado de residencia") {
		t.Errorf("account page: want the passkey named Chromium and the credentials of fakeOffers in %q", body)
	}
	browsertest.CheckAxe(t, ctx, axe, "account (es)")
	// The switch reloads the same path: wait for the English document
	// itself, not just the path, before reading it.
	do("switch to English", chromedp.Click(chromedp.CSS(`a[hreflang="en"]`)))
	waitPath("/account")
	if err := browsertest.WaitTrue(ctx, `document.documentElement !== null && document.documentElement.lang === "en" && document.readyState === "complete"`, 20*time.Second); err != nil {
		t.Fatalf("the English account page: %v", err)
	}
	if got := eval(`document.documentElement.lang`); got != "en" {
		t.Errorf("after the switch: got lang %q, want en", got)
	}
	browsertest.CheckAxe(t, ctx, axe, "account (en)")

	// Keyboard: the first Tab reaches the skip link.
	do("tab", chromedp.KeyEvent("\t"))
	if got := eval(`document.activeElement.className`); got != "skip-link" {
		t.Errorf("first Tab: got focus on %q, want the skip link", got)
	}

	// Sign out. The login page starts a conditional (autofill) request at
	// once; without presence it waits, as it would for the citizen to pick
	// a passkey.
	if err := browsertest.SetPresence(ctx, auth, false); err != nil {
		t.Fatal(err)
	}
	do("sign out", chromedp.Click(chromedp.CSS("form.logout button")))
	waitPath("/login")
	browsertest.CheckAxe(t, ctx, axe, "login after sign-out (en)")

	// Autofill: with presence, the virtual authenticator answers the
	// conditional request with its passkey, and the citizen is in.
	if err := browsertest.SetPresence(ctx, auth, true); err != nil {
		t.Fatal(err)
	}
	do("reload the login page", chromedp.Reload())
	waitPath("/account")

	// An agency's request: log in with the button (the fallback), then
	// consent.
	if err := browsertest.SetPresence(ctx, auth, false); err != nil {
		t.Fatal(err)
	}
	do("sign out", chromedp.Click(chromedp.CSS("form.logout button")))
	waitPath("/login")
	flow.add("req-1", pages.AuthRequestInfo{ClientID: "tax", ClientName: "Agencia Tributaria",
		Scopes: []string{"openid", "profile", "purpose:tax-filing", "offline_access", "x-unknown:scope"},
		Claims: []string{"given_name", "family_name", "birthdate"}, Purposes: []pages.Purpose{{Scope: "purpose:tax-filing",
			Name:        map[string]string{"es": "Presentar tu declaración", "en": "Filing your tax return"},
			Description: map[string]string{"es": "Tu nombre y tu fecha de nacimiento para la declaración.", "en": "Your name and date of birth for the return."}}}})
	do("open the login page", chromedp.Navigate(origin+"/login?authRequestID=req-1"), chromedp.WaitVisible(chromedp.ID("account")))
	if got := eval(`document.getElementById("account").getAttribute("autocomplete")`); got != "username webauthn" {
		t.Errorf("autofill field: got autocomplete %q, want \"username webauthn\"", got)
	}
	browsertest.CheckAxe(t, ctx, axe, "login for an agency (en)")
	if err := browsertest.SetPresence(ctx, auth, true); err != nil {
		t.Fatal(err)
	}
	do("sign in with the button", chromedp.Click(chromedp.CSS("form.ceremony button[type=submit]")))
	waitPath("/consent")
	// The consent screen names the purpose and says what the scopes give
	// in plain words, never a scope as the agency wrote it.
	body := eval(`document.querySelector("main").innerText`)
	for _, want := range []string{"Filing your tax return", "Your name and date of birth for the return.",
		"Your name, date of birth and preferred language", "Stay connected while you are away", "Other permissions the agency has not described"} {
		if !strings.Contains(body, want) {
			t.Errorf("consent page: want %q in %q", want, body)
		}
	}
	for _, raw := range []string{"purpose:", "offline_access", "x-unknown", "openid", "profile"} {
		if strings.Contains(body, raw) {
			t.Errorf("consent page: got the raw scope text %q in %q", raw, body)
		}
	}
	browsertest.CheckAxe(t, ctx, axe, "consent (en)")
	do("consent in Spanish", chromedp.Click(chromedp.CSS(`a[hreflang="es"]`)))
	waitTrue(`document.documentElement.lang === "es" && document.readyState === "complete" && document.querySelector('button[value="approve"]') !== null`)
	if body := eval(`document.querySelector("main").innerText`); !strings.Contains(body, "Presentar tu declaración") || strings.Contains(body, "purpose:") {
		t.Errorf("consent page in Spanish: got %q, want the purpose named and no purpose: scope", body)
	}
	browsertest.CheckAxe(t, ctx, axe, "consent (es)")
	do("back to English", chromedp.Click(chromedp.CSS(`a[hreflang="en"]`)))
	waitTrue(`document.documentElement.lang === "en" && document.readyState === "complete" && document.querySelector('button[value="approve"]') !== null`)
	do("allow", chromedp.Click(chromedp.CSS(`button[value="approve"]`)), chromedp.WaitVisible(chromedp.ID("agency")))
	if got := flow.completed["req-1"]; got.citizenID != ana.ID {
		t.Errorf("completion: got citizen %q, want Ana", got.citizenID)
	}

	// A login whose user verification fails is refused, with a message.
	if err := browsertest.SetUserVerified(ctx, auth, false); err != nil {
		t.Fatal(err)
	}
	do("sign out again", chromedp.Navigate(origin+"/account"), chromedp.WaitVisible(chromedp.CSS("form.logout button")),
		chromedp.Click(chromedp.CSS("form.logout button")))
	waitPath("/login")
	do("try to sign in", chromedp.Click(chromedp.CSS("form.ceremony button[type=submit]")))
	waitTrue(`document.getElementById("ceremony-error").innerText.length > 0`)
	t.Logf("refused login shows: %q", eval(`document.getElementById("ceremony-error").innerText`))
	if got := eval(`document.activeElement.id`); got != "ceremony-error" {
		t.Errorf("focus after a failure: got #%s, want the error summary", got)
	}
	if got := eval(`location.pathname`); got != "/login" {
		t.Errorf("after a refused login: got %s, want to stay on /login", got)
	}
	browsertest.CheckAxe(t, ctx, axe, "login with an error (en)")

	// Back to Spanish, with a passkey the server no longer knows. The
	// autofill request (answered at once by the virtual authenticator) is
	// refused with the problem's own title and detail, in Spanish, and a
	// link to its page; the page tells the authenticator to forget the
	// passkey (WebAuthn L3 §5.1.10 signalUnknownCredential).
	keys, err := store.PasskeysOf(context.Background(), ana.ID)
	if err != nil || len(keys) != 1 {
		t.Fatalf("Ana's passkeys: got %d, %v; want 1", len(keys), err)
	}
	if err := store.DeletePasskey(context.Background(), ana.ID, keys[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := browsertest.SetUserVerified(ctx, auth, true); err != nil {
		t.Fatal(err)
	}
	do("back to Spanish", chromedp.Click(chromedp.CSS(`a[hreflang="es"]`)))
	waitPath("/login")
	waitTrue(`document.querySelector("#ceremony-error h2")?.textContent === "Llave de acceso desconocida"`)
	if got := eval(`document.querySelector("#ceremony-error a").href`); got != origin+"/problems/unknown-passkey" {
		t.Errorf("help link: got %q, want the problem's page", got)
	}
	browsertest.CheckAxe(t, ctx, axe, "login refused by the server (es)")
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		creds, err := browsertest.Credentials(ctx, auth)
		if err == nil && len(creds) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("authenticator after the signal: got %d credentials (%v), want 0", len(creds), err)
			break
		}
	}

	// The other pages, in Spanish.
	for _, page := range []string{origin + "/recover", origin + "/enrol/not-a-link", origin + "/problems/webauthn-failed", link} {
		do("open "+page, chromedp.Navigate(page), chromedp.WaitReady(chromedp.CSS("footer")))
		browsertest.CheckAxe(t, ctx, axe, strings.TrimPrefix(page, origin)+" (es)")
	}
	do("wrong recovery code", chromedp.Navigate(origin+"/recover"), chromedp.WaitVisible(chromedp.ID("code")),
		chromedp.SendKeys(chromedp.ID("code"), "AAAA-BBBB-CCCC-DDDD\n"), chromedp.WaitVisible(chromedp.ID("error-summary")))
	browsertest.CheckAxe(t, ctx, axe, "recover with an error (es)")

	// A credential offer's page, in both languages: the QR code loads
	// under the pages' CSP, and the button opens the wallet. An offer that
	// is gone gets its page too.
	do("open an offer", chromedp.Navigate(origin+"/offer/open"), chromedp.WaitVisible(chromedp.CSS(".qr img")))
	for _, lang := range []string{"es", "en"} {
		if lang == "en" {
			do("offer in English", chromedp.Click(chromedp.CSS(`a[hreflang="en"]`)))
			waitTrue(`document.documentElement.lang === "en" && document.readyState === "complete"`)
		}
		waitTrue(`document.querySelector(".qr img").complete && document.querySelector(".qr img").naturalWidth > 0`)
		if got := eval(`document.querySelector("a.button").getAttribute("href")`); !strings.HasPrefix(got, "openid-credential-offer://?credential_offer_uri=") {
			t.Errorf("offer (%s): the button links to %q, want the credential offer URI", lang, got)
		}
		if got := eval(`document.querySelector(".qr img").alt`); got == "" {
			t.Errorf("offer (%s): the QR code has no text alternative", lang)
		}
		browsertest.CheckAxe(t, ctx, axe, "offer ("+lang+")")
	}
	do("open an offer that is gone", chromedp.Navigate(origin+"/offer/gone"), chromedp.WaitReady(chromedp.CSS("footer")))
	if got := eval(`document.querySelector("h1").innerText`); got != "This credential offer is no longer valid" {
		t.Errorf("offer that is gone: got %q, want the page that says so", got)
	}
	browsertest.CheckAxe(t, ctx, axe, "offer gone (en)")
}

// flowAt makes the fake flow's redirects land on the test server, so the
// browser has somewhere to go.
type flowAt struct {
	*fakeFlow
	origin string
}

func (f flowAt) Complete(ctx context.Context, id, citizenID, sid string, amr []string, authTime time.Time, again []string) (string, error) {
	if _, err := f.fakeFlow.Complete(ctx, id, citizenID, sid, amr, authTime, again); err != nil {
		return "", err
	}
	return f.origin + "/agency/callback?code=c-" + id, nil
}

// site is the pages over SQLite, served on 127.0.0.1 but opened at
// http://localhost:PORT: localhost is a secure context and a valid RP ID
// (WebAuthn L3 §5.1.2). The account page lists fixedConsents and the
// credentials of fakeOffers.
type site struct {
	origin string
	store  *sqlstore.Store
	flow   *fakeFlow
}

func startSite(t *testing.T) site {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := site{origin: fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port),
		store: sqlstore.New(dbtest.SQLite(t, sqlstore.Migrations)), flow: newFakeFlow()}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pk, err := passkey.New(passkey.Config{RPID: "localhost", RPDisplayName: "Cedula", Origins: []string{s.origin}, Logger: log}, s.store)
	if err != nil {
		t.Fatal(err)
	}
	h, err := pages.New(pages.Config{Store: s.store, Passkeys: pk, Flow: flowAt{s.flow, s.origin}, Logger: log, BaseURL: s.origin,
		Consents: fixedConsents{}, Offers: fakeOffers{}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", h)
	// The QR codes of offers, as the issuer (vciapi) serves them.
	mux.HandleFunc("GET /vci/offers/{id}/qr.png", func(w http.ResponseWriter, r *http.Request) {
		png, err := qrcode.Encode("openid-credential-offer://?credential_offer_uri=x", qrcode.Medium, 320)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		w.Write(png)
	})
	mux.HandleFunc("/agency/callback", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<!doctype html><title>Agency</title><p id=agency>back at the agency</p>")
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return s
}

// fixedConsents gives every citizen one consent of each kind the account
// page has a button for: to withdraw, to renew, to object to.
type fixedConsents struct{}

func (fixedConsents) Of(_ context.Context, _, lang string) ([]pages.ConsentItem, error) {
	text := func(es, en string) string {
		if lang == "en" {
			return en
		}
		return es
	}
	since := time.Date(2026, 3, 2, 10, 4, 0, 0, time.UTC)
	return []pages.ConsentItem{
		{Purpose: "tax-reminders", Name: text("Recordatorios de impuestos", "Tax reminders"), Description: text("Te avisamos de los plazos.", "We remind you of deadlines."),
			Agency: "Agencia Tributaria", NoticeURL: "https://tax.example/privacy", State: "given", Since: since, Withdrawable: true,
			ReceiptURL: "/account/consents/receipt?purpose=tax-reminders"},
		{Purpose: "tax-sign-in", Name: text("Iniciar sesión en Impuestos", "Signing in to Taxes"), Description: text("Tu nombre y tu correo.", "Your name and email."),
			Agency: "Agencia Tributaria", NoticeURL: "https://tax.example/privacy", State: "renewal_required", Since: since, Withdrawable: true, Renewable: true},
		{Purpose: "benefit-matching", Name: text("Cruce de ayudas", "Benefit matching"), Description: text("Cruzamos datos para ofrecerte ayudas.", "We match data to offer you benefits."),
			Agency: "Desarrollo Social", NoticeURL: "https://social.example/privacy", Objectable: true},
	}, nil
}

func (fixedConsents) Withdraw(context.Context, string, string) error { return nil }
func (fixedConsents) Renew(context.Context, string, string) error    { return nil }
func (fixedConsents) Object(context.Context, string, string) error   { return nil }

// TestBrowserCodesAndConfirmations checks, in Chromium, that recovery codes
// can be copied and downloaded wherever they are shown (after enrolment,
// and when new ones are generated), with a status message a screen reader
// announces, and that the page confirms each new passkey — after
// enrolment, after "add a passkey" and after recovery — with the focus on
// the confirmation; in English, then Spanish, with axe-core finding
// nothing on the way.
func TestBrowserCodesAndConfirmations(t *testing.T) {
	ctx := browsertest.Start(t, 3*time.Minute, chromedp.Flag("accept-lang", "en-GB,en"))
	axe := browsertest.AxeSource(t)
	site := startSite(t)
	ana := issuer.Citizen{ID: issuer.NewCitizenID(), GivenName: "Ana", FamilyName: "Pérez", Created: time.Now()}
	if err := site.store.CreateCitizen(context.Background(), ana); err != nil {
		t.Fatal(err)
	}
	link, _, err := pages.Enrol(context.Background(), site.store, ana.ID, "test", 0, site.origin)
	if err != nil {
		t.Fatal(err)
	}
	if err := browsertest.AllowClipboard(ctx, site.origin); err != nil {
		t.Fatal(err)
	}
	tab := browsertest.Tab{T: t, Ctx: ctx}
	do, eval, waitPath, waitTrue := tab.Do, tab.Eval, tab.WaitPath, tab.WaitTrue
	// What the code tools say, by language.
	type toolWords struct{ copied, file, downloading string }
	words := map[string]toolWords{
		"en": {"Codes copied. Paste them somewhere safe.", "cedula-recovery-codes.txt",
			"The file cedula-recovery-codes.txt with your codes is being downloaded."},
		"es": {"Códigos copiados. Pégalos en un lugar seguro.", "cedula-codigos-de-recuperacion.txt",
			"Se está descargando el archivo cedula-codigos-de-recuperacion.txt con tus códigos."},
	}
	// codeTools copies and downloads the codes the page lists, checks both
	// against the list and returns the codes.
	codeTools := func(what, lang string) []string {
		t.Helper()
		w := words[lang]
		codes := eval(`Array.from(document.querySelectorAll("ol.codes code")).map(c => c.textContent).join("\n") + "\n"`)
		if n := strings.Count(codes, "\n"); n != 10 {
			t.Fatalf("%s: got %d codes listed, want 10", what, n)
		}
		status := `document.querySelector("[data-codes-status]").textContent`
		do(what+": copy", chromedp.Click(chromedp.CSS("[data-codes-copy]")))
		waitTrue(fmt.Sprintf(`%s === %q`, status, w.copied))
		if got, err := browsertest.Clipboard(ctx); err != nil || got != codes {
			t.Errorf("%s: clipboard got %q (%v), want the codes %q", what, got, err, codes)
		}
		dir := t.TempDir()
		if err := browsertest.DownloadTo(ctx, dir); err != nil {
			t.Fatal(err)
		}
		do(what+": download", chromedp.Click(chromedp.CSS("[data-codes-download]")))
		got, err := browsertest.WaitFile(filepath.Join(dir, w.file), 20*time.Second)
		if err != nil || string(got) != codes {
			t.Errorf("%s: downloaded file got %q (%v), want the codes %q", what, got, err, codes)
		}
		waitTrue(fmt.Sprintf(`%s === %q`, status, w.downloading))
		browsertest.CheckAxe(t, ctx, axe, what)
		return strings.Fields(codes)
	}
	// confirmed checks the confirmation of a new passkey: its text, and
	// the focus on it.
	confirmed := func(what, id, text string) {
		t.Helper()
		waitTrue(fmt.Sprintf(`document.getElementById(%q)?.innerText.trim() === %q && document.readyState === "complete"`, id, text))
		if got := eval(`document.activeElement.id`); got != id {
			t.Errorf("%s: focus on #%s, want the confirmation #%s", what, got, id)
		}
		if got := eval(fmt.Sprintf(`document.getElementById(%q).getAttribute("role")`, id)); got != "status" {
			t.Errorf("%s: the confirmation's role is %q, want status", what, got)
		}
		browsertest.CheckAxe(t, ctx, axe, what)
	}
	newCodes := func(what, lang string) []string {
		t.Helper()
		do("generate new codes", chromedp.Navigate(site.origin+"/account"), chromedp.WaitVisible(chromedp.CSS("form.logout button")),
			chromedp.Click(chromedp.CSS(`form[action="/account/recovery-codes"] button`)), chromedp.WaitVisible(chromedp.CSS("ol.codes")))
		return codeTools(what, lang)
	}

	// Enrolment: the passkey is confirmed, then the codes.
	do("open the enrolment link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("form.ceremony")))
	browsertest.CheckAxe(t, ctx, axe, "enrolment (en)")
	phone, err := browsertest.AddAuthenticator(ctx)
	if err != nil {
		t.Fatal(err)
	}
	do("create the passkey", chromedp.Click(chromedp.CSS("form.ceremony button[type=submit]")), chromedp.WaitVisible(chromedp.ID("recovery-codes")))
	confirmed("enrolment (en)", "passkey-created", "Passkey created. From now on you will use it to sign in.")
	codeTools("codes after enrolment (en)", "en")
	do("continue", chromedp.Click(chromedp.CSS("#recovery-codes a[data-continue]")))
	waitPath("/account")

	// Add a passkey from another device.
	if err := browsertest.RemoveAuthenticator(ctx, phone); err != nil {
		t.Fatal(err)
	}
	laptop, err := browsertest.AddAuthenticator(ctx)
	if err != nil {
		t.Fatal(err)
	}
	do("add a passkey", chromedp.SetValue(chromedp.ID("passkey-name"), "Laptop"), chromedp.Click(chromedp.CSS("form.ceremony button[type=submit]")))
	waitPath("/account")
	confirmed("passkey added (en)", "notice", "Passkey created. You can now use it to sign in.")

	// New codes, shown once, in English and then in Spanish.
	newCodes("new codes (en)", "en")
	do("switch to Spanish", chromedp.Navigate(site.origin+"/account"), chromedp.WaitVisible(chromedp.CSS("form.logout button")),
		chromedp.Click(chromedp.CSS(`a[hreflang="es"]`)))
	waitTrue(`document.documentElement.lang === "es" && document.readyState === "complete"`)
	codes := newCodes("new codes (es)", "es")

	// Recovery, in Spanish: the new passkey is confirmed too.
	if err := browsertest.SetPresence(ctx, laptop, false); err != nil { // no autofill answer on the login page
		t.Fatal(err)
	}
	do("sign out", chromedp.Navigate(site.origin+"/account"), chromedp.WaitVisible(chromedp.CSS("form.logout button")),
		chromedp.Click(chromedp.CSS("form.logout button")))
	waitPath("/login")
	do("recover", chromedp.Navigate(site.origin+"/recover"), chromedp.WaitVisible(chromedp.ID("code")), chromedp.SendKeys(chromedp.ID("code"), codes[4]+"\n"))
	waitPath("/recover/passkey")
	if err := browsertest.RemoveAuthenticator(ctx, laptop); err != nil {
		t.Fatal(err)
	}
	if _, err := browsertest.AddAuthenticator(ctx); err != nil {
		t.Fatal(err)
	}
	do("create the new passkey", chromedp.Click(chromedp.CSS("form.ceremony button[type=submit]")))
	waitPath("/account")
	confirmed("passkey recovered (es)", "notice", "Nueva llave de acceso creada. Ya puedes usarla para iniciar sesión.")
	if keys, err := site.store.PasskeysOf(context.Background(), ana.ID); err != nil || len(keys) != 3 {
		t.Errorf("Ana's passkeys: got %d (%v), want 3", len(keys), err)
	}
}
