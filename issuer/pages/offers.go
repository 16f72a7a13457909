package pages

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/web"
)

// Offers is the credential issuer as the citizen's pages show it: the page
// of a credential offer, and the citizen's credentials on the account page.
// Names come in the page's language.
type Offers interface {
	// Offer describes the offer offerID while a wallet may still accept
	// it; an error wrapping issuer.ErrNotFound when it is unknown, already
	// accepted, expired or void. The view holds nothing of the citizen:
	// whoever has the link sees the page.
	Offer(ctx context.Context, offerID, lang string) (OfferView, error)
	// Credentials lists the citizen's issuances, newest first.
	Credentials(ctx context.Context, citizenID, lang string) ([]CredentialItem, error)
}

// OfferView is a credential offer as its page shows it.
type OfferView struct {
	// Name and Description are the credential type's.
	Name, Description string
	Agency            string // the offering agency's name
	// URI is the credential offer URI (openid-credential-offer://…,
	// OpenID4VCI 1.0 §4.1): the same-device link to the wallet.
	URI string
	// QRCode is the path, on this site, of a PNG of URI as a QR code.
	QRCode string
	// TxCodeLength is how many digits the code has that the agency sent
	// the citizen separately (§4.1.1 tx_code); the page never shows it.
	TxCodeLength int
	Expires      time.Time
}

// CredentialItem is one of the citizen's issuances, as listed.
type CredentialItem struct {
	Name   string // the credential type's
	Agency string // the issuing agency's name
	// State is where the issuance stands: offered, redeemed, pending,
	// approved, rejected or issued.
	State string
	// Status is valid, suspended or invalid (revoked); it applies once
	// issued.
	Status  string
	Created time.Time
	Issued  time.Time // zero until issued
	Expires time.Time // of the credentials; zero until issued
	// OfferPage is the offer's page (a path on this site) while the offer
	// may be accepted, "" otherwise; OfferExpires is when it ends.
	OfferPage    string
	OfferExpires time.Time
}

// offerScheme starts every credential offer URI (OpenID4VCI 1.0 §4.1).
const offerScheme = "openid-credential-offer://"

type offerData struct {
	OfferView
	// Link is URI, for the href: html/template lets only http(s) and
	// mailto URLs through unmarked, and offerPage checks the scheme.
	Link template.URL
}

// offerPage serves GET /offer/{id}: what is offered and by whom, a link
// that opens the wallet on this device and a QR code for a wallet on
// another. The path is a bearer capability: the page shows nothing of the
// citizen, is neither cached nor indexed, and is never sent on as a
// referrer (web.Renderer).
func (h *Handler) offerPage(w http.ResponseWriter, r *http.Request) {
	lang := web.Negotiate(r)
	w.Header().Set("X-Robots-Tag", "noindex, nofollow")
	if h.offers == nil {
		h.errorPage(w, r, lang, probNotFound)
		return
	}
	v, err := h.offer(r.Context(), r.PathValue("id"), lang)
	switch {
	case isNotFound(err):
		h.errorPageBack(w, r, lang, probOfferInvalid, "/account#credentials", "offer.account", nil)
		return
	case err != nil:
		// Logged without the path, which is the offer's capability.
		h.log.ErrorContext(r.Context(), "pages: offer page failed", "err", err)
		h.errorPage(w, r, lang, probServer)
		return
	}
	h.page(w, r, http.StatusOK, "offer", web.NewPage(w, r, h.csrf, lang, "offer.title",
		offerData{OfferView: v, Link: template.URL(v.URI)}))
}

// offer asks for the offer id, and checks the URI it is to link to.
func (h *Handler) offer(ctx context.Context, id, lang string) (OfferView, error) {
	if len(id) > 128 {
		return OfferView{}, issuer.ErrNotFound
	}
	v, err := h.offers.Offer(ctx, id, lang)
	if err == nil && !strings.HasPrefix(v.URI, offerScheme) {
		err = fmt.Errorf("pages: %.40q is not a credential offer URI", v.URI)
	}
	return v, err
}

// credentialView is a CredentialItem with the catalog keys of its state
// and, once issued, its status.
type credentialView struct {
	CredentialItem
	StateKey  string
	StatusKey string
}

var credentialStates = map[string]string{
	"offered": "credentials.state.offered", "redeemed": "credentials.state.redeemed", "pending": "credentials.state.pending",
	"approved": "credentials.state.approved", "rejected": "credentials.state.rejected", "issued": "credentials.state.issued",
}

var credentialStatuses = map[string]string{
	"valid": "credentials.status.valid", "suspended": "credentials.status.suspended", "invalid": "credentials.status.invalid",
}

// viewCredential names an issuance's state in words: an offer that can no
// longer be accepted, and issued credentials that have expired, are said
// to be so.
func viewCredential(it CredentialItem, now time.Time) credentialView {
	v := credentialView{CredentialItem: it, StateKey: credentialStates[it.State]}
	if it.State == "offered" && it.OfferPage == "" {
		v.StateKey = "credentials.state.offer_closed"
	}
	if it.State == "issued" {
		v.StatusKey = credentialStatuses[it.Status]
		if it.Status == "valid" && !it.Expires.IsZero() && !now.Before(it.Expires) {
			v.StatusKey = "credentials.status.expired"
		}
	}
	return v
}
