package audit

import (
	"errors"
	"fmt"
)

// Sentinel errors; compare with errors.Is. Errors are wrapped with the
// operation and, where useful, the offending value.
var (
	// ErrInvalidEntry: an entry to append breaks a rule of Entry.Validate.
	// Nothing of the call was appended.
	ErrInvalidEntry = errors.New("audit: invalid entry")
	// ErrMalformed: input from outside — a hash, a checkpoint, a proof, an
	// entry encoding — does not parse.
	ErrMalformed = errors.New("audit: malformed input")
	// ErrOutOfRange: an index at or beyond the tree size, or a tree size
	// beyond the log's current size.
	ErrOutOfRange = errors.New("audit: beyond the log")
	// ErrBadRange: a negative index or size, an inverted range (start after
	// end, old size after new size), or a range longer than MaxEntries.
	ErrBadRange = errors.New("audit: invalid range")
	// ErrNotFound: no entry with that leaf hash in the tree, no checkpoint.
	ErrNotFound = errors.New("audit: not found")
	// ErrBadSignature: a checkpoint not signed by a known key of the log, or
	// of another origin.
	ErrBadSignature = errors.New("audit: checkpoint not signed by the log")
	// ErrProof: a proof does not verify against the given roots.
	ErrProof = errors.New("audit: proof does not verify")
	// ErrInconsistent: the stored log no longer matches a checkpoint signed
	// earlier (its history changed, or it shrank). The log refuses to sign
	// anything more; an operator must investigate.
	ErrInconsistent = errors.New("audit: log inconsistent with an earlier checkpoint")
	// ErrCorrupt: stored data is missing or not what this package wrote (a
	// hash row missing, a leaf that is not canonical).
	ErrCorrupt = errors.New("audit: stored log is damaged")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("audit: log closed")
)

// IsBadRequest reports whether err is the caller's mistake — a malformed
// value, a range outside the log, an invalid entry — which the HTTP layer
// answers with 400, never 500.
func IsBadRequest(err error) bool {
	return errors.Is(err, ErrMalformed) || errors.Is(err, ErrOutOfRange) ||
		errors.Is(err, ErrBadRange) || errors.Is(err, ErrInvalidEntry)
}

// InputError is an error in a caller's input whose Text may be shown to
// that caller: it names the field and the rule, and quotes nothing but the
// caller's own (bounded) input. errors.Is matches its Kind
// (ErrInvalidEntry, ErrBadRange, ErrMalformed).
type InputError struct {
	Kind error
	Text string
}

func (e *InputError) Error() string { return e.Kind.Error() + ": " + e.Text }

// Unwrap returns Kind.
func (e *InputError) Unwrap() error { return e.Kind }

// inputErr returns an *InputError of kind.
func inputErr(kind error, format string, args ...any) error {
	return &InputError{Kind: kind, Text: fmt.Sprintf(format, args...)}
}
