package vciapi

import (
	"net/http"

	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/internal/qr"
	"github.com/cedula/cedula/issuer/vci"
)

// PagePath prefixes the citizen's page of an offer: its QR code, and a
// same-device link to the wallet.
const PagePath = "/offer/"

// offerURI returns the credential offer URI of offer id, while the offer
// may be redeemed.
func (a *API) offerURI(c httpapi.Context) (string, error) {
	_, cr, err := a.cfg.Service.Offer(c.Request().Context(), c.Param("id"))
	if err != nil {
		return "", err
	}
	return vci.OfferURI(a.cfg.BaseURL + OfferPath + cr.OfferID), nil
}

// qrPNG serves the offer URI as a QR code image (error correction M).
func (a *API) qrPNG(c httpapi.Context) error {
	uri, err := a.offerURI(c)
	if err != nil {
		return err
	}
	png, err := qr.PNG(uri, 320)
	if err != nil {
		return err
	}
	noStore(c)
	return c.Blob(http.StatusOK, "image/png", png)
}

// qrSVG serves the offer URI as a QR code in SVG: one path of unit
// squares, with a quiet zone of four modules.
func (a *API) qrSVG(c httpapi.Context) error {
	uri, err := a.offerURI(c)
	if err != nil {
		return err
	}
	svg, err := qr.SVG(uri, "Código QR de la oferta de credencial / Credential offer QR code")
	if err != nil {
		return err
	}
	noStore(c)
	return c.Blob(http.StatusOK, "image/svg+xml", []byte(svg))
}
