package oidcop

import (
	"net/http/httptest"
	"testing"
)

func TestPrefersJSON(t *testing.T) {
	for _, tc := range []struct {
		accept []string
		want   bool
	}{
		{nil, false},
		{[]string{"*/*"}, false},
		{[]string{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}, false},
		{[]string{"application/json"}, true},
		{[]string{"application/json, text/plain, */*"}, true}, // fetch libraries
		{[]string{"application/json;q=0.5, text/html"}, false},
		{[]string{"text/html;q=0.5, application/json"}, true},
		{[]string{"application/*"}, true},
		{[]string{"application/*;q=0.9, text/*;q=0.8"}, true},
		{[]string{"APPLICATION/JSON;charset=utf-8"}, true},
		{[]string{"application/json;q=0", "text/html;q=0"}, false},
		{[]string{"text/html", "application/json"}, false},
		{[]string{"application/json;q=x"}, true}, // a malformed q counts as 1
		{[]string{"garbage, ;;, application/json"}, true},
	} {
		r := httptest.NewRequest("GET", "/authorize", nil)
		for _, a := range tc.accept {
			r.Header.Add("Accept", a)
		}
		if got := prefersJSON(r); got != tc.want {
			t.Errorf("Accept %q: got %v, want %v", tc.accept, got, tc.want)
		}
	}
}
