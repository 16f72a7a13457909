package dcql_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/cedula/cedula/internal/dcql"
)

// decode reads JSON claims as a verifier or the wallet does, numbers as
// json.Number.
func decode(t testing.TB, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

const person = `{"given_name":"Ana","age":42,"age_over_18":true,"score":7.5,
	"address":{"locality":"Quito","street":"Av. Amazonas"},
	"nationalities":["EC","ES"],
	"degrees":[{"type":"BSc","year":2010},{"type":"MSc"},"none"],
	"jobs":[{"title":"clerk","since":2010},{"title":"judge"}],
	"matrix":[[1,2],[3]]}`

func TestSelect(t *testing.T) {
	claims := decode(t, person)
	num := func(s string) json.Number { return json.Number(s) }
	for _, tc := range []struct {
		name   string
		path   []any
		values []any
		want   []dcql.Selected
	}{
		{"a key", []any{"given_name"}, nil, []dcql.Selected{{Path: []any{"given_name"}, Value: "Ana"}}},
		{"a nested key", []any{"address", "locality"}, nil, []dcql.Selected{{Path: []any{"address", "locality"}, Value: "Quito"}}},
		{"an object whole", []any{"address"}, nil, []dcql.Selected{{Path: []any{"address"}, Value: claims["address"]}}},
		{"a missing key", []any{"family_name"}, nil, nil},
		{"a key below a string", []any{"given_name", "x"}, nil, nil},
		{"every element", []any{"nationalities", nil}, nil,
			[]dcql.Selected{{Path: []any{"nationalities", 0}, Value: "EC"}, {Path: []any{"nationalities", 1}, Value: "ES"}}},
		{"one element", []any{"nationalities", 1}, nil, []dcql.Selected{{Path: []any{"nationalities", 1}, Value: "ES"}}},
		{"an index past the end", []any{"nationalities", 2}, nil, nil},
		{"null over an object", []any{"address", nil}, nil, nil},
		{"an index into an object", []any{"address", 0}, nil, nil},
		{"a key of every element, one lacking it", []any{"jobs", nil, "since"}, nil,
			[]dcql.Selected{{Path: []any{"jobs", 0, "since"}, Value: num("2010")}}},
		{"a key of every element, one not an object", []any{"degrees", nil, "type"}, nil, nil},
		{"nulls over nested arrays", []any{"matrix", nil, nil}, nil, []dcql.Selected{
			{Path: []any{"matrix", 0, 0}, Value: num("1")}, {Path: []any{"matrix", 0, 1}, Value: num("2")}, {Path: []any{"matrix", 1, 0}, Value: num("3")}}},
		{"a string value", []any{"given_name"}, []any{"Bea", "Ana"}, []dcql.Selected{{Path: []any{"given_name"}, Value: "Ana"}}},
		{"a string value not there", []any{"given_name"}, []any{"Bea"}, nil},
		{"an integer value", []any{"age"}, []any{num("42")}, []dcql.Selected{{Path: []any{"age"}, Value: num("42")}}},
		{"an integer value of another number", []any{"age"}, []any{num("41")}, nil},
		{"an integer against a fraction", []any{"score"}, []any{num("7")}, nil},
		{"a boolean value", []any{"age_over_18"}, []any{true}, []dcql.Selected{{Path: []any{"age_over_18"}, Value: true}}},
		{"false against true", []any{"age_over_18"}, []any{false}, nil},
		{"a string against a boolean", []any{"age_over_18"}, []any{"true"}, nil},
		{"a string against an integer", []any{"age"}, []any{"42"}, nil},
		{"values keep the matching elements", []any{"nationalities", nil}, []any{"ES"},
			[]dcql.Selected{{Path: []any{"nationalities", 1}, Value: "ES"}}},
		{"values never match an object", []any{"address"}, []any{"Quito"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := dcql.ClaimQuery{Path: tc.path, Values: tc.values}.Select(claims)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
	t.Run("float64 claims", func(t *testing.T) {
		var m map[string]any
		_ = json.Unmarshal([]byte(`{"age":42,"score":7.5}`), &m)
		if got := (dcql.ClaimQuery{Path: []any{"age"}, Values: []any{num("42")}}).Select(m); len(got) != 1 {
			t.Errorf("42 as float64: got %v, want it selected", got)
		}
		if got := (dcql.ClaimQuery{Path: []any{"score"}, Values: []any{num("7")}}).Select(m); got != nil {
			t.Errorf("7.5 against 7: got %v, want nothing", got)
		}
	})
	t.Run("int claims", func(t *testing.T) {
		m := map[string]any{"age": 42, "year": int64(2010)}
		if got := (dcql.ClaimQuery{Path: []any{"age"}, Values: []any{num("42")}}).Select(m); len(got) != 1 {
			t.Errorf("42 as int: got %v, want it selected", got)
		}
		if got := (dcql.ClaimQuery{Path: []any{"year"}, Values: []any{num("2011")}}).Select(m); got != nil {
			t.Errorf("2010 against 2011: got %v, want nothing", got)
		}
	})
}

// TestSelectBounded: a walk past MaxSelected elements selects nothing.
func TestSelectBounded(t *testing.T) {
	small := make([]any, dcql.MaxSelected/2)
	big := make([]any, dcql.MaxSelected+1)
	for i := range big {
		big[i] = "x"
	}
	for i := range small {
		small[i] = "x"
	}
	cl := dcql.ClaimQuery{Path: []any{"list", nil}}
	if got := cl.Select(map[string]any{"list": small}); len(got) != len(small) {
		t.Errorf("%d elements: got %d selected, want all", len(small), len(got))
	}
	if got := cl.Select(map[string]any{"list": big}); got != nil {
		t.Errorf("%d elements: got %d selected, want none", len(big), len(got))
	}
}

func TestSatisfies(t *testing.T) {
	claims := decode(t, person)
	for _, tc := range []struct {
		name  string
		query string
		sets  []int
		ok    bool
	}{
		{"no claims", credential("a", ""), nil, true},
		{"every claim", credential("a", `"claims":[{"path":["given_name"]},{"path":["address","locality"]}]`), nil, true},
		{"a claim missing", credential("a", `"claims":[{"path":["given_name"]},{"path":["family_name"]}]`), nil, false},
		{"a value not matching", credential("a", `"claims":[{"path":["age_over_18"],"values":[false]}]`), nil, false},
		{"claim sets, some satisfied", credential("a", `"claims":[{"id":"f","path":["family_name"]},{"id":"g","path":["given_name"]},{"id":"n","path":["nationalities",null]}],
			"claim_sets":[["f","g"],["g"],["n","g"],["f"]]`), []int{1, 2}, true},
		{"claim sets, none satisfied", credential("a", `"claims":[{"id":"f","path":["family_name"]},{"id":"g","path":["given_name"],"values":["Bea"]}],
			"claim_sets":[["f"],["g"]]`), nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := mustParse(t, `{"credentials":[`+tc.query+`]}`)
			sets, ok := q.Credentials[0].Satisfies(claims)
			if ok != tc.ok || !reflect.DeepEqual(sets, tc.sets) {
				t.Errorf("got %v, %v, want %v, %v", sets, ok, tc.sets, tc.ok)
			}
		})
	}
}

func TestSamePath(t *testing.T) {
	for _, tc := range []struct {
		name         string
		a, b         []any
		same, prefix bool
	}{
		{"equal", []any{"a", 1}, []any{"a", 1}, true, true},
		{"numbers of any kind", []any{"a", 1}, []any{"a", float64(1)}, true, true},
		{"json.Number", []any{json.Number("2")}, []any{2}, true, true},
		{"a fraction is no index", []any{1}, []any{1.5}, false, false},
		{"a name is no index", []any{"1"}, []any{1}, false, false},
		{"null steps", []any{"a", nil}, []any{"a", nil}, true, true},
		{"null against a name", []any{"a", nil}, []any{"a", "b"}, false, false},
		{"a longer path", []any{"a", "b"}, []any{"a"}, false, true},
		{"a shorter path", []any{"a"}, []any{"a", "b"}, false, false},
		{"objects in a path", []any{map[string]any{}}, []any{map[string]any{}}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := dcql.SamePath(tc.a, tc.b); got != tc.same {
				t.Errorf("SamePath: got %v, want %v", got, tc.same)
			}
			if got := dcql.HasPrefix(tc.a, tc.b); got != tc.prefix {
				t.Errorf("HasPrefix: got %v, want %v", got, tc.prefix)
			}
		})
	}
}
