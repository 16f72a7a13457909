package dcql

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
)

// ErrInvalid: a query is not of the form §6 gives, or exceeds a bound.
var ErrInvalid = errors.New("dcql: invalid query")

// Bounds of a query: it is read before anyone sees what it asks.
const (
	MaxSize            = 64 << 10 // bytes of the query
	maxCredentialQuery = 32       // credential queries
	maxClaimQuery      = 64       // claims queries per credential query
	maxClaimSets       = 32       // claim_sets or credential_sets options
	maxPath            = 16       // steps of a claims path pointer
	maxValues          = 32       // values of a claims query, vct_values
)

// Query is a parsed DCQL query (§6).
type Query struct {
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
	// true).
	RequireBinding *bool        `json:"require_cryptographic_holder_binding,omitempty"`
	Claims         []ClaimQuery `json:"claims,omitempty"`
	ClaimSets      [][]string   `json:"claim_sets,omitempty"`
}

// ClaimQuery asks for one claim (§6.3): its path (strings, non-negative
// integers as int, nil for every element of an array, §7) and,
// optionally, the values it must have (strings, booleans, integers as
// json.Number).
type ClaimQuery struct {
	ID     string `json:"id,omitempty"`
	Path   []any  `json:"path"`
	Values []any  `json:"values,omitempty"`
}

// CredentialSet is a credential set query (§6.2): options, each a list of
// credential query IDs, one of which must be answered when required.
type CredentialSet struct {
	Options  [][]string `json:"options"`
	Required *bool      `json:"required,omitempty"`
}

// IsRequired says whether the set must be answered (required defaults to
// true).
func (c CredentialSet) IsRequired() bool { return c.Required == nil || *c.Required }

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Parse reads and checks a query; every fault wraps ErrInvalid and says
// what is wrong.
func Parse(b []byte) (*Query, error) {
	bad := func(format string, args ...any) (*Query, error) {
		return nil, fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	if len(b) > MaxSize {
		return bad("longer than %d bytes", MaxSize)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var q Query
	if err := dec.Decode(&q); err != nil || dec.More() {
		return bad("not a JSON object of the query's form")
	}
	if len(q.Credentials) == 0 || len(q.Credentials) > maxCredentialQuery {
		return bad("credentials must hold 1 to %d credential queries", maxCredentialQuery)
	}
	ids := map[string]bool{}
	for i := range q.Credentials {
		c := &q.Credentials[i]
		if !idPattern.MatchString(c.ID) {
			return bad("credential query %d has no valid id", i)
		}
		if ids[c.ID] {
			return bad("the credential query id %q is used twice", c.ID)
		}
		ids[c.ID] = true
		if err := checkCredential(c); err != nil {
			return bad("credential query %q%v", c.ID, err)
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

// checkCredential checks a credential query but its id; its errors
// follow the query's name (" has …" or ", claim 2: …").
func checkCredential(c *CredentialQuery) error {
	if c.Format == "" {
		return errors.New(" has no format")
	}
	if len(c.Meta.VCTValues) > maxValues {
		return fmt.Errorf(" has more than %d vct_values", maxValues)
	}
	if len(c.Claims) > maxClaimQuery {
		return fmt.Errorf(" has more than %d claims", maxClaimQuery)
	}
	if c.Claims != nil && len(c.Claims) == 0 {
		return errors.New(" has an empty claims array")
	}
	claimIDs := map[string]bool{}
	for j := range c.Claims {
		cl := &c.Claims[j]
		if err := checkPath(cl.Path); err != nil {
			return fmt.Errorf(", claim %d: %v", j, err)
		}
		if cl.ID != "" {
			if !idPattern.MatchString(cl.ID) || claimIDs[cl.ID] {
				return fmt.Errorf(", claim %d: the id is not valid or used twice", j)
			}
			claimIDs[cl.ID] = true
		} else if c.ClaimSets != nil {
			return fmt.Errorf(", claim %d: claims need an id when claim_sets is present", j)
		}
		if cl.Values != nil && (len(cl.Values) == 0 || len(cl.Values) > maxValues) {
			return fmt.Errorf(", claim %d: values must hold 1 to %d values", j, maxValues)
		}
		for _, v := range cl.Values {
			switch x := v.(type) {
			case string, bool:
			case json.Number:
				if _, err := x.Int64(); err != nil {
					return fmt.Errorf(", claim %d: the value %.40s is not an integer", j, x)
				}
			default:
				return fmt.Errorf(", claim %d: values must be strings, integers or booleans", j)
			}
		}
	}
	if c.ClaimSets != nil {
		if len(c.Claims) == 0 {
			return errors.New(" has claim_sets without claims")
		}
		if err := checkOptions(c.ClaimSets, claimIDs); err != nil {
			return fmt.Errorf(", claim_sets: %v", err)
		}
	}
	return nil
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

// Paths returns, by credential query ID, the claim paths the query may
// ask for, of all its claim sets together (nil for a query without
// claims); the paths are copies.
func (q *Query) Paths() map[string][][]any {
	out := make(map[string][][]any, len(q.Credentials))
	for _, c := range q.Credentials {
		var ps [][]any
		for _, cl := range c.Claims {
			ps = append(ps, slices.Clone(cl.Path))
		}
		out[c.ID] = ps
	}
	return out
}

// VCTs returns, by credential query ID, the vct_values the query accepts
// (nil for a query that names none, and so accepts any type).
func (q *Query) VCTs() map[string][]string {
	out := make(map[string][]string, len(q.Credentials))
	for _, c := range q.Credentials {
		if len(c.Meta.VCTValues) > 0 {
			out[c.ID] = slices.Clone(c.Meta.VCTValues)
		} else {
			out[c.ID] = nil
		}
	}
	return out
}

// Answered reports whether answers to the credential queries whose IDs
// are true in ids answer q (§6.4.2): every query when q has no credential
// sets, else an option of each required set.
func (q *Query) Answered(ids map[string]bool) bool { return q.unanswered(ids) == "" }

// unanswered says what of q ids leaves unanswered ("" when nothing).
func (q *Query) unanswered(ids map[string]bool) string {
	if q.CredentialSets == nil {
		for _, c := range q.Credentials {
			if !ids[c.ID] {
				return fmt.Sprintf("the credential query %q is not answered", c.ID)
			}
		}
		return ""
	}
	for i, cs := range q.CredentialSets {
		if cs.IsRequired() && !slices.ContainsFunc(cs.Options, func(o []string) bool { return allIn(o, ids) }) {
			return fmt.Sprintf("no option of the required credential set %d is answered", i)
		}
	}
	return ""
}

// InOption reports whether an answer to the credential query id belongs
// to an answer q asks for: true without credential sets, else when id is
// in an option of a credential set whose queries ids all answers.
func (q *Query) InOption(id string, ids map[string]bool) bool {
	if q.CredentialSets == nil {
		return true
	}
	return slices.ContainsFunc(q.CredentialSets, func(cs CredentialSet) bool {
		return slices.ContainsFunc(cs.Options, func(o []string) bool { return slices.Contains(o, id) && allIn(o, ids) })
	})
}

func allIn(ids []string, set map[string]bool) bool {
	return !slices.ContainsFunc(ids, func(id string) bool { return !set[id] })
}
