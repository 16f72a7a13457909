package pages_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/pages"
)

// say picks the text of lang.
func say(lang, es, en string) string {
	if lang == "en" {
		return en
	}
	return es
}

// offerExpires is when the offer "open" ends.
var offerExpires = time.Date(2030, 3, 2, 10, 0, 0, 0, time.UTC)

// fakeOffers stands in for the credential issuer. The offer "open" may be
// accepted, "boom" fails, "bad-uri" would link elsewhere, any other is
// gone. Every citizen has the credentials of credentialsIn, but those
// listed in none.
type fakeOffers struct {
	none map[string]bool
	fail bool // Credentials fails
}

func (f fakeOffers) Offer(_ context.Context, id, lang string) (pages.OfferView, error) {
	v := pages.OfferView{Name: say(lang, "Identificación personal", "Person identification"),
		Description: say(lang, "Tus datos de identidad del registro civil.", "Your identity data from the civil registry."),
		Agency:      "Registro Civil", URI: "openid-credential-offer://?credential_offer_uri=https%3A%2F%2Fid.example.gob%2Fvci%2Foffers%2F" + id,
		QRCode: "/vci/offers/" + id + "/qr.png", TxCodeLength: 6, Expires: offerExpires}
	switch id {
	case "open":
		return v, nil
	case "boom":
		return pages.OfferView{}, errors.New("the issuer's database is down")
	case "bad-uri":
		v.URI = "javascript:alert(1)"
		return v, nil
	}
	return pages.OfferView{}, fmt.Errorf("offer: %w", issuer.ErrNotFound)
}

func (f fakeOffers) Credentials(_ context.Context, citizenID, lang string) ([]pages.CredentialItem, error) {
	if f.fail {
		return nil, errors.New("the issuer's database is down")
	}
	if f.none[citizenID] {
		return nil, nil
	}
	return credentialsIn(lang), nil
}

// credentialsIn is one issuance in each state, and issued ones of each
// status.
func credentialsIn(lang string) []pages.CredentialItem {
	now := time.Now().UTC()
	issued := func(es, en, status string, expires time.Time) pages.CredentialItem {
		return pages.CredentialItem{Name: say(lang, es, en), Agency: "Registro Civil", State: "issued", Status: status,
			Created: now.Add(-48 * time.Hour), Issued: now.Add(-47 * time.Hour), Expires: expires}
	}
	waiting := func(es, en, state string) pages.CredentialItem {
		return pages.CredentialItem{Name: say(lang, es, en), Agency: "Agencia Tributaria", State: state, Status: "valid", Created: now.Add(-time.Hour),
			OfferExpires: now.Add(-30 * time.Minute)}
	}
	open := waiting("Certificado de residencia", "Residence certificate", "offered")
	open.OfferPage, open.OfferExpires = "/offer/open", offerExpires
	return []pages.CredentialItem{
		open,
		issued("Identificación personal", "Person identification", "valid", now.AddDate(1, 0, 0)),
		waiting("Representación de empresa", "Business representation", "pending"),
		issued("Licencia de pesca", "Fishing licence", "suspended", now.AddDate(1, 0, 0)),
		issued("Carné de biblioteca", "Library card", "invalid", now.AddDate(1, 0, 0)),
		issued("Tarjeta sanitaria", "Health card", "valid", now.Add(-time.Hour)),
		waiting("Certificado de estudios", "Academic certificate", "offered"),
		waiting("Permiso de obras", "Building permit", "rejected"),
		waiting("Licencia de caza", "Hunting licence", "approved"),
	}
}

