package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// DefaultBodyLimit bounds a JSON request body.
const DefaultBodyLimit = 64 << 10

// Bind decodes the request's JSON body into v, strictly: the body must be
// declared application/json, as the documents say (else 415), fit in the
// edge's body limit (else 413), be valid UTF-8 and one JSON value, not
// null, with no duplicate keys, no fields v does not have and nothing
// after it (else 400). Nothing is
// decoded into v unless all of that holds.
func Bind(c echo.Context, v any) error {
	r := c.Request()
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return &Error{Status: http.StatusUnsupportedMediaType, Slug: "unsupported-media-type", Title: "Unsupported media type",
			Detail: "send the body as application/json"}
	}
	limit := int64(DefaultBodyLimit)
	if l, ok := c.Get(bodyLimitKey).(int64); ok && l > 0 {
		limit = l
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return BadRequest("the request body could not be read").WithCause(err)
	}
	if int64(len(body)) > limit {
		return &Error{Status: http.StatusRequestEntityTooLarge, Slug: "too-large", Title: "Request too large",
			Detail: fmt.Sprintf("the body exceeds %d bytes", limit)}
	}
	if err := checkJSON(body); err != nil {
		return malformed(err.Error())
	}
	// null decodes into anything as nothing at all.
	if string(bytes.TrimSpace(body)) == "null" {
		return malformed("it is null")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return malformed(decodeError(err)).WithCause(err)
	}
	return nil
}

func malformed(detail string) *Error {
	return &Error{Status: http.StatusBadRequest, Slug: "malformed-json", Title: "Malformed JSON",
		Detail: "the body is not the JSON object this endpoint takes: " + detail}
}

// checkJSON checks that body is valid UTF-8 and exactly one JSON value
// whose objects have no duplicate keys (RFC 8259 §4 leaves duplicates to
// the receiver; two readers taking different ones is a classic smuggling
// hole, so they are refused). A valid body — every request an agency
// sends — costs the standard library's syntax check and one scan for
// keys (duplicateKeys); only a refused one is read token by token (walk),
// to say what is wrong with it.
func checkJSON(body []byte) error {
	if !utf8.Valid(body) {
		return errors.New("it is not valid UTF-8")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return errors.New("it is empty")
	}
	if json.Valid(body) {
		return duplicateKeys(body)
	}
	if err := walkJSON(body); err != nil {
		return err
	}
	return errors.New("it is not valid JSON")
}

// walkJSON reads body token by token, refusing what checkJSON refuses
// and naming why.
func walkJSON(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := walk(dec, 0); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("there is more after the JSON value")
	}
	return nil
}

// duplicateKeys scans body, which json.Valid accepted, for an object with
// a key twice (compared as decoded: "a" and "\u0061" are one key) and for
// nesting deeper than walk admits. Being valid JSON, a string is a key
// exactly when it opens an object or follows a comma in one.
func duplicateKeys(body []byte) error {
	type frame struct {
		object bool
		keys   []string            // the first keys: a linear search beats a map
		set    map[string]struct{} // past manyKeys, all of them
	}
	const manyKeys = 16
	var stack []frame
	expectKey := false
	value := func() error { // a value starts at the current depth
		if len(stack) > maxDepth {
			return errors.New("it is nested too deeply")
		}
		return nil
	}
	for i := 0; i < len(body); i++ {
		switch b := body[i]; b {
		case ' ', '\t', '\n', '\r', ':':
		case '{', '[':
			if err := value(); err != nil {
				return err
			}
			stack = append(stack, frame{object: b == '{'})
			expectKey = b == '{'
		case '}', ']':
			stack = stack[:len(stack)-1]
			expectKey = false
		case ',':
			expectKey = len(stack) > 0 && stack[len(stack)-1].object
		case '"':
			start, escaped := i, false
			for i++; body[i] != '"'; i++ {
				if body[i] == '\\' {
					i++
					escaped = true
				}
			}
			if !expectKey {
				if err := value(); err != nil {
					return err
				}
				continue
			}
			expectKey = false
			key := string(body[start+1 : i])
			if escaped {
				if err := json.Unmarshal(body[start:i+1], &key); err != nil {
					return errors.New("it is not valid JSON")
				}
			}
			top := &stack[len(stack)-1]
			twice := false
			if top.set != nil {
				_, twice = top.set[key]
				top.set[key] = struct{}{}
			} else {
				twice = slices.Contains(top.keys, key)
				top.keys = append(top.keys, key)
				if len(top.keys) > manyKeys {
					top.set = make(map[string]struct{}, 2*manyKeys)
					for _, k := range top.keys {
						top.set[k] = struct{}{}
					}
				}
			}
			if twice {
				return fmt.Errorf("the key %.40q appears twice in one object", key)
			}
		default: // a number, true, false or null
			if err := value(); err != nil {
				return err
			}
			for i+1 < len(body) && !strings.ContainsRune(" \t\n\r,]}", rune(body[i+1])) {
				i++
			}
		}
	}
	return nil
}

// maxDepth bounds nesting, so that a hostile body cannot exhaust the stack.
const maxDepth = 64

// walk reads one JSON value from dec, refusing duplicate object keys.
func walk(dec *json.Decoder, depth int) error {
	if depth > maxDepth {
		return errors.New("it is nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return errors.New("it is not valid JSON")
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return errors.New("it is not valid JSON")
			}
			key, _ := k.(string)
			if seen[key] {
				return fmt.Errorf("the key %.40q appears twice in one object", key)
			}
			seen[key] = true
			if err := walk(dec, depth+1); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return errors.New("it is not valid JSON")
		}
	case json.Delim('['):
		for dec.More() {
			if err := walk(dec, depth+1); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return errors.New("it is not valid JSON")
		}
	}
	return nil
}

// decodeError says why a checked body does not fit the target, without
// echoing values.
func decodeError(err error) string {
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &te):
		return fmt.Sprintf("field %.60q has the wrong type", te.Field)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return fmt.Sprintf("unknown field %.60s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return "it does not fit the expected shape"
}
