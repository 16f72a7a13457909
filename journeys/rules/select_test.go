package rules_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"testing"

	"github.com/cedula/cedula/journeys/rules"
)

// population: citizen i is i years old (0..n-1), household i%7; every
// tenth has no age known.
func population(t testing.TB, n int) []rules.Citizen {
	out := make([]rules.Citizen, n)
	for i := range out {
		v := rules.Default().NewValues()
		if i%10 != 9 {
			must(t, v.SetInt("age", int64(i)))
		}
		must(t, v.SetInt("household_size", int64(i%7)))
		out[i] = rules.Citizen{ID: fmt.Sprintf("c%04d", i), Values: v}
	}
	return out
}

func TestSelect(t *testing.T) {
	cs := population(t, 2000)
	rule, err := rules.Default().CompileRule(`age >= 1990`, all)
	must(t, err)
	score, err := rules.Default().CompileScore(`household_size`, all)
	must(t, err)
	for _, tc := range []struct {
		name    string
		q       rules.Query
		want    []string
		matched int
	}{
		{"all matches in stream order", rules.Query{Rule: rule},
			[]string{"c1990", "c1991", "c1992", "c1993", "c1994", "c1995", "c1996", "c1997", "c1998"}, 9},
		{"first three", rules.Query{Rule: rule, Limit: 3, Workers: 3}, []string{"c1990", "c1991", "c1992"}, 9},
		// Households: 1990%7=2, 1991→3, 1992→4, 1993→5, 1994→6, 1995→0, 1996→1, 1997→2, 1998→3.
		{"top three by score", rules.Query{Rule: rule, Score: score, Limit: 3}, []string{"c1994", "c1993", "c1992"}, 9},
		{"by score, ties in stream order", rules.Query{Rule: rule, Score: score},
			[]string{"c1994", "c1993", "c1992", "c1991", "c1998", "c1990", "c1997", "c1996", "c1995"}, 9},
		{"one worker", rules.Query{Rule: rule, Score: score, Limit: 2, Workers: 1}, []string{"c1994", "c1993"}, 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := rules.Select(context.Background(), tc.q, slices.Values(cs))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.IDs, tc.want) {
				t.Errorf("got %v, want %v", got.IDs, tc.want)
			}
			if got.Evaluated != 2000 || got.Matched != tc.matched || got.Undecided != 200 {
				t.Errorf("got evaluated %d matched %d undecided %d, want 2000 %d 200", got.Evaluated, got.Matched, got.Undecided, tc.matched)
			}
		})
	}
}

func TestSelectRefusals(t *testing.T) {
	rule, err := rules.Default().CompileRule(`age >= 1`, all)
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := rules.Select(ctx, rules.Query{Rule: rule}, slices.Values(population(t, 2000))); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: got %v, want context.Canceled", err)
	}
	if _, err := rules.Select(context.Background(), rules.Query{}, slices.Values(population(t, 1))); err == nil {
		t.Error("no rule: got nil, want an error")
	}
	var nilValues iter.Seq[rules.Citizen] = slices.Values([]rules.Citizen{{ID: "x"}})
	if _, err := rules.Select(context.Background(), rules.Query{Rule: rule}, nilValues); err == nil {
		t.Error("citizen without values: got nil, want an error")
	}
}
