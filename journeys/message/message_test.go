package message_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/journeys/message"
	"github.com/cedula/cedula/journeys/rules"
)

var covered = []string{"identity", "address", "benefits"}

var (
	goodES = message.Template{Subject: "Su pensión, {{given_name}}", Body: "Hola {{ given_name }}:\nen {{municipality}} puede pedir la pensión en la oficina del BPS."}
	goodEN = message.Template{Subject: "Your pension, {{given_name}}", Body: "Hello {{given_name}},\nin {{municipality}} you can apply for the pension at the BPS office."}
)

func TestNewRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		es, en message.Template
		want   error
		lang   string
		attr   string
		msg    string
	}{
		{name: "missing variable", es: message.Template{"Hola", "Hola {{nombre}}"}, en: goodEN,
			want: rules.ErrUnknownAttribute, lang: "es", attr: "nombre", msg: "missing variable"},
		{name: "missing variable in English", es: goodES, en: message.Template{"Hi {{first_name}}", "Hi"},
			want: rules.ErrUnknownAttribute, lang: "en", attr: "first_name", msg: "subject: missing variable"},
		{name: "not covered", es: goodES, en: message.Template{"Hi", "Your income band: {{income_band}}"},
			want: rules.ErrNotCovered, lang: "en", attr: "income_band", msg: "income"},
		{name: "Spanish missing", en: goodEN, want: rules.ErrInvalid, lang: "es", msg: "empty"},
		{name: "English body missing", es: goodES, en: message.Template{Subject: "Hi"}, want: rules.ErrInvalid, lang: "en", msg: "body: empty"},
		{name: "subject too long", es: message.Template{strings.Repeat("a", 121), "b"}, en: goodEN, want: rules.ErrInvalid, lang: "es", msg: "longer than 120"},
		{name: "subject on two lines", es: message.Template{"a\nb", "b"}, en: goodEN, want: rules.ErrInvalid, lang: "es", msg: "control"},
		{name: "bidi override", es: goodES, en: message.Template{"Hi", "abc\u202edef"}, want: rules.ErrInvalid, lang: "en", msg: "U+202E"},
		{name: "unclosed", es: message.Template{"Hola", "Hola {{given_name"}, en: goodEN, want: rules.ErrInvalid, lang: "es", msg: "without }}"},
		{name: "not a name", es: message.Template{"Hola", "Hola {{.Name}}"}, en: goodEN, want: rules.ErrInvalid, lang: "es", msg: "not an attribute name"},
		{name: "https", es: message.Template{"Hola", "Entre a https://bps.gub.uy"}, en: goodEN, want: message.ErrLink, lang: "es", msg: "https://"},
		{name: "http upper case", es: goodES, en: message.Template{"Hi", "See HTTP://bps.gub.uy"}, want: message.ErrLink, lang: "en"},
		{name: "scheme without slashes", es: goodES, en: message.Template{"Hi", "See https:bps.gub.uy"}, want: message.ErrLink, lang: "en"},
		{name: "www", es: message.Template{"Hola", "Visite www.bps.gub.uy"}, en: goodEN, want: message.ErrLink, lang: "es", msg: "www."},
		{name: "bare domain with path", es: message.Template{"Hola", "Ingrese en tramites.gub.uy/pension hoy"}, en: goodEN, want: message.ErrLink, lang: "es", msg: "tramites.gub.uy/"},
		{name: "link in the subject", es: message.Template{"bps.gub.uy/x", "Hola"}, en: goodEN, want: message.ErrLink, lang: "es", msg: "subject"},
		{name: "fullwidth", es: message.Template{"Hola", "ｗｗｗ．bps．gub．uy"}, en: goodEN, want: message.ErrLink, lang: "es"},
		{name: "one dot leader", es: message.Template{"Hola", "www․bps.gub.uy"}, en: goodEN, want: message.ErrLink, lang: "es"},
		{name: "domain around a placeholder", es: message.Template{"Hola", "Vaya a {{municipality}}.gub.uy/x"}, en: goodEN, want: message.ErrLink, lang: "es"},
		{name: "other scheme", es: goodES, en: message.Template{"Hi", "ftp://files"}, want: message.ErrLink, lang: "en"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := message.New(rules.Default(), tc.es, tc.en, covered)
			if !errors.Is(err, tc.want) || !errors.Is(err, rules.ErrInvalid) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			p, ok := rules.ProblemOf(err, tc.want)
			if !ok {
				t.Fatalf("got %v, want a problem with %v", err, tc.want)
			}
			if p.Language != tc.lang || p.Attribute != tc.attr || !strings.Contains(p.String(), tc.msg) {
				t.Errorf("got language %q attribute %q %q, want %q %q containing %q", p.Language, p.Attribute, p, tc.lang, tc.attr, tc.msg)
			}
		})
	}
}

