package rules_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cedula/cedula/journeys/rules"
)

// FuzzCompile: any source either compiles into a rule that reads only
// covered categories and evaluates without panicking, or is refused with
// an *InvalidError.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		`age >= 65 && municipality == "Montevideo" && !("pension" in benefits)`,
		`age_at(birthdate, now) >= 65`,
		`benefits.exists(age, age == "pension")`,
		`income_band == "low"`,
		`municipality.matches("^M.*o$")`,
		`[1, 2, 3].map(x, x * household_size).size() > 2`,
		`{"a": age}["a"] > 1`,
		`age >`,
		`9223372036854775807 + age > 0`,
		`birthdate + duration("87600h") < now`,
		`benefits.all(a, credentials.all(b, a != b))`, // the iteration variables' sizes are bounded too
	} {
		f.Add(s)
	}
	covered := []string{"identity", "address", "benefits", "household"}
	v := rules.Default().NewValues()
	must(f, v.SetInt("age", 66))
	must(f, v.SetString("municipality", "Montevideo"))
	must(f, v.SetStrings("benefits", []string{"afam"}))
	must(f, v.SetTime("birthdate", time.Date(1960, 3, 15, 0, 0, 0, 0, time.UTC)))
	must(f, v.SetInt("household_size", 3))
	f.Fuzz(func(t *testing.T, src string) {
		r, err := rules.Default().CompileRule(src, covered)
		if err != nil {
			var ie *rules.InvalidError
			if !errors.As(err, &ie) || len(ie.Problems) == 0 {
				t.Fatalf("got %v, want an *InvalidError with problems", err)
			}
			return
		}
		for _, c := range r.Categories() {
			if !slices.Contains(covered, c) {
				t.Fatalf("rule %q reads %s data, not covered", src, c)
			}
		}
		_, _ = r.Match(v, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	})
}
