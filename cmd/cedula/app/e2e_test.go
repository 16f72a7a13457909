package app_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/cmd/cedula/app"
	"github.com/cedula/cedula/cmd/cedula/app/apptest"
	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/internal/browsertest"
	"github.com/cedula/cedula/internal/config"
	"github.com/cedula/cedula/internal/rptest"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/pages"
)

// startServer runs a whole Cedula server on SQLite (apptest.Start), its
// configuration changed first by mutate.
func startServer(t *testing.T, mutate func(*config.Config)) (*app.Server, string) {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	if mutate != nil {
		mutate(&cfg)
	}
	t.Setenv("CEDULA_KEK", strings.Repeat("cd", 32))
	return apptest.Start(t, cfg)
}

// TestCitizenJourneyInChromium is the end-to-end check of the passkey-only
// OpenID provider, in real headless Chromium with a virtual authenticator:
// enrolment link → passkey → recovery codes → an agency's relying party
// (go-oidc) logs the citizen in with the code flow and PKCE, verifies the ID
// token against the JWKS and reads userinfo → a second login by autofill →
// passkey management → recovery with a code on a new device. axe-core runs
// on every page and must find nothing.
func TestCitizenJourneyInChromium(t *testing.T) {
	ctx := browsertest.Start(t, 4*time.Minute)
	axe := browsertest.AxeSource(t)
	s, origin := startServer(t, nil)
	bg := context.Background()

	rpClient := "tax-agency"
	if _, err := s.Consent.PutPurpose(bg, consent.Purpose{ID: "tax-sign-in", Name: consent.Text{ES: "Iniciar sesión en Impuestos", EN: "Signing in to Taxes"},
		Description: consent.Text{ES: "Su nombre y correo para su declaración.", EN: "Your name and email for your return."},
		Controller:  rpClient, LegalBasis: consent.Consent, Categories: []string{"profile", "email"}, DPV: "dpv:ServiceProvision",
		NoticeVersion: "1", NoticeURL: "https://tax.example.gov/privacy"}); err != nil {
		t.Fatal(err)
	}
	rp := rptest.New(t, origin, rpClient, "purpose:tax-sign-in")
	if err := s.Store.PutClient(bg, issuer.Client{ID: rpClient, Name: "Agencia Tributaria", RedirectURIs: []string{rp.URL + "/cb"},
		GrantTypes: []string{issuer.GrantAuthorizationCode}, AuthMethod: issuer.AuthNone, SubjectType: issuer.SubjectPairwise}); err != nil {
		t.Fatal(err)
	}
	ana := issuer.Citizen{ID: issuer.NewCitizenID(), GivenName: "Ana", FamilyName: "García López", Birthdate: "1990-04-12",
		Email: "ana@example.org", Locale: "es", Created: time.Now()}
	if err := s.Store.CreateCitizen(bg, ana); err != nil {
		t.Fatal(err)
	}
	link, _, err := pages.Enrol(bg, s.Store, ana.ID, "test", time.Hour, origin)
	if err != nil {
		t.Fatal(err)
	}

	tab := browsertest.Tab{T: t, Ctx: ctx}
	do, eval, waitPath := tab.Do, tab.Eval, tab.WaitPath
	presence := func(id webauthn.AuthenticatorID, on bool) {
		t.Helper()
		if err := browsertest.SetPresence(ctx, id, on); err != nil {
			t.Fatal(err)
		}
	}

	// 1. Enrolment through the link.
	phone, codes := enrolInChromium(tab, axe, link, "Teléfono")

	// 2. Passkey management: rename.
	pks, _ := s.Store.PasskeysOf(bg, ana.ID)
	if len(pks) != 1 {
		t.Fatalf("passkeys after enrolment: got %d, want 1", len(pks))
	}
	renameID := "rename-" + eval(`document.querySelector('form[action="/account/passkeys/rename"] input[name=id]').value`)
	do("rename", chromedp.SetValue(chromedp.ID(renameID), "Mi teléfono"),
		chromedp.Submit(chromedp.CSS(`form[action="/account/passkeys/rename"]`)))
	waitPath("/account")
	if pks, _ = s.Store.PasskeysOf(bg, ana.ID); len(pks) != 1 || pks[0].Name != "Mi teléfono" {
		t.Errorf("after rename: got %+v, want one passkey named Mi teléfono", pks)
	}

	// 3. Sign out, then the agency logs Ana in: the login page's autofill
	// (conditional mediation) answers as soon as the authenticator has a
	// user present.
	presence(phone, false)
	do("sign out", chromedp.Click(chromedp.CSS("form.logout button")))
	waitPath("/login")
	browsertest.CheckAxe(t, ctx, axe, "login")
	do("go to the agency", chromedp.Navigate(rp.URL+"/start"))
	waitPath("/login")
	browsertest.CheckAxe(t, ctx, axe, "login for an agency")
	presence(phone, true)
	do("reload: the pending autofill request started without a user present", chromedp.Reload())
	waitPath("/consent")
	// The consent screen names the agency and its purpose, from the
	// registry, in the page's language — never the purpose scope.
	purposeName := map[string]string{"es": "Iniciar sesión en Impuestos", "en": "Signing in to Taxes"}[eval(`document.documentElement.lang`)]
	if body := eval(`document.querySelector("main").innerText`); !strings.Contains(body, "Agencia Tributaria") ||
		purposeName == "" || !strings.Contains(body, purposeName) || strings.Contains(body, "purpose:") {
		t.Errorf("consent page: got %q, want the agency and the purpose %q named, and no purpose: scope", body, purposeName)
	}
	browsertest.CheckAxe(t, ctx, axe, "consent")
	do("allow", chromedp.Click(chromedp.CSS(`button[value="approve"]`)), chromedp.WaitVisible(chromedp.ID("rp-done")))
	first := rp.Result(t)
	if first.IDToken.Subject == "" || first.IDToken.Subject == ana.ID {
		t.Errorf("sub = %q; want a pairwise identifier, not the internal ID", first.IDToken.Subject)
	}
	if first.Claims["given_name"] != "Ana" || first.Claims["birthdate"] != "1990-04-12" || first.UserInfo.Email != "ana@example.org" {
		t.Errorf("userinfo claims %v, want Ana's", first.Claims)
	}

	// 4. A second login for the agency, by autofill again, from a fresh
	// sign-in.
	loginByAutofill(tab, origin, phone, rp.URL+"/start", nil)
	do("allow again", chromedp.Click(chromedp.CSS(`button[value="approve"]`)), chromedp.WaitVisible(chromedp.ID("rp-done")))
	if second := rp.Result(t); second.IDToken.Subject != first.IDToken.Subject {
		t.Errorf("second login sub %q, want the same pairwise sub %q", second.IDToken.Subject, first.IDToken.Subject)
	}

	// 5. Recovery on a new phone: the old one is lost.
	presence(phone, false)
	do("sign out", chromedp.Navigate(origin+"/account"), chromedp.WaitVisible(chromedp.CSS("form.logout button")),
		chromedp.Click(chromedp.CSS("form.logout button")))
	waitPath("/login")
	if err := browsertest.RemoveAuthenticator(ctx, phone); err != nil {
		t.Fatal(err)
	}
	newPhone, err := browsertest.AddAuthenticator(ctx)
	if err != nil {
		t.Fatal(err)
	}
	presence(newPhone, false) // no autofill answer on pages that ask
	do("open recovery", chromedp.Navigate(origin+"/recover"), chromedp.WaitVisible(chromedp.ID("code")))
	browsertest.CheckAxe(t, ctx, axe, "recover")
	do("enter a code", chromedp.SendKeys(chromedp.ID("code"), codes[3]+"\n"))
	waitPath("/recover/passkey")
	browsertest.CheckAxe(t, ctx, axe, "recover: new passkey")
	presence(newPhone, true)
	do("register the new phone and drop the old passkey", chromedp.Click(chromedp.ID("remove-others")),
		chromedp.Click(chromedp.CSS("form.ceremony button[type=submit]")))
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if pks, _ = s.Store.PasskeysOf(bg, ana.ID); len(pks) == 1 && pks[0].Name != "Mi teléfono" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after recovery: passkeys %+v, want only the new one", pks)
		}
	}
	if left, _ := s.Store.RecoveryCodesLeft(bg, ana.ID); left != 9 {
		t.Errorf("recovery codes left: got %d, want 9", left)
	}
	// The ceremony's page goes on to the account by itself; the next
	// navigation must not race with it (Chromium aborts the one it cuts).
	waitPath("/account")
	// The used code does not work twice.
	presence(newPhone, false)
	do("reuse the code", chromedp.Navigate(origin+"/recover"), chromedp.WaitVisible(chromedp.ID("code")),
		chromedp.SendKeys(chromedp.ID("code"), codes[3]+"\n"), chromedp.WaitVisible(chromedp.ID("error-summary")))
	browsertest.CheckAxe(t, ctx, axe, "recover: used code")

	// 6. The new phone logs in to the agency; the agency sees the same Ana.
	// (Registering the new passkey signed Ana in; sign out first so that
	// the new phone has to prove itself.)
	loginByAutofill(tab, origin, newPhone, rp.URL+"/start", nil)
	do("allow", chromedp.Click(chromedp.CSS(`button[value="approve"]`)), chromedp.WaitVisible(chromedp.ID("rp-done")))
	third := rp.Result(t)
	if third.IDToken.Subject != first.IDToken.Subject {
		t.Errorf("after recovery sub %q, want %q", third.IDToken.Subject, first.IDToken.Subject)
	}

	// 7. Ana withdraws her consent in one click on her account page: the
	// agency's token stops working at once.
	if claims, err := rp.UserInfo(bg, third.Token); err != nil || claims["email"] != ana.Email {
		t.Fatalf("userinfo before withdrawal: %v %v", claims, err)
	}
	// A profiling purpose on public task, which Ana may object to: its
	// form is on the page axe checks.
	if _, err := s.Consent.PutPurpose(bg, consent.Purpose{ID: "benefit-matching", Name: consent.Text{ES: "Cruce de ayudas", EN: "Benefit matching"},
		Description: consent.Text{ES: "Cruzamos datos para ofrecerte ayudas.", EN: "We match data to offer you benefits."},
		Controller:  rpClient, LegalBasis: consent.PublicTask, Categories: []string{"income"}, DPV: "dpv:ServiceProvision",
		NoticeVersion: "1", NoticeURL: "https://tax.example.gov/privacy", Profiling: true}); err != nil {
		t.Fatal(err)
	}
	do("open the account", chromedp.Navigate(origin+"/account"), chromedp.WaitVisible(chromedp.ID("consents")),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/account/consents/object"] button`)))
	browsertest.CheckAxe(t, ctx, axe, "account with consents")
	do("switch to Spanish", chromedp.Click(chromedp.CSS(`a[hreflang="es"]`)))
	tab.WaitTrue(`document.documentElement.lang === "es" && document.readyState === "complete" && document.getElementById("consents") !== null`)
	browsertest.CheckAxe(t, ctx, axe, "account with consents (es)")
	do("withdraw", chromedp.Click(chromedp.CSS(`form[action="/account/consents/withdraw"] button`)))
	waitPath("/account")
	if err := browsertest.WaitTrue(ctx, `document.querySelector(".notice") !== null && document.querySelectorAll('form[action="/account/consents/withdraw"]').length === 0`, 20*time.Second); err != nil {
		t.Fatalf("after withdrawal: %v", err)
	}
	browsertest.CheckAxe(t, ctx, axe, "account after withdrawal")
	if rec, err := s.Consent.Record(bg, ana.ID, "tax-sign-in"); err != nil || rec.State != consent.StateWithdrawn {
		t.Errorf("the record after withdrawal: %+v %v, want withdrawn", rec, err)
	}
	if claims, err := rp.UserInfo(bg, third.Token); err == nil {
		t.Errorf("userinfo with the token after withdrawal: %v, want an error (the token is revoked)", claims)
	}

	// 8. An agency's request that cannot go back to it (an unregistered
	// redirect URI) stops on Cedula's own page, in Ana's language, with no
	// redirect.
	bad := origin + "/authorize?" + url.Values{"client_id": {rpClient}, "redirect_uri": {"https://evil.example/cb"}, "response_type": {"code"},
		"scope": {"openid"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}.Encode()
	do("an agency's bad request", chromedp.Navigate(bad), chromedp.WaitReady(chromedp.CSS("footer")))
	if got := eval(`location.origin + location.pathname + " " + document.documentElement.lang + " " + document.querySelector("h1").innerText`); got != origin+"/authorize es No podemos devolverte a la agencia" {
		t.Errorf("authorization error page: got %q, want Cedula's page in Spanish at /authorize", got)
	}
	browsertest.CheckAxe(t, ctx, axe, "authorization error (es)")
	do("switch to English", chromedp.Click(chromedp.CSS(`a[hreflang="en"]`)))
	tab.WaitTrue(`document.documentElement.lang === "en" && document.readyState === "complete"`)
	if got := eval(`location.pathname + " " + document.querySelector("h1").innerText`); got != "/authorize We cannot send you back to the agency" {
		t.Errorf("authorization error page in English: got %q", got)
	}
	browsertest.CheckAxe(t, ctx, axe, "authorization error (en)")

	// 9. The audit log tells the story, in order, under Ana's pseudonym,
	// with never her ID, name or email in it.
	checkAuditStory(t, s, ana, rpClient, []string{
		issuer.ActionCitizenCreate, issuer.ActionEnrolmentCreate, issuer.ActionEnrolmentUse, issuer.ActionPasskeyAdd,
		issuer.ActionRecoveryCodes, issuer.ActionSessionStart, issuer.ActionPasskeyRename, issuer.ActionSessionEnd,
		// The agency's first login: the consent screen gives the consent,
		// userinfo asks the ledger.
		issuer.ActionLogin, consent.Action(consent.Given), issuer.ActionAuthorize, issuer.ActionToken, consent.ActionDecide,
		issuer.ActionLogin, issuer.ActionAuthorize, issuer.ActionToken, consent.ActionDecide, // the second
		issuer.ActionRecoveryUse, issuer.ActionPasskeyAdd, issuer.ActionPasskeyRemove, issuer.ActionSessionEnd,
		issuer.ActionLogin, issuer.ActionAuthorize, issuer.ActionToken, consent.ActionDecide, // the new phone
		consent.ActionDecide, consent.Action(consent.Withdrawn), issuer.ActionRevoke, // the withdrawal
	})
}

// enrolInChromium opens the enrolment link in the tab, creates a passkey
// named name on a new virtual authenticator and goes on past the recovery
// codes to the account page, axe-core checking each page. It returns the
// authenticator and the ten recovery codes.
func enrolInChromium(tab browsertest.Tab, axe, link, name string) (webauthn.AuthenticatorID, []string) {
	t := tab.T
	t.Helper()
	tab.Do("open the enrolment link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("form.ceremony")))
	browsertest.CheckAxe(t, tab.Ctx, axe, "enrolment")
	phone, err := browsertest.AddAuthenticator(tab.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	tab.Do("create the passkey", chromedp.SetValue(chromedp.ID("passkey-name"), name),
		chromedp.Click(chromedp.CSS("form.ceremony button[type=submit]")), chromedp.WaitVisible(chromedp.ID("recovery-codes")))
	codes := strings.Fields(tab.Eval(`Array.from(document.querySelectorAll("#recovery-codes li code")).map(c => c.textContent).join(" ")`))
	if len(codes) != 10 {
		t.Fatalf("recovery codes: got %d, want 10", len(codes))
	}
	browsertest.CheckAxe(t, tab.Ctx, axe, "recovery codes")
	tab.Do("continue", chromedp.Click(chromedp.CSS("#recovery-codes a[data-continue]")))
	tab.WaitPath("/account")
	browsertest.CheckAxe(t, tab.Ctx, axe, "account")
	return phone, codes
}

// loginByAutofill signs the tab's citizen out of her account at origin and
// opens start, an address that leads to the login page; there the passkey
// on authenticator phone answers the page's autofill (conditional
// mediation), and the tab ends on the consent page. atLogin, if not nil,
// runs on the login page before the passkey answers.
func loginByAutofill(tab browsertest.Tab, origin string, phone webauthn.AuthenticatorID, start string, atLogin func()) {
	t := tab.T
	t.Helper()
	// Without a user present, the autofill request the login page starts
	// waits; otherwise the virtual authenticator would answer it at once.
	if err := browsertest.SetPresence(tab.Ctx, phone, false); err != nil {
		t.Fatal(err)
	}
	tab.Do("sign out", chromedp.Navigate(origin+"/account"), chromedp.WaitVisible(chromedp.CSS("form.logout button")),
		chromedp.Click(chromedp.CSS("form.logout button")))
	tab.WaitPath("/login")
	tab.Do("open "+start, chromedp.Navigate(start))
	tab.WaitPath("/login")
	if atLogin != nil {
		atLogin()
	}
	if err := browsertest.SetPresence(tab.Ctx, phone, true); err != nil {
		t.Fatal(err)
	}
	tab.Do("reload: the pending autofill request started without a user present", chromedp.Reload())
	tab.WaitPath("/consent")
}

// checkAuditStory checks that the entries about the citizen hold the
// actions want in that order (other entries may come between), that the
// agency's are recorded with the agency as actor, and that no entry of the
// whole log holds the citizen's ID, name or email.
func checkAuditStory(t *testing.T, s *app.Server, c issuer.Citizen, agency string, want []string) {
	t.Helper()
	ctx := context.Background()
	if err := s.Audit.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	recs, _, err := s.Audit.EntriesAbout(ctx, s.AuditSubject(c.ID), 0, audit.MaxEntries)
	if err != nil {
		t.Fatal(err)
	}
	var story []string
	for i := len(recs) - 1; i >= 0; i-- { // oldest first
		e, err := recs[i].Entry()
		if err != nil {
			t.Fatal(err)
		}
		story = append(story, e.Action)
		switch e.Action {
		case issuer.ActionAuthorize, issuer.ActionToken, consent.ActionDecide:
			if e.Actor != (audit.Actor{Kind: audit.ActorClient, ID: agency}) {
				t.Errorf("entry %d %s: actor %+v, want the agency", recs[i].Index, e.Action, e.Actor)
			}
		case issuer.ActionLogin, issuer.ActionPasskeyAdd, issuer.ActionRecoveryUse:
			if e.Actor != (audit.Actor{Kind: audit.ActorCitizen, ID: s.AuditSubject(c.ID)}) {
				t.Errorf("entry %d %s: actor %+v, want Ana", recs[i].Index, e.Action, e.Actor)
			}
		}
	}
	t.Logf("Ana's story in the log: %v", story)
	next := 0
	for _, a := range story {
		if next < len(want) && a == want[next] {
			next++
		}
	}
	if next < len(want) {
		t.Errorf("the log's story of Ana is %v; it lacks %v (in order) from %s on", story, want, want[next])
	}
	size, _ := s.Audit.Size(ctx)
	for start := int64(0); start < size; start += audit.MaxEntries {
		all, err := s.Audit.Entries(ctx, start, min(size, start+audit.MaxEntries))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range all {
			for _, secret := range []string{c.ID, c.GivenName, c.FamilyName, c.Email} {
				if strings.Contains(string(r.Data), secret) {
					t.Errorf("entry %d holds %q in clear", r.Index, secret)
				}
			}
		}
	}
}
