package dcql

import (
	"errors"
	"fmt"
	"maps"
	"slices"
)

// ErrNotAnswered: presentations do not answer a query, or answer what it
// did not ask.
var ErrNotAnswered = errors.New("dcql: the presentations do not answer the query")

// Presented is one credential a wallet presented for a credential query:
// its format, its vct, and its claims as the verifier reconstructed them
// (every disclosed claim and every always-visible user claim; no iss,
// exp, cnf, status or _sd; numbers as json.Number, float64 or int).
type Presented struct {
	Format, VCT string
	Claims      map[string]any
}

// Check reports whether the presentations (by credential query ID)
// answer q (§6.4, §8.1): every required credential set has an option
// whose queries are all answered or, without credential sets, every query
// is answered; a query answered only within a complete option of one of
// its credential sets; more than one credential for a query only when it
// allows multiple; no presentation for a query q does not have; format
// and vct_values match; and each credential satisfies the query's claims,
// or the first of its claim sets it can (values included).
//
// It returns, for each answered query ID and each of its credentials in
// their order, only the claims the query asked for: an object of the
// claims its claims (or the satisfied claim set) select, nested as in
// the credential, arrays keeping only the selected elements in their
// order (so an index in the result may differ from the credential's);
// an empty object for a query without claims. Values are shared with
// presented, not copied. The work is bounded by MaxSelected elements
// visited in all. Every error wraps ErrNotAnswered.
func (q *Query) Check(presented map[string][]Presented) (map[string][]map[string]any, error) {
	bad := func(format string, args ...any) (map[string][]map[string]any, error) {
		return nil, fmt.Errorf("%w: %s", ErrNotAnswered, fmt.Sprintf(format, args...))
	}
	answered := map[string]bool{}
	for _, id := range slices.Sorted(maps.Keys(presented)) {
		if !slices.ContainsFunc(q.Credentials, func(c CredentialQuery) bool { return c.ID == id }) {
			return bad("the query has no credential query %.64q", id)
		}
		answered[id] = true
	}
	if why := q.unanswered(answered); why != "" {
		return bad("%s", why)
	}
	budget := MaxSelected
	out := make(map[string][]map[string]any, len(presented))
	for i := range q.Credentials {
		c := &q.Credentials[i]
		ps, ok := presented[c.ID]
		if !ok {
			continue
		}
		switch {
		case len(ps) == 0:
			return bad("no credential for the credential query %q", c.ID)
		case len(ps) > 1 && !c.Multiple:
			return bad("%d credentials for the credential query %q, which takes one", len(ps), c.ID)
		case !q.InOption(c.ID, answered):
			return bad("the credential query %q is answered outside a complete option of its credential sets", c.ID)
		}
		for j, p := range ps {
			if budget--; budget < 0 {
				return bad("more than %d elements to visit", MaxSelected)
			}
			claims, err := c.check(p, &budget)
			if err != nil {
				return bad("credential query %q, credential %d: %v", c.ID, j, err)
			}
			out[c.ID] = append(out[c.ID], claims)
		}
	}
	return out, nil
}

// check holds one presented credential to c and returns the claims c
// asked for.
func (c *CredentialQuery) check(p Presented, budget *int) (map[string]any, error) {
	if p.Format != c.Format {
		return nil, fmt.Errorf("the format is %.64q, not %q", p.Format, c.Format)
	}
	if len(c.Meta.VCTValues) > 0 && !slices.Contains(c.Meta.VCTValues, p.VCT) {
		return nil, fmt.Errorf("the vct %.200q is not among the vct_values", p.VCT)
	}
	sel, ok := c.selectAll(p.Claims, budget)
	if !ok {
		return nil, fmt.Errorf("its claims take more than %d elements to visit", MaxSelected)
	}
	var keep [][]Selected
	if c.ClaimSets == nil {
		for i, cl := range c.Claims {
			if len(sel[i]) == 0 {
				return nil, fmt.Errorf("the claim %s is not there or has none of the values asked", claimName(cl))
			}
		}
		keep = sel
	} else {
		set := -1
		for i := range c.ClaimSets {
			if c.satisfiesSet(i, sel) {
				set = i
				break
			}
		}
		if set < 0 {
			return nil, errors.New("the claims satisfy none of the claim_sets")
		}
		for i, cl := range c.Claims {
			if slices.Contains(c.ClaimSets[set], cl.ID) {
				keep = append(keep, sel[i])
			}
		}
	}
	var t tree
	for _, s := range keep {
		for _, x := range s {
			t.add(x.Path, x.Value)
		}
	}
	obj, _ := t.value().(map[string]any)
	if obj == nil {
		obj = map[string]any{}
	}
	return obj, nil
}

// tree gathers selected claims by their concrete paths into the object
// they came from: a node is kept whole, or holds the children selected.
type tree struct {
	whole bool
	val   any
	keys  map[string]*tree
	elems map[int]*tree
}

// add keeps v at path; a claim kept whole holds whatever is below it.
func (t *tree) add(path []any, v any) {
	for _, step := range path {
		if t.whole {
			return
		}
		var next *tree
		switch k := step.(type) {
		case string:
			next = child(&t.keys, k)
		case int:
			next = child(&t.elems, k)
		default:
			return
		}
		t = next
	}
	t.whole, t.val, t.keys, t.elems = true, v, nil, nil
}

// child is the node at k of m, made if need be.
func child[K comparable](m *map[K]*tree, k K) *tree {
	if *m == nil {
		*m = map[K]*tree{}
	}
	n := (*m)[k]
	if n == nil {
		n = &tree{}
		(*m)[k] = n
	}
	return n
}

// value renders the tree: an object of its keys or an array of its
// elements in index order.
func (t *tree) value() any {
	switch {
	case t.whole:
		return t.val
	case t.elems != nil:
		arr := make([]any, 0, len(t.elems))
		for _, i := range slices.Sorted(maps.Keys(t.elems)) {
			arr = append(arr, t.elems[i].value())
		}
		return arr
	default:
		obj := make(map[string]any, len(t.keys))
		for k, n := range t.keys {
			obj[k] = n.value()
		}
		return obj
	}
}
