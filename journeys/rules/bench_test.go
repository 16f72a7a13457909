package rules_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cedula/cedula/journeys/rules"
	"github.com/cedula/cedula/journeys/rules/rulestest"
)

const benchN = 1_000_000

// synthetic is rulestest's population of benchN, made once per process.
var synthetic = sync.OnceValues(func() ([]rulestest.Person, []rules.Citizen) { return rulestest.Population(benchN) })

const benchRule = rulestest.Rule

func citizensPerSecond(b *testing.B) {
	b.ReportMetric(float64(benchN)*float64(b.N)/b.Elapsed().Seconds(), "citizens/s")
}

// BenchmarkSegment selects benchRule over a million citizens on all cores.
func BenchmarkSegment(b *testing.B) {
	_, cs := synthetic()
	rule, err := rules.Default().CompileRule(benchRule, rulestest.RuleCategories)
	if err != nil {
		b.Fatal(err)
	}
	score, err := rules.Default().CompileScore(`double(household_size) + (age_at(birthdate, now) >= 70 ? 0.5 : 0.0)`, []string{"identity", "household"})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		q    rules.Query
	}{
		{"rule", rules.Query{Rule: rule, Now: time.Now()}},
		{"rule+score+limit1000", rules.Query{Rule: rule, Score: score, Limit: 1000, Now: time.Now()}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var matched int
			for b.Loop() {
				res, err := rules.Select(context.Background(), bc.q, slices.Values(cs))
				if err != nil {
					b.Fatal(err)
				}
				matched = res.Matched
			}
			citizensPerSecond(b)
			b.ReportMetric(float64(matched), "matched")
		})
	}
}

// BenchmarkSegmentCeiling is BenchmarkSegment's selection in plain Go,
// without CEL, over the same citizens on all cores: the ceiling.
func BenchmarkSegmentCeiling(b *testing.B) {
	ps, _ := synthetic()
	var matched int
	for b.Loop() {
		matched = len(rulestest.Ceiling(ps, 0))
	}
	citizensPerSecond(b)
	b.ReportMetric(float64(matched), "matched")
}

// BenchmarkMatch is one Match call, as for a single citizen, on one core.
func BenchmarkMatch(b *testing.B) {
	v := ana(b)
	rule, err := rules.Default().CompileRule(benchRule, rulestest.RuleCategories)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := rule.Match(v, now); !ok || err != nil {
			b.Fatalf("got %v, %v; want true", ok, err)
		}
	}
}
