// Package sdjwt is the selective-disclosure layer of SD-JWT (RFC 9901)
// that the issuer, the wallet and the verifier share: making disclosures
// and their digests for chosen claims (object properties and array
// elements, nested), decoy digests, the compact serialization
// (JWT~Disclosure~…~[KB-JWT]), and rebuilding the claims a presentation
// discloses with every check §7.1 asks of a verifier. The JWTs themselves
// are signed and verified by internal/jose; nothing here touches a key.
//
// Only sha-256 is produced and accepted as _sd_alg (IANA "Named
// Information Hash Algorithm"; SD-JWT VC and HAIP use it), so that a
// presentation cannot choose a weaker hash.
package sdjwt

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Alg is the one digest algorithm, as _sd_alg names it.
const Alg = "sha-256"

// Reserved claim names (§4.2): they may not be disclosed.
const (
	sdKey    = "_sd"
	sdAlgKey = "_sd_alg"
	arrayKey = "..."
)

// SaltBytes is a salt's entropy: 128 bits, as §9.3 recommends at least.
const SaltBytes = 16

// Disclosure is one disclosure: the salt, the claim's name (empty for an
// array element) and its value, with its encoded form and digest.
type Disclosure struct {
	Salt    string
	Name    string // "" for an array element
	Value   any
	Encoded string // base64url of the JSON array, as sent
	Digest  string // base64url of its SHA-256
}

// IsArrayElement reports whether d discloses an array element.
func (d Disclosure) IsArrayElement() bool { return d.Name == "" }

// newDisclosure encodes [salt, name, value] or [salt, value].
func newDisclosure(name string, value any, element bool) (Disclosure, error) {
	salt := make([]byte, SaltBytes)
	rand.Read(salt)
	d := Disclosure{Salt: base64.RawURLEncoding.EncodeToString(salt), Name: name, Value: value}
	arr := []any{d.Salt, name, value}
	if element {
		arr = []any{d.Salt, value}
	}
	raw, err := json.Marshal(arr)
	if err != nil {
		return Disclosure{}, fmt.Errorf("sdjwt: disclosure of %q: %w", name, err)
	}
	d.Encoded = base64.RawURLEncoding.EncodeToString(raw)
	d.Digest = digest(d.Encoded)
	return d, nil
}

// digest is the base64url SHA-256 of the ASCII of an encoded disclosure
// (§4.2.3).
func digest(encoded string) string {
	h := sha256.Sum256([]byte(encoded))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// decoy is a digest of random bytes, like no disclosure's (§4.2.5).
func decoy() string {
	b := make([]byte, sha256.Size)
	rand.Read(b)
	return digest(base64.RawURLEncoding.EncodeToString(b))
}

// Policy says which claims are selectively disclosable. A path names a
// claim from the top: []string{"address", "locality"}; "*" as a step
// stands for every element of an array (each element disclosable on its
// own) or, as the last step, every property of an object.
type Policy struct {
	Paths [][]string
	// Decoys is how many decoy digests each object or array that holds
	// disclosable claims gets at most (a random number from 1 to Decoys),
	// so that their count does not tell how many claims there are.
	Decoys int
}

// Disclose returns the payload with the claims policy names replaced by
// digests, and their disclosures. claims is not changed; its values must
// be what encoding/json makes of JSON (map[string]any, []any, string,
// float64 or json.Number, bool, nil). A claim nested inside a disclosable
// one is disclosed recursively (its digest inside the parent's disclosed
// value). The payload gets _sd_alg when anything was disclosed.
func Disclose(claims map[string]any, policy Policy) (map[string]any, []Disclosure, error) {
	var out []Disclosure
	tree := pathTree{}
	for _, p := range policy.Paths {
		if len(p) == 0 {
			return nil, nil, errors.New("sdjwt: an empty path")
		}
		tree.add(p)
	}
	payload, err := discloseObject(claims, tree, policy.Decoys, &out, true)
	if err != nil {
		return nil, nil, err
	}
	if len(out) > 0 {
		payload[sdAlgKey] = Alg
	}
	return payload, out, nil
}

// pathTree is the policy's paths by step.
type pathTree map[string]pathTree

func (t pathTree) add(p []string) {
	next, ok := t[p[0]]
	if !ok {
		next = pathTree{}
		t[p[0]] = next
	}
	if len(p) > 1 {
		next.add(p[1:])
	} else {
		next[""] = nil // the path ends here: this claim is disclosable
	}
}

// leaf reports whether the path ends at this step.
func (t pathTree) leaf() bool { _, ok := t[""]; return ok }

func discloseObject(obj map[string]any, tree pathTree, decoys int, out *[]Disclosure, top bool) (map[string]any, error) {
	res := make(map[string]any, len(obj))
	var digests []string
	for _, name := range sortedKeys(obj) {
		v := obj[name]
		if name == sdKey || name == arrayKey || (name == sdAlgKey && top) {
			return nil, fmt.Errorf("sdjwt: the claim name %q is reserved", name)
		}
		sub, named := tree[name]
		if star, ok := tree["*"]; ok && !named && star.leaf() {
			sub, named = pathTree{"": nil}, true
		}
		if !named {
			res[name] = v
			continue
		}
		inner, err := discloseValue(v, sub, decoys, out)
		if err != nil {
			return nil, err
		}
		if !sub.leaf() {
			res[name] = inner
			continue
		}
		d, err := newDisclosure(name, inner, false)
		if err != nil {
			return nil, err
		}
		*out = append(*out, d)
		digests = append(digests, d.Digest)
	}
	if len(digests) > 0 {
		digests = append(digests, someDecoys(decoys)...)
		slices.Sort(digests)              // the order of the claims is not to be read from it (§4.2.4.1)
		list := make([]any, len(digests)) // as JSON decodes it
		for i, dg := range digests {
			list[i] = dg
		}
		res[sdKey] = list
	}
	return res, nil
}

// discloseValue applies the policy below a claim to its value.
func discloseValue(v any, tree pathTree, decoys int, out *[]Disclosure) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		return discloseObject(x, tree, decoys, out, false)
	case []any:
		star, ok := tree["*"]
		if !ok {
			return x, nil
		}
		res := make([]any, 0, len(x))
		for _, el := range x {
			inner, err := discloseValue(el, star, decoys, out)
			if err != nil {
				return nil, err
			}
			if !star.leaf() {
				res = append(res, inner)
				continue
			}
			d, err := newDisclosure("", inner, true)
			if err != nil {
				return nil, err
			}
			*out = append(*out, d)
			res = append(res, map[string]any{arrayKey: d.Digest})
		}
		for _, dg := range someDecoys(decoys) {
			res = append(res, map[string]any{arrayKey: dg})
		}
		return res, nil
	}
	return v, nil
}

