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
	"time"

	"github.com/cedula/cedula/cmd/cedula/app"
	"github.com/cedula/cedula/internal/scopes"
	"github.com/cedula/cedula/issuer/demo"
	"github.com/cedula/cedula/issuer/pages"
	"github.com/cedula/cedula/mobile-api/mobileclient"
)

// browseToWallet follows an authorization URL as the citizen's browser
// would, with her passkey login session (cookie): through the login and
// the consent page, where she approves, until the provider sends the
// browser back to the wallet app's redirect URI, which it returns.
func (e *env) browseToWallet(authURL, cookie string) string {
	e.t.Helper()
	jar, _ := cookiejar.New(nil)
	base, _ := url.Parse(e.url)
	jar.SetCookies(base, []*http.Cookie{{Name: pages.SessionCookie, Value: cookie}})
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	csrf := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
	res, err := browser.Get(authURL)
	for range 10 {
		if err != nil {
			e.t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		switch {
		case res.StatusCode/100 == 3:
			loc, err := res.Request.URL.Parse(res.Header.Get("Location"))
			if err != nil {
				e.t.Fatal(err)
			}
			if strings.HasPrefix(loc.String(), walletRedirect) {
				return loc.String()
			}
			res, err = browser.Get(loc.String())
		case res.StatusCode == http.StatusOK && res.Request.URL.Path == "/consent":
			m := csrf.FindSubmatch(body)
			if m == nil {
				e.t.Fatalf("the consent page has no form: %s", body)
			}
			res, err = browser.PostForm(e.url+"/consent", url.Values{"csrf_token": {string(m[1])},
				"authRequestID": {res.Request.URL.Query().Get("authRequestID")}, "decision": {"approve"}})
		default:
			e.t.Fatalf("the browser at %s got %d: %.300s", res.Request.URL, res.StatusCode, body)
		}
	}
	e.t.Fatal("too many steps")
	return ""
}

// TestMobileAuthorizationCodeOffer, over HTTP with the generated client:
// the citizen chooses to take the agency's offer by logging in at the
// issuer; the app gets the authorization URL, the browser goes through her
// passkey session and the consent page and comes back to the app's
// redirect URI; the app hands the callback over and the credential is in
// the wallet — the agency's very offer, tied to it by its issuer_state. A
// forged state voids the acceptance; the callback again finds nothing.
func TestMobileAuthorizationCodeOffer(t *testing.T) {
	e := newIssuerEnv(t)
	ctx := context.Background()
	ana := e.citizen("Ana")
	e.loggedInAt(app.WalletClientID, ana)
	cookie := e.session(ana)
	ak, at := e.walletLogin(cookie)
	api := e.mobileClient(ak, at)
	agencyToken := e.token(demo.MachineID, scopes.Issuance)
	en := mobileclient.AcceptLanguage("en")
	login := mobileclient.AuthorizationCode

	begin := func(key string) (mobileclient.PendingAuthorization, string) {
		t.Helper()
		_, offer := e.offer(agencyToken, e.loggedInAt(demo.MachineID, ana), "pid")
		res, err := api.AcceptOfferWithResponse(ctx, &mobileclient.AcceptOfferParams{IdempotencyKey: key, AcceptLanguage: &en},
			mobileclient.AcceptOfferRequest{Offer: offer["credential_offer_uri"].(string), Grant: &login})
		if err != nil || res.JSON200 == nil {
			t.Fatalf("accept by login: %v %d %s", err, res.StatusCode(), res.Body)
		}
		if !strings.HasPrefix(res.JSON200.AuthorizationUrl, e.url+"/authorize?") || !strings.Contains(res.JSON200.AuthorizationUrl, "request_uri=") {
			t.Errorf("authorization_url: got %q, want a pushed request at %s/authorize", res.JSON200.AuthorizationUrl, e.url)
		}
		return *res.JSON200, offer["credential_id"].(string)
	}

	// A callback of another state voids the acceptance.
	p, _ := begin("ac-1")
	back := e.browseToWallet(p.AuthorizationUrl, cookie)
	forged := regexp.MustCompile(`state=[^&]+`).ReplaceAllString(back, "state=forged")
	res, err := api.CompleteOfferAuthorizationWithResponse(ctx, p.Id, &mobileclient.CompleteOfferAuthorizationParams{IdempotencyKey: "ac-2"},
		mobileclient.AuthorizationCallback{CallbackUrl: &forged})
	if err != nil || res.StatusCode() != http.StatusBadRequest || !strings.Contains(string(res.Body), "state") {
		t.Errorf("a forged state: %v %d %s, want a 400 naming the state", err, res.StatusCode(), res.Body)
	}
	res, _ = api.CompleteOfferAuthorizationWithResponse(ctx, p.Id, &mobileclient.CompleteOfferAuthorizationParams{IdempotencyKey: "ac-3"},
		mobileclient.AuthorizationCallback{CallbackUrl: &back})
	if res.StatusCode() != http.StatusNotFound {
		t.Errorf("after a forged state, the real callback: %d, want 404", res.StatusCode())
	}

	p, credID := begin("ac-4")
	back = e.browseToWallet(p.AuthorizationUrl, cookie)
	res, err = api.CompleteOfferAuthorizationWithResponse(ctx, p.Id, &mobileclient.CompleteOfferAuthorizationParams{IdempotencyKey: "ac-5", AcceptLanguage: &en},
		mobileclient.AuthorizationCallback{CallbackUrl: &back})
	if err != nil || res.JSON201 == nil || len(res.JSON201.Credentials) != 1 {
		t.Fatalf("complete: %v %d %s", err, res.StatusCode(), res.Body)
	}
	if c := res.JSON201.Credentials[0]; c.Claims["given_name"] != "Ana" || string(c.KeyMode) != "sealed" || c.Issuer != e.url {
		t.Errorf("received: %+v", c)
	}
	if r, got := e.do(http.MethodGet, "/issuance/credentials/"+credID, agencyToken, ""); r.StatusCode != http.StatusOK || got["state"] != "issued" {
		t.Errorf("the agency's offer %s: %d %v, want issued", credID, r.StatusCode, got)
	}
	list, err := api.ListCredentialsWithResponse(ctx, nil)
	if err != nil || list.JSON200 == nil || len(list.JSON200.Items) != 1 {
		t.Errorf("list: %v %s", err, list.Body)
	}
	res, _ = api.CompleteOfferAuthorizationWithResponse(ctx, p.Id, &mobileclient.CompleteOfferAuthorizationParams{IdempotencyKey: "ac-6"},
		mobileclient.AuthorizationCallback{CallbackUrl: &back})
	if res.StatusCode() != http.StatusNotFound {
		t.Errorf("the callback again: %d, want 404", res.StatusCode())
	}
}

// TestMobileDeferredIssuance, over HTTP: a type the agency approves by
// hand is deferred; the app lists it and, asking before the issuer's
// interval, is told when to retry; the server's housekeeping asks the
// issuer when it falls due — still pending before the agency approves,
// received after — and the credential is listed, the deferred issuance
// gone.
func TestMobileDeferredIssuance(t *testing.T) {
	e := newIssuerEnv(t)
	ctx := context.Background()
	ana := e.citizen("Ana")
	e.loggedInAt(app.WalletClientID, ana)
	ak, at := e.walletLogin(e.session(ana))
	api := e.mobileClient(ak, at)
	agencyToken := e.token(demo.MachineID, scopes.Issuance)
	_, offer := e.offer(agencyToken, e.loggedInAt(demo.MachineID, ana), "business-representation")
	tx := offer["tx_code"].(string)
	acc, err := api.AcceptOfferWithResponse(ctx, &mobileclient.AcceptOfferParams{IdempotencyKey: "d-1"},
		mobileclient.AcceptOfferRequest{Offer: offer["credential_offer_uri"].(string), TxCode: &tx})
	if err != nil || acc.JSON201 == nil || len(acc.JSON201.Credentials) != 0 || acc.JSON201.Deferred == nil || len(*acc.JSON201.Deferred) != 1 {
		t.Fatalf("accept: %v %d %s, want one deferred and no credential", err, acc.StatusCode(), acc.Body)
	}
	d := (*acc.JSON201.Deferred)[0]
	if d.ConfigurationId != "business-representation" || d.RetryAt.Before(time.Now().Add(30*time.Second)) {
		t.Errorf("deferred: %+v, want business-representation, retry in about a minute", d)
	}
	if l, err := api.ListDeferredIssuancesWithResponse(ctx, nil); err != nil || l.JSON200 == nil || len(l.JSON200.Items) != 1 || l.JSON200.Items[0].Id != d.Id {
		t.Fatalf("list deferred: %v %s", err, l.Body)
	}
	// At rest, the transaction, its token and the holder keys are sealed.
	var sealed []byte
	if err := e.s.DB.QueryRowContext(ctx, `SELECT sealed FROM wallet_deferred WHERE id = $1`, d.Id).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	for _, clear := range []string{"transaction_id", `"d":`, "DPoP", "business-representation"} {
		if strings.Contains(string(sealed), clear) {
			t.Errorf("the deferred row holds %q in the clear", clear)
		}
	}
	early, err := api.CollectDeferredIssuanceWithResponse(ctx, d.Id, &mobileclient.CollectDeferredIssuanceParams{IdempotencyKey: "d-2"})
	if err != nil || early.JSON202 == nil || early.HTTPResponse.Header.Get("Retry-After") == "" {
		t.Fatalf("collect before the interval: %v %d %s, want 202 with Retry-After", err, early.StatusCode(), early.Body)
	}

	// Housekeeping, an hour on: the issuer is asked, and says pending.
	if n, err := e.s.Wallet.PollDeferred(ctx, time.Now().Add(time.Hour)); n != 0 || err != nil {
		t.Fatalf("before approval: %d %v", n, err)
	}
	if l, _ := api.ListDeferredIssuancesWithResponse(ctx, nil); l.JSON200 == nil || len(l.JSON200.Items) != 1 {
		t.Fatalf("still deferred: %s", l.Body)
	}
	credID := offer["credential_id"].(string)
	if r, out := e.do(http.MethodPost, "/issuance/credentials/"+credID+"/approval", agencyToken, `{"approve":true}`); r.StatusCode != http.StatusOK {
		t.Fatalf("approval: %d %v", r.StatusCode, out)
	}
	if n, err := e.s.Wallet.PollDeferred(ctx, time.Now().Add(2*time.Hour)); n != 1 || err != nil {
		t.Fatalf("after approval: %d %v, want 1 credential", n, err)
	}
	list, err := api.ListCredentialsWithResponse(ctx, nil)
	if err != nil || list.JSON200 == nil || len(list.JSON200.Items) != 1 || list.JSON200.Items[0].ConfigurationId != "business-representation" {
		t.Fatalf("credentials: %v %s", err, list.Body)
	}
	if l, _ := api.ListDeferredIssuancesWithResponse(ctx, nil); l.JSON200 == nil || len(l.JSON200.Items) != 0 {
		t.Errorf("deferred after issuance: %s", l.Body)
	}
	if r, got := e.do(http.MethodGet, "/issuance/credentials/"+credID, agencyToken, ""); r.StatusCode != http.StatusOK || got["state"] != "issued" {
		t.Errorf("the agency's issuance: %d %v, want issued", r.StatusCode, got)
	}
	gone, _ := api.CollectDeferredIssuanceWithResponse(ctx, d.Id, &mobileclient.CollectDeferredIssuanceParams{IdempotencyKey: "d-3"})
	if gone.StatusCode() != http.StatusNotFound {
		t.Errorf("collecting what came: %d, want 404", gone.StatusCode())
	}
}
