package rules

import (
	"strings"
	"testing"
	"time"

	"cel.dev/cel-go/cel"
)

// The static bound holds: on values as large as Values allows, the cost
// cel-go counts while evaluating stays within the estimate CompileRule
// checked against MaxCost.
func TestActualCostWithinEstimate(t *testing.T) {
	c := Default()
	v := c.NewValues()
	long := strings.Repeat("ñ", MaxStringLen/2)
	list := make([]string, MaxListLen)
	for i := range list {
		list[i] = long[:len(long)-2*(i%3)]
	}
	for _, err := range []error{
		v.SetString("municipality", long), v.SetStrings("benefits", list), v.SetStrings("credentials", list),
		v.SetInt("age", 70), v.SetTime("birthdate", time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC)),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, src := range []string{
		`age >= 65 && municipality == "Montevideo" && !("pension" in benefits)`,
		`benefits.all(a, a != municipality) && credentials.exists(c, c in benefits)`,
		`benefits.exists(b, b.startsWith("pen")) || municipality.matches("(a|b)*c")`,
		`benefits.map(b, b + municipality).filter(x, size(x) > 3).size() > 1`,
		`age_at(birthdate, now) >= 65`,
	} {
		r, err := c.CompileRule(src, []string{"identity", "address", "benefits", "credentials"})
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		checked, _ := c.env.Compile(src)
		est, err := c.env.EstimateCost(checked, sizes{c})
		if err != nil {
			t.Fatal(err)
		}
		prg, err := c.env.Program(checked, cel.CostLimit(MaxCost))
		if err != nil {
			t.Fatal(err)
		}
		a := newActivation(time.Now(), &r.program)
		a.v = v
		_, det, err := prg.Eval(a)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if got := *det.ActualCost(); got > est.Max {
			t.Errorf("%s: got actual cost %d, want at most the estimate %d", src, got, est.Max)
		}
	}
}
