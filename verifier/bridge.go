package verifier

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/cedula/cedula/consent"
)

// The OIDC bridge: an agency that is a plain OpenID Connect client asks
// for verified claims (OpenID Connect for Identity Assurance 1.0, "IDA")
// with the claims parameter (OIDC Core §5.5) or with a scope naming a
// credential type; the citizen's wallet presents the credential to this
// verifier through the same validation as any wallet's answer; the ID
// token and userinfo carry verified_claims made from the verified result.
// This file is the protocol's part: reading what is asked, planning the
// presentation under the agency's purpose, and shaping the answer. The
// server wires the wallet and the provider around it.

// VerifiedScope prefixes a scope that asks for the verified claims of a
// credential type: "verified:pid" asks, in the ID token and at userinfo,
// for every claim of the type whose configuration ID is "pid" that the
// request's purpose registers.
const VerifiedScope = "verified:"

// Where verified claims go (OIDC Core §5.5).
const (
	TargetIDToken  = "id_token"
	TargetUserinfo = "userinfo"
)

// Evidence and check methods the bridge states (IDA Schema §5.4.4.3).
const (
	EvidenceRecord = "electronic_record"
	// CheckCrypto: the issuer's signature and the holder's key binding
	// were verified; CheckData: the credential's status was read from
	// its issuer's status list.
	CheckCrypto = "vcrypt"
	CheckData   = "data"
)

// Bounds of a verified_claims request.
const (
	maxVerifiedElements = 8
	maxVerifiedClaims   = 32
	maxClaimName        = 64
)

// ErrClaimsRequest marks a claims parameter or verified scope the agency
// got wrong; the provider answers invalid_request.
var ErrClaimsRequest = errors.New("verifier: invalid verified claims request")

func claimsErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrClaimsRequest, fmt.Sprintf(format, args...))
}

// BridgePlan is what the bridge keeps with an authorization request that
// asks for verified claims.
type BridgePlan struct {
	Purpose string          `json:"purpose"`
	DCQL    json.RawMessage `json:"dcql"`
	Asks    []BridgeAsk     `json:"asks"`
}

// BridgeAsk is one verified_claims element asked for.
type BridgeAsk struct {
	Target  string `json:"target"` // TargetIDToken or TargetUserinfo
	QueryID string `json:"query"`  // the DCQL credential query that answers it
	VCT     string `json:"vct"`
	// Verification and Claims are the element's verification and claims
	// requests as the agency wrote them (IDA §5.3–§5.5).
	Verification json.RawMessage            `json:"verification"`
	Claims       map[string]json.RawMessage `json:"claims"`
}

// element is a verified_claims request element as read.
type element struct {
	target       string
	verification json.RawMessage
	claims       map[string]json.RawMessage
	names        []string // claim names, sorted
}

// defaultVerification is what a verified scope asks of the verification:
// the trust framework, the time and the evidence with its checks.
var defaultVerification = json.RawMessage(`{"trust_framework":null,"time":null,"evidence":[{"type":{"value":"electronic_record"},"check_details":null,"record":null}]}`)

