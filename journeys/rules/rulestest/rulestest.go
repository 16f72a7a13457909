package rulestest

import (
	"errors"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/cedula/cedula/journeys/rules"
)

// Rule is the segment the benchmarks select: pensioners' age, in the
// capital, not yet receiving a pension — about 8 % of the population.
const Rule = `age >= 65 && municipality == "Montevideo" && !("pension" in benefits)`

// RuleCategories are the data categories Rule reads, as a journey's purpose
// would cover them.
var RuleCategories = []string{"identity", "address", "benefits"}

// Person is a synthetic citizen as plain Go.
type Person struct {
	ID           string
	Age          int64
	Municipality string
	Benefits     []string
}

// Matches is Rule in plain Go.
func (p *Person) Matches() bool {
	return p.Age >= 65 && p.Municipality == "Montevideo" && !slices.Contains(p.Benefits, "pension")
}

var (
	municipalities = []string{"Montevideo", "Montevideo", "Montevideo", "Canelones", "Maldonado", "Salto", "Paysandú", "Rivera", "Tacuarembó", "Colonia"}
	benefitNames   = []string{"pension", "afam", "tus", "asistencia_vejez", "jubilacion"}
)

// Population makes n synthetic citizens, the same for the same n every
// run: each with an age, a municipality, benefits, a household size and a
// birthdate, as plain Go and as values of rules.Default(). Person i and
// citizen i are the same person.
func Population(n int) ([]Person, []rules.Citizen) {
	rng := rand.New(rand.NewPCG(14, 2026))
	ps := make([]Person, n)
	cs := make([]rules.Citizen, n)
	cat := rules.Default()
	for i := range ps {
		p := Person{ID: "c" + strconv.Itoa(i), Age: int64(rng.IntN(100)), Municipality: municipalities[rng.IntN(len(municipalities))]}
		for _, b := range benefitNames {
			if rng.IntN(4) == 0 {
				p.Benefits = append(p.Benefits, b)
			}
		}
		ps[i] = p
		v := cat.NewValues()
		if err := errors.Join(
			v.SetInt("age", p.Age),
			v.SetString("municipality", p.Municipality),
			v.SetStrings("benefits", p.Benefits),
			v.SetInt("household_size", int64(1+rng.IntN(6))),
			v.SetTime("birthdate", time.Date(2026-int(p.Age), time.Month(1+rng.IntN(12)), 1+rng.IntN(28), 0, 0, 0, 0, time.UTC)),
		); err != nil {
			panic(err) // the default catalogue declares every one of them
		}
		cs[i] = rules.Citizen{ID: p.ID, Values: v}
	}
	return ps, cs
}

// Ceiling selects Rule over ps in plain Go on workers goroutines
// (GOMAXPROCS when 0), each a contiguous share, and returns the IDs of the
// matches in order: what rules.Select does, without CEL, batching or a
// stream — the least the selection costs on this machine.
func Ceiling(ps []Person, workers int) []string {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	parts := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			lo, hi := w*len(ps)/workers, (w+1)*len(ps)/workers
			for i := lo; i < hi; i++ {
				if ps[i].Matches() {
					parts[w] = append(parts[w], ps[i].ID)
				}
			}
		})
	}
	wg.Wait()
	return slices.Concat(parts...)
}
