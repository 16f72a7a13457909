package mobileapi

import (
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

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

// position is where a credential stands in a list: by time received,
// newest first (to the microsecond), then by id.
type position struct {
	received int64 // Unix µs
	id       string
}

func positionOf(c wallet.Credential) position {
	return position{received: c.ReceivedAt.UnixMicro(), id: c.ID}
}

// compare orders positions as the list does: negative when p comes first.
func (p position) compare(q position) int {
	if c := cmp.Compare(q.received, p.received); c != 0 {
		return c
	}
	return strings.Compare(p.id, q.id)
}

// cursor is p as an opaque cursor: the page after it starts at the first
// credential past p, so a credential deleted meanwhile shifts nothing.
func (p position) cursor() string {
	return base64.RawURLEncoding.EncodeToString([]byte("1:" + strconv.FormatInt(p.received, 10) + ":" + p.id))
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
	return position{received: us, id: parts[2]}, nil
}
