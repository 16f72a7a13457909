package vciapi

import (
	"fmt"
	"net/http"
	"strings"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/cedula/cedula/internal/httpapi"
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
	png, err := qrcode.Encode(uri, qrcode.Medium, 320)
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
	svg, err := QRSVG(uri, "Código QR de la oferta de credencial / Credential offer QR code")
	if err != nil {
		return err
	}
	noStore(c)
	return c.Blob(http.StatusOK, "image/svg+xml", []byte(svg))
}

// QRSVG draws text as a QR code in SVG, titled for screen readers.
func QRSVG(text, title string) (string, error) {
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		return "", err
	}
	q.DisableBorder = false
	bm := q.Bitmap() // includes the quiet zone
	n := len(bm)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="320" height="320" role="img" aria-labelledby="qr-title" shape-rendering="crispEdges">`, n, n)
	fmt.Fprintf(&b, `<title id="qr-title">%s</title><rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, escapeXML(title), n, n)
	for y, row := range bm {
		for x, on := range row {
			if on {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x, y)
			}
		}
	}
	b.WriteString(`"/></svg>`)
	return b.String(), nil
}

func escapeXML(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
