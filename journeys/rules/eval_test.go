package rules_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/journeys/rules"
)

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// ana is 66, in Montevideo, without a pension; her income is unknown.
func ana(t testing.TB) *rules.Values {
	t.Helper()
	v := rules.Default().NewValues()
	must(t, v.SetString("given_name", "Ana"))
	must(t, v.SetTime("birthdate", date(1960, time.March, 15)))
	must(t, v.SetInt("age", 66))
	must(t, v.SetString("municipality", "Montevideo"))
	must(t, v.SetInt("household_size", 3))
	must(t, v.SetDouble("monthly_income", 21500.5))
	must(t, v.SetBool("disability", false))
	must(t, v.SetStrings("benefits", []string{"afam"}))
	must(t, v.SetStrings("credentials", nil))
	return v
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestMatch(t *testing.T) {
	v := ana(t)
	v2 := rules.Default().NewValues() // knows nothing
	for _, tc := range []struct {
		name, src string
		v         *rules.Values
		now       time.Time
		want      bool
		wantErr   bool
	}{
		{"realistic", `age >= 65 && municipality == "Montevideo" && !("pension" in benefits)`, v, date(2026, 3, 1), true, false},
		{"has the benefit", `"afam" in benefits`, v, date(2026, 3, 1), true, false},
		{"too young", `age >= 70`, v, date(2026, 3, 1), false, false},
		{"empty list", `size(credentials) == 0`, v, date(2026, 3, 1), true, false},
		{"macro", `benefits.exists(b, b.startsWith("af"))`, v, date(2026, 3, 1), true, false},
		{"int against double", `household_size > 2.5`, v, date(2026, 3, 1), true, false},
		{"unknown value cannot decide", `income_band == "low"`, v, date(2026, 3, 1), false, true},
		{"unknown value, decided anyway", `age < 18 && income_band == "low"`, v, date(2026, 3, 1), false, false},
		{"unknown value, decided by or", `age >= 65 || income_band == "low"`, v, date(2026, 3, 1), true, false},
		{"nothing known", `age >= 65`, v2, date(2026, 3, 1), false, true},
		// now: only the date of the run counts, in the run's location.
		{"age_at before birthday", `age_at(birthdate, now) == 65`, v, date(2026, 3, 14), true, false},
		{"age_at on birthday", `age_at(birthdate, now) == 66`, v, date(2026, 3, 15), true, false},
		{"age_at, late evening in Montevideo", `age_at(birthdate, now) == 65`, v,
			time.Date(2026, 3, 14, 23, 30, 0, 0, time.FixedZone("UYT", -3*3600)), true, false},
		{"turns 66 this month", `birthdate.getMonth() == now.getMonth() && now.getFullYear() - birthdate.getFullYear() == 66`,
			v, date(2026, 3, 31), true, false},
		{"not this month", `birthdate.getMonth() == now.getMonth()`, v, date(2026, 4, 1), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := rules.Default().CompileRule(tc.src, all)
			if err != nil {
				t.Fatal(err)
			}
			got, err := r.Match(tc.v, tc.now)
			if got != tc.want || (err != nil) != tc.wantErr {
				t.Errorf("got %v, %v; want %v, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestAgeAtLeapDay(t *testing.T) {
	v := rules.Default().NewValues()
	must(t, v.SetTime("birthdate", date(2000, time.February, 29)))
	r, err := rules.Default().CompileScore(`age_at(birthdate, now)`, all)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		now  time.Time
		want float64
	}{
		{date(2023, 2, 28), 22},
		{date(2023, 3, 1), 23},
		{date(2024, 2, 28), 23},
		{date(2024, 2, 29), 24},
		{date(1999, 1, 1), -2},
	} {
		got, err := r.Value(v, tc.now)
		if err != nil || got != tc.want {
			t.Errorf("on %s: got %v, %v; want %v", tc.now.Format(time.DateOnly), got, err, tc.want)
		}
	}
}

func TestScore(t *testing.T) {
	v := ana(t)
	for _, tc := range []struct {
		src  string
		want float64
	}{
		{`1.5 * double(household_size)`, 4.5},
		{`household_size * 2`, 6},
		{`age >= 65 ? 1.0 : 0.0`, 1},
	} {
		s, err := rules.Default().CompileScore(tc.src, all)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Value(v, date(2026, 1, 1))
		if err != nil || got != tc.want {
			t.Errorf("%s: got %v, %v; want %v", tc.src, got, err, tc.want)
		}
	}
}

func TestValuesRefusals(t *testing.T) {
	v := rules.Default().NewValues()
	long := make([]string, rules.MaxListLen+1)
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"unknown", v.SetString("shoe_size", "42"), rules.ErrUnknownAttribute},
		{"wrong kind", v.SetString("age", "66"), rules.ErrInvalid},
		{"string too long", v.SetString("municipality", string(make([]byte, rules.MaxStringLen+1))), rules.ErrInvalid},
		{"not UTF-8", v.SetString("municipality", "\xff"), rules.ErrInvalid},
		{"list too long", v.SetStrings("benefits", long), rules.ErrInvalid},
		{"element not UTF-8", v.SetStrings("benefits", []string{"\xff"}), rules.ErrInvalid},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, tc.err, tc.want)
		}
	}
}

func TestOtherCatalogue(t *testing.T) {
	cat, err := rules.NewCatalogue([]rules.Attribute{{Name: "age", Kind: rules.Int, Category: "identity"}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := cat.CompileRule(`age > 1`, []string{"identity"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Match(ana(t), date(2026, 1, 1)); !errors.Is(err, rules.ErrInvalid) {
		t.Errorf("got %v, want ErrInvalid for values of another catalogue", err)
	}
	if _, err := cat.CompileRule(`municipality == "x"`, []string{"identity", "address"}); !errors.Is(err, rules.ErrUnknownAttribute) {
		t.Errorf("got %v, want ErrUnknownAttribute: not in this catalogue", err)
	}
}

func TestNewCatalogueRefusals(t *testing.T) {
	for _, tc := range []struct {
		name  string
		attrs []rules.Attribute
		want  string
	}{
		{"bad name", []rules.Attribute{{"Age", rules.Int, "identity"}}, "not a lowercase identifier"},
		{"reserved", []rules.Attribute{{"now", rules.Timestamp, "identity"}}, "reserved"},
		{"type name", []rules.Attribute{{"timestamp", rules.Int, "identity"}}, "reserved"},
		{"twice", []rules.Attribute{{"age", rules.Int, "identity"}, {"age", rules.Int, "identity"}}, "declared twice"},
		{"no kind", []rules.Attribute{{"age", 0, "identity"}}, "no valid kind"},
		{"no category", []rules.Attribute{{"age", rules.Int, ""}}, "needs a category"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := rules.NewCatalogue(tc.attrs)
			if !errors.Is(err, rules.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want ErrInvalid saying %q", err, tc.want)
			}
		})
	}
	if got := len(rules.Default().Attributes()); got != len(rules.DefaultAttributes) {
		t.Errorf("got %d default attributes, want %d", got, len(rules.DefaultAttributes))
	}
}
