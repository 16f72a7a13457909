package qr

import (
	"bytes"
	"image/png"
	"strings"
	"testing"
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
