package rules_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/cedula/cedula/journeys/rules"
)

var all = []string{"identity", "address", "income", "household", "employment", "health", "benefits", "credentials"}

func TestCompileRefusals(t *testing.T) {
	cat := rules.Default()
	for _, tc := range []struct {
		name, src string
		covered   []string
		score     bool
		want      error  // sentinel
		attr      string // attribute named, if any
		category  string
		line, col int // position, if any
		msg       string
	}{
		{name: "not covered", src: `age >= 65 && income_band == "low"`, covered: []string{"identity"},
			want: rules.ErrNotCovered, attr: "income_band", category: "income", line: 1, col: 14},
		{name: "not covered on line 2", src: "age >= 65 &&\n  disability", covered: []string{"identity"},
			want: rules.ErrNotCovered, attr: "disability", category: "health", line: 2, col: 3},
		{name: "not covered inside a macro", src: `benefits.exists(b, b == string(household_size))`, covered: []string{"benefits"},
			want: rules.ErrNotCovered, attr: "household_size", category: "household"},
		{name: "score not covered", src: `double(monthly_income) / 1000.0`, covered: []string{"identity"}, score: true,
			want: rules.ErrNotCovered, attr: "monthly_income", category: "income"},
		{name: "unknown attribute", src: `age >= 65 && shoe_size > 40`, covered: all,
			want: rules.ErrUnknownAttribute, attr: "shoe_size", line: 1, col: 14},
		{name: "syntax error", src: `age >= `, covered: all, want: rules.ErrInvalid, line: 1, col: 8, msg: "Syntax error"},
		{name: "not bool", src: `age + 1`, covered: all, want: rules.ErrInvalid, msg: "is of type int, want bool"},
		{name: "score not a number", src: `municipality`, covered: all, score: true, want: rules.ErrInvalid, msg: "want double or int"},
		{name: "type mismatch", src: `municipality > 3`, covered: all, want: rules.ErrInvalid, msg: "no matching overload"},
		{name: "dyn result", src: `[true, 1][0]`, covered: all, want: rules.ErrInvalid, msg: "want bool"},
		{name: "empty", src: " \n", covered: all, want: rules.ErrInvalid, msg: "empty"},
		{name: "not UTF-8", src: "age > 1 && \xff", covered: all, want: rules.ErrInvalid, msg: "UTF-8"},
		{name: "too long", src: strings.Repeat("age > 1 && ", 200) + "true", covered: all, want: rules.ErrTooCostly, msg: "longer than"},
		{name: "too deep", src: strings.Repeat("(", 40) + "true" + strings.Repeat(")", 40), covered: all, want: rules.ErrInvalid},
		{name: "too costly", src: `benefits.all(a, credentials.all(b, benefits.all(c, a + b != c)))`, covered: all,
			want: rules.ErrTooCostly, msg: "worst-case cost"},
		{name: "bad regex", src: `municipality.matches("(")`, covered: all, want: rules.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.score {
				_, err = cat.CompileScore(tc.src, tc.covered)
			} else {
				_, err = cat.CompileRule(tc.src, tc.covered)
			}
			if !errors.Is(err, tc.want) || !errors.Is(err, rules.ErrInvalid) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			p, ok := rules.ProblemOf(err, tc.want)
			if !ok {
				t.Fatalf("got %v, want a problem with %v", err, tc.want)
			}
			if p.Attribute != tc.attr || p.Category != tc.category {
				t.Errorf("got attribute %q category %q, want %q %q", p.Attribute, p.Category, tc.attr, tc.category)
			}
			if tc.line != 0 && (p.Line != tc.line || p.Column != tc.col) {
				t.Errorf("got position %d:%d, want %d:%d", p.Line, p.Column, tc.line, tc.col)
			}
			if !strings.Contains(p.Msg, tc.msg) {
				t.Errorf("got message %q, want it to contain %q", p.Msg, tc.msg)
			}
			if tc.attr != "" && !strings.Contains(err.Error(), tc.attr) {
				t.Errorf("got error %q, want it to name %q", err, tc.attr)
			}
		})
	}
}

func TestCompileReportsEveryUncoveredAttribute(t *testing.T) {
	_, err := rules.Default().CompileRule(`income_band == "low" && disability && age > 18`, []string{"identity"})
	var ie *rules.InvalidError
	if !errors.As(err, &ie) {
		t.Fatalf("got %v, want *InvalidError", err)
	}
	var got []string
	for _, p := range ie.Problems {
		got = append(got, p.Attribute+"/"+p.Category)
	}
	if want := []string{"income_band/income", "disability/health"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestReads(t *testing.T) {
	cat := rules.Default()
	for _, tc := range []struct {
		name, src string
		want      []string
		cats      []string
	}{
		{"plain", `age >= 65 && municipality == "Montevideo" && !("pension" in benefits)`,
			[]string{"age", "municipality", "benefits"}, []string{"address", "benefits", "identity"}},
		{"now is no attribute", `age_at(birthdate, now) >= 65`, []string{"birthdate"}, []string{"identity"}},
		// The comprehension variable named like an attribute is not a read.
		{"shadowed by a macro variable", `benefits.exists(age, age == "pension")`, []string{"benefits"}, []string{"benefits"}},
		{"read twice", `age > 1 && age < 99`, []string{"age"}, []string{"identity"}},
		{"nothing", `true`, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := cat.CompileRule(tc.src, all)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range r.Reads() {
				got = append(got, a.Name)
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tc.want))
			if !slices.Equal(got, want) {
				t.Errorf("got reads %v, want %v", got, want)
			}
			if got := r.Categories(); !slices.Equal(got, tc.cats) {
				t.Errorf("got categories %v, want %v", got, tc.cats)
			}
		})
	}
	// Covered by exactly what it reads: the shadowed name needs no identity.
	if _, err := cat.CompileRule(`benefits.exists(age, age == "pension")`, []string{"benefits"}); err != nil {
		t.Errorf("got %v, want the rule accepted with benefits alone", err)
	}
}
