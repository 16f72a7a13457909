package wallet_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/cedula/cedula/wallet"
)

func urlEscape(s string) string { return url.QueryEscape(s) }

func TestParseOfferLink(t *testing.T) {
	good := `{"credential_issuer":"https://issuer.example","credential_configuration_ids":["pid"],` +
		`"grants":{"urn:ietf:params:oauth:grant-type:pre-authorized_code":{"pre-authorized_code":"c","tx_code":{"length":6}}}}`
	l, err := wallet.ParseOfferLink("openid-credential-offer://?credential_offer="+urlEscape(good), false)
	if err != nil || l.Value == nil || l.Value.Grants.PreAuthorized.TxCode.InputMode != "numeric" {
		t.Fatalf("by value: %+v %v", l, err)
	}
	l, err = wallet.ParseOfferLink("https://wallet.example/offer?credential_offer_uri="+urlEscape("https://issuer.example/o/1"), false)
	if err != nil || l.URI != "https://issuer.example/o/1" {
		t.Fatalf("by reference in an https link: %+v %v", l, err)
	}
	for name, link := range map[string]string{
		"empty":             " ",
		"not a URI":         "::",
		"neither":           "openid-credential-offer://?x=1",
		"both":              "openid-credential-offer://?credential_offer=" + urlEscape(good) + "&credential_offer_uri=" + urlEscape("https://i.example/o"),
		"repeated":          "openid-credential-offer://?credential_offer_uri=https%3A%2F%2Fa.example&credential_offer_uri=https%3A%2F%2Fb.example",
		"http reference":    "openid-credential-offer://?credential_offer_uri=" + urlEscape("http://issuer.example/o"),
		"not JSON":          "openid-credential-offer://?credential_offer=%7Bnope",
		"two JSON values":   "openid-credential-offer://?credential_offer=" + urlEscape(good+good),
		"http issuer":       "openid-credential-offer://?credential_offer=" + urlEscape(strings.Replace(good, "https://", "http://", 1)),
		"no configurations": "openid-credential-offer://?credential_offer=" + urlEscape(strings.Replace(good, `["pid"]`, `[]`, 1)),
		"repeated config":   "openid-credential-offer://?credential_offer=" + urlEscape(strings.Replace(good, `["pid"]`, `["pid","pid"]`, 1)),
		"no code":           "openid-credential-offer://?credential_offer=" + urlEscape(strings.Replace(good, `"pre-authorized_code":"c",`, ``, 1)),
		"bad input mode":    "openid-credential-offer://?credential_offer=" + urlEscape(strings.Replace(good, `"length":6`, `"input_mode":"emoji"`, 1)),
		"fragment issuer":   "openid-credential-offer://?credential_offer=" + urlEscape(strings.Replace(good, `issuer.example"`, `issuer.example#x"`, 1)),
		"too long":          "openid-credential-offer://?credential_offer_uri=" + strings.Repeat("a", wallet.MaxOfferLink),
	} {
		if _, err := wallet.ParseOfferLink(link, false); !errors.Is(err, wallet.ErrOffer) {
			t.Errorf("%s: %v, want ErrOffer", name, err)
		}
	}
}

// FuzzParseOfferLink: any scanned text gives an offer that holds to the
// rules, or ErrOffer — never a panic, never another error.
func FuzzParseOfferLink(f *testing.F) {
	f.Add(`openid-credential-offer://?credential_offer=%7B%22credential_issuer%22%3A%22https%3A%2F%2Fi.example%22%2C%22credential_configuration_ids%22%3A%5B%22pid%22%5D%7D`)
	f.Add("openid-credential-offer://?credential_offer_uri=https%3A%2F%2Fi.example%2Fo")
	f.Add("https://x.example/?credential_offer=%7B%7D")
	f.Fuzz(func(t *testing.T, s string) {
		l, err := wallet.ParseOfferLink(s, false)
		if err != nil {
			if !errors.Is(err, wallet.ErrOffer) {
				t.Fatalf("%q: %v is not ErrOffer", s, err)
			}
			return
		}
		if (l.Value == nil) == (l.URI == "") {
			t.Fatalf("%q: both or neither of value and URI", s)
		}
		if l.Value != nil && (!strings.HasPrefix(l.Value.CredentialIssuer, "https://") || len(l.Value.CredentialConfigurationIDs) == 0) {
			t.Fatalf("%q: accepted %+v", s, l.Value)
		}
		if l.URI != "" && !strings.HasPrefix(l.URI, "https://") {
			t.Fatalf("%q: accepted the reference %q", s, l.URI)
		}
	})
}
