package vci

import (
	"errors"
	"net/http"
)

// Error is an error of the protocol, in its own form: an OAuth 2.0 error
// code (RFC 6749 §5.2) at the token endpoint, an OpenID4VCI one (§8.3.1.2,
// §9.3, §11.3) at the credential, deferred and notification endpoints.
type Error struct {
	Code        string
	Description string
	Status      int
}

func (e *Error) Error() string { return "vci: " + e.Code + ": " + e.Description }

func protocolError(code, desc string) *Error {
	return &Error{Code: code, Description: desc, Status: http.StatusBadRequest}
}

// The codes.
const (
	CodeInvalidRequest           = "invalid_request"
	CodeInvalidGrant             = "invalid_grant"
	CodeInvalidCredentialRequest = "invalid_credential_request"
	CodeUnknownConfiguration     = "unknown_credential_configuration"
	CodeUnknownIdentifier        = "unknown_credential_identifier"
	CodeInvalidProof             = "invalid_proof"
	CodeInvalidNonce             = "invalid_nonce"
	CodeInvalidEncryption        = "invalid_encryption_parameters"
	CodeDenied                   = "credential_request_denied"
	CodeIssuancePending          = "issuance_pending"
	CodeInvalidTransaction       = "invalid_transaction_id"
	CodeInvalidNotificationID    = "invalid_notification_id"
	CodeInvalidNotification      = "invalid_notification_request"
)

// Errors of the agency API and of attribute sources, which vciapi maps to
// problems.
var (
	// ErrUnknownType: no credential type of that id.
	ErrUnknownType = errors.New("vci: unknown credential type")
	// ErrNotIssuer: the agency may not issue that type (403).
	ErrNotIssuer = errors.New("vci: the agency may not issue this credential type")
	// ErrDenied: the consent ledger denied the use of the citizen's data
	// (403, audited).
	ErrDenied = errors.New("vci: the consent ledger does not allow it")
	// ErrUnknownSubject: the agency knows no citizen by that sub.
	ErrUnknownSubject = errors.New("vci: unknown citizen")
	// ErrSourceFailed: the attribute source failed or answered nonsense
	// (502); ErrSourceTimeout: it did not answer in time (504);
	// ErrNoRecord: it has no record of the citizen for the type.
	ErrSourceFailed  = errors.New("vci: the attribute source failed")
	ErrSourceTimeout = errors.New("vci: the attribute source did not answer in time")
	ErrNoRecord      = errors.New("vci: the attribute source has no record of the citizen")
	// ErrInvalid: a request of the agency API breaks a rule (400).
	ErrInvalid = errors.New("vci: invalid request")
)

// OAuthError gives the error to the provider's token endpoint.
func (e *Error) OAuthError() (code, description string, status int) {
	return e.Code, e.Description, e.Status
}