// PlanBridge reads what an authorization request of clientID asks for —
// the verified_claims of its claims parameter (raw JSON; nil for none)
// and its verified scopes, whose configuration IDs typeOf maps to
// credential types — and plans one presentation under one of the
// request's purposes that registers every claim asked. It returns nil
// when nothing verified is asked for; an error wrapping ErrClaimsRequest
// when the request is malformed or asks beyond its purposes (audited as
// a refused request).
func (s *Service) PlanBridge(ctx context.Context, clientID string, purposes, scopes []string, claims []byte, typeOf func(id string) (string, bool)) (*BridgePlan, error) {
	els, err := readClaimsParam(claims)
	if err != nil {
		return nil, err
	}
	for _, sc := range scopes {
		id, ok := strings.CutPrefix(sc, VerifiedScope)
		if !ok {
			continue
		}
		vct, ok := "", false
		if typeOf != nil {
			vct, ok = typeOf(id)
		}
		if !ok {
			return nil, claimsErr("scope %.80q names no credential type of this server", sc)
		}
		for _, t := range []string{TargetIDToken, TargetUserinfo} {
			els = append(els, element{target: t, verification: defaultVerification, names: []string{"\x00" + vct}})
		}
	}
	if len(els) == 0 {
		return nil, nil
	}
	if len(els) > 2*maxVerifiedElements {
		return nil, claimsErr("at most %d verified_claims elements may be asked for", maxVerifiedElements)
	}
	if len(purposes) == 0 {
		return nil, claimsErr("verified claims are given only for a purpose: add the scope purpose:ID of a purpose registered for presentations")
	}
	var lastErr error
	for _, purpose := range purposes {
		plan, err := s.planUnder(purpose, els)
		if err != nil {
			lastErr = err
			continue
		}
		if _, _, err := s.vet(ctx, clientID, &Create{DCQL: plan.DCQL, Purpose: purpose, ResponseMode: ModeDirectPost}); err != nil {
			if errors.Is(err, ErrNotYourPurpose) || errors.Is(err, ErrNotRegistered) || errors.Is(err, ErrInvalid) {
				return nil, fmt.Errorf("%w: %v", ErrClaimsRequest, err)
			}
			return nil, err
		}
		return plan, nil
	}
	return nil, s.refuse(ctx, clientID, purposes[0], lastErr)
}

// planUnder picks, for each element, the first credential type the
// purpose registers that covers every claim it asks, and builds the
// query: one credential query per type, asking the union of the claims.
func (s *Service) planUnder(purpose string, els []element) (*BridgePlan, error) {
	reg, ok := s.purposes[purpose]
	if !ok || len(reg.Credentials) == 0 {
		return nil, claimsErr("purpose %.80q registers no presentation", purpose)
	}
	plan := &BridgePlan{Purpose: purpose}
	var vcts []string
	asked := map[string][]string{}
	for _, el := range els {
		vct := ""
		if len(el.names) == 1 && strings.HasPrefix(el.names[0], "\x00") {
			// A verified scope: the type named, all it registers.
			want := el.names[0][1:]
			i := slices.IndexFunc(reg.Credentials, func(r Registered) bool { return r.VCT == want })
			if i < 0 {
				return nil, claimsErr("purpose %q registers no presentation of %s", purpose, want)
			}
			vct = want
			el.names, el.claims = nil, map[string]json.RawMessage{}
			for _, p := range reg.Credentials[i].Claims {
				if len(p) == 1 {
					if n, ok := p[0].(string); ok && !slices.Contains(el.names, n) {
						el.names = append(el.names, n)
						el.claims[n] = json.RawMessage("null")
					}
				}
			}
		} else {
			for _, r := range reg.Credentials {
				if !slices.ContainsFunc(el.names, func(n string) bool {
					return !slices.ContainsFunc(r.Claims, func(rp []any) bool { return covers(rp, []any{n}) })
				}) {
					vct = r.VCT
					break
				}
			}
			if vct == "" {
				return nil, claimsErr("no credential type purpose %q registers has all of the claims %s", purpose, strings.Join(el.names, ", "))
			}
		}
		if !slices.Contains(vcts, vct) {
			vcts = append(vcts, vct)
		}
		for _, n := range el.names {
			if !slices.Contains(asked[vct], n) {
				asked[vct] = append(asked[vct], n)
			}
		}
		plan.Asks = append(plan.Asks, BridgeAsk{Target: el.target, VCT: vct, Verification: el.verification, Claims: el.claims})
	}
	var creds []map[string]any
	for i, vct := range vcts {
		id := fmt.Sprintf("vc%d", i)
		cq := map[string]any{"id": id, "format": FormatSDJWT, "meta": map[string]any{"vct_values": []string{vct}}}
		if names := asked[vct]; len(names) > 0 {
			slices.Sort(names)
			var cs []map[string]any
			for _, n := range names {
				cs = append(cs, map[string]any{"path": []string{n}})
			}
			cq["claims"] = cs
		}
		creds = append(creds, cq)
		for j := range plan.Asks {
			if plan.Asks[j].VCT == vct {
				plan.Asks[j].QueryID = id
			}
		}
	}
	b, err := json.Marshal(map[string]any{"credentials": creds})
	if err != nil {
		return nil, err
	}
	plan.DCQL = b
	return plan, nil
}

