package app_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/internal/browsertest"
	"github.com/cedula/cedula/internal/config"
	"github.com/cedula/cedula/internal/scopes"
	"github.com/cedula/cedula/internal/testutil"
	"github.com/cedula/cedula/issuer/demo"
	"github.com/cedula/cedula/issuer/pages"
	"github.com/cedula/cedula/mobile-api/mobileclient"
	cwallet "github.com/cedula/cedula/wallet"
)

// appCallback listens on a loopback port as the wallet app does for its
// login (RFC 8252 §7.3) and returns its redirect URI and the addresses
// the browser comes back to it with.
func appCallback(t *testing.T) (string, <-chan *url.URL) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	back := make(chan *url.URL, 1)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><html lang="en"><meta charset="utf-8"><title>Cedula</title><main><h1>Done</h1></main></html>`)
		select {
		case back <- r.URL:
		default:
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return fmt.Sprintf("http://%s/callback", ln.Addr()), back
}

// TestWalletJourneyInChromium is the citizen's wallet end to end, over
// HTTP only: Ana enrols with a passkey in headless Chromium; the wallet
// app pushes its authorization request (PAR, PKCE, DPoP) and sends her
// browser to the login page, where the passkey answers, and to the consent
// page, which she allows; the browser comes back to the app's loopback
// redirect URI and the app redeems the code for a DPoP-bound token. With
// the client generated from openapi/mobile.yaml the app, holding her inbox
// stream open, accepts our issuer's PID (sealed keys) and a library card
// from the Node issuer (@openid4vc/openid4vci, testdata/node_issuer.mjs)
// with keys the phone holds, signing the key proofs as a phone would; the
// stream tells of both, and the list shows both. She presents each to the
// Node verifier (@openid4vc/openid4vp and @sd-jwt/sd-jwt-vc,
// testdata/node_verifier.mjs) approving her names alone — the PID's
// KB-JWT signed by the wallet, the card's by the phone — and the verifier
// finds the KB-JWTs verified and nothing of hers but the two names. The
// presentation history and her activity show both; the agency suspends
// the PID and the stream says so. axe-core checks every Cedula page the
// browser shows.
func TestWalletJourneyInChromium(t *testing.T) {
	node := needNode(t)
	ctx := browsertest.Start(t, 4*time.Minute)
	axe := browsertest.AxeSource(t)
	redirect, back := appCallback(t)
	e, ca := newPresentEnv(t, func(c *config.Config) { c.WalletRedirectURIs = append(c.WalletRedirectURIs, redirect) })
	bg := context.Background()
	ana := e.citizen("Ana")
	link, _, err := pages.Enrol(bg, e.s.Store, ana, "test", time.Hour, e.url)
	if err != nil {
		t.Fatal(err)
	}
	tab := browsertest.Tab{T: t, Ctx: ctx}

	// 1. Enrolment, then the wallet app's login with the passkey.
	phone, _ := enrolInChromium(tab, axe, link, "Teléfono")
	login := e.startWalletLogin(redirect, nil)
	loginByAutofill(tab, e.url, phone, login.loginURL, func() {
		browsertest.CheckAxe(t, ctx, axe, "login for the wallet app")
	})
	if h1 := tab.Eval(`document.querySelector("main h1").innerText`); !strings.Contains(h1, "Cedula") {
		t.Errorf("consent page: got heading %q, want the wallet app named", h1)
	}
	browsertest.CheckAxe(t, ctx, axe, "consent for the wallet app")
	tab.Do("allow the wallet app", chromedp.Click(chromedp.CSS(`button[value="approve"]`)))
	var cameBack *url.URL
	select {
	case cameBack = <-back:
	case <-time.After(30 * time.Second):
		t.Fatalf("the browser never came back to the app; it is at %s", tab.Eval(`location.href`))
	}
	api := e.mobileClient(login.dpop, login.finish(cameBack))
	me, err := api.GetMeWithResponse(bg, nil)
	if err != nil || me.JSON200 == nil || me.JSON200.GivenName != "Ana" {
		t.Fatalf("GET /me: %v %d %s, want Ana", err, me.StatusCode(), me.Body)
	}
	events, stop := openStream(t, api, "en", "")
	defer stop()

	// 2. Our issuer's PID, with sealed keys.
	pid := e.acceptPID(api, ana, "journey-pid", nil)
	if pid.KeyMode != "sealed" || pid.Claims["given_name"] != "Ana" {
		t.Errorf("the PID: got key mode %s and given_name %v, want sealed and Ana", pid.KeyMode, pid.Claims["given_name"])
	}
	if ev := awaitEvent(t, events, "credential_received"); ev.Msg.CredentialId == nil || *ev.Msg.CredentialId != pid.Id {
		t.Errorf("the stream: got %+v, want the PID received", ev.Msg)
	}

	// 3. The Node issuer's card, with keys the phone holds.
	iss := node.start(t, "node_issuer.mjs")
	first := iss.line()
	base, txCode := first["base"].(string), first["tx_code"].(string)
	keys := []testutil.PhoneKey{testutil.NewPhoneKey(t), testutil.NewPhoneKey(t)}
	card := e.acceptOnPhone(api, mobileclient.AcceptOfferRequest{Offer: first["offer"].(string), TxCode: &txCode}, "journey-card", keys)
	if card.KeyMode != "device" || card.Issuer != base {
		t.Errorf("the card: got key mode %s from %s, want device from %s", card.KeyMode, card.Issuer, base)
	}
	checkCardClaims(t, card.Claims)
	if ev := awaitEvent(t, events, "credential_received"); ev.Msg.CredentialId == nil || *ev.Msg.CredentialId != card.Id {
		t.Errorf("the stream: got %+v, want the card received", ev.Msg)
	}

	// 4. The list.
	list, err := api.ListCredentialsWithResponse(bg, nil)
	if err != nil || list.JSON200 == nil {
		t.Fatalf("list: %v %s", err, list.Body)
	}
	var held []string
	for _, c := range list.JSON200.Items {
		held = append(held, fmt.Sprintf("%s %s %s", c.Id, c.KeyMode, c.Status))
	}
	slices.Sort(held)
	want := []string{pid.Id + " sealed valid", card.Id + " device valid"}
	slices.Sort(want)
	if !slices.Equal(held, want) {
		t.Errorf("the list: got %q, want %q", held, want)
	}

	// 5. Each credential to the Node verifier, which trusts both issuers:
	// Ana approves her names and leaves the birthdate out (claim set 1).
	key, leaf := ca.Leaf(t, "localhost")
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	v := node.start(t, "node_verifier.mjs", "ISSUER="+e.url+" "+base,
		"VERIFIER_KEY="+base64.StdEncoding.EncodeToString(pkcs8), "VERIFIER_X5C="+base64.StdEncoding.EncodeToString(leaf))
	v.line() // {base}
	names := []string{`["given_name"]`, `["family_name"]`}
	for _, tc := range []struct {
		cred         mobileclient.Credential
		mode, method string
		issuer       string
		seen         map[string]any
	}{
		{pid, cwallet.ModeDirectPost, "get", e.url, map[string]any{"given_name": "Ana", "family_name": "Test"}},
		{card, cwallet.ModeDirectPostJWT, "post", base, map[string]any{"given_name": "Lucía", "family_name": "Paredes Soto"}},
	} {
		v.send(fmt.Sprintf(`{"mode":%q,"method":%q,"vct":%q,"purpose":%q}`, tc.mode, tc.method, tc.cred.Vct, verifierPurpose))
		made := v.line()
		res, err := api.ResolvePresentationWithResponse(bg, nil, mobileclient.ResolvePresentationRequest{Request: made["link"].(string)})
		if err != nil || res.JSON200 == nil {
			t.Fatalf("%s: resolve: %v %d %s", tc.cred.KeyMode, err, res.StatusCode(), res.Body)
		}
		req := res.JSON200
		if !req.Verifier.Verified || len(req.Queries) != 1 || len(req.Queries[0].Matches) != 1 || req.Queries[0].Matches[0].CredentialId != tc.cred.Id {
			t.Fatalf("%s: the request: got %s, want a verified verifier and one query answered by %s", tc.cred.KeyMode, res.Body, tc.cred.Id)
		}
		one := map[string]int{"pid": 1}
		sent, err := api.ApprovePresentationWithResponse(bg, req.Id, &mobileclient.ApprovePresentationParams{IdempotencyKey: "journey-" + tc.cred.Id},
			mobileclient.PresentationApproval{Credentials: map[string][]string{"pid": {tc.cred.Id}}, ClaimSets: &one})
		if err != nil {
			t.Fatalf("%s: approve: %v", tc.cred.KeyMode, err)
		}
		result, body := sent.JSON201, sent.Body
		if tc.cred.KeyMode == "device" && sent.JSON202 != nil {
			// The phone signs the KB-JWT with the key the wallet names.
			in := sent.JSON202.SigningInputs
			if len(in) != 1 {
				t.Fatalf("device: signing inputs %s, want one", sent.Body)
			}
			jwk, _ := json.Marshal(in[0].Key)
			i := slices.IndexFunc(keys, func(k testutil.PhoneKey) bool { return string(k.JWK()) == string(jwk) })
			if i < 0 {
				t.Fatalf("device: the KB-JWT's key %s is none of the phone's", jwk)
			}
			done, err := api.CompletePresentationWithResponse(bg, sent.JSON202.Id, &mobileclient.CompletePresentationParams{IdempotencyKey: "journey-done"},
				mobileclient.CompletePresentationRequest{Signatures: []string{keys[i].Sign(t, in[0].Input)}})
			if err != nil {
				t.Fatalf("device: complete: %v", err)
			}
			result, body = done.JSON201, done.Body
		}
		if result == nil || result.Presentation.Outcome != "sent" {
			t.Fatalf("%s: the presentation: got %s, want sent", tc.cred.KeyMode, body)
		}
		got := readAnswer(t, v)
		if got.Mode != tc.mode || got.State != made["state"] || got.Error != "" || len(got.Presentations) != 1 {
			t.Fatalf("%s: the verifier's answer: got %+v, want one presentation in %s with the request's state", tc.cred.KeyMode, got, tc.mode)
		}
		p := got.Presentations[0]
		if !p.KBVerified || p.KB.Typ != cwallet.KBType || p.KB.Aud != "x509_san_dns:localhost" || !p.KB.NonceMatches || p.Issuer != tc.issuer || p.VCT != tc.cred.Vct {
			t.Errorf("%s: the verifier checked: got %+v, want a verified KB-JWT for x509_san_dns:localhost from %s", tc.cred.KeyMode, p, tc.issuer)
		}
		if want := []string{"family_name", "given_name"}; !slices.Equal(p.Disclosed, want) {
			t.Errorf("%s: disclosures the verifier received: got %q, want %q alone", tc.cred.KeyMode, p.Disclosed, want)
		}
		personal := map[string]any{}
		for k, x := range p.Claims {
			if k != "issuing_authority" && k != "issuing_country" { // our issuer's, the same for every holder
				personal[k] = x
			}
		}
		if !reflect.DeepEqual(personal, tc.seen) {
			t.Errorf("%s: the claims the verifier sees: got %v, want %v", tc.cred.KeyMode, p.Claims, tc.seen)
		}
	}

	// 6. The history, newest first, and the activity.
	h, err := api.ListPresentationsWithResponse(bg, nil)
	if err != nil || h.JSON200 == nil {
		t.Fatalf("history: %v %s", err, h.Body)
	}
	var history []string
	for _, p := range h.JSON200.Items {
		for _, c := range p.Credentials {
			history = append(history, fmt.Sprintf("%s %s %s %v", p.Outcome, p.Verifier.ClientId, c.CredentialId, slices.Equal(c.Claims, names)))
		}
	}
	if want := []string{"sent x509_san_dns:localhost " + card.Id + " true", "sent x509_san_dns:localhost " + pid.Id + " true"}; !slices.Equal(history, want) {
		t.Errorf("history: got %q, want %q (true: the two names alone)", history, want)
	}
	// The activity: both presentations, and the consent they rest on,
	// each proven against the signed checkpoint (which follows the log
	// within a second).
	var presented, consented int
	for deadline := time.Now().Add(15 * time.Second); presented < 2 && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		limit := 100
		act, err := api.ListActivityWithResponse(bg, &mobileclient.ListActivityParams{Limit: &limit})
		if err != nil || act.JSON200 == nil || act.JSON200.Checkpoint == "" {
			t.Fatalf("activity: %v %s", err, act.Body)
		}
		presented, consented = 0, 0
		for _, it := range act.JSON200.Items {
			self := it.Actor.Self != nil && *it.Actor.Self
			proven := it.Index == 0 || len(it.Proof) > 0
			switch {
			case it.Action == cwallet.ActionPresent && it.Outcome == "allowed" && self && proven:
				presented++
			case it.Action == consent.Action(consent.Given) && it.Purpose != nil && *it.Purpose == "dpv:IdentityVerification" &&
				it.ConsentRecord != nil && self && proven:
				consented++
			}
		}
	}
	if presented != 2 || consented != 1 {
		t.Errorf("activity: got %d %s and %d consents given for identity verification, want 2 and 1, each Ana's own and proven",
			presented, cwallet.ActionPresent, consented)
	}

	// 7. The agency suspends the PID: the stream says so at once.
	agency := e.token(demo.MachineID, scopes.Issuance)
	res, issued := e.do(http.MethodGet, "/issuance/credentials", agency, "")
	all, _ := issued["credentials"].([]any)
	if res.StatusCode != http.StatusOK || len(all) != 1 {
		t.Fatalf("the agency's issuances: %d, %d of them, want the PID alone", res.StatusCode, len(all))
	}
	issuance, _ := all[0].(map[string]any)["id"].(string)
	if res, out := e.do(http.MethodPut, "/issuance/credentials/"+issuance+"/status", agency, `{"status":"suspended"}`); res.StatusCode != http.StatusOK {
		t.Fatalf("suspend: %d %v", res.StatusCode, out)
	}
	if ev := awaitEvent(t, events, "credential_suspended"); ev.Msg.CredentialId == nil || *ev.Msg.CredentialId != pid.Id {
		t.Errorf("the stream: got %+v, want the PID suspended", ev.Msg)
	}
	if got, err := api.GetCredentialWithResponse(bg, pid.Id, nil); err != nil || got.JSON200 == nil || got.JSON200.Status != "suspended" {
		t.Errorf("the PID after the suspension: %v %s, want suspended", err, got.Body)
	}
}
