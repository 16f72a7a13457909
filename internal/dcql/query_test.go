package dcql_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/cedula/cedula/internal/dcql"
)

// credential is a credential query's JSON with fields added to
// {"id":id,"format":"dc+sd-jwt"}.
func credential(id, fields string) string {
	if fields != "" {
		fields = "," + fields
	}
	return fmt.Sprintf(`{"id":%q,"format":"dc+sd-jwt"%s}`, id, fields)
}

func repeat(item string, n int) string {
	return strings.TrimSuffix(strings.Repeat(item+",", n), ",")
}

func TestParse(t *testing.T) {
	q, err := dcql.Parse([]byte(`{"credentials":[
		{"id":"pid","format":"dc+sd-jwt","multiple":true,"meta":{"vct_values":["urn:eudi:pid:1"]},
		 "claims":[{"id":"a","path":["address",null,0]},{"id":"b","path":["age_over_18"],"values":[true,"yes",18]}],
		 "claim_sets":[["a","b"],["b"]]},
		{"id":"mdl","format":"mso_mdoc"}],
		"credential_sets":[{"options":[["pid"],["mdl"]]},{"options":[["mdl"]],"required":false}]}`))
	if err != nil {
		t.Fatal(err)
	}
	pid := q.Credentials[0]
	if pid.ID != "pid" || pid.Format != "dc+sd-jwt" || !pid.Multiple || !reflect.DeepEqual(pid.Meta.VCTValues, []string{"urn:eudi:pid:1"}) {
		t.Errorf("got %+v, want pid, dc+sd-jwt, multiple, vct urn:eudi:pid:1", pid)
	}
	if got, want := pid.Claims[0].Path, []any{"address", nil, 0}; !reflect.DeepEqual(got, want) {
		t.Errorf("path: got %#v, want %#v (integers as int)", got, want)
	}
	if got, want := pid.Claims[1].Values, []any{true, "yes", json.Number("18")}; !reflect.DeepEqual(got, want) {
		t.Errorf("values: got %#v, want %#v", got, want)
	}
	if got, want := pid.ClaimSets, [][]string{{"a", "b"}, {"b"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("claim_sets: got %v, want %v", got, want)
	}
	if len(q.CredentialSets) != 2 || !q.CredentialSets[0].IsRequired() || q.CredentialSets[1].IsRequired() {
		t.Errorf("credential_sets: got %+v, want a required set then an optional one", q.CredentialSets)
	}
	if got, want := q.Paths(), map[string][][]any{"pid": {{"address", nil, 0}, {"age_over_18"}}, "mdl": nil}; !reflect.DeepEqual(got, want) {
		t.Errorf("Paths: got %#v, want %#v", got, want)
	}
	if got, want := q.VCTs(), map[string][]string{"pid": {"urn:eudi:pid:1"}, "mdl": nil}; !reflect.DeepEqual(got, want) {
		t.Errorf("VCTs: got %#v, want %#v", got, want)
	}
	q.Paths()["pid"][0][0] = "changed"
	if q.Credentials[0].Claims[0].Path[0] != "address" {
		t.Errorf("Paths shares its paths with the query")
	}
}

func TestParseInvalid(t *testing.T) {
	claims := func(n int) string { return `"claims":[` + repeat(`{"path":["x"]}`, n) + `]` }
	values := func(n int) string { return `"claims":[{"path":["x"],"values":[` + repeat(`"v"`, n) + `]}]` }
	for _, tc := range []struct{ name, query, detail string }{
		{"too long", `{"credentials":[` + credential("a", `"x":"`+strings.Repeat("a", 64<<10)+`"`) + `]}`, "longer than"},
		{"not JSON", `{"credentials":`, "not a JSON object"},
		{"an array", `[]`, "not a JSON object"},
		{"trailing data", `{"credentials":[` + credential("a", "") + `]} {}`, "not a JSON object"},
		{"credentials of the wrong type", `{"credentials":{}}`, "not a JSON object"},
		{"no credentials", `{}`, "1 to 32 credential queries"},
		{"empty credentials", `{"credentials":[]}`, "1 to 32 credential queries"},
		{"33 credential queries", `{"credentials":[` + repeatIDs(33) + `]}`, "1 to 32 credential queries"},
		{"no id", `{"credentials":[{"format":"dc+sd-jwt"}]}`, "credential query 0 has no valid id"},
		{"id with a space", `{"credentials":[` + credential("a b", "") + `]}`, "credential query 0 has no valid id"},
		{"id too long", `{"credentials":[` + credential(strings.Repeat("a", 65), "") + `]}`, "no valid id"},
		{"id twice", `{"credentials":[` + credential("a", "") + "," + credential("a", "") + `]}`, `"a" is used twice`},
		{"no format", `{"credentials":[{"id":"a"}]}`, `"a" has no format`},
		{"33 vct_values", `{"credentials":[` + credential("a", `"meta":{"vct_values":[`+repeat(`"v"`, 33)+`]}`) + `]}`, "more than 32 vct_values"},
		{"65 claims", `{"credentials":[` + credential("a", claims(65)) + `]}`, "more than 64 claims"},
		{"empty claims", `{"credentials":[` + credential("a", claims(0)) + `]}`, "empty claims array"},
		{"no path", `{"credentials":[` + credential("a", `"claims":[{"id":"x"}]`) + `]}`, "1 to 16 steps"},
		{"empty path", `{"credentials":[` + credential("a", `"claims":[{"path":[]}]`) + `]}`, "1 to 16 steps"},
		{"17 steps", `{"credentials":[` + credential("a", `"claims":[{"path":[`+repeat(`"x"`, 17)+`]}]`) + `]}`, "1 to 16 steps"},
		{"negative index", `{"credentials":[` + credential("a", `"claims":[{"path":["x",-1]}]`) + `]}`, "step 1 is not a non-negative integer"},
		{"fractional index", `{"credentials":[` + credential("a", `"claims":[{"path":[1.5]}]`) + `]}`, "step 0 is not a non-negative integer"},
		{"huge index", `{"credentials":[` + credential("a", `"claims":[{"path":[99999999999]}]`) + `]}`, "not a non-negative integer"},
		{"object step", `{"credentials":[` + credential("a", `"claims":[{"path":[{}]}]`) + `]}`, "step 0 is not a string, null"},
		{"boolean step", `{"credentials":[` + credential("a", `"claims":[{"path":[true]}]`) + `]}`, "step 0 is not a string, null"},
		{"claim id with a dot", `{"credentials":[` + credential("a", `"claims":[{"id":"x.y","path":["x"]}]`) + `]}`, "claim 0: the id is not valid"},
		{"claim id twice", `{"credentials":[` + credential("a", `"claims":[{"id":"x","path":["x"]},{"id":"x","path":["y"]}]`) + `]}`, "claim 1: the id is not valid or used twice"},
		{"claim without id beside claim_sets", `{"credentials":[` + credential("a", `"claims":[{"id":"x","path":["x"]},{"path":["y"]}],"claim_sets":[["x"]]`) + `]}`, "claim 1: claims need an id"},
		{"empty values", `{"credentials":[` + credential("a", values(0)) + `]}`, "values must hold 1 to 32"},
		{"33 values", `{"credentials":[` + credential("a", values(33)) + `]}`, "values must hold 1 to 32"},
		{"object value", `{"credentials":[` + credential("a", `"claims":[{"path":["x"],"values":[{}]}]`) + `]}`, "values must be strings, integers or booleans"},
		{"null value", `{"credentials":[` + credential("a", `"claims":[{"path":["x"],"values":[null]}]`) + `]}`, "values must be strings, integers or booleans"},
		{"fractional value", `{"credentials":[` + credential("a", `"claims":[{"path":["x"],"values":[1.5]}]`) + `]}`, "1.5 is not an integer"},
		{"claim_sets without claims", `{"credentials":[` + credential("a", `"claim_sets":[["x"]]`) + `]}`, "claim_sets without claims"},
		{"empty claim_sets", `{"credentials":[` + credential("a", `"claims":[{"id":"x","path":["x"]}],"claim_sets":[]`) + `]}`, "claim_sets: must hold 1 to 32 options"},
		{"empty claim set", `{"credentials":[` + credential("a", `"claims":[{"id":"x","path":["x"]}],"claim_sets":[[]]`) + `]}`, "option 0 must name 1 to 64 ids"},
		{"claim set of an unknown claim", `{"credentials":[` + credential("a", `"claims":[{"id":"x","path":["x"]}],"claim_sets":[["x"],["y"]]`) + `]}`, `option 1 names the unknown id "y"`},
		{"empty credential_sets", `{"credentials":[` + credential("a", "") + `],"credential_sets":[]}`, "credential_sets is empty"},
		{"33 credential_sets", `{"credentials":[` + credential("a", "") + `],"credential_sets":[` + repeat(`{"options":[["a"]]}`, 33) + `]}`, "more than 32 credential_sets"},
		{"credential set without options", `{"credentials":[` + credential("a", "") + `],"credential_sets":[{}]}`, "credential set 0: must hold 1 to 32 options"},
		{"credential set of an unknown query", `{"credentials":[` + credential("a", "") + `],"credential_sets":[{"options":[["a","b"]]}]}`, `credential set 0: option 0 names the unknown id "b"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := dcql.Parse([]byte(tc.query))
			if !errors.Is(err, dcql.ErrInvalid) || !strings.Contains(err.Error(), tc.detail) {
				t.Errorf("got %v, %v, want ErrInvalid: …%s…", q, err, tc.detail)
			}
		})
	}
}

func repeatIDs(n int) string {
	var cs []string
	for i := range n {
		cs = append(cs, credential(fmt.Sprintf("c%d", i), ""))
	}
	return strings.Join(cs, ",")
}

func TestAnswered(t *testing.T) {
	plain := mustParse(t, `{"credentials":[`+credential("a", "")+","+credential("b", "")+`]}`)
	sets := mustParse(t, `{"credentials":[`+credential("a", "")+","+credential("b", "")+","+credential("c", "")+","+credential("d", "")+`],
		"credential_sets":[{"options":[["a"],["b","c"]]},{"options":[["d"]],"required":false}]}`)
	for _, tc := range []struct {
		name     string
		q        *dcql.Query
		ids      string
		answered bool
		in       string // the ids InOption holds true
	}{
		{"every query", plain, "a b", true, "a b"},
		{"a query left out", plain, "a", false, "a b"},
		{"nothing", plain, "", false, "a b"},
		{"a first option", sets, "a", true, "a"},
		{"a second option", sets, "b c", true, "b c"},
		{"half an option", sets, "b", false, ""},
		{"half an option beside a whole one", sets, "a b", true, "a"},
		{"the optional set alone", sets, "d", false, "d"},
		{"both sets", sets, "a d", true, "a d"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ids := map[string]bool{}
			for _, id := range strings.Fields(tc.ids) {
				ids[id] = true
			}
			if got := tc.q.Answered(ids); got != tc.answered {
				t.Errorf("Answered: got %v, want %v", got, tc.answered)
			}
			for _, id := range []string{"a", "b", "c", "d"} {
				if !ids[id] {
					continue
				}
				if got, want := tc.q.InOption(id, ids), strings.Contains(" "+tc.in+" ", " "+id+" "); got != want {
					t.Errorf("InOption(%s): got %v, want %v", id, got, want)
				}
			}
		})
	}
}

func mustParse(t testing.TB, query string) *dcql.Query {
	t.Helper()
	q, err := dcql.Parse([]byte(query))
	if err != nil {
		t.Fatal(err)
	}
	return q
}