// someDecoys returns 1 to max decoy digests (none when max is 0).
func someDecoys(max int) []string {
	if max <= 0 {
		return nil
	}
	var b [1]byte
	rand.Read(b[:])
	n := 1 + int(b[0])%max
	out := make([]string, n)
	for i := range out {
		out[i] = decoy()
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Serialize returns the compact SD-JWT: the issuer-signed JWT, each
// disclosure, each followed by '~' (§4), and the key-binding JWT when
// there is one (an SD-JWT+KB).
func Serialize(jwt string, ds []Disclosure, kb string) string {
	var b strings.Builder
	b.WriteString(jwt)
	b.WriteByte('~')
	for _, d := range ds {
		b.WriteString(d.Encoded)
		b.WriteByte('~')
	}
	b.WriteString(kb)
	return b.String()
}

// SDHash is the sd_hash a key-binding JWT carries (§4.3.1): the base64url
// SHA-256 of the presentation up to and including its last '~'.
func SDHash(presentation string) string {
	i := strings.LastIndexByte(presentation, '~')
	return digest(presentation[:i+1])
}

// Presentation is a compact SD-JWT taken apart.
type Presentation struct {
	JWT         string
	Disclosures []Disclosure
	KB          string // "" when there is none
}

// MaxDisclosures bounds what one presentation may carry.
const MaxDisclosures = 1024

// Parse splits a compact SD-JWT or SD-JWT+KB and decodes its
// disclosures; it checks their form, not the signatures.
func Parse(s string) (Presentation, error) {
	parts := strings.Split(s, "~")
	if len(parts) < 2 || parts[0] == "" {
		return Presentation{}, errors.New("sdjwt: not an SD-JWT: no '~' after the JWT")
	}
	if len(parts)-2 > MaxDisclosures {
		return Presentation{}, fmt.Errorf("sdjwt: more than %d disclosures", MaxDisclosures)
	}
	p := Presentation{JWT: parts[0], KB: parts[len(parts)-1]}
	for _, enc := range parts[1 : len(parts)-1] {
		d, err := decodeDisclosure(enc)
		if err != nil {
			return Presentation{}, err
		}
		p.Disclosures = append(p.Disclosures, d)
	}
	return p, nil
}

// decodeDisclosure reads one disclosure (§4.2.1, §4.2.2).
func decodeDisclosure(enc string) (Disclosure, error) {
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || enc == "" {
		return Disclosure{}, errors.New("sdjwt: a disclosure is not base64url")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var arr []any
	if err := dec.Decode(&arr); err != nil || dec.More() {
		return Disclosure{}, errors.New("sdjwt: a disclosure is not a JSON array")
	}
	d := Disclosure{Encoded: enc, Digest: digest(enc)}
	ok := len(arr) > 0
	if ok {
		d.Salt, ok = arr[0].(string)
	}
	switch {
	case !ok:
		return Disclosure{}, errors.New("sdjwt: a disclosure's salt is not a string")
	case len(arr) == 2:
		d.Value = arr[1]
	case len(arr) == 3:
		name, ok := arr[1].(string)
		if !ok {
			return Disclosure{}, errors.New("sdjwt: a disclosure's claim name is not a string")
		}
		if name == "" || name == sdKey || name == arrayKey {
			return Disclosure{}, fmt.Errorf("sdjwt: a disclosure names the reserved or empty claim %q", name)
		}
		d.Name, d.Value = name, arr[2]
	default:
		return Disclosure{}, fmt.Errorf("sdjwt: a disclosure has %d elements, not 2 or 3", len(arr))
	}
	return d, nil
}

// Reconstruct rebuilds the claims the disclosures reveal from the
// payload of the issuer-signed JWT (decoded with UseNumber), with the
// checks of §7.1: _sd_alg is sha-256 (or absent); every digest is
// referenced once at most; every disclosure is referenced, by an _sd
// array for a property and by a "..." element for an array element;
// a disclosed name does not exist already in its object; _sd and _sd_alg
// do not remain. Digests no disclosure matches (undisclosed claims,
// decoys) are dropped.
func Reconstruct(payload map[string]any, ds []Disclosure) (map[string]any, error) {
	if alg, ok := payload[sdAlgKey]; ok && alg != Alg {
		return nil, fmt.Errorf("sdjwt: _sd_alg %v: only %s is accepted", alg, Alg)
	}
	byDigest := make(map[string]*Disclosure, len(ds))
	for i := range ds {
		if _, dup := byDigest[ds[i].Digest]; dup {
			return nil, errors.New("sdjwt: a disclosure is sent twice")
		}
		byDigest[ds[i].Digest] = &ds[i]
	}
	r := &rebuild{byDigest: byDigest, used: map[string]bool{}}
	out, err := r.object(payload, 0)
	if err != nil {
		return nil, err
	}
	delete(out, sdAlgKey)
	if len(r.used) != len(ds) {
		return nil, errors.New("sdjwt: a disclosure is not referenced by the payload or by another disclosure")
	}
	return out, nil
}

// maxDepth bounds nesting, so that a hostile payload cannot exhaust the
// stack.
const maxDepth = 64

type rebuild struct {
	byDigest map[string]*Disclosure
	used     map[string]bool // digests seen, matched or not
}

// take marks dg as referenced and returns its disclosure, if sent.
func (r *rebuild) take(dg string) (*Disclosure, error) {
	if r.used[dg] {
		return nil, errors.New("sdjwt: a digest appears twice")
	}
	d, ok := r.byDigest[dg]
	if ok {
		r.used[dg] = true
	}
	return d, nil
}

func (r *rebuild) object(obj map[string]any, depth int) (map[string]any, error) {
	if depth > maxDepth {
		return nil, errors.New("sdjwt: nested too deeply")
	}
	out := make(map[string]any, len(obj))
	for k, v := range obj {
		if k == sdKey {
			continue
		}
		val, err := r.value(v, depth+1)
		if err != nil {
			return nil, err
		}
		out[k] = val
	}
	if raw, ok := obj[sdKey]; ok {
		list, ok := raw.([]any)
		if !ok {
			return nil, errors.New("sdjwt: _sd is not an array")
		}
		for _, x := range list {
			dg, ok := x.(string)
			if !ok {
				return nil, errors.New("sdjwt: an _sd digest is not a string")
			}
			d, err := r.take(dg)
			if err != nil {
				return nil, err
			}
			if d == nil {
				continue // undisclosed, or a decoy
			}
			if d.IsArrayElement() {
				return nil, errors.New("sdjwt: an array element's disclosure is referenced from an object")
			}
			if _, exists := out[d.Name]; exists || d.Name == sdAlgKey {
				return nil, fmt.Errorf("sdjwt: the disclosed claim %.40q is already in its object", d.Name)
			}
			val, err := r.value(d.Value, depth+1)
			if err != nil {
				return nil, err
			}
			out[d.Name] = val
		}
	}
	return out, nil
}

func (r *rebuild) value(v any, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errors.New("sdjwt: nested too deeply")
	}
	switch x := v.(type) {
	case map[string]any:
		return r.object(x, depth)
	case []any:
		out := make([]any, 0, len(x))
		for _, el := range x {
			if m, ok := el.(map[string]any); ok && len(m) == 1 {
				if raw, ok := m[arrayKey]; ok {
					dg, ok := raw.(string)
					if !ok {
						return nil, errors.New(`sdjwt: a "..." digest is not a string`)
					}
					d, err := r.take(dg)
					if err != nil {
						return nil, err
					}
					if d == nil {
						continue
					}
					if !d.IsArrayElement() {
						return nil, errors.New("sdjwt: a property's disclosure is referenced from an array")
					}
					val, err := r.value(d.Value, depth+1)
					if err != nil {
						return nil, err
					}
					out = append(out, val)
					continue
				}
			}
			val, err := r.value(el, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, val)
		}
		return out, nil
	}
	return v, nil
}
