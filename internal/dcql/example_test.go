package dcql_test

import (
	"encoding/json"
	"fmt"

	"github.com/cedula/cedula/internal/dcql"
)

// A verifier asks for the locality of a citizen's address and whether
// they are of age; the wallet disclosed more than that, and only what was
// asked goes on.
func ExampleQuery_Check() {
	q, err := dcql.Parse([]byte(`{"credentials":[{"id":"pid","format":"dc+sd-jwt",
		"meta":{"vct_values":["urn:eudi:pid:1"]},
		"claims":[{"path":["address","locality"]},{"path":["age_over_18"],"values":[true]}]}]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(q.Paths()["pid"])
	claims := map[string]any{
		"given_name":  "Ana",
		"age_over_18": true,
		"address":     map[string]any{"locality": "Quito", "street": "Av. Amazonas"},
	}
	asked, err := q.Check(map[string][]dcql.Presented{
		"pid": {{Format: "dc+sd-jwt", VCT: "urn:eudi:pid:1", Claims: claims}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	b, _ := json.Marshal(asked)
	fmt.Println(string(b))

	claims["age_over_18"] = false
	_, err = q.Check(map[string][]dcql.Presented{
		"pid": {{Format: "dc+sd-jwt", VCT: "urn:eudi:pid:1", Claims: claims}},
	})
	fmt.Println(err)
	// Output:
	// [[address locality] [age_over_18]]
	// {"pid":[{"address":{"locality":"Quito"},"age_over_18":true}]}
	// dcql: the presentations do not answer the query: credential query "pid", credential 0: the claim ["age_over_18"] is not there or has none of the values asked
}