func TestNotLinks(t *testing.T) {
	for _, s := range []string{
		"Su cita es el 3/4 a las 10.30 h.",
		"Km 3.5/4 de la ruta 1",
		"Llame al 0800 2001. Gracias / Thanks",
		"e.g./i.e. abbreviations",
		"El 50% de 1/2",
		"Sr.Pérez y/o su familia",
	} {
		if _, err := message.New(rules.Default(), message.Template{"Hola", s}, goodEN, covered); err != nil {
			t.Errorf("%q: got %v, want accepted", s, err)
		}
	}
}

func values(t testing.TB) *rules.Values {
	v := rules.Default().NewValues()
	for _, err := range []error{
		v.SetString("given_name", "Ana"),
		v.SetString("municipality", "Montevideo"),
		v.SetInt("age", 66),
		v.SetTime("birthdate", time.Date(1960, 3, 15, 0, 0, 0, 0, time.UTC)),
		v.SetStrings("benefits", []string{"afam", "tus"}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return v
}

func TestRender(t *testing.T) {
	v := values(t)
	for _, tc := range []struct {
		name, lang, body, want string
	}{
		{"string", "es", "Hola {{given_name}}", "Hola Ana"},
		{"int", "en", "You are {{age}}", "You are 66"},
		{"date es", "es", "Nació el {{birthdate}}", "Nació el 15 de marzo de 1960"},
		{"date en", "en", "Born {{birthdate}}", "Born 15 March 1960"},
		{"list", "en", "Benefits: {{benefits}}", "Benefits: afam, tus"},
		{"other language is Spanish", "fr", "Hola {{given_name}}", "Hola Ana"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl := message.Template{Subject: "S", Body: tc.body}
			m, err := message.New(rules.Default(), tmpl, tmpl, covered)
			if err != nil {
				t.Fatal(err)
			}
			subject, body, err := m.Render(tc.lang, v)
			if err != nil || subject != "S" || body != tc.want {
				t.Errorf("got %q %q %v, want %q %q", subject, body, err, "S", tc.want)
			}
		})
	}
}

func TestRenderBoth(t *testing.T) {
	m, err := message.New(rules.Default(), goodES, goodEN, covered)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range m.Reads() {
		got = append(got, a.Name)
	}
	if want := []string{"given_name", "municipality"}; !slices.Equal(got, want) {
		t.Errorf("got reads %v, want %v", got, want)
	}
	s, b, err := m.Render("es", values(t))
	if want := "Hola Ana:\nen Montevideo puede pedir la pensión en la oficina del BPS."; err != nil || s != "Su pensión, Ana" || b != want {
		t.Errorf("got %q %q %v, want %q %q", s, b, err, "Su pensión, Ana", want)
	}
}

func TestRenderRefusals(t *testing.T) {
	m, err := message.New(rules.Default(), goodES, goodEN, covered)
	if err != nil {
		t.Fatal(err)
	}
	empty := rules.Default().NewValues()
	if _, _, err := m.Render("es", empty); !errors.Is(err, message.ErrMissingValue) || !strings.Contains(err.Error(), "given_name") {
		t.Errorf("got %v, want ErrMissingValue naming given_name", err)
	}
	if _, _, err := m.Render("es", nil); !errors.Is(err, rules.ErrInvalid) {
		t.Errorf("nil values: got %v, want ErrInvalid", err)
	}
	// A value cannot smuggle a link in.
	v := values(t)
	if err := v.SetString("municipality", "bps.gub.uy/pension"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Render("en", v); !errors.Is(err, message.ErrLink) {
		t.Errorf("got %v, want ErrLink", err)
	}
}

func BenchmarkRender(b *testing.B) {
	m, err := message.New(rules.Default(), goodES, goodEN, covered)
	if err != nil {
		b.Fatal(err)
	}
	v := values(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := m.Render("es", v); err != nil {
			b.Fatal(err)
		}
	}
}
