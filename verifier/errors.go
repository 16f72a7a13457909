package verifier

import (
	"errors"
	"fmt"
)

// Errors of the verifier.
var (
	// ErrNotFound: no such request (of this agency).
	ErrNotFound = errors.New("verifier: no such request")
	// ErrClosed: the request is answered, cancelled or expired.
	ErrClosed = errors.New("verifier: the request is closed")
	// ErrNotYourPurpose: the purpose is unknown or another agency's.
	ErrNotYourPurpose = errors.New("verifier: not the agency's purpose")
	// ErrNotRegistered: the request asks for a credential or claim its
	// purpose does not register.
	ErrNotRegistered = errors.New("verifier: not registered for the purpose")
	// ErrWalletUnsupported: the wallet's metadata rules out what this
	// verifier sends.
	ErrWalletUnsupported = errors.New("verifier: the wallet does not support the request")
	// ErrUnknownHolder: the credential is not one Cedula's issuer issued
	// (Holders).
	ErrUnknownHolder = errors.New("verifier: unknown holder")
	// ErrInvalid: the agency's or wallet's input is malformed
	// (*InvalidError says how).
	ErrInvalid = errors.New("verifier: invalid input")
)

// InvalidError is ErrInvalid with what is wrong, safe to show the caller.
type InvalidError struct{ Detail string }

func (e *InvalidError) Error() string { return "verifier: " + e.Detail }

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *InvalidError) Unwrap() error { return ErrInvalid }

func invalid(format string, args ...any) error {
	return &InvalidError{Detail: fmt.Sprintf(format, args...)}
}
