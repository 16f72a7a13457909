package qr

import (
	"bytes"
	"fmt"
	"image/png"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	gozxingqr "github.com/makiuchi-d/gozxing/qrcode"
)

func TestPNG(t *testing.T) {
	b, err := PNG("openid4vp://?client_id=x", 256)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if r := img.Bounds(); r.Dx() != 256 || r.Dy() != 256 {
		t.Errorf("size %v, want 256×256", r)
	}
}

// TestPNGDecodes: the PNG of many links decodes to each link (a pure
// read of the code: the image is the code alone).
func TestPNGDecodes(t *testing.T) {
	for i := range 100 {
		link := fmt.Sprintf("openid4vp://?client_id=x509_san_dns%%3Acedula.example&request_uri=https%%3A%%2F%%2Fcedula.example%%2Fvp%%2Frequests%%2F%d-%x", i, i*7919)
		b, err := PNG(link, 320)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		bmp, err := gozxing.NewBinaryBitmapFromImage(img)
		if err != nil {
			t.Fatal(err)
		}
		res, err := gozxingqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true})
		if err != nil || res.GetText() != link {
			t.Fatalf("link %d: %v %v", i, res, err)
		}
	}
}

func TestSVG(t *testing.T) {
	svg, err := SVG("openid4vp://?client_id=x", `Código <QR> & "title"`)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(svg, "<svg ") || !strings.HasSuffix(svg, "</svg>") || !strings.Contains(svg, `role="img"`) {
		t.Errorf("not a titled SVG image: %.120s", svg)
	}
	if !strings.Contains(svg, "<title id=\"qr-title\">Código &lt;QR&gt; &amp; &quot;title&quot;</title>") {
		t.Errorf("the title is not escaped: %.300s", svg)
	}
	other, _ := SVG("openid4vp://?client_id=y", "t")
	if other == svg || strings.Count(svg, "h1v1h-1z") < 100 {
		t.Error("the SVG does not draw its text's modules")
	}
}