// readClaimsParam reads the verified_claims of a claims parameter (OIDC
// Core §5.5; IDA §5.3–§5.6): in id_token and userinfo, one object or an
// array of them, each with a verification object and a claims object
// whose members are null or an object of essential, value, values.
// Members of the parameter other than verified_claims are left alone.
func readClaimsParam(raw []byte) ([]element, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil || top == nil {
		return nil, claimsErr("the claims parameter is not a JSON object")
	}
	var out []element
	for _, target := range []string{TargetIDToken, TargetUserinfo} {
		v, ok := top[target]
		if !ok || isNull(v) {
			continue
		}
		var member map[string]json.RawMessage
		if err := json.Unmarshal(v, &member); err != nil {
			return nil, claimsErr("claims.%s is not a JSON object", target)
		}
		vc, ok := member["verified_claims"]
		if !ok || isNull(vc) {
			continue
		}
		var list []json.RawMessage
		if bytes.HasPrefix(bytes.TrimSpace(vc), []byte("[")) {
			if err := json.Unmarshal(vc, &list); err != nil {
				return nil, claimsErr("claims.%s.verified_claims is not an array of objects", target)
			}
			if len(list) == 0 {
				return nil, claimsErr("claims.%s.verified_claims is an empty array", target)
			}
		} else {
			list = []json.RawMessage{vc}
		}
		if len(list) > maxVerifiedElements {
			return nil, claimsErr("claims.%s.verified_claims has more than %d elements", target, maxVerifiedElements)
		}
		for i, item := range list {
			el, err := readElement(item)
			if err != nil {
				return nil, claimsErr("claims.%s.verified_claims[%d]: %v", target, i, err)
			}
			el.target = target
			out = append(out, el)
		}
	}
	return out, nil
}

func isNull(b json.RawMessage) bool { return string(bytes.TrimSpace(b)) == "null" }

// constraintKeys are the members of a request for one value (OIDC Core
// §5.5.1; IDA §5.5) — purpose is the drafts', read and ignored.
var constraintKeys = []string{"essential", "value", "values", "max_age", "purpose"}

