package rules_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cedula/cedula/journeys/rules"
)

// plain is a synthetic citizen as plain Go, for the ceiling.
type plain struct {
	id           string
	age          int64
	municipality string
	benefits     []string
}

const benchN = 1_000_000

var (
	municipalities = []string{"Montevideo", "Montevideo", "Montevideo", "Canelones", "Maldonado", "Salto", "Paysandú", "Rivera", "Tacuarembó", "Colonia"}
	benefitNames   = []string{"pension", "afam", "tus", "asistencia_vejez", "jubilacion"}
)

// synthetic makes benchN citizens, the same every run (fixed seed), both as
// plain structs and as rules.Values; made once per process.
var synthetic = sync.OnceValues(func() ([]plain, []rules.Citizen) {
	rng := rand.New(rand.NewPCG(14, 2026))
	ps := make([]plain, benchN)
	cs := make([]rules.Citizen, benchN)
	for i := range ps {
		p := plain{id: "c" + strconv.Itoa(i), age: int64(rng.IntN(100)), municipality: municipalities[rng.IntN(len(municipalities))]}
		for _, b := range benefitNames {
			if rng.IntN(4) == 0 {
				p.benefits = append(p.benefits, b)
			}
		}
		ps[i] = p
		v := rules.Default().NewValues()
		if err := errors.Join(
			v.SetInt("age", p.age),
			v.SetString("municipality", p.municipality),
			v.SetStrings("benefits", p.benefits),
			v.SetInt("household_size", int64(1+rng.IntN(6))),
			v.SetTime("birthdate", time.Date(2026-int(p.age), time.Month(1+rng.IntN(12)), 1+rng.IntN(28), 0, 0, 0, 0, time.UTC)),
		); err != nil {
			panic(err)
		}
		cs[i] = rules.Citizen{ID: p.id, Values: v}
	}
	return ps, cs
})

const benchRule = `age >= 65 && municipality == "Montevideo" && !("pension" in benefits)`

func citizensPerSecond(b *testing.B) {
	b.ReportMetric(float64(benchN)*float64(b.N)/b.Elapsed().Seconds(), "citizens/s")
}

// BenchmarkSegment selects benchRule over a million citizens on all cores.
func BenchmarkSegment(b *testing.B) {
	_, cs := synthetic()
	rule, err := rules.Default().CompileRule(benchRule, []string{"identity", "address", "benefits"})
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
		workers := runtime.GOMAXPROCS(0)
		parts := make([][]string, workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for _, p := range ps[w*len(ps)/workers : (w+1)*len(ps)/workers] {
					if p.age >= 65 && p.municipality == "Montevideo" && !slices.Contains(p.benefits, "pension") {
						parts[w] = append(parts[w], p.id)
					}
				}
			})
		}
		wg.Wait()
		matched = 0
		for _, p := range parts {
			matched += len(p)
		}
	}
	citizensPerSecond(b)
	b.ReportMetric(float64(matched), "matched")
}

// BenchmarkMatch is one Match call, as for a single citizen, on one core.
func BenchmarkMatch(b *testing.B) {
	v := ana(b)
	rule, err := rules.Default().CompileRule(benchRule, []string{"identity", "address", "benefits"})
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