// TestOfferPage: whoever holds an offer's link sees what is offered and
// by whom, a same-device link to the wallet, the QR code, that the wallet
// asks for the code the agency sent separately, and until when — nothing
// of the citizen, in either language; an offer that can no longer be
// accepted gets a page that says so, with 404.
func TestOfferPage(t *testing.T) {
	e := newEnv(t, func(c *pages.Config) { c.Offers = fakeOffers{} })
	ana := e.citizen("Ana")
	b := e.browser()
	b.enrolPasskey(e.enrol(ana), "Teléfono") // logged in: the page still shows nothing of her
	anon := e.browser()

	link := `<a class="button" href="openid-credential-offer://?credential_offer_uri=https%3A%2F%2Fid.example.gob%2Fvci%2Foffers%2Fopen">`
	for _, tc := range []struct {
		name string
		b    *browser
		lang string
		want []string
	}{
		{"es", b, "es", []string{"Añade una credencial a tu cartera", "<h2 id=\"offer-credential\" class=\"card-title\">Identificación personal</h2>",
			"Tus datos de identidad del registro civil.", "Registro Civil te ofrece esta credencial", link + "Abrir en tu app de cartera</a>",
			`<img src="/vci/offers/open/qr.png" width="320" height="320" alt="Código QR para añadir «Identificación personal» a tu app de cartera">`,
			"un código de 6 cifras que Registro Civil te envió por separado", "2 de marzo de 2030, 10:00 UTC", "pide entonces una nueva a Registro Civil"}},
		{"en", b, "en", []string{"Add a credential to your wallet", "Person identification", "Your identity data from the civil registry.",
			link + "Open in your wallet app</a>", `alt="QR code to add “Person identification” to your wallet app"`,
			"a 6-digit code that Registro Civil sent you separately", "2 March 2030, 10:00 UTC"}},
		{"without a session", anon, "es", []string{link, `<img src="/vci/offers/open/qr.png"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.b.lang = tc.lang
			r := tc.b.get("/offer/open")
			wantPage(t, r, http.StatusOK, tc.lang, tc.want...)
			for _, personal := range []string{ana.GivenName, ana.FamilyName, ana.Email} {
				if strings.Contains(r.body, personal) {
					t.Errorf("page: got %q in it, want nothing of the citizen", personal)
				}
			}
			for h, want := range map[string]string{"Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow"} {
				if got := r.header.Get(h); got != want {
					t.Errorf("%s: got %q, want %q", h, got, want)
				}
			}
		})
	}

	for _, tc := range []struct {
		name, path, lang string
		status           int
		want             []string
	}{
		{"gone", "/offer/redeemed", "es", http.StatusNotFound, []string{"Esta oferta de credencial ya no es válida", "pide una nueva oferta a la agencia",
			`<a href="/account#credentials">Ver tus credenciales en tu cuenta</a>`}},
		{"gone, in English", "/offer/expired", "en", http.StatusNotFound, []string{"This credential offer is no longer valid",
			"ask the agency that offered it for a new offer"}},
		{"too long to be one", "/offer/" + strings.Repeat("a", 200), "es", http.StatusNotFound, []string{"Esta oferta de credencial ya no es válida"}},
		{"no ID", "/offer/", "es", http.StatusNotFound, []string{"Página no encontrada"}},
		{"issuer down", "/offer/boom", "es", http.StatusInternalServerError, []string{"Error del servicio"}},
		{"not an offer URI", "/offer/bad-uri", "en", http.StatusInternalServerError, []string{"Service error"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			anon.lang = tc.lang
			r := anon.get(tc.path)
			wantPage(t, r, tc.status, tc.lang, tc.want...)
			if strings.Contains(r.body, "openid-credential-offer:") || strings.Contains(r.body, "javascript:") || strings.Contains(r.body, "qr.png") {
				t.Errorf("page: got a link to a wallet or a QR code, want none")
			}
		})
	}
	// The cause is logged, the offer's ID (its capability) is not.
	if logs := e.logs.String(); !strings.Contains(logs, "the issuer's database is down") || strings.Contains(logs, "/offer/boom") {
		t.Errorf("logs: got %q, want the cause without the offer's path", logs)
	}

	// Without the issuer there are no offer pages.
	plain := newEnv(t, nil).browser()
	wantPage(t, plain.get("/offer/open"), http.StatusNotFound, "es", "Página no encontrada")
}

// TestAccountCredentials: the account page lists the citizen's credentials
// with their agency, state and validity in words, and links to the offers
// they may still accept.
func TestAccountCredentials(t *testing.T) {
	offers := fakeOffers{none: map[string]bool{}}
	e := newEnv(t, func(c *pages.Config) { c.Offers = offers })
	b := e.browser()
	b.enrolPasskey(e.enrol(e.citizen("Ana")), "Teléfono")

	cards := map[string]map[string][]string{
		"es": {
			"Certificado de residencia": {"Agencia Tributaria", "Ofrecida: falta que la aceptes en tu app de cartera", "Puedes aceptarla hasta", "2 de marzo de 2030, 10:00 UTC",
				`<a href="/offer/open">Abrir la oferta para añadirla a tu app de cartera<span class="visually-hidden"> («Certificado de residencia»)</span></a>`},
			"Identificación personal":   {"Registro Civil", "Emitida a tu app de cartera", "<dt>Validez</dt><dd>Válida</dd>", "<dt>Emitida</dt>", "<dt>Caduca</dt>"},
			"Representación de empresa": {"Esperando la aprobación de la agencia", "<dt>Ofrecida</dt>"},
			"Licencia de pesca":         {"Suspendida por la agencia"},
			"Carné de biblioteca":       {"Revocada por la agencia"},
			"Tarjeta sanitaria":         {"<dd>Caducada</dd>"},
			"Certificado de estudios":   {"Oferta sin aceptar que ya no es válida"},
			"Permiso de obras":          {"Rechazada por la agencia"},
			"Licencia de caza":          {"Aprobada: tu app de cartera la recogerá"},
		},
		"en": {
			"Residence certificate":   {"Offered: waiting for you to accept it in your wallet app", "You can accept it until", "2 March 2030, 10:00 UTC", `<a href="/offer/open">Open the offer`},
			"Person identification":   {"Issued to your wallet app", "<dt>Validity</dt><dd>Valid</dd>"},
			"Business representation": {"Waiting for the agency&#39;s approval"},
			"Fishing licence":         {"Suspended by the agency"},
			"Library card":            {"Revoked by the agency"},
			"Health card":             {"<dd>Expired</dd>"},
			"Academic certificate":    {"Offer not accepted and no longer valid"},
			"Building permit":         {"Rejected by the agency"},
			"Hunting licence":         {"Approved: your wallet app will collect it"},
		},
	}
	for _, lang := range []string{"es", "en"} {
		t.Run(lang, func(t *testing.T) {
			b.setCookie("lang", lang)
			r := b.get("/account")
			wantPage(t, r, http.StatusOK, lang, `<h2 id="credentials">`+say(lang, "Tus credenciales", "Your credentials")+"</h2>")
			for name, want := range cards[lang] {
				card := cardOf(r.body, name)
				if card == "" {
					t.Errorf("no card for %q", name)
					continue
				}
				for _, w := range want {
					if !strings.Contains(card, w) {
						t.Errorf("card %q: want %q in %s", name, w, card)
					}
				}
				// Only issued credentials have a validity; only offers
				// that may be accepted a link.
				issued := strings.Contains(card, say(lang, "Emitida a tu app", "Issued to your wallet app"))
				if got := strings.Contains(card, say(lang, "<dt>Validez</dt>", "<dt>Validity</dt>")); got != issued {
					t.Errorf("card %q: got validity shown %v, want %v", name, got, issued)
				}
				if strings.Contains(card, `href="/offer/`) != (name == say(lang, "Certificado de residencia", "Residence certificate")) {
					t.Errorf("card %q: got a link to an offer where none may be accepted, or none where one may", name)
				}
			}
		})
	}

	// A citizen without credentials is told so.
	bob := e.citizen("Bob")
	offers.none[bob.ID] = true
	bb := e.browser()
	bb.enrolPasskey(e.enrol(bob), "Llave")
	wantPage(t, bb.get("/account"), http.StatusOK, "es", "Ninguna agencia te ha ofrecido todavía una credencial.")

	// The issuer failing is a server error, not an empty list.
	broken := newEnv(t, func(c *pages.Config) { c.Offers = fakeOffers{fail: true} })
	bc := broken.browser()
	bc.enrolPasskey(broken.enrol(broken.citizen("Carla")), "Llave")
	wantPage(t, bc.get("/account"), http.StatusInternalServerError, "es", "Error del servicio")
}

// cardOf is the list item of the account page headed name.
func cardOf(body, name string) string {
	i := strings.Index(body, "<h3>"+name+"</h3>")
	if i < 0 {
		return ""
	}
	j := strings.Index(body[i:], "</li>")
	if j < 0 {
		return body[i:]
	}
	return body[i : i+j]
}
