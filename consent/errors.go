package consent

import (
	"errors"
	"strings"
)

// Sentinel errors; compare with errors.Is. Errors are wrapped with the
// operation and, where it helps and holds no personal data, the value.
var (
	// ErrNotFound: no purpose with that ID or version, no record.
	ErrNotFound = errors.New("consent: not found")
	// ErrInvalid: a purpose, request or query breaks a rule; nothing was
	// changed. The caller's mistake: answer 400, never 500.
	ErrInvalid = errors.New("consent: invalid")
	// ErrConflict: another change to the same record (or purpose) won the
	// race; nothing of this call was stored. Read again and retry. The
	// Service retries by itself a few times before returning it.
	ErrConflict = errors.New("consent: concurrent change")
	// ErrNotObjectable: an objection (GDPR Art. 21) to a purpose it does not
	// apply to: one without profiling, or resting on a basis other than
	// public task or legitimate interest. A consent is withdrawn instead.
	ErrNotObjectable = errors.New("consent: purpose not open to objection")
	// ErrNotConsentBased: give, refuse, withdraw or renew on a purpose whose
	// legal basis is not consent; such processing rests on its basis.
	ErrNotConsentBased = errors.New("consent: purpose does not rest on consent")
	// ErrTransition: the change does not apply to the record as it stands —
	// withdrawing a consent that is not in force, renewing one never given,
	// objecting twice.
	ErrTransition = errors.New("consent: change does not apply to the record's state")
	// ErrEffects: the change was committed and has reached every replica,
	// but an Effects call after it failed (tokens not revoked, an agency
	// not told). The record returned with it is valid; the failure is
	// logged and counted in Stats.
	ErrEffects = errors.New("consent: change committed, but its effects failed")
	// ErrClosed: the Service was closed.
	ErrClosed = errors.New("consent: service closed")
)

// IsBadRequest reports whether err is the caller's mistake (ErrInvalid,
// ErrNotFound of a purpose named by the caller, ErrNotObjectable,
// ErrNotConsentBased, ErrTransition), which an HTTP layer answers with a
// 4xx, never a 500.
func IsBadRequest(err error) bool {
	return errors.Is(err, ErrInvalid) || errors.Is(err, ErrNotFound) ||
		errors.Is(err, ErrNotObjectable) || errors.Is(err, ErrNotConsentBased) ||
		errors.Is(err, ErrTransition)
}

// InvalidError is an ErrInvalid whose text may be shown to the caller who
// sent what broke the rules: each problem names a field and a rule, and
// quotes nothing but the caller's own (bounded) input. errors.Is(err,
// ErrInvalid) holds for it; an HTTP layer shows Public, never Error.
type InvalidError struct {
	// What broke the rules ("query", `purpose "tax-reminders"`, "registry");
	// may be empty.
	What string
	// Problems are the rules broken, each a phrase.
	Problems []string
}

func (e *InvalidError) Error() string { return "consent: invalid: " + e.Public() }

// Is makes errors.Is(e, ErrInvalid) true.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

// Public is the text for the caller.
func (e *InvalidError) Public() string {
	p := strings.Join(e.Problems, "; ")
	if e.What == "" {
		return p
	}
	return e.What + ": " + p
}

// invalid returns an *InvalidError.
func invalid(what string, problems ...string) error {
	return &InvalidError{What: what, Problems: problems}
}
