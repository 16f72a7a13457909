package httpapi

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is a refusal or failure with a public face and a private cause.
// Title and Detail go to the client; Cause goes to the log only.
type Error struct {
	Status int
	// Slug names the problem type: its type URI is BaseURL/problems/Slug
	// (RFC 9457 §3.1.1); empty gives about:blank.
	Slug   string
	Title  string
	Detail string
	// Challenge, when set, is the WWW-Authenticate header (RFC 9110 §11.6.1).
	Challenge string
	Cause     error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%d %s: %s: %v", e.Status, e.Title, e.Detail, e.Cause)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Title, e.Detail)
}

func (e *Error) Unwrap() error { return e.Cause }

// WithCause returns a copy of e carrying cause for the log.
func (e *Error) WithCause(cause error) *Error {
	c := *e
	c.Cause = cause
	return &c
}

// Problem returns an Error with status, title and public detail.
func Problem(status int, title, detail string) *Error {
	return &Error{Status: status, Title: title, Detail: detail}
}

// The errors every API shares.
func BadRequest(detail string) *Error { return Problem(http.StatusBadRequest, "Bad request", detail) }
func NotFound(detail string) *Error   { return Problem(http.StatusNotFound, "Not found", detail) }
func Conflict(detail string) *Error   { return Problem(http.StatusConflict, "Conflict", detail) }
func Forbidden(detail string) *Error  { return Problem(http.StatusForbidden, "Forbidden", detail) }

// Unauthorized is a 401 with its challenge.
func Unauthorized(detail, challenge string) *Error {
	return &Error{Status: http.StatusUnauthorized, Title: "Unauthorized", Detail: detail, Challenge: challenge}
}

// OAuthError is an error in the RFC 6749 §5.2 form, for OAuth routes.
type OAuthError struct {
	Status      int
	Code        string // error
	Description string // error_description
	Challenge   string // WWW-Authenticate, when set
	Cause       error
}

func (e *OAuthError) Error() string { return e.Code + ": " + e.Description }
func (e *OAuthError) Unwrap() error { return e.Cause }

// Classifier maps the sentinel errors of a room to their public Error, or
// returns nil for errors it does not know. The edge asks every classifier
// it was given, in order.
type Classifier func(error) *Error

// classify returns the public form of err: itself when it is an *Error,
// else what a classifier says, else nil.
func classify(err error, cs []Classifier) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	for _, c := range cs {
		if e := c(err); e != nil {
			return e.WithCause(err)
		}
	}
	return nil
}
