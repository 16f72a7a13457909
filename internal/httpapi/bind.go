package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// DefaultBodyLimit bounds a JSON request body.
const DefaultBodyLimit = 64 << 10

// Bind decodes the request's JSON body into v, strictly: the body must be
// declared application/json (else 415), fit in the edge's body limit
// (else 413), be valid UTF-8 and one JSON value with no duplicate keys,
// no fields v does not have and nothing after it (else 400). Nothing is
// decoded into v unless all of that holds.
func Bind(c echo.Context, v any) error {
	r := c.Request()
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
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
// hole, so they are refused).
func checkJSON(body []byte) error {
	if !utf8.Valid(body) {
		return errors.New("it is not valid UTF-8")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return errors.New("it is empty")
	}
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
