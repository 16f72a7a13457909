package mobileapi

import (
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/wallet"
)

// etag returns the strong entity tag of body — a hash of its JSON, which
// is what the response carries (RFC 9110 §8.8.3) — and whether
// ifNoneMatch, the request's If-None-Match, names it (§13.1.2: "*", or a
// list of tags compared weakly).
func etag(body any, ifNoneMatch *string) (tag string, fresh bool) {
	b, err := json.Marshal(body)
	if err != nil {
		// The generated response fails the same encoding and answers 500.
		return `"-"`, false
	}
	return tagOf(b, ifNoneMatch)
}

// tagOf is etag for a body already encoded.
func tagOf(b []byte, ifNoneMatch *string) (tag string, fresh bool) {
	h := sha256.Sum256(b)
	tag = `"` + base64.RawURLEncoding.EncodeToString(h[:18]) + `"`
	if ifNoneMatch == nil {
		return tag, false
	}
	for _, t := range strings.Split(*ifNoneMatch, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == tag {
			return tag, true
		}
	}
	return tag, false
}

// taggedJSON is a 200 answer encoded once: its JSON, and the entity tag
// of those bytes (etag), so that the answer is not encoded again to be
// tagged. It writes what the generated 200 responses write.
type taggedJSON struct {
	body []byte
	tag  string
}

// encodeTagged encodes body for a taggedJSON answer, and says whether
// ifNoneMatch names its tag (the answer is then 304).
func encodeTagged(body any, ifNoneMatch *string) (taggedJSON, bool, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return taggedJSON{}, false, err
	}
	tag, fresh := tagOf(b, ifNoneMatch)
	return taggedJSON{body: b, tag: tag}, fresh, nil
}

func (t taggedJSON) write(w http.ResponseWriter) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("ETag", t.tag)
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(append(t.body, '\n'))
	return err
}

func (t taggedJSON) VisitListCredentialsResponse(w http.ResponseWriter) error { return t.write(w) }
func (t taggedJSON) VisitGetCredentialResponse(w http.ResponseWriter) error   { return t.write(w) }

// position is where an item stands in a list: by time (received,
// registered, changed), newest first (to the microsecond), then by id.
type position struct {
	at int64 // Unix µs
	id string
}

func positionOf(c wallet.Credential) position {
	return position{at: c.ReceivedAt.UnixMicro(), id: c.ID}
}

// compare orders positions as the list does: negative when p comes first.
func (p position) compare(q position) int {
	if c := cmp.Compare(q.at, p.at); c != 0 {
		return c
	}
	return strings.Compare(p.id, q.id)
}

// cursor is p as an opaque cursor: the page after it starts at the first
// item past p, so an item deleted meanwhile shifts nothing.
func (p position) cursor() string {
	return base64.RawURLEncoding.EncodeToString([]byte("1:" + strconv.FormatInt(p.at, 10) + ":" + p.id))
}

func decodeCursor(s string) (position, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return position{}, err
	}
	parts := strings.SplitN(string(b), ":", 3)
	if len(parts) != 3 || parts[0] != "1" || parts[2] == "" {
		return position{}, errors.New("mobileapi: malformed cursor")
	}
	us, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return position{}, err
	}
	return position{at: us, id: parts[2]}, nil
}

// DefaultLimit is the size of a page when the app names none.
const DefaultLimit = 20

// pageOf is the page of all (in any order) that follows cursor (nil: the
// first page) in the order of pos, at most limit items (nil:
// DefaultLimit), and the cursor of the next page (nil on the last). all is
// sorted in place. A cursor this API did not give is a 400 problem.
func pageOf[T any](all []T, pos func(T) position, cursor *string, limit *int) (page []T, next *string, err error) {
	n := DefaultLimit
	if limit != nil {
		n = *limit
	}
	slices.SortFunc(all, func(x, y T) int { return pos(x).compare(pos(y)) })
	start := 0
	if cursor != nil {
		after, err := decodeCursor(*cursor)
		if err != nil {
			return nil, nil, badCursor(err)
		}
		start, _ = slices.BinarySearchFunc(all, after, func(x T, p position) int {
			if pos(x).compare(p) <= 0 {
				return -1
			}
			return 1
		})
	}
	end := min(start+n, len(all))
	if end < len(all) {
		c := pos(all[end-1]).cursor()
		next = &c
	}
	return all[start:end], next, nil
}

// badCursor is the problem of a cursor this API did not give.
func badCursor(err error) *httpapi.Error {
	return &httpapi.Error{Status: http.StatusBadRequest, Slug: "invalid-request", Title: "Invalid request",
		Detail: `query parameter "cursor": it is not a cursor this API gave`, Cause: err}
}
