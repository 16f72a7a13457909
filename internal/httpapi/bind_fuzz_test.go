package httpapi

import (
	"strings"
	"testing"
)

// FuzzCheckJSON: the fast check of a body json.Valid accepts (one scan
// for duplicate keys and depth) refuses exactly what the token-by-token
// walk refuses, and no body makes either panic.
func FuzzCheckJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1,"b":[1,2,{"a":2}]}`, `{"a":1,"a":2}`, `{"a":1,"\u0061":2}`,
		`{"a":{"b":1},"c":{"b":2}}`, `[{"x":"\"y\\","x":1}]`, `"s"`, `12`, `{"a":1} x`, `{"a":`,
		strings.Repeat("[", 70) + strings.Repeat("]", 70), strings.Repeat(`{"a":`, 64) + "1" + strings.Repeat("}", 64),
		`{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":0,"k11":1,"k12":2,"k13":3,"k14":4,"k15":5,"k16":6,"k17":7,"k3":8}`,
		"{\"a\":\"\xff\"}", ` [ 1 , true , null , -2.5e3 ] `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fast := checkJSON(body)
		slow := walkJSON(body)
		if !utfValid(body) || strings.TrimSpace(string(body)) == "" {
			if fast == nil {
				t.Fatalf("%q: accepted", body)
			}
			return
		}
		if (fast == nil) != (slow == nil) {
			t.Fatalf("%q: checkJSON %v, token walk %v", body, fast, slow)
		}
	})
}

func utfValid(b []byte) bool { return strings.ToValidUTF8(string(b), "\uFFFD") == string(b) }

// BenchmarkCheckJSON: a consent decision's body checked by the scan and,
// for comparison, by the token walk it replaced.
func BenchmarkCheckJSON(b *testing.B) {
	body := []byte(`{"sub":"Zm9vYmFyYmF6cXV4cXV1eHh4eXl5enp6MTIzNDU2Nzg5MA","purpose":"tax-reminders","categories":["contact","income"],"legal_basis":"consent"}`)
	for name, check := range map[string]func([]byte) error{"scan": checkJSON, "walk": walkJSON} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := check(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