func readElement(item json.RawMessage) (element, error) {
	var el struct {
		Verification json.RawMessage `json:"verification"`
		Claims       json.RawMessage `json:"claims"`
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(item, &obj); err != nil || obj == nil {
		return element{}, errors.New("not a JSON object")
	}
	el.Verification, el.Claims = obj["verification"], obj["claims"]
	var ver map[string]json.RawMessage
	if len(el.Verification) == 0 || json.Unmarshal(el.Verification, &ver) != nil || ver == nil {
		return element{}, errors.New("verification must be a JSON object (IDA §5.4)")
	}
	if err := checkVerificationRequest(ver); err != nil {
		return element{}, err
	}
	var claims map[string]json.RawMessage
	if len(el.Claims) == 0 || json.Unmarshal(el.Claims, &claims) != nil || claims == nil {
		return element{}, errors.New("claims must be a JSON object (IDA §5.3)")
	}
	if len(claims) > maxVerifiedClaims {
		return element{}, fmt.Errorf("more than %d claims", maxVerifiedClaims)
	}
	out := element{verification: canonical(el.Verification), claims: map[string]json.RawMessage{}}
	for name, v := range claims {
		if name == "" || len(name) > maxClaimName {
			return element{}, fmt.Errorf("claim name %.64q is empty or longer than %d", name, maxClaimName)
		}
		if !isNull(v) {
			c, err := readConstraint(v)
			if err != nil {
				return element{}, fmt.Errorf("claim %q: %v", name, err)
			}
			for k := range c {
				if !slices.Contains(constraintKeys, k) {
					return element{}, fmt.Errorf("claim %q: sub-claims cannot be asked for (IDA §5.3); ask for %q itself", name, name)
				}
			}
		}
		out.claims[name] = canonical(v)
		out.names = append(out.names, name)
	}
	slices.Sort(out.names)
	return out, nil
}

// readConstraint reads an object requesting one value and checks its
// members' types.
func readConstraint(v json.RawMessage) (map[string]json.RawMessage, error) {
	var c map[string]json.RawMessage
	if err := json.Unmarshal(v, &c); err != nil || c == nil {
		return nil, errors.New("must be null or a JSON object")
	}
	if e, ok := c["essential"]; ok {
		var b bool
		if json.Unmarshal(e, &b) != nil {
			return nil, errors.New("essential must be true or false")
		}
	}
	if vs, ok := c["values"]; ok {
		var arr []json.RawMessage
		if json.Unmarshal(vs, &arr) != nil {
			return nil, errors.New("values must be an array")
		}
	}
	if m, ok := c["max_age"]; ok {
		var n float64
		if json.Unmarshal(m, &n) != nil || n < 0 {
			return nil, errors.New("max_age must be a number of seconds")
		}
	}
	return c, nil
}

// checkVerificationRequest checks the shape of a verification request:
// each member null, a constraint object, or (evidence, check_details) an
// array of templates; an evidence template names its type with value
// (IDA §5.4: values is not allowed there).
func checkVerificationRequest(ver map[string]json.RawMessage) error {
	var walk func(path string, v json.RawMessage, depth int) error
	walk = func(path string, v json.RawMessage, depth int) error {
		if depth > 6 {
			return fmt.Errorf("%s is nested too deep", path)
		}
		t := bytes.TrimSpace(v)
		switch {
		case isNull(t):
			return nil
		case bytes.HasPrefix(t, []byte("[")):
			var arr []json.RawMessage
			if json.Unmarshal(t, &arr) != nil || len(arr) == 0 || len(arr) > maxVerifiedElements {
				return fmt.Errorf("%s must be an array of 1 to %d templates", path, maxVerifiedElements)
			}
			for i, a := range arr {
				var m map[string]json.RawMessage
				if json.Unmarshal(a, &m) != nil || m == nil {
					return fmt.Errorf("%s[%d] is not a JSON object", path, i)
				}
				if strings.HasSuffix(path, "evidence") {
					tv, ok := m["type"]
					var c map[string]json.RawMessage
					if !ok || json.Unmarshal(tv, &c) != nil || c == nil || c["value"] == nil || c["values"] != nil {
						return fmt.Errorf("%s[%d].type must name the evidence type with value (IDA §5.4)", path, i)
					}
				}
				for k, sub := range m {
					if slices.Contains(constraintKeys, k) {
						continue
					}
					if err := walk(path+"["+fmt.Sprint(i)+"]."+k, sub, depth+1); err != nil {
						return err
					}
				}
			}
			return nil
		case bytes.HasPrefix(t, []byte("{")):
			var m map[string]json.RawMessage
			if json.Unmarshal(t, &m) != nil {
				return fmt.Errorf("%s is not a JSON object", path)
			}
			for k, sub := range m {
				if slices.Contains(constraintKeys, k) {
					if _, err := readConstraint(json.RawMessage(`{"` + k + `":` + string(sub) + `}`)); err != nil {
						return fmt.Errorf("%s: %v", path, err)
					}
					continue
				}
				if err := walk(path+"."+k, sub, depth+1); err != nil {
					return err
				}
			}
			return nil
		}
		return fmt.Errorf("%s must be null, an object or an array", path)
	}
	for k, v := range ver {
		if err := walk("verification."+k, v, 0); err != nil {
			return err
		}
	}
	return nil
}

// VerifiedClaims returns the verified_claims value for target of plan,
// from the verified request ref of clientID: one object, or an array when
// several elements are answered; nil when none is (nothing asked there,
// the result gone or failed, the ledger does not allow the release now,
// or the verification does not meet what an element asks, IDA §5.7.4).
// Each release is a ledger decision for the citizen, audited.
func (s *Service) VerifiedClaims(ctx context.Context, citizenID, clientID string, plan *BridgePlan, ref, target string) (any, error) {
	var asks []BridgeAsk
	for _, a := range plan.Asks {
		if a.Target == target {
			asks = append(asks, a)
		}
	}
	if len(asks) == 0 || ref == "" {
		return nil, nil
	}
	v, err := s.Get(ctx, clientID, ref)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	if v.Status != StatusVerified || v.Opened == nil {
		return nil, nil
	}
	d, e, err := s.cfg.Ledger.DecideEntry(ctx, consent.Query{Subject: citizenID, Controller: clientID, Purpose: v.Purpose, Categories: v.Categories})
	if err != nil {
		return nil, err
	}
	if _, err := s.cfg.Audit.Append(ctx, e); err != nil {
		return nil, err
	}
	if !d.Allow {
		return nil, nil
	}
	now := s.cfg.Now().UTC()
	var out []any
	for _, a := range asks {
		if el := s.verifiedElement(a, v.Request, v.Opened, now); el != nil {
			out = append(out, el)
		}
	}
	switch len(out) {
	case 0:
		return nil, nil
	case 1:
		return out[0], nil
	}
	return out, nil
}

// verifiedElement answers one element from the presented credential of
// its query: the claims asked that it holds and that meet their
// constraints, and of the verification what the element asks (IDA §5.4);
// nil when the verification does not meet it.
func (s *Service) verifiedElement(a BridgeAsk, r Request, res *Result, now time.Time) map[string]any {
	i := slices.IndexFunc(res.Credentials, func(p Presented) bool { return p.QueryID == a.QueryID })
	if i < 0 {
		return nil
	}
	p := res.Credentials[i]
	claims := map[string]any{}
	for name, req := range a.Claims {
		v, ok := p.Claims[name]
		if !ok {
			continue // IDA §5.7.2: omitted
		}
		if !isNull(req) {
			var c map[string]json.RawMessage
			_ = json.Unmarshal(req, &c)
			if !meets(v, c, now) {
				continue // IDA §5.7.4: the claim is omitted
			}
		}
		claims[name] = v
	}
	at := r.Answered.UTC().Truncate(time.Second)
	record := map[string]any{"type": p.VCT, "source": map[string]any{"name": p.Issuer}}
	if p.ExpiresAt != nil {
		record["date_of_expiry"] = p.ExpiresAt.UTC().Format(time.DateOnly)
	}
	checks := []any{map[string]any{"check_method": CheckCrypto, "time": at.Format(time.RFC3339)}}
	if p.StatusCheckedAt != nil {
		checks = append(checks, map[string]any{"check_method": CheckData, "organization": p.Issuer,
			"time": p.StatusCheckedAt.UTC().Truncate(time.Second).Format(time.RFC3339)})
	}
	have := map[string]any{
		"trust_framework":      s.settings.TrustFramework,
		"time":                 at.Format(time.RFC3339),
		"verification_process": r.ID,
		"evidence":             []any{map[string]any{"type": EvidenceRecord, "check_details": checks, "record": record}},
	}
	var req map[string]json.RawMessage
	if json.Unmarshal(a.Verification, &req) != nil {
		return nil
	}
	ver, ok := project(have, req, now)
	if !ok {
		return nil
	}
	return map[string]any{"verification": ver, "claims": claims}
}

// required are members kept whenever their parent is given: the schema
// requires them (IDA Schema §5.4.2, §5.4.4).
var required = []string{"trust_framework", "type", "check_method"}

// project returns the members of have that req asks for, recursively:
// null asks for the member whole, an object for its asked members (or,
// on a value, states constraints it must meet), an array of templates
// keeps the array's entries that meet one of them (OR), each projected
// through the first it meets. ok is false when a constraint is not met or
// constrains a member have lacks (IDA §5.7.4).
func project(have map[string]any, req map[string]json.RawMessage, now time.Time) (map[string]any, bool) {
	out := map[string]any{}
	for k, rv := range req {
		if slices.Contains(constraintKeys, k) {
			continue
		}
		hv, present := have[k]
		var c map[string]json.RawMessage
		constrained := false
		if !isNull(rv) && json.Unmarshal(rv, &c) == nil {
			for ck := range c {
				if ck != "essential" && ck != "purpose" && slices.Contains(constraintKeys, ck) {
					constrained = true
				}
			}
		}
		if !present {
			if constrained {
				return nil, false
			}
			continue
		}
		switch {
		case isNull(rv):
			out[k] = hv
		case bytes.HasPrefix(bytes.TrimSpace(rv), []byte("[")):
			entries, ok := hv.([]any)
			if !ok {
				return nil, false
			}
			var templates []map[string]json.RawMessage
			if json.Unmarshal(rv, &templates) != nil {
				return nil, false
			}
			var kept []any
			for _, e := range entries {
				em, ok := e.(map[string]any)
				if !ok {
					continue
				}
				for _, t := range templates {
					if pe, ok := project(em, t, now); ok {
						kept = append(kept, pe)
						break
					}
				}
			}
			if len(kept) == 0 {
				return nil, false
			}
			out[k] = kept
		case c != nil:
			if hm, ok := hv.(map[string]any); ok {
				sub, ok := project(hm, c, now)
				if !ok {
					return nil, false
				}
				out[k] = sub
				continue
			}
			if !meets(hv, c, now) {
				return nil, false
			}
			out[k] = hv
		default:
			return nil, false
		}
	}
	for _, k := range required {
		if v, ok := have[k]; ok {
			if _, done := out[k]; !done {
				out[k] = v
			}
		}
	}
	return out, true
}

// meets reports whether a value meets a request's value, values and
// max_age (OIDC Core §5.5.1; IDA §5.5).
func meets(v any, c map[string]json.RawMessage, now time.Time) bool {
	if want, ok := c["value"]; ok {
		var w any
		if json.Unmarshal(want, &w) != nil || !sameJSON(v, w) {
			return false
		}
	}
	if wants, ok := c["values"]; ok {
		var ws []any
		if json.Unmarshal(wants, &ws) != nil || !slices.ContainsFunc(ws, func(w any) bool { return sameJSON(v, w) }) {
			return false
		}
	}
	if m, ok := c["max_age"]; ok {
		var secs float64
		str, isStr := v.(string)
		if json.Unmarshal(m, &secs) != nil || !isStr {
			return false
		}
		t, err := time.Parse(time.RFC3339, str)
		if err != nil {
			if t, err = time.Parse(time.DateOnly, str); err != nil {
				return false
			}
			t = t.Add(24*time.Hour - time.Second) // the date's last second (IDA §5.5.2)
		}
		if now.Sub(t) > time.Duration(secs*float64(time.Second)) {
			return false
		}
	}
	return true
}

// sameJSON compares two decoded JSON values (numbers as float64).
func sameJSON(a, b any) bool {
	ab, err1 := json.Marshal(a)
	bb, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		return false
	}
	var x, y any
	_ = json.Unmarshal(ab, &x)
	_ = json.Unmarshal(bb, &y)
	return reflect.DeepEqual(x, y)
}

