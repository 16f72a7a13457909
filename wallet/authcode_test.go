package wallet_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cedula/cedula/internal/testutil"
	"github.com/cedula/cedula/wallet"
)

const (
	testClientID = "wallet-app"
	testRedirect = "es.cedula.wallet:/oauth/callback"
)

// clock is a wallet's settable time.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// authWallet is a wallet that logs in at issuers, on a clock of its own.
func authWallet(t *testing.T) (*wallet.Service, *memStore, *clock) {
	c := &clock{now: time.Now()}
	w, st := newWalletWith(t, func(cfg *wallet.Config) {
		cfg.ClientID, cfg.RedirectURI, cfg.Now = testClientID, testRedirect, c.Now
	})
	return w, st, c
}

// browse follows an authorization URL as the citizen's browser would, up
// to the redirect back to the wallet, which it returns.
func browse(t *testing.T, authURL string) string {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound {
		t.Fatalf("GET %s: got %d, want a redirect back to the wallet", authURL, res.StatusCode)
	}
	return res.Header.Get("Location")
}

// TestAuthorizationCode: for an offer with the authorization_code grant,
// or none, the wallet pushes (or, without PAR, sends in the URL) a request
// with PKCE S256, a state, the offer's issuer_state and
// authorization_details (or the configuration's scope when the server
// takes no details), DPoP-bound; the redirect back is redeemed with the
// verifier and the same DPoP key, and the credential is received by its
// identifier.
func TestAuthorizationCode(t *testing.T) {
	for _, fault := range []string{"authcode", "no-par", "by-scope", "no-grants"} {
		t.Run(fault, func(t *testing.T) {
			f := newFakeIssuer(t, fault)
			w, st, _ := authWallet(t)
			ctx := t.Context()
			link := "openid-credential-offer://?credential_offer_uri=" + urlEscape(f.srv.URL+"/offer")
			if _, err := w.AcceptOffer(ctx, "ana", wallet.Accept{Offer: link}, "en"); !errors.Is(err, wallet.ErrNeedsAuthorization) {
				t.Fatalf("AcceptOffer: got %v, want ErrNeedsAuthorization", err)
			}
			a, err := w.BeginAuthorization(ctx, "ana", wallet.Accept{Offer: link}, nil)
			if err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(a.URL)
			if u.Path != "/authorize" || (fault == "no-par") != (u.Query().Get("request_uri") == "") {
				t.Errorf("authorization URL %s: pushed %v, want %v", a.URL, u.Query().Get("request_uri") != "", fault != "no-par")
			}
			back := browse(t, a.URL)
			p := f.par
			want := map[string]string{"response_type": "code", "client_id": testClientID, "redirect_uri": testRedirect,
				"code_challenge_method": "S256", "issuer_state": "is-1"}
			switch fault {
			case "by-scope":
				want["scope"], want["authorization_details"] = "pid-scope", ""
			case "no-grants":
				want["issuer_state"] = ""
			}
			for k, v := range want {
				if got := p.Get(k); got != v {
					t.Errorf("request's %s: got %q, want %q", k, got, v)
				}
			}
			if fault != "by-scope" && !strings.Contains(p.Get("authorization_details"), `"credential_configuration_id":"pid"`) {
				t.Errorf("authorization_details: got %q, want pid's", p.Get("authorization_details"))
			}
			if p.Get("state") == "" || len(p.Get("code_challenge")) != 43 || f.parJKT == "" {
				t.Errorf("state %q, code_challenge %q, DPoP key %q: want all three", p.Get("state"), p.Get("code_challenge"), f.parJKT)
			}
			got, err := w.FinishAuthorization(ctx, "ana", a.ID, wallet.Callback{URL: back}, "en")
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Credentials) != 1 || got.Credentials[0].Claims["given_name"] != "Ana" || got.Credentials[0].KeyMode != wallet.KeySealed {
				t.Fatalf("received: %+v", got)
			}
			if len(st.recs) != 1 || len(f.notes) != 1 {
				t.Errorf("%d held, %d notifications: want 1 and 1", len(st.recs), len(f.notes))
			}
			if _, err := w.FinishAuthorization(ctx, "ana", a.ID, wallet.Callback{URL: back}, "en"); !errors.Is(err, wallet.ErrNotFound) {
				t.Errorf("the same callback again: got %v, want ErrNotFound", err)
			}
		})
	}
}

