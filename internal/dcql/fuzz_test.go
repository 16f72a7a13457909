package dcql_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/cedula/cedula/internal/dcql"
)

// FuzzParse: a query parses within its bounds or is refused with
// ErrInvalid, never a panic; a parsed one serialises to a query that
// parses the same, and matching it never panics.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"credentials":[{"id":"pid","format":"dc+sd-jwt","meta":{"vct_values":["v"]},"claims":[{"id":"a","path":["address",null,0]},{"id":"b","path":["x"],"values":["y",1,true]}],"claim_sets":[["a"],["a","b"]],"multiple":true}],"credential_sets":[{"options":[["pid"]],"required":false}]}`))
	f.Add([]byte(`{"credentials":[{"id":"p","format":"dc+sd-jwt","claims":[{"path":[-1]}]}]}`))
	f.Add([]byte(`{"credentials":[{"id":"p","format":"f"},{"id":"q","format":"f"}],"credential_sets":[{"options":[["p","q"],["q"]]}]}`))
	claims := map[string]any{"address": []any{map[string]any{"x": "y"}, []any{"z"}}, "x": "y"}
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := dcql.Parse(b)
		if err != nil {
			if !errors.Is(err, dcql.ErrInvalid) {
				t.Fatalf("%v is not ErrInvalid", err)
			}
			return
		}
		if len(q.Credentials) == 0 || len(q.Credentials) > 32 {
			t.Fatalf("accepted %d credential queries", len(q.Credentials))
		}
		for id, paths := range q.Paths() {
			for _, p := range paths {
				if len(p) == 0 || len(p) > 16 {
					t.Fatalf("%s: accepted a path of %d steps", id, len(p))
				}
				for _, s := range p {
					switch x := s.(type) {
					case string, nil:
					case int:
						if x < 0 {
							t.Fatalf("%s: accepted the index %d", id, x)
						}
					default:
						t.Fatalf("%s: accepted the step %#v", id, s)
					}
				}
			}
		}
		again, err := json.Marshal(q)
		if err != nil {
			t.Fatal(err)
		}
		q2, err := dcql.Parse(again)
		if err != nil {
			t.Fatalf("%s parsed as %s, which does not: %v", b, again, err)
		}
		if !reflect.DeepEqual(q2.Paths(), q.Paths()) || !reflect.DeepEqual(q2.VCTs(), q.VCTs()) {
			t.Fatalf("%s parsed as %s, which parses otherwise", b, again)
		}
		for i := range q.Credentials {
			q.Credentials[i].Satisfies(claims)
		}
		q.Answered(map[string]bool{q.Credentials[0].ID: true})
	})
}

// FuzzCheck: checking presentations of fuzzed claims against a fuzzed
// query answers or fails with ErrNotAnswered, never a panic; the claims
// it returns are among those presented, under names the query asks.
func FuzzCheck(f *testing.F) {
	f.Add([]byte(`{"credentials":[{"id":"pid","format":"dc+sd-jwt","claims":[{"path":["address","locality"]},{"path":["nationalities",null],"values":["EC"]}]}]}`),
		[]byte(`{"address":{"locality":"Quito","street":"x"},"nationalities":["EC","ES"],"age":3}`), false)
	f.Add([]byte(`{"credentials":[{"id":"a","format":"f","multiple":true,"claims":[{"id":"x","path":["l",null,"k"]},{"id":"y","path":["l",1]}],"claim_sets":[["x"],["y"]]},{"id":"b","format":"f"}],"credential_sets":[{"options":[["a"],["b"]]}]}`),
		[]byte(`{"l":[{"k":1,"j":2},{"k":[true]},{}]}`), true)
	f.Add([]byte(`{"credentials":[{"id":"a","format":"f","claims":[{"path":["l",null,null,0]}]}]}`),
		[]byte(`{"l":[[[1,2],[3]],[[]]]}`), false)
	f.Fuzz(func(t *testing.T, query, claims []byte, first bool) {
		q, err := dcql.Parse(query)
		if err != nil {
			return
		}
		dec := json.NewDecoder(bytes.NewReader(claims))
		dec.UseNumber()
		var m map[string]any
		if dec.Decode(&m) != nil {
			return
		}
		presented := map[string][]dcql.Presented{}
		for i, c := range q.Credentials {
			if first && i > 0 {
				break
			}
			p := dcql.Presented{Format: c.Format, Claims: m}
			if len(c.Meta.VCTValues) > 0 {
				p.VCT = c.Meta.VCTValues[0]
			}
			presented[c.ID] = []dcql.Presented{p}
		}
		out, err := q.Check(presented)
		if err != nil {
			if !errors.Is(err, dcql.ErrNotAnswered) {
				t.Fatalf("%v is not ErrNotAnswered", err)
			}
			return
		}
		paths := q.Paths()
		for id, objs := range out {
			if len(objs) != len(presented[id]) {
				t.Fatalf("%s: %d presented, %d returned", id, len(presented[id]), len(objs))
			}
			for _, o := range objs {
				if !subset(o, m) {
					t.Fatalf("%s: returned %v, not among the claims presented %v", id, o, m)
				}
				for k := range o {
					if !slices.ContainsFunc(paths[id], func(p []any) bool { return p[0] == k }) {
						t.Fatalf("%s: returned %q, which the query does not ask", id, k)
					}
				}
			}
		}
		for id := range presented {
			if _, ok := out[id]; !ok {
				t.Fatalf("%s presented and taken, but not returned", id)
			}
		}
	})
}

// subset says whether a is part of b: its keys among b's with values part
// of theirs, its elements part of b's elements in order, or equal.
func subset(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !subset(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok {
			return false
		}
		j := 0
		for _, v := range x {
			for j < len(y) && !subset(v, y[j]) {
				j++
			}
			if j == len(y) {
				return false
			}
			j++
		}
		return true
	default:
		return reflect.DeepEqual(a, b)
	}
}

// TestSubset: FuzzCheck's subset tells a part from what is not one.
func TestSubset(t *testing.T) {
	b := map[string]any{"a": map[string]any{"x": "1", "y": "2"}, "l": []any{"p", map[string]any{"k": "v", "j": "w"}, "q"}}
	for _, tc := range []struct {
		name string
		a    any
		want bool
	}{
		{"empty", map[string]any{}, true},
		{"a nested key", map[string]any{"a": map[string]any{"y": "2"}}, true},
		{"elements in order", map[string]any{"l": []any{"p", "q"}}, true},
		{"part of an element", map[string]any{"l": []any{map[string]any{"j": "w"}}}, true},
		{"a key not there", map[string]any{"z": "1"}, false},
		{"another value", map[string]any{"a": map[string]any{"x": "2"}}, false},
		{"elements out of order", map[string]any{"l": []any{"q", "p"}}, false},
		{"an element twice", map[string]any{"l": []any{"p", "p"}}, false},
		{"an object for an array", map[string]any{"l": map[string]any{}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := subset(tc.a, b); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
