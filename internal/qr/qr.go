// Package qr draws QR codes (error correction M, with the quiet zone) as
// PNG and as SVG titled for screen readers, for the links a wallet scans:
// credential offers and presentation requests.
package qr

import (
	"fmt"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// PNG draws text as a size×size PNG.
func PNG(text string, size int) ([]byte, error) {
	return qrcode.Encode(text, qrcode.Medium, size)
}

// SVG draws text as an SVG of one path of unit squares, 320 pixels wide,
// titled title for screen readers.
func SVG(text, title string) (string, error) {
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
