package app_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/cmd/cedula/app"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/scopes"
	"github.com/cedula/cedula/internal/testutil"
	"github.com/cedula/cedula/issuer/demo"
	"github.com/cedula/cedula/mobile-api/mobileclient"
)

// mobileClient is the generated client of the mobile API, signing a DPoP
// proof for each request with the app's key.
func (e *env) mobileClient(k *jose.ClientKey, tok string) *mobileclient.ClientWithResponses {
	e.t.Helper()
	h := sha256.Sum256([]byte(tok))
	ath := base64.RawURLEncoding.EncodeToString(h[:])
	c, err := mobileclient.NewClientWithResponses(e.url+"/mobile/v1", mobileclient.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
		proof, err := k.SignDPoP(req.Method, req.URL.Scheme+"://"+req.URL.Host+req.URL.EscapedPath(), ath, time.Now())
		req.Header.Set("Authorization", "DPoP "+tok)
		req.Header.Set("DPoP", proof)
		return err
	}))
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// TestMobileAPIEndToEnd, over HTTP only, with the client generated from
// openapi/mobile.yaml (every exchange also validated against it): the
// wallet app logs the citizen in (PAR, PKCE, DPoP), reads who she is,
// previews and accepts our issuer's offer (an Idempotency-Key replayed
// gives the same answer), lists and reads the credential, sees the
// agency's suspension, and deletes it; another citizen finds none of it;
// a bearer token and a replayed DPoP proof are refused with their
// challenge.
func TestMobileAPIEndToEnd(t *testing.T) {
	e := newIssuerEnv(t)
	ctx := context.Background()
	ana, beto := e.citizen("Ana"), e.citizen("Beto")
	anaSub := e.loggedInAt(app.WalletClientID, ana)
	e.loggedInAt(app.WalletClientID, beto)
	ak, at := e.walletLogin(e.session(ana))
	bk, bt := e.walletLogin(e.session(beto))
	anaAPI, betoAPI := e.mobileClient(ak, at), e.mobileClient(bk, bt)

	me, err := anaAPI.GetMeWithResponse(ctx, nil)
	if err != nil || me.JSON200 == nil || me.JSON200.GivenName != "Ana" || me.JSON200.Id != anaSub {
		t.Fatalf("GET /me: %v %s", err, me.Body)
	}

	agencyToken := e.token(demo.MachineID, scopes.Issuance)
	_, offer := e.offer(agencyToken, e.loggedInAt(demo.MachineID, ana), "pid")
	uri, txCode := offer["credential_offer_uri"].(string), offer["tx_code"].(string)
	en := mobileclient.AcceptLanguage("en")
	pv, err := anaAPI.PreviewOfferWithResponse(ctx, &mobileclient.PreviewOfferParams{AcceptLanguage: &en}, mobileclient.OfferPreviewRequest{Offer: uri})
	if err != nil || pv.JSON200 == nil || pv.JSON200.Issuer != e.url || len(pv.JSON200.Credentials) != 1 || pv.JSON200.TxCode == nil {
		t.Fatalf("preview: %v %d %s", err, pv.StatusCode(), pv.Body)
	}
	bad, err := anaAPI.PreviewOfferWithResponse(ctx, nil, mobileclient.OfferPreviewRequest{Offer: "openid-credential-offer://?nothing=here"})
	if err != nil || bad.StatusCode() != http.StatusBadRequest || !strings.Contains(string(bad.Body), "credential_offer") {
		t.Errorf("a malformed offer: %d %s, want a 400 problem naming what is missing", bad.StatusCode(), bad.Body)
	}

	params := &mobileclient.AcceptOfferParams{IdempotencyKey: "accept-1", AcceptLanguage: &en}
	body := mobileclient.AcceptOfferRequest{Offer: uri, TxCode: &txCode}
	acc, err := anaAPI.AcceptOfferWithResponse(ctx, params, body)
	if err != nil || acc.JSON201 == nil || len(acc.JSON201.Credentials) != 1 {
		t.Fatalf("accept: %v %d %s", err, acc.StatusCode(), acc.Body)
	}
	cred := acc.JSON201.Credentials[0]
	if cred.Claims["given_name"] != "Ana" || string(cred.Status) != "valid" {
		t.Errorf("accepted: %+v", cred)
	}
	again, err := anaAPI.AcceptOfferWithResponse(ctx, params, body)
	if err != nil || again.StatusCode() != http.StatusCreated || string(again.Body) != string(acc.Body) {
		t.Errorf("the same Idempotency-Key again: %d, a different answer", again.StatusCode())
	}
	other := body
	other.TxCode = nil
	if diff, err := anaAPI.AcceptOfferWithResponse(ctx, params, other); err != nil || diff.StatusCode() != http.StatusUnprocessableEntity {
		t.Errorf("the same key with another body: %d, want 422", diff.StatusCode())
	}

	list, err := anaAPI.ListCredentialsWithResponse(ctx, nil)
	if err != nil || list.JSON200 == nil || len(list.JSON200.Items) != 1 || list.JSON200.Items[0].Id != cred.Id {
		t.Fatalf("list: %v %s", err, list.Body)
	}
	credID := offer["credential_id"].(string)
	if res, out := e.do(http.MethodPut, "/issuance/credentials/"+credID+"/status", agencyToken, `{"status":"suspended"}`); res.StatusCode != http.StatusOK {
		t.Fatalf("suspend: %d %v", res.StatusCode, out)
	}
	got, err := anaAPI.GetCredentialWithResponse(ctx, cred.Id, nil)
	if err != nil || got.JSON200 == nil || string(got.JSON200.Status) != "suspended" {
		t.Errorf("after the agency's suspension: %v %s", err, got.Body)
	}

	// Beto finds nothing of Ana's.
	if g, _ := betoAPI.GetCredentialWithResponse(ctx, cred.Id, nil); g.StatusCode() != http.StatusNotFound {
		t.Errorf("Beto reading Ana's credential: %d, want 404", g.StatusCode())
	}
	if d, _ := betoAPI.DeleteCredentialWithResponse(ctx, cred.Id); d.StatusCode() != http.StatusNotFound {
		t.Errorf("Beto deleting Ana's credential: %d, want 404", d.StatusCode())
	}
	if l, _ := betoAPI.ListCredentialsWithResponse(ctx, nil); l.JSON200 == nil || len(l.JSON200.Items) != 0 {
		t.Errorf("Beto's list: %s", l.Body)
	}

	// A bearer token, and a DPoP proof used twice, are refused.
	req, _ := http.NewRequest(http.MethodGet, e.url+"/mobile/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+at)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "DPoP") {
		t.Errorf("the DPoP-bound token as a bearer token: %v %d", err, res.StatusCode)
	}
	req = dpopRequest(t, mustRequest(t, http.MethodGet, e.url+"/mobile/v1/me"), ak, at)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("a fresh proof: %v %d", err, res.StatusCode)
	}
	replay := mustRequest(t, http.MethodGet, e.url+"/mobile/v1/me")
	replay.Header = req.Header.Clone()
	if res, err := http.DefaultClient.Do(replay); err != nil || res.StatusCode != http.StatusUnauthorized || !strings.Contains(res.Header.Get("WWW-Authenticate"), "DPoP") {
		t.Errorf("a replayed DPoP proof: %v %d", err, res.StatusCode)
	}

	// The contract is served beside the API.
	for path, ct := range map[string]string{"/mobile/v1/openapi.json": "application/json", "/mobile/v1/openapi.yaml": "application/yaml"} {
		if res, err := http.Get(e.url + path); err != nil || res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != ct {
			t.Errorf("GET %s: %v %d", path, err, res.StatusCode)
		}
	}
	if res, err := http.Get(e.url + "/mobile/v1/docs"); err != nil || res.StatusCode != http.StatusOK || !strings.Contains(res.Request.URL.String(), "/openapi/") {
		t.Errorf("the docs page: %v", err)
	}

	if d, err := anaAPI.DeleteCredentialWithResponse(ctx, cred.Id); err != nil || d.StatusCode() != http.StatusNoContent {
		t.Fatalf("delete: %v %d %s", err, d.StatusCode(), d.Body)
	}
	if g, _ := anaAPI.GetCredentialWithResponse(ctx, cred.Id, nil); g.StatusCode() != http.StatusNotFound {
		t.Errorf("after deletion: %d, want 404", g.StatusCode())
	}
}

func mustRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// TestMobileAPIDeviceKeys: with keys the phone holds, the app accepts our
// issuer's offer in two calls — the wallet hands out the key proofs'
// signing inputs, the phone signs them (plain crypto/ecdsa here) — and
// gets credentials bound to the phone's keys; a pending acceptance is
// used once.
func TestMobileAPIDeviceKeys(t *testing.T) {
	e := newIssuerEnv(t)
	ctx := context.Background()
	ana := e.citizen("Ana")
	e.loggedInAt(app.WalletClientID, ana)
	k, tok := e.walletLogin(e.session(ana))
	api := e.mobileClient(k, tok)
	_, offer := e.offer(e.token(demo.MachineID, scopes.Issuance), e.loggedInAt(demo.MachineID, ana), "residence")
	uri, txCode := offer["credential_offer_uri"].(string), offer["tx_code"].(string)

	a, b := testutil.NewPhoneKey(t), testutil.NewPhoneKey(t)
	keys := phoneJWKs(a, b)
	device := mobileclient.KeyMode("device")
	res, err := api.AcceptOfferWithResponse(ctx, &mobileclient.AcceptOfferParams{IdempotencyKey: "dev-1"},
		mobileclient.AcceptOfferRequest{Offer: uri, TxCode: &txCode, KeyMode: &device, DeviceKeys: &keys})
	if err != nil || res.JSON202 == nil || len(res.JSON202.SigningInputs) != 2 {
		t.Fatalf("device acceptance: %v %d %s", err, res.StatusCode(), res.Body)
	}
	p := res.JSON202
	sigs := []string{a.Sign(t, p.SigningInputs[0].Input), b.Sign(t, p.SigningInputs[1].Input)}
	done, err := api.CompleteOfferWithResponse(ctx, p.Id, &mobileclient.CompleteOfferParams{IdempotencyKey: "dev-2"}, mobileclient.CompleteOfferRequest{Signatures: sigs})
	if err != nil || done.JSON201 == nil || len(done.JSON201.Credentials) != 1 || string(done.JSON201.Credentials[0].KeyMode) != "device" {
		t.Fatalf("completion: %v %d %s", err, done.StatusCode(), done.Body)
	}
	again, err := api.CompleteOfferWithResponse(ctx, p.Id, &mobileclient.CompleteOfferParams{IdempotencyKey: "dev-3"}, mobileclient.CompleteOfferRequest{Signatures: sigs})
	if err != nil || again.StatusCode() != http.StatusNotFound {
		t.Errorf("completing twice: %d, want 404", again.StatusCode())
	}
	// The issuer bound its two credentials to the phone's two keys.
	res2, rec := e.do(http.MethodGet, "/issuance/credentials/"+offer["credential_id"].(string), e.token(demo.MachineID, scopes.Issuance), "")
	if res2.StatusCode != http.StatusOK || rec["count"] != float64(2) {
		t.Errorf("issuer's record: %v", rec)
	}
}

// phoneJWKs gives the phone's public keys as the mobile API takes them in
// device_keys.
func phoneJWKs(pks ...testutil.PhoneKey) []map[string]any {
	var out []map[string]any
	for _, pk := range pks {
		var m map[string]any
		json.Unmarshal(pk.JWK(), &m)
		out = append(out, m)
	}
	return out
}
