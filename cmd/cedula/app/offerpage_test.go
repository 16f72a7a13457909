package app_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"strings"
	"testing"

	"github.com/cedula/cedula/internal/scopes"
	"github.com/cedula/cedula/issuer/demo"
)

// TestOfferPage: the page an agency's offer names shows the credential in
// the citizen's language, from the agency by name, with the offer URI the
// agency got and its QR code — never the transaction code or anything of
// the citizen. The account page lists the offer with a link to that page
// and follows the issuance: accepted, issued, suspended; once the wallet
// has redeemed the offer its page says it is no longer valid, with 404.
func TestOfferPage(t *testing.T) {
	e := newIssuerEnv(t)
	ctx := context.Background()
	agency, err := e.s.Store.Client(ctx, demo.MachineID)
	if err != nil {
		t.Fatal(err)
	}
	agency.Name = "Registro Civil"
	if err := e.s.Store.PutClient(ctx, agency); err != nil {
		t.Fatal(err)
	}
	ana := e.citizen("Ana")
	cookie := e.session(ana)
	agencyToken := e.token(demo.MachineID, scopes.Issuance)
	status, offer := e.offer(agencyToken, e.loggedInAt(demo.MachineID, ana), "pid")
	if status != http.StatusCreated {
		t.Fatalf("offer: %d %v", status, offer)
	}
	uri, tx := offer["credential_offer_uri"].(string), offer["tx_code"].(string)
	pagePath := strings.TrimPrefix(offer["page"].(string), e.url)
	offerID := strings.TrimPrefix(pagePath, "/offer/")
	if pagePath == offerID {
		t.Fatalf("page: got %q, want %s/offer/…", offer["page"], e.url)
	}

	get := func(path, cookie, lang string) (int, string) {
		t.Helper()
		code, body := e.pageGet(path, cookie, lang)
		return code, string(body)
	}
	contains := func(what, body string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: want %q in it", what, w)
			}
		}
	}

	for lang, name := range map[string]string{"es": "Identificación personal", "en": "Person identification"} {
		code, body := get(pagePath, cookie, lang)
		if code != http.StatusOK {
			t.Fatalf("offer page (%s): got %d, want 200", lang, code)
		}
		contains("offer page ("+lang+")", body, `<html lang="`+lang+`">`, ">"+name+"</h2>", "Registro Civil",
			`href="`+html.EscapeString(uri)+`"`, `<img src="/vci/offers/`+offerID+`/qr.png"`)
		for _, secret := range []string{tx, "Ana", "1980-01-02"} {
			if strings.Contains(body, secret) {
				t.Errorf("offer page (%s): got %q in it, want neither the code nor anything of the citizen", lang, secret)
			}
		}
	}
	if code, _, hdr := e.get("/vci/offers/"+offerID+"/qr.png", ""); code != http.StatusOK || hdr.Get("Content-Type") != "image/png" {
		t.Errorf("the page's QR code: got %d %s, want a PNG", code, hdr.Get("Content-Type"))
	}

	account := func(want ...string) string {
		t.Helper()
		code, body := get("/account", cookie, "es")
		if code != http.StatusOK {
			t.Fatalf("account: got %d, want 200", code)
		}
		contains("account", body, append([]string{"<h3>Identificación personal</h3>", "<dd>Registro Civil</dd>"}, want...)...)
		return body
	}
	account("Ofrecida: falta que la aceptes en tu app de cartera", `href="`+pagePath+`"`)

	// The wallet redeems the offer: its page is gone, the account says so.
	_, code := e.offerCode(offer)
	w, st, _ := e.redeem(code, tx)
	if st != http.StatusOK {
		t.Fatalf("redeem: %d", st)
	}
	for lang, want := range map[string]string{"es": "Esta oferta de credencial ya no es válida", "en": "This credential offer is no longer valid"} {
		code, body := get(pagePath, "", lang)
		if code != http.StatusNotFound || !strings.Contains(body, want) || strings.Contains(body, "openid-credential-offer:") {
			t.Errorf("redeemed offer's page (%s): got %d, want 404 saying %q and no link to a wallet", lang, code, want)
		}
	}
	if body := account("Aceptada: tu app de cartera la está recibiendo"); strings.Contains(body, `href="/offer/`) {
		t.Errorf("account: got a link to a redeemed offer")
	}

	// Issued, then suspended by the agency.
	st, nonce, _ := w.post("/vci/nonce", nil, map[string]any{})
	if st != http.StatusOK {
		t.Fatalf("nonce: %d", st)
	}
	_, proofs := e.proofs(1, nonce["c_nonce"].(string))
	if st, resp, _ := w.post("/vci/credential", nil, map[string]any{"credential_configuration_id": "pid", "proofs": map[string]any{"jwt": proofs}}); st != http.StatusOK {
		t.Fatalf("credential: %d %v", st, resp)
	}
	account("Emitida a tu app de cartera", "<dt>Validez</dt><dd>Válida</dd>", "<dt>Emitida</dt>", "<dt>Caduca</dt>")
	res, out := e.do(http.MethodPut, fmt.Sprintf("/issuance/credentials/%s/status", offer["credential_id"]), agencyToken, `{"status":"suspended"}`)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("suspend: %d %v", res.StatusCode, out)
	}
	account("<dt>Validez</dt><dd>Suspendida por la agencia</dd>")
}
