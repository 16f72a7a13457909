package cap

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// ErrInvalid: the input is not a CAP 1.2 alert this package accepts.
// Every error Parse returns wraps it and one of the kinds below.
var ErrInvalid = errors.New("cap: invalid alert")

// Kinds of fault, each wrapped by an *Error.
var (
	ErrTooLarge   = errors.New("larger than MaxSize")
	ErrSyntax     = errors.New("not well-formed XML, or a DOCTYPE")
	ErrNamespace  = errors.New("not in the CAP 1.2 namespace")
	ErrMissing    = errors.New("a required element is missing")
	ErrUnexpected = errors.New("an element or attribute the schema does not allow there")
	ErrValue      = errors.New("a value not of the form CAP 1.2 gives")
	ErrRule       = errors.New("elements that contradict a rule of CAP 1.2")
)

// Error is one fault in an alert: the element it is in, its kind (one of
// the Err… kinds above) and why, in words that quote the input no longer
// than a few dozen characters.
type Error struct {
	// Path names the element from the alert down, e.g.
	// "info[0].area[1].polygon[0]"; repeatable elements carry their index
	// among their like. It is "alert" for the root and "" for the
	// document.
	Path string
	Kind error
	Why  string
}

func (e *Error) Error() string {
	if e.Path == "" {
		return "cap: " + e.Why
	}
	return "cap: " + e.Path + ": " + e.Why
}

// Unwrap gives the fault's kind and ErrInvalid.
func (e *Error) Unwrap() []error { return []error{e.Kind, ErrInvalid} }

// maxQuote is the longest input quoted in an error, in runes.
const maxQuote = 40

// quote renders input for an error message, cut short when long.
func quote(s string) string {
	if utf8.RuneCountInString(s) <= maxQuote {
		return fmt.Sprintf("%q", s)
	}
	n := 0
	for i := range s {
		if n == maxQuote {
			return fmt.Sprintf("%q… (%d bytes)", s[:i], len(s))
		}
		n++
	}
	return fmt.Sprintf("%q", s)
}