// BridgeMetadata are the provider metadata of the bridge (IDA §8), with
// verified_claims_supported of the earlier drafts, which agencies' libraries
// still read.
func (s *Service) BridgeMetadata() map[string]any {
	var claims, records []string
	for _, p := range s.settings.Purposes {
		for _, r := range p.Credentials {
			if !slices.Contains(records, r.VCT) {
				records = append(records, r.VCT)
			}
			for _, path := range r.Claims {
				if n, ok := path[0].(string); ok && !slices.Contains(claims, n) {
					claims = append(claims, n)
				}
			}
		}
	}
	slices.Sort(claims)
	slices.Sort(records)
	return map[string]any{
		"verified_claims_supported":           true,
		"trust_frameworks_supported":          []string{s.settings.TrustFramework},
		"evidence_supported":                  []string{EvidenceRecord},
		"electronic_records_supported":        records,
		"claims_in_verified_claims_supported": claims,
	}
}

// BridgeAllowed asks the ledger, before the citizen's wallet presents
// anything for plan, whether the purpose allows it for the citizen now. A
// denial is audited (the decision's entry); an allowance is not, as the
// answer's own decision will be.
func (s *Service) BridgeAllowed(ctx context.Context, citizenID, clientID string, plan *BridgePlan) (bool, error) {
	_, cats, err := s.vet(ctx, clientID, &Create{DCQL: plan.DCQL, Purpose: plan.Purpose, ResponseMode: ModeDirectPost})
	if err != nil {
		return false, err
	}
	d, e, err := s.cfg.Ledger.DecideEntry(ctx, consent.Query{Subject: citizenID, Controller: clientID, Purpose: plan.Purpose, Categories: cats})
	if err != nil || d.Allow {
		return d.Allow, err
	}
	_, err = s.cfg.Audit.Append(ctx, e)
	return false, err
}
