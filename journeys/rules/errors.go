package rules

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors; compare with errors.Is. Every refusal of a definition is
// an *InvalidError, for which errors.Is(err, ErrInvalid) holds, and
// errors.Is holds as well for the sentinel of each of its problems.
var (
	// ErrInvalid: a rule, score or template was refused; the caller's
	// mistake, answered with a 4xx, never a 500.
	ErrInvalid = errors.New("journeys: invalid")
	// ErrUnknownAttribute: the definition names an attribute that is not in
	// the catalogue (for a template, a missing variable).
	ErrUnknownAttribute = errors.New("journeys: unknown attribute")
	// ErrNotCovered: the definition reads an attribute whose data category
	// the purpose does not cover.
	ErrNotCovered = errors.New("journeys: attribute not covered by the purpose")
	// ErrTooCostly: the source is too long, or the worst-case cost of
	// evaluating it for one citizen exceeds MaxCost.
	ErrTooCostly = errors.New("journeys: too long or too costly")
)

// Problem is one reason a definition is refused. Its text names the
// offending attribute, category or language and quotes nothing but the
// definition itself, so it may be shown to the agency that wrote it.
type Problem struct {
	// Err is the sentinel: ErrInvalid, ErrUnknownAttribute, ErrNotCovered,
	// ErrTooCostly, or one of package message's.
	Err error
	// Attribute and Category name what was read, where that is the problem.
	Attribute, Category string
	// Language is the template's language ("es", "en"), for templates.
	Language string
	// Line and Column (both from 1) locate the problem in the source; 0
	// when it has no place.
	Line, Column int
	// Msg says what is wrong, without the place.
	Msg string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Language != "" {
		b.WriteString(p.Language)
		b.WriteString(": ")
	}
	if p.Line > 0 {
		fmt.Fprintf(&b, "%d:%d: ", p.Line, p.Column)
	}
	b.WriteString(p.Msg)
	return b.String()
}

// InvalidError is a refused definition with every problem found in it.
type InvalidError struct {
	// What was refused: "rule", "score", "message".
	What     string
	Problems []Problem
}

func (e *InvalidError) Error() string {
	s := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		s[i] = p.String()
	}
	return "journeys: invalid " + e.What + ": " + strings.Join(s, "; ")
}

// Is makes errors.Is true for ErrInvalid and for each problem's sentinel.
func (e *InvalidError) Is(target error) bool {
	_, ok := e.Problem(target)
	return ok || target == ErrInvalid
}

// Problem returns the first problem whose sentinel is target, or false.
func (e *InvalidError) Problem(target error) (Problem, bool) {
	for _, p := range e.Problems {
		if p.Err == target {
			return p, true
		}
	}
	return Problem{}, false
}

// ProblemOf returns the first problem of err, an *InvalidError, whose
// sentinel is target, or false.
func ProblemOf(err, target error) (Problem, bool) {
	var ie *InvalidError
	if !errors.As(err, &ie) {
		return Problem{}, false
	}
	return ie.Problem(target)
}
