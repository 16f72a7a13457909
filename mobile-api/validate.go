package mobileapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/labstack/echo/v4"

	"github.com/cedula/cedula/internal/httpapi"
)

// bodyKey is where validate leaves the request body it read, for
// idempotent.
const bodyKey = "mobileapi.body"

// validate holds a request to its operation in the document: the body
// within Config.BodyLimit (else 413) and strict JSON as httpapi.Bind
// reads it (415, 400), then parameters and body against the document
// (kin-openapi), a mismatch answered 400 with a detail that names the
// parameter or field. Authentication is the API's own (authenticate), not
// the filter's.
func (a *API) validate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		rt, ok := a.routes[r.Method+" "+c.Path()]
		if !ok {
			return fmt.Errorf("mobileapi: no operation for %s %s", r.Method, c.Path())
		}
		var body []byte
		if rt.op.RequestBody != nil {
			var err error
			if body, err = a.readBody(c); err != nil {
				return err
			}
		}
		params := map[string]string{}
		for i, name := range c.ParamNames() {
			params[name] = c.ParamValues()[i]
		}
		in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params,
			Route:   &routers.Route{Spec: a.doc, Path: rt.path, PathItem: rt.item, Method: r.Method, Operation: rt.op},
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
		err := openapi3filter.ValidateRequest(r.Context(), in)
		if body != nil {
			r.Body = io.NopCloser(bytes.NewReader(body))
			c.Set(bodyKey, body)
		}
		if err != nil {
			// No cause for the log: kin-openapi's messages quote the
			// values, which may be offers.
			return &httpapi.Error{Status: http.StatusBadRequest, Slug: "invalid-request", Title: "Invalid request",
				Detail: invalidDetail(err)}
		}
		return next(c)
	}
}

// readBody reads the request body, at most Config.BodyLimit bytes, and
// checks it is one strict JSON value (httpapi.Bind); the body is left to
// be read again.
func (a *API) readBody(c echo.Context) ([]byte, error) {
	r := c.Request()
	body, err := io.ReadAll(io.LimitReader(r.Body, a.cfg.BodyLimit+1))
	if err != nil {
		return nil, httpapi.BadRequest("the request body could not be read").WithCause(err)
	}
	if int64(len(body)) > a.cfg.BodyLimit {
		return nil, &httpapi.Error{Status: http.StatusRequestEntityTooLarge, Slug: "too-large", Title: "Request too large",
			Detail: fmt.Sprintf("the body exceeds %d bytes", a.cfg.BodyLimit)}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var raw json.RawMessage
	if err := httpapi.Bind(c, &raw); err != nil {
		return nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, nil
}

// invalidDetail says what the document refuses in a request: which
// parameter or body field, and why, in kin-openapi's words for the
// schema (which quote the schema's limits, never internals of the
// server); values are not echoed.
func invalidDetail(err error) string {
	var re *openapi3filter.RequestError
	if !errors.As(err, &re) {
		return "the request does not fit the API's document"
	}
	where := "body"
	if p := re.Parameter; p != nil {
		where = p.In + " parameter " + strconv.Quote(p.Name)
	}
	reason := re.Reason
	var se *openapi3.SchemaError
	var pe *openapi3filter.ParseError
	switch {
	case errors.As(re.Err, &se):
		if ptr := se.JSONPointer(); len(ptr) > 0 && re.Parameter == nil {
			where += " field " + strconv.Quote(strings.Join(ptr, "/"))
		}
		reason = se.Reason
	case errors.As(re.Err, &pe):
		reason = "it cannot be read as the type the document gives it"
	case errors.Is(re.Err, openapi3filter.ErrInvalidRequired):
		reason = "it is required"
	case reason == "" && re.Err != nil:
		reason = "it does not fit the document"
	}
	return clip(where+": "+reason, 300)
}
