package oidcop

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzPrefersJSON: any Accept header (outside data) gives a quality in
// [0, 1] and a specificity in [-1, 2] for each type, and never panics.
func FuzzPrefersJSON(f *testing.F) {
	for _, s := range []string{"", "*/*", "application/json", "text/html;q=0.9, application/json", "application/json;q=NaN, */*;q=2",
		"text/*;q=0.5, application/*;q=0.6", ";;;,,,q=", "application/json; charset=\"utf-8\""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, accept string) {
		for _, mt := range []string{"application/json", "text/html"} {
			q, spec := acceptQ(accept, mt)
			if q < 0 || q > 1 || spec < -1 || spec > 2 {
				t.Fatalf("acceptQ(%q, %s) = %v, %d; want a quality in [0, 1] and a specificity in [-1, 2]", accept, mt, q, spec)
			}
		}
		r := &http.Request{Header: http.Header{"Accept": {accept}}}
		_ = prefersJSON(r)
	})
}

// FuzzAddIss: whatever the redirect (a client's registered URI with
// zitadel's parameters), addIss keeps the authorization response's own
// parameters, adds exactly one iss where the code or error travels, and
// leaves the provider's own paths alone.
func FuzzAddIss(f *testing.F) {
	const iss = "https://id.example.gob"
	for _, s := range []string{"https://tax.example/cb?code=abc&state=s", "https://tax.example/cb#code=abc&state=s",
		"/login?authRequestID=x", iss + "/authorize/callback?id=1", "http://127.0.0.1/cb?x=1&error=access_denied", "app:/cb?error=x&iss=evil",
		"https://tax.example/cb?code=a#frag", "%zz?code=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, loc string) {
		got := addIss(loc, iss)
		u, err := url.Parse(loc)
		if err != nil {
			if got != loc {
				t.Fatalf("addIss(%q) = %q; want an unparsable location unchanged", loc, got)
			}
			return
		}
		g, err := url.Parse(got)
		if err != nil {
			t.Fatalf("addIss(%q) = %q, which does not parse: %v", loc, got, err)
		}
		// A fragment that is not a well-formed form (zitadel never writes
		// one) may be left as it is; a partly malformed query (a registered
		// URI's own) still carries the response.
		frag, ferr := url.ParseQuery(u.Fragment)
		q, _ := url.ParseQuery(u.RawQuery)
		inFrag := ferr == nil && u.Fragment != "" && (frag.Has("code") || frag.Has("error"))
		switch {
		case len(loc) > 0 && loc[0] == '/', len(loc) >= len(iss)+1 && loc[:len(iss)+1] == iss+"/":
			if got != loc {
				t.Fatalf("addIss(%q) = %q; want the provider's own path unchanged", loc, got)
			}
		case inFrag:
			gf, _ := url.ParseQuery(g.Fragment)
			if !frag.Has("iss") && gf.Get("iss") != iss {
				t.Fatalf("addIss(%q) = %q; want iss in the fragment", loc, got)
			}
			for k := range frag {
				if gf.Get(k) != frag.Get(k) && k != "iss" {
					t.Fatalf("addIss(%q) = %q; fragment parameter %s changed", loc, got, k)
				}
			}
		case q.Has("code") || q.Has("error"):
			if !q.Has("iss") && len(g.Query()["iss"]) != 1 {
				t.Fatalf("addIss(%q) = %q; want one iss in the query", loc, got)
			}
			if !strings.HasPrefix(got, strings.SplitN(loc, "#", 2)[0]) {
				t.Fatalf("addIss(%q) = %q; want the original query kept as it is", loc, got)
			}
		}
	})
}
