package issuer_test

import (
	"strings"
	"testing"

	"github.com/cedula/cedula/issuer"
)

func TestCleanPasskeyName(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"Mi teléfono", "Mi teléfono", true},
		{"  Mi\tteléfono\n ", "Mi teléfono", true},
		{"a\u202eb\u0000c", "abc", true}, // bidi override and NUL dropped
		{"   ", "", false},
		{strings.Repeat("ñ", 64), strings.Repeat("ñ", 64), true},
		{strings.Repeat("ñ", 65), strings.Repeat("ñ", 65), false},
	}
	for _, tc := range tests {
		got, ok := issuer.CleanPasskeyName(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("CleanPasskeyName(%q): got %q %v, want %q %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
