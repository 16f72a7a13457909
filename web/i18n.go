package web

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/text/language"
)

// Languages the pages are written in; the first is the default.
const (
	Spanish = "es"
	English = "en"
)

// Langs lists the supported languages, default first.
var Langs = []string{Spanish, English}

// LangCookie is the cookie the language switch sets.
const LangCookie = "lang"

var matcher = language.NewMatcher([]language.Tag{language.Spanish, language.English})

// Negotiate picks the page language: the lang cookie set by the visible
// switch, else the hints (such as an OIDC request's ui_locales, OIDC Core
// §3.1.2.1), else the Accept-Language header (RFC 9110 §12.5.4), else
// Spanish.
func Negotiate(r *http.Request, hints ...string) string {
	if c, err := r.Cookie(LangCookie); err == nil && Supported(c.Value) {
		return c.Value
	}
	for _, h := range hints {
		if Supported(h) {
			return h
		}
		if tag, _, conf := matcher.Match(language.Make(h)); conf >= language.High {
			return base(tag)
		}
	}
	if al := r.Header.Get("Accept-Language"); al != "" {
		tags, _, err := language.ParseAcceptLanguage(al)
		if err == nil && len(tags) > 0 {
			if tag, _, conf := matcher.Match(tags...); conf > language.No {
				return base(tag)
			}
		}
	}
	return Spanish
}

func base(tag language.Tag) string {
	b, _ := tag.Base()
	if b.String() == English {
		return English
	}
	return Spanish
}

// Supported reports whether lang is one of Langs.
func Supported(lang string) bool { return lang == Spanish || lang == English }

// T returns the message key in lang, formatted with args (fmt verbs). A
// key missing from the catalog comes back as "[[key]]", which the tests
// look for.
func T(lang, key string, args ...any) string {
	m, ok := catalog[key]
	if !ok {
		return "[[" + key + "]]"
	}
	s := m[0]
	if lang == English {
		s = m[1]
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// Has reports whether the catalog has key.
func Has(key string) bool {
	_, ok := catalog[key]
	return ok
}

// Date formats t (in UTC) for lang, e.g. "2 de marzo de 2026, 10:04 UTC"
// or "2 March 2026, 10:04 UTC".
func Date(lang string, t time.Time) string {
	t = t.UTC()
	month := T(lang, "month."+strconv.Itoa(int(t.Month())))
	if lang == English {
		return fmt.Sprintf("%d %s %d, %s UTC", t.Day(), month, t.Year(), t.Format("15:04"))
	}
	return fmt.Sprintf("%d de %s de %d, %s UTC", t.Day(), month, t.Year(), t.Format("15:04"))
}
