package wallet

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/cedula/cedula/internal/dcql"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/sdjwt"
)

// QueryMatch is one credential query of a request as the citizen sees it:
// the claims asked, which of them are optional, and the held credentials
// that could answer it.
type QueryMatch struct {
	ID       string
	Multiple bool
	Claims   []AskedClaim
	// ClaimSets are the verifier's alternative sets of claims (claim
	// IDs), preferred first; nil when every claim is asked.
	ClaimSets [][]string
	Matches   []HeldMatch
}

// AskedClaim is one claim a credential query asks for.
type AskedClaim struct {
	ID     string
	Path   []any
	Label  string // the issuer's label, from the first matching credential
	Values []any  // the values the verifier accepts; nil: any
	// Optional: some claim set leaves it out, so the citizen can choose
	// not to disclose it.
	Optional bool
}

// HeldMatch is a held credential that answers a credential query.
type HeldMatch struct {
	CredentialID string
	Name         string // the credential's display name
	VCT          string
	Status       Status
	KeyMode      KeyMode
	// ClaimSets are the indexes of the query's claim sets the credential
	// can satisfy (nil when the query has none).
	ClaimSets []int
}

// CredentialSetView is a credential set query as the citizen sees it.
type CredentialSetView struct {
	Options  [][]string // credential query IDs
	Required bool
}

// heldCredential is a held credential opened for matching.
type heldCredential struct {
	view   Credential
	held   *held
	claims map[string]any // every claim, registered ones included
}

// unusable are the statuses a credential cannot be presented in.
var unusable = map[Status]bool{StatusRevoked: true, StatusSuspended: true, StatusExpired: true}

// matchQuery finds, among the citizen's credentials, those that answer q.
func matchQuery(q *dcql.CredentialQuery, creds []heldCredential) QueryMatch {
	m := QueryMatch{ID: q.ID, Multiple: q.Multiple, ClaimSets: q.ClaimSets}
	for _, cl := range q.Claims {
		m.Claims = append(m.Claims, AskedClaim{ID: cl.ID, Path: cl.Path, Values: cl.Values, Optional: optional(cl.ID, q.ClaimSets)})
	}
	if q.Format != FormatSDJWT {
		return m
	}
	for _, c := range creds {
		if unusable[c.view.Status] || len(q.Meta.VCTValues) > 0 && !slices.Contains(q.Meta.VCTValues, c.view.VCT) {
			continue
		}
		sets, ok := q.Satisfies(c.claims)
		if !ok {
			continue
		}
		m.Matches = append(m.Matches, HeldMatch{CredentialID: c.view.ID, Name: c.view.Display.Name, VCT: c.view.VCT,
			Status: c.view.Status, KeyMode: c.view.KeyMode, ClaimSets: sets})
		for i := range m.Claims {
			if m.Claims[i].Label == "" {
				m.Claims[i].Label = labelOf(c.view.ClaimInfo, m.Claims[i].Path)
			}
		}
	}
	return m
}

// optional says whether some claim set leaves the claim out.
func optional(id string, sets [][]string) bool {
	for _, s := range sets {
		if !slices.Contains(s, id) {
			return true
		}
	}
	return false
}

func labelOf(info []ClaimInfo, path []any) string {
	for _, ci := range info {
		if dcql.SamePath(ci.Path, path) {
			return ci.Label
		}
	}
	return ""
}

func appendPath(p []any, step any) []any {
	return append(slices.Clip(p), step)
}

// openClaims takes an SD-JWT VC apart: every claim with every disclosure
// applied (registered claims included, numbers as json.Number), and where
// in them each disclosure sits.
func openClaims(cred string) (map[string]any, []located, sdjwt.Presentation, error) {
	p, err := sdjwt.Parse(cred)
	if err != nil {
		return nil, nil, p, err
	}
	raw, err := jose.UnverifiedPayload([]byte(p.JWT))
	if err != nil {
		return nil, nil, p, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var payload map[string]any
	if err := dec.Decode(&payload); err != nil {
		return nil, nil, p, errors.New("the payload is not a JSON object")
	}
	claims, err := sdjwt.Reconstruct(payload, p.Disclosures)
	if err != nil {
		return nil, nil, p, err
	}
	byDigest := map[string]sdjwt.Disclosure{}
	for _, d := range p.Disclosures {
		byDigest[d.Digest] = d
	}
	var locs []located
	if err := locate(payload, nil, byDigest, &locs, 0); err != nil {
		return nil, nil, p, err
	}
	return claims, locs, p, nil
}

// located is a disclosure and the concrete path of the claim it
// discloses.
type located struct {
	path []any
	d    sdjwt.Disclosure
}

// locate walks a payload as sdjwt.Reconstruct does (undisclosed and
// decoy digests drop out of arrays, so indexes are those of the rebuilt
// claims) and notes where each disclosure lands.
func locate(v any, path []any, byDigest map[string]sdjwt.Disclosure, out *[]located, depth int) error {
	if depth > 64 {
		return errors.New("nested too deeply")
	}
	switch x := v.(type) {
	case map[string]any:
		for k, el := range x {
			if k == "_sd" {
				continue
			}
			if err := locate(el, appendPath(path, k), byDigest, out, depth+1); err != nil {
				return err
			}
		}
		list, _ := x["_sd"].([]any)
		for _, dg := range list {
			s, _ := dg.(string)
			d, ok := byDigest[s]
			if !ok {
				continue
			}
			p := appendPath(path, d.Name)
			*out = append(*out, located{path: p, d: d})
			if err := locate(d.Value, p, byDigest, out, depth+1); err != nil {
				return err
			}
		}
	case []any:
		i := 0
		for _, el := range x {
			if m, ok := el.(map[string]any); ok && len(m) == 1 {
				if s, ok := m["..."].(string); ok {
					d, ok := byDigest[s]
					if !ok {
						continue
					}
					p := appendPath(path, i)
					*out = append(*out, located{path: p, d: d})
					if err := locate(d.Value, p, byDigest, out, depth+1); err != nil {
						return err
					}
					i++
					continue
				}
			}
			if err := locate(el, appendPath(path, i), byDigest, out, depth+1); err != nil {
				return err
			}
			i++
		}
	}
	return nil
}

// disclosuresFor chooses the disclosures a presentation of the claims at
// paths needs (RFC 9901 §7.2 leaves the choice to the holder): each
// claim's own, its parents' (a nested claim is reachable only through its
// parent's disclosure), and its children's (a claim is disclosed whole).
// Nothing else goes.
func disclosuresFor(locs []located, paths [][]any) []sdjwt.Disclosure {
	var out []sdjwt.Disclosure
	for _, l := range locs {
		if slices.ContainsFunc(paths, func(p []any) bool { return dcql.HasPrefix(p, l.path) || dcql.HasPrefix(l.path, p) }) {
			out = append(out, l.d)
		}
	}
	return out
}

// pathString renders a concrete path for the history: ["address",
// "locality"] or ["nationalities", 0].
func pathString(p []any) string {
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Sprint(p)
	}
	return string(b)
}
