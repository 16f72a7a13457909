package app_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/internal/browsertest"
	"github.com/cedula/cedula/issuer/demo"
	"github.com/cedula/cedula/issuer/pages"
)

// TestBridgeInChromium: an agency built on coreos/go-oidc asks, with the
// claims parameter, for Ana's verified given name and age in the ID token
// and her family name at userinfo. Ana logs in with her passkey in real
// Chromium, reads on the consent page what the agency will receive and
// from which credential, and allows it; the agency gets verified_claims
// with those claims and nothing else. She then withdraws the purpose's
// consent on her account page; the next login's consent page tells her so
// and offers to give it again; she allows the login without it and the
// agency gets no verified claims, the log holding the ledger's denial.
// axe-core checks every page.
func TestBridgeInChromium(t *testing.T) {
	ctx := browsertest.Start(t, 3*time.Minute)
	axe := browsertest.AxeSource(t)
	e := newIssuerEnv(t)
	bg := context.Background()
	ana, api := e.walletCitizen("Ana")
	e.acceptPID(api, ana, "brc-1", nil)
	rp := e.bridgeAgency()
	rp.SetParam("claims", bridgeClaims)
	link, _, err := pages.Enrol(bg, e.s.Store, ana, "test", time.Hour, e.url)
	if err != nil {
		t.Fatal(err)
	}
	tab := browsertest.Tab{T: t, Ctx: ctx}
	phone, _ := enrolInChromium(tab, axe, link, "Teléfono")

	loginByAutofill(tab, e.url, phone, rp.URL+"/start", nil)
	tab.WaitTrue(`document.readyState === "complete" && document.querySelector('button[value="approve"]') !== null`)
	body := tab.Eval(`document.querySelector("main").innerText`)
	words := []string{"Agencia de demostración", "Signing in with your identity checked", "Given name", "Over 18", "Family name"}
	if tab.Eval(`document.documentElement.lang`) == "es" {
		words = []string{"Agencia de demostración", "Iniciar sesión con su identidad comprobada", "Nombre", "Mayor de 18", "Apellidos"}
	}
	for _, want := range words {
		if !strings.Contains(body, want) {
			t.Errorf("the consent page does not say %q: %s", want, body)
		}
	}
	browsertest.CheckAxe(t, ctx, axe, "consent with verified claims")
	tab.Do("allow", chromedp.Click(chromedp.CSS(`button[value="approve"]`)), chromedp.WaitVisible(chromedp.ID("rp-done")))
	first := rp.Result(t)
	idv, uiv := verifiedClaims(t, first)
	if want := map[string]any{"given_name": "Ana", "age_over_18": true}; idv == nil || !reflect.DeepEqual(idv["claims"], want) {
		t.Errorf("ID token verified_claims %v, want the claims %v", idv, want)
	}
	if want := map[string]any{"family_name": "Test"}; uiv == nil || !reflect.DeepEqual(uiv["claims"], want) {
		t.Errorf("userinfo verified_claims %v, want the claims %v", uiv, want)
	}
	var idt map[string]any
	first.IDToken.Claims(&idt)
	for _, k := range []string{"given_name", "family_name", "birthdate", "age_over_18"} {
		if _, ok := idt[k]; ok {
			t.Errorf("the ID token carries %s outside verified_claims: %v", k, idt)
		}
	}

	// Ana withdraws the verified sign-in's consent on her account page.
	tab.Do("open the account", chromedp.Navigate(e.url+"/account"), chromedp.WaitVisible(chromedp.ID("consents")))
	tab.Do("withdraw", chromedp.Click(chromedp.CSS(`form[action="/account/consents/withdraw"]:has(input[value="`+demo.VerifiedSignInPurposeID+`"]) button`)))
	tab.WaitPath("/account")
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if rec, err := e.s.Consent.Record(bg, ana, demo.VerifiedSignInPurposeID); err == nil && rec.State == consent.StateWithdrawn {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the consent was not withdrawn")
		}
	}
	loginByAutofill(tab, e.url, phone, rp.URL+"/start", nil)
	tab.WaitTrue(`document.querySelector('input[name="again"]') !== null`)
	browsertest.CheckAxe(t, ctx, axe, "consent after withdrawal")
	tab.Do("allow without giving it again", chromedp.Click(chromedp.CSS(`button[value="approve"]`)), chromedp.WaitVisible(chromedp.ID("rp-done")))
	if idv, uiv = verifiedClaims(t, rp.Result(t)); idv != nil || uiv != nil {
		t.Errorf("after withdrawal: ID token %v, userinfo %v, want no verified claims", idv, uiv)
	}
	if err := e.s.Audit.Flush(bg); err != nil {
		t.Fatal(err)
	}
	recs, _, err := e.s.Audit.EntriesAbout(bg, e.s.AuditSubject(ana), 0, audit.MaxEntries)
	if err != nil {
		t.Fatal(err)
	}
	last := "" // entries come newest first
	for _, r := range recs {
		en, _ := r.Entry()
		if en.Action == consent.ActionDecide && en.Actor.ID == demo.ClientID && en.Purpose == "dpv:IdentityVerification" {
			last = string(en.Outcome)
			break
		}
	}
	if last != string(audit.Denied) {
		t.Errorf("the last decision on the verified sign-in: %q, want denied", last)
	}
}
