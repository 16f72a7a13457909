package wallet

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
)

// DCQL, the Digital Credentials Query Language (OpenID4VP 1.0 §6): what a
// verifier asks for, parsed and bounded here, matched against the
// citizen's credentials in match.go.

// DCQL bounds: a query is hostile input, read before the citizen sees
// anything.
const (
	MaxDCQL            = 64 << 10 // bytes of the query
	maxCredentialQuery = 32       // credential queries
	maxClaimQuery      = 64       // claims queries per credential query
	maxClaimSets       = 32       // claim_sets or credential_sets options
	maxPath            = 16       // steps of a claims path pointer
	maxValues          = 32       // values of a claims query
)

// DCQL is a parsed query (§6).
type DCQL struct {
	Credentials    []CredentialQuery `json:"credentials"`
	CredentialSets []CredentialSet   `json:"credential_sets,omitempty"`
}

// CredentialQuery asks for one credential (§6.1).
type CredentialQuery struct {
	ID       string `json:"id"`
	Format   string `json:"format"`
	Multiple bool   `json:"multiple,omitempty"`
	Meta     struct {
		VCTValues []string `json:"vct_values,omitempty"`
	} `json:"meta"`
	// RequireBinding is require_cryptographic_holder_binding (default
	// true); this wallet always binds.
	RequireBinding *bool        `json:"require_cryptographic_holder_binding,omitempty"`
	Claims         []ClaimQuery `json:"claims,omitempty"`
	ClaimSets      [][]string   `json:"claim_sets,omitempty"`
}

// ClaimQuery asks for one claim (§6.3): its path (strings, non-negative
// integers, null for every element of an array, §7) and, optionally, the
// values it must have.
type ClaimQuery struct {
	ID     string `json:"id,omitempty"`
	Path   []any  `json:"path"`
	Values []any  `json:"values,omitempty"`
}

// CredentialSet is a credential set query (§6.2): options, each a list of
// credential query IDs, one of which must be answered when Required.
type CredentialSet struct {
	Options  [][]string `json:"options"`
	Required *bool      `json:"required,omitempty"`
}

// IsRequired says whether the set must be answered (required defaults to
// true).
func (c CredentialSet) IsRequired() bool { return c.Required == nil || *c.Required }

var dcqlID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ParseDCQL reads and checks a DCQL query; every fault is ErrRequest with
// what is wrong.
func ParseDCQL(b []byte) (*DCQL, error) {
	bad := func(format string, args ...any) (*DCQL, error) {
		return nil, fail(ErrRequest, nil, "dcql_query: "+format, args...)
	}
	if len(b) > MaxDCQL {
		return bad("longer than %d bytes", MaxDCQL)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var q DCQL
	if err := dec.Decode(&q); err != nil || dec.More() {
		return bad("not a JSON object of the query's form")
	}
	if len(q.Credentials) == 0 || len(q.Credentials) > maxCredentialQuery {
		return bad("credentials must hold 1 to %d credential queries", maxCredentialQuery)
	}
	ids := map[string]bool{}
	for i := range q.Credentials {
		c := &q.Credentials[i]
		if !dcqlID.MatchString(c.ID) {
			return bad("credential query %d has no valid id", i)
		}
		if ids[c.ID] {
			return bad("the credential query id %q is used twice", c.ID)
		}
		ids[c.ID] = true
		if c.Format == "" {
			return bad("credential query %q has no format", c.ID)
		}
		if len(c.Meta.VCTValues) > maxValues {
			return bad("credential query %q has more than %d vct_values", c.ID, maxValues)
		}
		if len(c.Claims) > maxClaimQuery {
			return bad("credential query %q has more than %d claims", c.ID, maxClaimQuery)
		}
		if c.Claims != nil && len(c.Claims) == 0 {
			return bad("credential query %q has an empty claims array", c.ID)
		}
		claimIDs := map[string]bool{}
		for j := range c.Claims {
			cl := &c.Claims[j]
			if err := checkPath(cl.Path); err != nil {
				return bad("credential query %q, claim %d: %v", c.ID, j, err)
			}
			if cl.ID != "" {
				if !dcqlID.MatchString(cl.ID) || claimIDs[cl.ID] {
					return bad("credential query %q, claim %d: the id is not valid or used twice", c.ID, j)
				}
				claimIDs[cl.ID] = true
			} else if c.ClaimSets != nil {
				return bad("credential query %q, claim %d: claims need an id when claim_sets is present", c.ID, j)
			}
			if cl.Values != nil && (len(cl.Values) == 0 || len(cl.Values) > maxValues) {
				return bad("credential query %q, claim %d: values must hold 1 to %d values", c.ID, j, maxValues)
			}
			for _, v := range cl.Values {
				switch v.(type) {
				case string, bool, json.Number:
				default:
					return bad("credential query %q, claim %d: values must be strings, integers or booleans", c.ID, j)
				}
			}
		}
		if c.ClaimSets != nil {
			if len(c.Claims) == 0 {
				return bad("credential query %q has claim_sets without claims", c.ID)
			}
			if err := checkOptions(c.ClaimSets, claimIDs); err != nil {
				return bad("credential query %q, claim_sets: %v", c.ID, err)
			}
		}
	}
	if q.CredentialSets != nil && len(q.CredentialSets) == 0 {
		return bad("credential_sets is empty")
	}
	if len(q.CredentialSets) > maxClaimSets {
		return bad("more than %d credential_sets", maxClaimSets)
	}
	for i, s := range q.CredentialSets {
		if err := checkOptions(s.Options, ids); err != nil {
			return bad("credential set %d: %v", i, err)
		}
	}
	return &q, nil
}

// checkOptions holds options (claim_sets, or a credential set's options)
// to a bounded, non-empty list of non-empty lists of known IDs.
func checkOptions(opts [][]string, known map[string]bool) error {
	if len(opts) == 0 || len(opts) > maxClaimSets {
		return fmt.Errorf("must hold 1 to %d options", maxClaimSets)
	}
	for i, o := range opts {
		if len(o) == 0 || len(o) > maxClaimQuery {
			return fmt.Errorf("option %d must name 1 to %d ids", i, maxClaimQuery)
		}
		for _, id := range o {
			if !known[id] {
				return fmt.Errorf("option %d names the unknown id %.64q", i, id)
			}
		}
	}
	return nil
}

// checkPath holds a claims path pointer to §7: non-empty, bounded, of
// strings, nulls and non-negative integers; integers become int.
func checkPath(p []any) error {
	if len(p) == 0 || len(p) > maxPath {
		return fmt.Errorf("the path must have 1 to %d steps", maxPath)
	}
	for i, s := range p {
		switch x := s.(type) {
		case string, nil:
		case json.Number:
			n, err := x.Int64()
			if err != nil || n < 0 || n > math.MaxInt32 {
				return fmt.Errorf("path step %d is not a non-negative integer", i)
			}
			p[i] = int(n)
		default:
			return fmt.Errorf("path step %d is not a string, null or non-negative integer", i)
		}
	}
	return nil
}
