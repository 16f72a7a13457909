package app_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/issuer/pages"
)

// TestAccountConsentForms: on the account page a citizen renews a consent
// whose notice changed, objects to a profiling purpose on public task (for
// which no consent was ever asked), and withdraws — each in one form
// post, each taking effect in the ledger at once; a change that does not
// apply is refused with the page, not a 500.
func TestAccountConsentForms(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	putPurpose(t, e.s, "tax-reminders", "tax", consent.Consent, "contact")
	if _, err := e.s.Consent.PutPurpose(ctx, consent.Purpose{ID: "benefit-matching", Name: consent.Text{ES: "Cruce de ayudas", EN: "Benefit matching"},
		Description: consent.Text{ES: "d", EN: "d"}, Controller: "social", LegalBasis: consent.PublicTask, Categories: []string{"income"},
		DPV: "dpv:ServiceProvision", NoticeVersion: "1", NoticeURL: "https://example.gov/privacy", Profiling: true}); err != nil {
		t.Fatal(err)
	}
	ana := e.citizen("Ana")
	if _, err := e.s.Consent.Give(ctx, consent.Request{Subject: ana, Purpose: "tax-reminders", Method: consent.MethodWeb}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Consent.PutPurpose(ctx, consent.Purpose{ID: "tax-reminders", Name: consent.Text{ES: "tax-reminders", EN: "tax-reminders"},
		Description: consent.Text{ES: "d", EN: "d"}, Controller: "tax", LegalBasis: consent.Consent, Categories: []string{"contact"},
		DPV: "dpv:ServiceProvision", NoticeVersion: "2", NoticeURL: "https://example.gov/privacy"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Consent.NoticeChanged(ctx, "tax-reminders"); err != nil {
		t.Fatal(err)
	}

	jar, _ := cookiejar.New(nil)
	base, _ := url.Parse(e.url)
	jar.SetCookies(base, []*http.Cookie{{Name: pages.SessionCookie, Value: e.session(ana)}})
	client := &http.Client{Jar: jar}
	csrfRe := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
	page := func() string {
		t.Helper()
		res, err := client.Get(e.url + "/account")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	post := func(action, purpose string) (int, string) {
		t.Helper()
		m := csrfRe.FindStringSubmatch(page())
		if m == nil {
			t.Fatal("no CSRF token on the account page")
		}
		res, err := client.PostForm(e.url+action, url.Values{"csrf_token": {m[1]}, "purpose": {purpose}})
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	state := func(purpose string) consent.State {
		r, err := e.s.Consent.Record(ctx, ana, purpose)
		if err != nil {
			return ""
		}
		return r.State
	}

	html := page()
	for _, want := range []string{`action="/account/consents/renew"`, `action="/account/consents/object"`, "Cruce de ayudas",
		"cambió su aviso de privacidad"} { // the citizen is told the consent awaits renewal
		if !strings.Contains(html, want) {
			t.Errorf("the account page lacks %s", want)
		}
	}
	if state("tax-reminders") != consent.StateRenewalRequired {
		t.Fatalf("before: %s, want renewal_required", state("tax-reminders"))
	}
	if status, body := post("/account/consents/renew", "tax-reminders"); status != 200 || !strings.Contains(body, `role="status"`) || state("tax-reminders") != consent.StateRenewed {
		t.Errorf("renew: %d, state %s", status, state("tax-reminders"))
	}
	if status, _ := post("/account/consents/object", "benefit-matching"); status != 200 || state("benefit-matching") != consent.StateObjected {
		t.Errorf("object: %d, state %s", status, state("benefit-matching"))
	}
	d, err := e.s.Consent.DecideUnaudited(ctx, consent.Query{Subject: ana, Controller: "social", Purpose: "benefit-matching", Categories: []string{"income"}})
	if err != nil || d.Allow || d.Reason != consent.ReasonObjected {
		t.Errorf("decision after the objection: %+v %v, want denied (objected)", d, err)
	}
	if status, _ := post("/account/consents/object", "benefit-matching"); status != http.StatusConflict {
		t.Errorf("objecting twice: %d, want 409", status)
	}
	if status, _ := post("/account/consents/object", "tax-reminders"); status != http.StatusConflict {
		t.Errorf("objecting to a consent-based purpose: %d, want 409", status)
	}
	if status, _ := post("/account/consents/withdraw", "tax-reminders"); status != 200 || state("tax-reminders") != consent.StateWithdrawn {
		t.Errorf("withdraw: %d, state %s", status, state("tax-reminders"))
	}
	if status, _ := post("/account/consents/renew", "no-such-purpose"); status != http.StatusConflict {
		t.Errorf("renewing an unknown purpose: %d, want 409", status)
	}
	for _, purpose := range []string{"", strings.Repeat("x", 65)} {
		if status, _ := post("/account/consents/withdraw", purpose); status != http.StatusBadRequest {
			t.Errorf("withdraw with purpose %q: %d, want 400", purpose, status)
		}
	}
	// Without the CSRF token nothing changes.
	res, err := client.PostForm(e.url+"/account/consents/withdraw", url.Values{"purpose": {"benefit-matching"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode == 200 || state("benefit-matching") != consent.StateObjected {
		t.Errorf("a form without its CSRF token: %d, state %s; want refused, still objected", res.StatusCode, state("benefit-matching"))
	}
}
