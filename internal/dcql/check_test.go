package dcql_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/cedula/cedula/internal/dcql"
)

const pidVCT = "urn:eudi:pid:1"

func TestCheck(t *testing.T) {
	ana := func() dcql.Presented {
		return dcql.Presented{Format: "dc+sd-jwt", VCT: pidVCT, Claims: decode(t, person)}
	}
	bea := dcql.Presented{Format: "dc+sd-jwt", VCT: pidVCT, Claims: decode(t, `{"given_name":"Bea","nationalities":["FR"]}`)}
	pid := func(fields string) string { return credential("pid", `"meta":{"vct_values":["`+pidVCT+`"]},`+fields) }
	one := func(fields string) string { return `{"credentials":[` + pid(fields) + `]}` }
	for _, tc := range []struct {
		name      string
		query     string
		presented map[string][]dcql.Presented
		want      string // the claims returned, as JSON
		err       string // else the error's detail
	}{
		{name: "only the claims asked",
			query:     one(`"claims":[{"path":["given_name"]},{"path":["address","locality"]}]`),
			presented: map[string][]dcql.Presented{"pid": {ana()}},
			want:      `{"pid":[{"given_name":"Ana","address":{"locality":"Quito"}}]}`},
		{name: "an array with null keeps the elements of the values asked",
			query:     one(`"claims":[{"path":["nationalities",null],"values":["ES"]}]`),
			presented: map[string][]dcql.Presented{"pid": {ana()}},
			want:      `{"pid":[{"nationalities":["ES"]}]}`},
		{name: "an array with null, every element",
			query:     one(`"claims":[{"path":["nationalities",null]}]`),
			presented: map[string][]dcql.Presented{"pid": {ana()}},
			want:      `{"pid":[{"nationalities":["EC","ES"]}]}`},
		{name: "an index",
			query:     one(`"claims":[{"path":["nationalities",1]}]`),
			presented: map[string][]dcql.Presented{"pid": {ana()}},
			want:      `{"pid":[{"nationalities":["ES"]}]}`},
		{name: "two paths into the same elements",
			query:     one(`"claims":[{"path":["jobs",null,"title"]},{"path":["jobs",null,"since"]}]`),
			presented: map[string][]dcql.Presented{"pid": {ana()}},
			want:      `{"pid":[{"jobs":[{"title":"clerk","since":2010},{"title":"judge"}]}]}`},
		{name: "a key of array elements leaves their siblings out",
			query:     one(`"claims":[{"path":["degrees",0,"type"]}]`),
			presented: map[string][]dcql.Presented{"pid": {ana()}},
			want:      `{"pid":[{"degrees":[{"type":"BSc"}]}]}`},
		{name: "an object asked whole and a claim in it",
			query:     one(`"claims":[{"path":["address","locality"]},{"path":["address"]}]`),
			presented: map[string][]dcql.Presented{"pid": {ana()}},
			want:      `{"pid":[{"address":{"locality":"Quito","street":"Av. Amazonas"}}]}`},
		{name: "no claims asked, none returned",
			query:     one(`"multiple":false`),
			presented: map[string][]dcql.Presented{"pid": {ana()}},
			want:      `{"pid":[{}]}`},
		{name: "the first claim set satisfied",
			query: one(`"claims":[{"id":"f","path":["family_name"]},{"id":"g","path":["given_name"]},{"id":"a","path":["age"]}],
				"claim_sets":[["f","g"],["g","a"],["g"]]`),
			presented: map[string][]dcql.Presented{"pid": {ana()}},
			want:      `{"pid":[{"given_name":"Ana","age":42}]}`},
		{name: "a claim set by values",
			query: one(`"claims":[{"id":"o","path":["age_over_18"],"values":[false]},{"id":"n","path":["nationalities",null],"values":["EC"]}],
				"claim_sets":[["o"],["n"]]`),
			presented: map[string][]dcql.Presented{"pid": {ana()}},
			want:      `{"pid":[{"nationalities":["EC"]}]}`},
		{name: "no claim set satisfied",
			query:     one(`"claims":[{"id":"f","path":["family_name"]},{"id":"g","path":["given_name"],"values":["Bea"]}],"claim_sets":[["f"],["g"]]`),
			presented: map[string][]dcql.Presented{"pid": {ana()}},
			err:       `credential query "pid", credential 0: the claims satisfy none of the claim_sets`},
		{name: "a claim missing",
			query:     one(`"claims":[{"path":["given_name"]},{"path":["family_name"]}]`),
			presented: map[string][]dcql.Presented{"pid": {ana()}},
			err:       `the claim ["family_name"] is not there`},
		{name: "a long path cut short in the error",
			query:     one(`"claims":[{"path":["` + strings.Repeat("x", 300) + `"]}]`),
			presented: map[string][]dcql.Presented{"pid": {ana()}},
			err:       `the claim ["` + strings.Repeat("x", 198) + `… is not there`},
		{name: "a value not asked",
			query:     one(`"claims":[{"id":"adult","path":["age_over_18"],"values":[false]}]`),
			presented: map[string][]dcql.Presented{"pid": {ana()}},
			err:       `the claim "adult" is not there or has none of the values asked`},
		{name: "another format",
			query:     one(`"claims":[{"path":["given_name"]}]`),
			presented: map[string][]dcql.Presented{"pid": {{Format: "mso_mdoc", VCT: pidVCT, Claims: decode(t, person)}}},
			err:       `the format is "mso_mdoc", not "dc+sd-jwt"`},
		{name: "another vct",
			query:     one(`"claims":[{"path":["given_name"]}]`),
			presented: map[string][]dcql.Presented{"pid": {{Format: "dc+sd-jwt", VCT: "urn:other", Claims: decode(t, person)}}},
			err:       `the vct "urn:other" is not among the vct_values`},
		{name: "any vct without vct_values",
			query:     `{"credentials":[` + credential("pid", `"claims":[{"path":["given_name"]}]`) + `]}`,
			presented: map[string][]dcql.Presented{"pid": {{Format: "dc+sd-jwt", VCT: "urn:other", Claims: decode(t, person)}}},
			want:      `{"pid":[{"given_name":"Ana"}]}`},
		{name: "two credentials for one",
			query:     one(`"claims":[{"path":["given_name"]}]`),
			presented: map[string][]dcql.Presented{"pid": {ana(), bea}},
			err:       `2 credentials for the credential query "pid", which takes one`},
		{name: "multiple, in order",
			query:     one(`"multiple":true,"claims":[{"path":["given_name"]}]`),
			presented: map[string][]dcql.Presented{"pid": {bea, ana()}},
			want:      `{"pid":[{"given_name":"Bea"},{"given_name":"Ana"}]}`},
		{name: "multiple, one not answering",
			query:     one(`"multiple":true,"claims":[{"path":["nationalities",null],"values":["EC"]}]`),
			presented: map[string][]dcql.Presented{"pid": {ana(), bea}},
			err:       `credential query "pid", credential 1: the claim ["nationalities",null] is not there`},
		{name: "no credential",
			query:     one(`"claims":[{"path":["given_name"]}]`),
			presented: map[string][]dcql.Presented{"pid": {}},
			err:       `no credential for the credential query "pid"`},
		{name: "nothing presented",
			query:     one(`"claims":[{"path":["given_name"]}]`),
			presented: nil,
			err:       `the credential query "pid" is not answered`},
		{name: "a query the query does not have",
			query:     one(`"claims":[{"path":["given_name"]}]`),
			presented: map[string][]dcql.Presented{"pid": {ana()}, "other": {bea}},
			err:       `the query has no credential query "other"`},
		{name: "every query without credential sets",
			query:     `{"credentials":[` + pid(`"claims":[{"path":["given_name"]}]`) + "," + credential("mdl", "") + `]}`,
			presented: map[string][]dcql.Presented{"pid": {ana()}},
			err:       `the credential query "mdl" is not answered`},
		{name: "an option of a required set",
			query: `{"credentials":[` + pid(`"claims":[{"path":["given_name"]}]`) + "," + credential("mdl", "") + "," + credential("eh", "") + `],
				"credential_sets":[{"options":[["mdl","eh"],["pid"]]}]}`,
			presented: map[string][]dcql.Presented{"pid": {ana()}},
			want:      `{"pid":[{"given_name":"Ana"}]}`},
		{name: "no option of a required set",
			query: `{"credentials":[` + pid(`"claims":[{"path":["given_name"]}]`) + "," + credential("mdl", "") + `],
				"credential_sets":[{"options":[["pid"]],"required":false},{"options":[["mdl"]]}]}`,
			presented: map[string][]dcql.Presented{"pid": {ana()}},
			err:       `no option of the required credential set 1 is answered`},
		{name: "an optional set left out",
			query: `{"credentials":[` + pid(`"claims":[{"path":["given_name"]}]`) + "," + credential("mdl", "") + `],
				"credential_sets":[{"options":[["pid"]]},{"options":[["mdl"]],"required":false}]}`,
			presented: map[string][]dcql.Presented{"pid": {ana()}},
			want:      `{"pid":[{"given_name":"Ana"}]}`},
		{name: "half an option beside a whole one",
			query: `{"credentials":[` + pid(`"claims":[{"path":["given_name"]}]`) + "," + credential("mdl", "") + "," + credential("eh", "") + `],
				"credential_sets":[{"options":[["pid"],["mdl","eh"]]}]}`,
			presented: map[string][]dcql.Presented{"pid": {ana()}, "mdl": {{Format: "dc+sd-jwt"}}},
			err:       `the credential query "mdl" is answered outside a complete option`},
		{name: "a query in no credential set",
			query: `{"credentials":[` + pid(`"claims":[{"path":["given_name"]}]`) + "," + credential("mdl", "") + `],
				"credential_sets":[{"options":[["pid"]]}]}`,
			presented: map[string][]dcql.Presented{"pid": {ana()}, "mdl": {{Format: "dc+sd-jwt"}}},
			err:       `the credential query "mdl" is answered outside a complete option`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mustParse(t, tc.query).Check(tc.presented)
			if tc.err != "" {
				if !errors.Is(err, dcql.ErrNotAnswered) || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("got %v, %v, want ErrNotAnswered: …%s…", got, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("got %v, want %s", err, tc.want)
			}
			b, _ := json.Marshal(got)
			if !jsonEqual(t, b, []byte(tc.want)) {
				t.Errorf("got %s, want %s", b, tc.want)
			}
		})
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}

// TestCheckHostile: claims and presentations made to cost the verifier
// are refused within bounds, or answered without walking what the query
// does not reach.
func TestCheckHostile(t *testing.T) {
	wide := make([]any, dcql.MaxSelected)
	for i := range wide {
		wide[i] = []any{"x", "y"}
	}
	deep := map[string]any{"v": "end"}
	for range 100000 {
		deep = map[string]any{"a": deep}
	}
	many := make([]dcql.Presented, dcql.MaxSelected+1)
	for i := range many {
		many[i] = dcql.Presented{Format: "dc+sd-jwt"}
	}
	twenty := func(path string) string {
		return `{"credentials":[` + credential("q", `"claims":[`+repeat(`{"path":`+path+`}`, 20)+`]`) + `]}`
	}
	for _, tc := range []struct {
		name      string
		query     string
		presented map[string][]dcql.Presented
		err       string // "" when the answer is taken
	}{
		{"a path selecting too many elements", `{"credentials":[` + credential("q", `"claims":[{"path":["w",null,null]}]`) + `]}`,
			map[string][]dcql.Presented{"q": {{Format: "dc+sd-jwt", Claims: map[string]any{"w": wide}}}}, "more than 65536 elements"},
		{"paths that each select many, together too many", twenty(`["w",null]`),
			map[string][]dcql.Presented{"q": {{Format: "dc+sd-jwt", Claims: map[string]any{"w": wide[:dcql.MaxSelected/16]}}}}, "more than 65536 elements"},
		{"too many credentials", `{"credentials":[` + credential("q", `"multiple":true`) + `]}`,
			map[string][]dcql.Presented{"q": many}, "more than 65536 elements"},
		{"many credentials, each costly", `{"credentials":[` + credential("q", `"multiple":true,"claims":[{"path":["w",null]}]`) + `]}`,
			map[string][]dcql.Presented{"q": {
				{Format: "dc+sd-jwt", Claims: map[string]any{"w": wide[:dcql.MaxSelected/2]}},
				{Format: "dc+sd-jwt", Claims: map[string]any{"w": wide[:dcql.MaxSelected/2]}},
			}}, "more than 65536 elements"},
		{"deep claims below a short path", `{"credentials":[` + credential("q", `"claims":[{"path":["a","a","a"]}]`) + `]}`,
			map[string][]dcql.Presented{"q": {{Format: "dc+sd-jwt", Claims: deep}}}, ""},
		{"deep claims the path does not reach", `{"credentials":[` + credential("q", `"claims":[{"path":[`+repeat(`"a"`, 15)+`,"v"]}]`) + `]}`,
			map[string][]dcql.Presented{"q": {{Format: "dc+sd-jwt", Claims: deep}}}, "is not there"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := dcql.Parse([]byte(tc.query))
			if err != nil {
				t.Fatal(err)
			}
			_, err = q.Check(tc.presented)
			if tc.err == "" && err != nil || tc.err != "" && (!errors.Is(err, dcql.ErrNotAnswered) || !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("got %v, want %q", err, tc.err)
			}
		})
	}
}
