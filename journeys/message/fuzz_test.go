package message_test

import (
	"errors"
	"testing"

	"github.com/cedula/cedula/journeys/message"
	"github.com/cedula/cedula/journeys/rules"
)

// FuzzTemplate: any template is refused with an *InvalidError, or renders
// without panicking into text that carries no link (or refuses to).
func FuzzTemplate(f *testing.F) {
	f.Add("Hola {{given_name}}", "Vive en {{ municipality }}.\nSaludos.")
	f.Add("Hola", "www.bps.gub.uy")
	f.Add("{{", "}}{{}}")
	f.Add("Hola", "tramites.gub.uy/pension")
	f.Add("Ｈｏｌａ", "ｈｔｔｐｓ：／／ｂｐｓ")
	v := values(f)
	f.Fuzz(func(t *testing.T, subject, body string) {
		tmpl := message.Template{Subject: subject, Body: body}
		m, err := message.New(rules.Default(), tmpl, tmpl, covered)
		if err != nil {
			var ie *rules.InvalidError
			if !errors.As(err, &ie) || len(ie.Problems) == 0 {
				t.Fatalf("got %v, want an *InvalidError with problems", err)
			}
			return
		}
		s, b, err := m.Render("en", v)
		if err != nil {
			if !errors.Is(err, message.ErrMissingValue) && !errors.Is(err, message.ErrLink) {
				t.Fatalf("render: got %v", err)
			}
			return
		}
		for _, out := range []string{s, b} {
			if _, err := message.New(rules.Default(), message.Template{"S", out}, message.Template{"S", "B"}, covered); errors.Is(err, message.ErrLink) {
				t.Fatalf("rendered %q carries a link", out)
			}
		}
	})
}
