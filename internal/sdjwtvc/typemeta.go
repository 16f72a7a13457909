package sdjwtvc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"hash"
	"strings"
	"time"
)

// TypeMetadata is an SD-JWT VC Type Metadata document (SD-JWT VC §6), as
// far as a verifier reads it; Raw is the document as served.
type TypeMetadata struct {
	VCT         string `json:"vct"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	// Extends is the vct of a type this one extends, and
	// ExtendsIntegrity that document's integrity: not followed here.
	Extends          string          `json:"extends,omitempty"`
	ExtendsIntegrity string          `json:"extends#integrity,omitempty"`
	Display          json.RawMessage `json:"display,omitempty"`
	Claims           json.RawMessage `json:"claims,omitempty"`
	Raw              []byte          `json:"-"`
}

type typeEntry struct {
	raw     []byte
	md      TypeMetadata
	fetched time.Time
}

// TypeMetadata returns the type metadata of vct, fetched from vct itself
// (an https URL) and cached for TypeTTL. When integrity (the credential's
// vct#integrity) is not empty, the document's bytes must match it (W3C
// Subresource Integrity: sha256, sha384 or sha512, the strongest given
// counting). The document's vct must be vct. Errors are *Failure with
// ReasonTypeMetadata.
func (r *Resolver) TypeMetadata(ctx context.Context, vct, integrity string) (TypeMetadata, error) {
	now := r.now()
	r.mu.Lock()
	e, ok := r.types[vct]
	r.mu.Unlock()
	if age := now.Sub(e.fetched); !ok || age < 0 || age >= orDefault(r.TypeTTL, DefaultTypeTTL) {
		raw, err := r.get(ctx, vct, "application/json")
		if err != nil {
			return TypeMetadata{}, failf(ReasonTypeMetadata, err, "the type metadata could not be read: %v", err)
		}
		var md TypeMetadata
		if err := decodeStrict(raw, &md); err != nil {
			return TypeMetadata{}, failf(ReasonTypeMetadata, err, "the type metadata is not a JSON object")
		}
		e = typeEntry{raw: raw, md: md, fetched: now}
		r.mu.Lock()
		put(&r.types, vct, e)
		r.mu.Unlock()
	}
	if e.md.VCT != vct {
		return TypeMetadata{}, fail(ReasonTypeMetadata, "the type metadata is for another vct")
	}
	if integrity != "" {
		if err := checkIntegrity(e.raw, integrity); err != nil {
			return TypeMetadata{}, failf(ReasonTypeMetadata, err, "the type metadata does not match vct#integrity: %v", err)
		}
	}
	md := e.md
	md.Raw = bytes.Clone(e.raw)
	return md, nil
}

// sriAlgs are the hash algorithms of W3C SRI §3.2, weakest first.
var sriAlgs = []struct {
	name string
	new  func() hash.Hash
}{{"sha256", sha256.New}, {"sha384", sha512.New384}, {"sha512", sha512.New}}

// checkIntegrity checks doc against integrity metadata (W3C SRI §3.3.5):
// of the hash expressions whose algorithm is known, those of the strongest
// algorithm count, and one of them must match. Unlike a browser, metadata
// with no known algorithm fails rather than passing.
func checkIntegrity(doc []byte, integrity string) error {
	strongest := -1
	var digests [][]byte
	for _, tok := range strings.Fields(integrity) {
		expr, _, _ := strings.Cut(tok, "?") // options are ignored (§3.1)
		name, b64, ok := strings.Cut(expr, "-")
		if !ok {
			continue
		}
		alg := -1
		for i, a := range sriAlgs {
			if a.name == name {
				alg = i
			}
		}
		if alg < 0 || alg < strongest {
			continue
		}
		d, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			d, err = base64.RawStdEncoding.DecodeString(b64)
		}
		if err != nil {
			d = nil // counts, and matches nothing
		}
		if alg > strongest {
			strongest, digests = alg, nil
		}
		digests = append(digests, d)
	}
	if strongest < 0 {
		return errors.New("no sha256, sha384 or sha512 digest")
	}
	h := sriAlgs[strongest].new()
	h.Write(doc)
	sum := h.Sum(nil)
	for _, d := range digests {
		if subtle.ConstantTimeCompare(sum, d) == 1 {
			return nil
		}
	}
	return errors.New("no digest matches")
}