// TestAuthorizationRefusals: a callback that does not answer the pending
// authorization voids it; the server's refusal, another citizen's or an
// expired authorization, and servers without the flow say so.
func TestAuthorizationRefusals(t *testing.T) {
	ctx := t.Context()
	begin := func(t *testing.T, fault string) (*fakeIssuer, *wallet.Service, *clock, wallet.Authorization, string) {
		f := newFakeIssuer(t, fault)
		w, _, c := authWallet(t)
		a, err := w.BeginAuthorization(ctx, "ana", wallet.Accept{Offer: "openid-credential-offer://?credential_offer_uri=" + urlEscape(f.srv.URL+"/offer")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return f, w, c, a, browse(t, a.URL)
	}
	swap := func(back, key, value string) string {
		u, _ := url.Parse(back)
		q := u.Query()
		q.Set(key, value)
		u.RawQuery = q.Encode()
		return u.String()
	}
	for _, c := range []struct {
		name, fault string
		callback    func(back string) wallet.Callback
		kind        error
		detail      string
	}{
		{"another state", "authcode", func(b string) wallet.Callback { return wallet.Callback{URL: swap(b, "state", "forged")} }, wallet.ErrCallback, "state"},
		{"code and state apart, another state", "authcode", func(string) wallet.Callback { return wallet.Callback{Code: "the-auth-code", State: "forged"} }, wallet.ErrCallback, "state"},
		{"no code", "authcode", func(b string) wallet.Callback { return wallet.Callback{URL: swap(b, "code", "")} }, wallet.ErrCallback, "no code"},
		{"another redirect URI", "authcode", func(b string) wallet.Callback {
			return wallet.Callback{URL: "https://evil.example/cb?" + strings.SplitN(b, "?", 2)[1]}
		}, wallet.ErrCallback, "redirect URI"},
		{"another server's iss", "authcode", func(b string) wallet.Callback { return wallet.Callback{URL: swap(b, "iss", "https://evil.example")} }, wallet.ErrCallback, "iss"},
		{"access denied", "access-denied", func(b string) wallet.Callback { return wallet.Callback{URL: b} }, wallet.ErrRefused, "access_denied"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, w, _, a, back := begin(t, c.fault)
			_, err := w.FinishAuthorization(ctx, "ana", a.ID, c.callback(back), "en")
			var we *wallet.Error
			if !errors.Is(err, c.kind) || !errors.As(err, &we) || !strings.Contains(we.Detail, c.detail) {
				t.Fatalf("got %v, want %v saying %q", err, c.kind, c.detail)
			}
			if _, err := w.FinishAuthorization(ctx, "ana", a.ID, wallet.Callback{URL: back}, "en"); !errors.Is(err, wallet.ErrNotFound) {
				t.Errorf("after a wrong callback, the right one: got %v, want ErrNotFound (void)", err)
			}
		})
	}
	t.Run("another citizen, then expired", func(t *testing.T) {
		_, w, clk, a, back := begin(t, "authcode")
		if _, err := w.FinishAuthorization(ctx, "beto", a.ID, wallet.Callback{URL: back}, "en"); !errors.Is(err, wallet.ErrNotFound) {
			t.Errorf("Beto: got %v, want ErrNotFound", err)
		}
		if _, err := w.FinishDeviceAccept(ctx, "ana", a.ID, []string{"x"}, "en"); !errors.Is(err, wallet.ErrNotFound) {
			t.Errorf("as a device acceptance: got %v, want ErrNotFound", err)
		}
		clk.add(wallet.AuthorizationTTL + time.Second)
		if _, err := w.FinishAuthorization(ctx, "ana", a.ID, wallet.Callback{URL: back}, "en"); !errors.Is(err, wallet.ErrNotFound) {
			t.Errorf("expired: got %v, want ErrNotFound", err)
		}
	})
	for fault, kind := range map[string]error{"no-authcode": wallet.ErrUnsupported, "": wallet.ErrOffer} {
		f := newFakeIssuer(t, fault)
		w, _, _ := authWallet(t)
		if _, err := w.BeginAuthorization(ctx, "ana", wallet.Accept{Offer: "openid-credential-offer://?credential_offer_uri=" + urlEscape(f.srv.URL+"/offer")}, nil); !errors.Is(err, kind) {
			t.Errorf("fault %q: got %v, want %v", fault, err, kind)
		}
	}
	f := newFakeIssuer(t, "authcode")
	w, _ := newWallet(t) // no client ID or redirect URI
	if _, err := w.BeginAuthorization(ctx, "ana", wallet.Accept{Offer: "openid-credential-offer://?credential_offer_uri=" + urlEscape(f.srv.URL+"/offer")}, nil); !errors.Is(err, wallet.ErrUnsupported) {
		t.Errorf("a wallet that does not log in at issuers: got %v, want ErrUnsupported", err)
	}
}

// TestAuthorizationDeviceKeys: after the login, device-bound keys take the
// usual second step: what the phone must sign, then its signatures.
func TestAuthorizationDeviceKeys(t *testing.T) {
	f := newFakeIssuer(t, "authcode")
	w, st, _ := authWallet(t)
	ctx := t.Context()
	a, b := testutil.NewPhoneKey(t), testutil.NewPhoneKey(t)
	auth, err := w.BeginAuthorization(ctx, "ana", wallet.Accept{Offer: "openid-credential-offer://?credential_offer_uri=" + urlEscape(f.srv.URL+"/offer"),
		KeyMode: wallet.KeyDevice}, []json.RawMessage{a.JWK(), b.JWK()})
	if err != nil {
		t.Fatal(err)
	}
	got, err := w.FinishAuthorization(ctx, "ana", auth.ID, wallet.Callback{URL: browse(t, auth.URL)}, "en")
	if err != nil || got.Pending == nil || len(got.Pending.SigningInputs) != 2 || len(got.Credentials) != 0 {
		t.Fatalf("after the login: %+v %v, want two signing inputs", got, err)
	}
	in := got.Pending.SigningInputs
	done, err := w.FinishDeviceAccept(ctx, "ana", got.Pending.ID, []string{a.Sign(t, in[0].Input), b.Sign(t, in[1].Input)}, "en")
	if err != nil || len(done.Credentials) != 1 || done.Credentials[0].KeyMode != wallet.KeyDevice {
		t.Fatalf("device-bound: %+v %v", done, err)
	}
	for _, r := range st.recs {
		if strings.Contains(string(r.Sealed), `"d":`) {
			t.Error("a device-bound credential's record holds a private key")
		}
	}
}

// TestAuthorizationChosen: of an offer with both grants, the wallet takes
// the pre-authorized code unless the citizen chooses to log in.
func TestAuthorizationChosen(t *testing.T) {
	f := newFakeIssuer(t, "both-grants")
	w, _, _ := authWallet(t)
	ctx := t.Context()
	link := "openid-credential-offer://?credential_offer_uri=" + urlEscape(f.srv.URL+"/offer")
	if _, err := w.AcceptOffer(ctx, "ana", wallet.Accept{Offer: link, Grant: wallet.GrantAuthorizationCode}, "en"); !errors.Is(err, wallet.ErrNeedsAuthorization) {
		t.Fatalf("choosing the login: got %v, want ErrNeedsAuthorization", err)
	}
	if _, err := w.BeginAuthorization(ctx, "ana", wallet.Accept{Offer: link, Grant: wallet.GrantPreAuthorized}, nil); !errors.Is(err, wallet.ErrOffer) {
		t.Errorf("a login for the pre-authorized code: got %v, want ErrOffer", err)
	}
	a, err := w.BeginAuthorization(ctx, "ana", wallet.Accept{Offer: link, Grant: wallet.GrantAuthorizationCode}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := w.FinishAuthorization(ctx, "ana", a.ID, wallet.Callback{URL: browse(t, a.URL)}, "en")
	if err != nil || len(got.Credentials) != 1 || f.par.Get("issuer_state") != "is-1" {
		t.Fatalf("by login: %+v %v, issuer_state %q", got, err, f.par.Get("issuer_state"))
	}
	if got, err := w.AcceptOffer(ctx, "ana", wallet.Accept{Offer: link, TxCode: "4321"}, "en"); err != nil || len(got.Credentials) != 1 {
		t.Errorf("by default, the pre-authorized code: %+v %v", got, err)
	}
}
