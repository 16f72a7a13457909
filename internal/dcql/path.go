package dcql

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
)

// MaxSelected bounds the work of selecting claims: the elements a walk of
// the claims may visit, for one credential (Select, Satisfies) or for all
// the presentations Check is given.
const MaxSelected = 1 << 16

// Selected is one claim a claims path pointer selects: its concrete path
// (object keys and array indexes) and its value.
type Selected struct {
	Path  []any
	Value any
}

// Select applies a claims query to claims (§7.1.1): the path pointer,
// then the values (a value that does not match is treated as if it did
// not exist, §6.4.1). Nothing selected means no match, and so does a walk
// past MaxSelected elements.
func (cl ClaimQuery) Select(claims map[string]any) []Selected {
	budget := MaxSelected
	out, _ := cl.selectIn(claims, &budget)
	return out
}

// selectIn is Select spending budget, one per element visited; false when
// it ran out.
func (cl ClaimQuery) selectIn(claims map[string]any, budget *int) ([]Selected, bool) {
	cur := []Selected{{Path: nil, Value: claims}}
	for _, step := range cl.Path {
		var next []Selected
		add := func(s Selected, k, v any) bool {
			if *budget--; *budget < 0 {
				return false
			}
			next = append(next, Selected{Path: append(slices.Clip(s.Path), k), Value: v})
			return true
		}
		for _, s := range cur {
			switch x := step.(type) {
			case string:
				obj, ok := s.Value.(map[string]any)
				if !ok {
					return nil, true
				}
				if v, ok := obj[x]; ok && !add(s, x, v) {
					return nil, false
				}
			case nil:
				arr, ok := s.Value.([]any)
				if !ok {
					return nil, true
				}
				for i, v := range arr {
					if !add(s, i, v) {
						return nil, false
					}
				}
			case int:
				arr, ok := s.Value.([]any)
				if !ok {
					return nil, true
				}
				if x >= 0 && x < len(arr) && !add(s, x, arr[x]) {
					return nil, false
				}
			default:
				return nil, true
			}
		}
		cur = next
	}
	if cl.Values == nil {
		return cur, true
	}
	var out []Selected
	for _, s := range cur {
		if slices.ContainsFunc(cl.Values, func(v any) bool { return sameValue(s.Value, v) }) {
			out = append(out, s)
		}
	}
	return out, true
}

// sameValue compares a claim's value with a query's value: the same type
// and value (strings, integers, booleans).
func sameValue(claim, want any) bool {
	switch w := want.(type) {
	case string:
		c, ok := claim.(string)
		return ok && c == w
	case bool:
		c, ok := claim.(bool)
		return ok && c == w
	case json.Number:
		n, err := w.Int64()
		if err != nil {
			return false
		}
		switch c := claim.(type) {
		case json.Number:
			m, err := c.Int64()
			return err == nil && m == n
		case float64:
			return c == math.Trunc(c) && c == float64(n)
		case int:
			return int64(c) == n
		case int64:
			return c == n
		}
	}
	return false
}

// Satisfies says whether claims answer c (§6.4.1): every claim when c has
// no claim sets, else the indexes of the claim sets they satisfy (at
// least one).
func (c *CredentialQuery) Satisfies(claims map[string]any) ([]int, bool) {
	budget := MaxSelected
	sel, ok := c.selectAll(claims, &budget)
	if !ok {
		return nil, false
	}
	if c.ClaimSets == nil {
		return nil, !slices.ContainsFunc(sel, func(s []Selected) bool { return len(s) == 0 })
	}
	var sets []int
	for i := range c.ClaimSets {
		if c.satisfiesSet(i, sel) {
			sets = append(sets, i)
		}
	}
	return sets, len(sets) > 0
}

// selectAll selects each of c's claims in claims (none for one not found),
// spending budget; false when it ran out.
func (c *CredentialQuery) selectAll(claims map[string]any, budget *int) ([][]Selected, bool) {
	sel := make([][]Selected, len(c.Claims))
	for i, cl := range c.Claims {
		s, ok := cl.selectIn(claims, budget)
		if !ok {
			return nil, false
		}
		sel[i] = s
	}
	return sel, true
}

// satisfiesSet says whether every claim of claim set i is among sel.
func (c *CredentialQuery) satisfiesSet(i int, sel [][]Selected) bool {
	for j, cl := range c.Claims {
		if len(sel[j]) == 0 && slices.Contains(c.ClaimSets[i], cl.ID) {
			return false
		}
	}
	return true
}

// claimName names a claims query in an error: its id, or its path (cut
// short).
func claimName(cl ClaimQuery) string {
	if cl.ID != "" {
		return strconv.Quote(cl.ID)
	}
	b, err := json.Marshal(cl.Path)
	if err != nil {
		return "a claim"
	}
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

// SamePath says whether two concrete paths are the same, whatever JSON
// made of their numbers (int, float64, json.Number).
func SamePath(a, b []any) bool {
	return len(a) == len(b) && HasPrefix(a, b)
}

// HasPrefix says whether the concrete path p starts with prefix.
func HasPrefix(p, prefix []any) bool {
	if len(prefix) > len(p) {
		return false
	}
	for i := range prefix {
		if !sameStep(p[i], prefix[i]) {
			return false
		}
	}
	return true
}

// sameStep compares path steps, whatever JSON made of their numbers.
func sameStep(a, b any) bool {
	na, aok := stepIndex(a)
	nb, bok := stepIndex(b)
	if aok || bok {
		return aok && bok && na == nb
	}
	sa, aok := a.(string)
	sb, bok := b.(string)
	return aok && bok && sa == sb || a == nil && b == nil
}

func stepIndex(s any) (int, bool) {
	switch x := s.(type) {
	case int:
		return x, true
	case float64:
		return int(x), x == float64(int(x))
	case json.Number:
		n, err := x.Int64()
		return int(n), err == nil
	}
	return 0, false
}
