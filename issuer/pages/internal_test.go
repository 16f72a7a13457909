package pages

import (
	"bytes"
	"strings"
	"testing"

	"github.com/cedula/cedula/issuer"
)

func TestRecoveryCodes(t *testing.T) {
	codes, hashes := newRecoveryCodes(codeCount)
	if len(codes) != codeCount || len(hashes) != codeCount {
		t.Fatalf("got %d codes and %d hashes, want %d", len(codes), len(hashes), codeCount)
	}
	for i, c := range codes {
		norm, ok := normalizeCode(c)
		if !ok {
			t.Errorf("code %q: does not normalize", c)
			continue
		}
		if !bytes.Equal(hashCode(norm), hashes[i]) {
			t.Errorf("code %q: hash of the shown code differs from the stored one", c)
		}
	}
	// 80 bits: no two codes of many batches collide.
	seen := map[string]bool{}
	for range 200 {
		cs, _ := newRecoveryCodes(codeCount)
		for _, c := range cs {
			if seen[c] {
				t.Fatalf("code %q: repeated", c)
			}
			seen[c] = true
		}
	}
}

func TestNormalizeCode(t *testing.T) {
	tests := []struct{ in, want string }{
		{"ABCD-EFGH-JKMN-PQRS", "ABCDEFGHJKMNPQRS"},
		{"abcd efgh jkmn pqrs", "ABCDEFGHJKMNPQRS"},
		{" 0O1I-L234-5678-9XYZ ", "0011123456789XYZ"},
		{"ABCDEFGHJKMNPQRS", "ABCDEFGHJKMNPQRS"},
		{"ABCD-EFGH-JKMN-PQR", ""},   // too short
		{"ABCD-EFGH-JKMN-PQRSX", ""}, // too long
		{"ABCD-EFGH-JKMN-PQRU", ""},  // U is not in the alphabet
		{"ÁBCD-EFGH-JKMN-PQRS", ""},  // not ASCII
		{"ABCD/EFGH/JKMN/PQRS", ""},  // other separators
		{strings.Repeat("A", 5000), ""},
		{"", ""},
	}
	for _, tc := range tests {
		got, ok := normalizeCode(tc.in)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("normalizeCode(%.30q): got %q %v, want %q", tc.in, got, ok, tc.want)
		}
	}
}

func TestLocalPath(t *testing.T) {
	for s, want := range map[string]bool{
		"/login": true, "/consent?authRequestID=a%20b": true, "/": true,
		"": false, "login": false, "//evil.example": false, "/\\evil.example": false, "https://evil.example/": false,
		"/x\r\nSet-Cookie: a=b": false, "/a\\b": false,
	} {
		if got := localPath(s); got != want {
			t.Errorf("localPath(%q): got %v, want %v", s, got, want)
		}
	}
}

func TestPasskeyName(t *testing.T) {
	if got := passkeyName("en", ""); got != "Passkey" {
		t.Errorf("default name: got %q, want Passkey", got)
	}
	if got := passkeyName("es", strings.Repeat("x", 100)); len(got) != issuer.MaxPasskeyName {
		t.Errorf("long name: got %d characters, want %d", len(got), issuer.MaxPasskeyName)
	}
}
