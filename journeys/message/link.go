package message

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// findLink returns the first thing in s that reads as a link — a scheme
// (http:, https:, anything://), www., or a domain followed by a path such
// as tramites.gub.uy/x — or "" when there is none. Text outside ASCII is
// first folded (NFKC, format characters dropped), so that fullwidth or
// look-alike forms and zero-width joiners do not slip through.
func findLink(s string) string {
	if !isASCII(s) {
		s = fold(s)
	}
	l := strings.ToLower(s)
	for _, w := range []string{"://", "http:", "https:", "www."} {
		if i := strings.Index(l, w); i >= 0 {
			for i > 0 && l[i-1] >= 'a' && l[i-1] <= 'z' { // the scheme before ://
				i--
			}
			return around(l, i, len(w))
		}
	}
	for i := strings.IndexByte(l, '/'); i >= 0; {
		if start, ok := domainBefore(l, i); ok {
			return around(l, start, i+1-start)
		}
		j := strings.IndexByte(l[i+1:], '/')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return ""
}

// domainBefore reports whether l[:end] ends with a domain name: labels of
// letters, digits and hyphens joined by dots, the last (the TLD) of two or
// more letters.
func domainBefore(l string, end int) (int, bool) {
	start := end
	for start > 0 {
		b := l[start-1]
		if !(b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '-' || b == '.') {
			break
		}
		start--
	}
	name := strings.Trim(l[start:end], ".-")
	dot := strings.LastIndexByte(name, '.')
	if dot <= 0 {
		return 0, false
	}
	tld := name[dot+1:]
	if len(tld) < 2 {
		return 0, false
	}
	for i := 0; i < len(tld); i++ {
		if tld[i] < 'a' || tld[i] > 'z' {
			return 0, false
		}
	}
	return start, true
}

// around quotes at most 40 bytes of s from i, on rune boundaries.
func around(s string, i, n int) string {
	j := min(len(s), i+max(n, 40))
	for j < len(s) && !utf8.RuneStart(s[j]) {
		j++
	}
	return s[i:j]
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func fold(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Cf, r) {
			return -1
		}
		if r == '․' || r == '。' || r == '｡' { // one dot leader, ideographic full stops
			return '.'
		}
		return r
	}, norm.NFKC.String(s))
}
