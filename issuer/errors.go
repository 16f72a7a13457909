package issuer

import "errors"

// Sentinel errors returned by the stores and services; compare with errors.Is.
var (
	ErrNotFound      = errors.New("issuer: not found")
	ErrExists        = errors.New("issuer: already exists")
	ErrExpired       = errors.New("issuer: expired")
	ErrUsed          = errors.New("issuer: already used")
	ErrRevoked       = errors.New("issuer: revoked")
	ErrReused        = errors.New("issuer: grant reused (a used refresh token or a redeemed code came back)")
	ErrLastPasskey   = errors.New("issuer: cannot remove the last passkey without recovery codes")
	ErrCounter       = errors.New("issuer: authenticator signature counter went backwards")
	ErrInvalidClient = errors.New("issuer: invalid client configuration")
	// ErrPrivileged refuses a change of a client's privileged scopes
	// (PrivilegedScopes) through a way that may not make it.
	ErrPrivileged = errors.New("issuer: privileged scopes are granted and removed by the operator only")
	// ErrNotPrivileged: a grant or removal named a scope that is not
	// privileged, which a client's registration carries instead.
	ErrNotPrivileged = errors.New("issuer: not a privileged scope")
)
