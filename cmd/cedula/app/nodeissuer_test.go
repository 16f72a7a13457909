package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/cedula/cedula/cmd/cedula/app"
	"github.com/cedula/cedula/internal/testutil"
	"github.com/cedula/cedula/mobile-api/mobileclient"
)

// TestWalletFromNodeIssuer: the citizen's wallet receives credentials
// from an OpenID4VCI issuer nobody on the project wrote — npm's
// @openid4vc/openid4vci issuer side, @openid4vc/oauth2's authorization and
// resource server and @sd-jwt/sd-jwt-vc (testdata/node_issuer.mjs), on
// http://127.0.0.1, which the server's wallet takes because its own public
// URL is http. Through the mobile API: the preview shows the issuer's
// display in the asked language; a wrong transaction code is the issuer's
// invalid_grant; with device-bound keys the phone signs the key proofs'
// inputs and the credential is bound to its two keys, which the issuer
// saw in the proofs, and the issuer is told credential_accepted (and
// credential_deleted when the citizen deletes it); a second offer is
// accepted with sealed keys. The issuer asks for DPoP nonces at
// its token endpoint and again at its credential and notification
// endpoints.
func TestWalletFromNodeIssuer(t *testing.T) {
	node := needNode(t)
	e := newEnv(t)
	ctx := context.Background()
	iss := node.start(t, "node_issuer.mjs")
	first := iss.line()
	base, _ := first["base"].(string)
	if !strings.HasPrefix(base, "http://127.0.0.1:") || !strings.HasPrefix(e.url, "http://") {
		t.Fatalf("the issuer at %q, the server at %q: want both on plain http", base, e.url)
	}
	offer, txCode := first["offer"].(string), first["tx_code"].(string)

	lucia := e.citizen("Lucía")
	e.loggedInAt(app.WalletClientID, lucia)
	k, tok := e.walletLogin(e.session(lucia))
	api := e.mobileClient(k, tok)

	// The preview, in both languages, from the Node issuer's metadata.
	for lang, want := range map[string][3]string{
		"en": {"Test Municipal Library", "Library card", "Member number"},
		"es": {"Biblioteca Municipal de Prueba", "Carné de biblioteca", "Número de socio"},
	} {
		l := mobileclient.AcceptLanguage(lang)
		pv, err := api.PreviewOfferWithResponse(ctx, &mobileclient.PreviewOfferParams{AcceptLanguage: &l}, mobileclient.OfferPreviewRequest{Offer: offer})
		if err != nil || pv.JSON200 == nil {
			t.Fatalf("preview (%s): %v %d %s", lang, err, pv.StatusCode(), pv.Body)
		}
		p := pv.JSON200
		if p.Issuer != base || p.IssuerName != want[0] || len(p.Credentials) != 1 || p.Credentials[0].Display.Name != want[1] ||
			p.TxCode == nil || p.TxCode.Length == nil || *p.TxCode.Length != 6 || string(p.TxCode.InputMode) != "numeric" || !p.Grants.PreAuthorized {
			t.Errorf("preview (%s): got %s, want issuer %s named %q offering %q with a 6-digit numeric tx_code", lang, pv.Body, base, want[0], want[1])
			continue
		}
		if labels := claimLabels(p.Credentials[0].Claims); !slices.Contains(labels, want[2]) {
			t.Errorf("preview (%s): claim labels %q, want %q among them", lang, labels, want[2])
		}
	}

	// A wrong transaction code: the issuer's own refusal.
	wrong := "000000"
	if txCode == wrong {
		wrong = "111111"
	}
	device := mobileclient.KeyMode("device")
	a, b := testutil.NewPhoneKey(t), testutil.NewPhoneKey(t)
	keys := phoneJWKs(a, b)
	refused, err := api.AcceptOfferWithResponse(ctx, &mobileclient.AcceptOfferParams{IdempotencyKey: "node-0"},
		mobileclient.AcceptOfferRequest{Offer: offer, TxCode: &wrong, KeyMode: &device, DeviceKeys: &keys})
	if err != nil || refused.StatusCode() != http.StatusUnprocessableEntity || !strings.Contains(string(refused.Body), "invalid_grant") {
		t.Errorf("a wrong tx_code: %v %d %s, want a 422 problem with the issuer's invalid_grant", err, refused.StatusCode(), refused.Body)
	}

	// Device-bound keys: the phone signs what the wallet hands out.
	en := mobileclient.AcceptLanguage("en")
	res, err := api.AcceptOfferWithResponse(ctx, &mobileclient.AcceptOfferParams{IdempotencyKey: "node-1", AcceptLanguage: &en},
		mobileclient.AcceptOfferRequest{Offer: offer, TxCode: &txCode, KeyMode: &device, DeviceKeys: &keys})
	if err != nil || res.JSON202 == nil || len(res.JSON202.SigningInputs) != 2 {
		t.Fatalf("device acceptance: %v %d %s, want 202 with two signing inputs", err, res.StatusCode(), res.Body)
	}
	p := res.JSON202
	sigs := []string{a.Sign(t, p.SigningInputs[0].Input), b.Sign(t, p.SigningInputs[1].Input)}
	done, err := api.CompleteOfferWithResponse(ctx, p.Id, &mobileclient.CompleteOfferParams{IdempotencyKey: "node-2", AcceptLanguage: &en},
		mobileclient.CompleteOfferRequest{Signatures: sigs})
	if err != nil || done.JSON201 == nil || len(done.JSON201.Credentials) != 1 {
		t.Fatalf("completion: %v %d %s, want 201 with one credential", err, done.StatusCode(), done.Body)
	}
	card := done.JSON201.Credentials[0]
	if string(card.KeyMode) != "device" || card.Issuer != base || card.IssuerName != "Test Municipal Library" || card.Display.Name != "Library card" ||
		card.Vct != base+"/vct/library-card" {
		t.Errorf("the device-bound card: got %s", done.Body)
	}
	checkCardClaims(t, card.Claims)

	// Sealed keys, for a second offer.
	iss.send("offer")
	second := iss.line()
	offer2, txCode2 := second["offer"].(string), second["tx_code"].(string)
	sealed, err := api.AcceptOfferWithResponse(ctx, &mobileclient.AcceptOfferParams{IdempotencyKey: "node-3"},
		mobileclient.AcceptOfferRequest{Offer: offer2, TxCode: &txCode2})
	if err != nil || sealed.JSON201 == nil || len(sealed.JSON201.Credentials) != 1 || string(sealed.JSON201.Credentials[0].KeyMode) != "sealed" {
		t.Fatalf("sealed acceptance: %v %d %s, want 201 with one sealed credential", err, sealed.StatusCode(), sealed.Body)
	}
	checkCardClaims(t, sealed.JSON201.Credentials[0].Claims)

	list, err := api.ListCredentialsWithResponse(ctx, nil)
	if err != nil || list.JSON200 == nil || len(list.JSON200.Items) != 2 {
		t.Fatalf("list: %v %s, want the two cards", err, list.Body)
	}
	for _, c := range list.JSON200.Items {
		if c.Issuer != base {
			t.Errorf("listed %s from %q, want the Node issuer", c.Id, c.Issuer)
		}
		checkCardClaims(t, c.Claims)
	}

	// Deleting the device-bound card tells the issuer.
	if d, err := api.DeleteCredentialWithResponse(ctx, card.Id); err != nil || d.StatusCode() != http.StatusNoContent {
		t.Fatalf("delete: %v %d %s", err, d.StatusCode(), d.Body)
	}

	// What the Node issuer saw.
	iss.send("events")
	ev, _ := iss.line()["events"].(map[string]any)
	var seen struct {
		TokenRequests []struct {
			Outcome        string `json:"outcome"`
			TxCodeMatched  *bool  `json:"tx_code_matched"`
			TokenType      string `json:"token_type"`
			DPoPThumbprint string `json:"dpop_jkt"`
		} `json:"token_requests"`
		Credentials []struct {
			HolderJKTs     []string `json:"holder_jkts"`
			NotificationID string   `json:"notification_id"`
		} `json:"credentials"`
		Notifications []struct {
			NotificationID string   `json:"notification_id"`
			Event          string   `json:"event"`
			HolderJKTs     []string `json:"holder_jkts"`
		} `json:"notifications"`
		DPoPNonceAsked []string `json:"dpop_nonce_asked"`
	}
	raw, _ := json.Marshal(ev)
	if err := json.Unmarshal(raw, &seen); err != nil {
		t.Fatal(err)
	}
	var outcomes []string
	for _, r := range seen.TokenRequests {
		outcomes = append(outcomes, r.Outcome)
		if r.Outcome == "issued" && (r.TokenType != "DPoP" || r.DPoPThumbprint == "") {
			t.Errorf("a token issued as %q bound to %q, want DPoP-bound", r.TokenType, r.DPoPThumbprint)
		}
	}
	if want := []string{"use_dpop_nonce", "invalid_grant", "use_dpop_nonce", "issued", "use_dpop_nonce", "issued"}; !slices.Equal(outcomes, want) {
		t.Errorf("the issuer's token requests: got %q, want %q", outcomes, want)
	}
	phone := []string{thumbprint(t, a.JWK()), thumbprint(t, b.JWK())}
	if len(seen.Credentials) != 2 || !slices.Equal(seen.Credentials[0].HolderJKTs, phone) || len(seen.Credentials[1].HolderJKTs) != 2 ||
		slices.ContainsFunc(seen.Credentials[1].HolderJKTs, func(j string) bool { return slices.Contains(phone, j) }) {
		t.Errorf("the issuer's credentials: got %+v, want the first bound to the phone's keys %q and the second to two other keys", seen.Credentials, phone)
	}
	var events []string
	for _, n := range seen.Notifications {
		events = append(events, n.Event)
	}
	if want := []string{"credential_accepted", "credential_accepted", "credential_deleted"}; !slices.Equal(events, want) ||
		!slices.Equal(seen.Notifications[0].HolderJKTs, phone) || !slices.Equal(seen.Notifications[2].HolderJKTs, phone) {
		t.Errorf("the issuer's notifications: got %+v, want %q, the first and last for the phone's keys", seen.Notifications, want)
	}
	for _, where := range []string{"token", "credential", "notification"} {
		if !slices.Contains(seen.DPoPNonceAsked, where) {
			t.Errorf("the issuer never asked for a DPoP nonce at %s (asked at %q): the test lost its point", where, seen.DPoPNonceAsked)
		}
	}
}

// claimLabels lists the labels of a preview's claims.
func claimLabels(cs []mobileclient.ClaimInfo) []string {
	var out []string
	for _, c := range cs {
		if c.Label != nil {
			out = append(out, *c.Label)
		}
	}
	return out
}

// checkCardClaims checks the claims the Node issuer puts in every card,
// each selectively disclosable.
func checkCardClaims(t *testing.T, claims map[string]any) {
	t.Helper()
	addr, _ := claims["address"].(map[string]any)
	if claims["given_name"] != "Lucía" || claims["family_name"] != "Paredes Soto" || claims["member_number"] != "B-20417" ||
		addr["locality"] != "Valparaíso" || addr["country"] != "CL" {
		t.Errorf("the card's claims: got %v, want the Node issuer's", claims)
	}
}
