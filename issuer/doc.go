// Package issuer is Cedula's authorization server: citizens, their passkeys
// and enrolment, agency clients, authorization requests and tokens. The
// OpenID Connect protocol is served by the child package oidcop (on
// zitadel/oidc), passkey ceremonies by the child package passkey (on
// go-webauthn), storage by the child package sqlstore (SQLite and
// PostgreSQL), and the conformance suite every store passes by issuertest.
//
// This package holds the domain types, the sentinel errors and the storage
// contracts; it imports no HTTP framework, SQL driver or protocol library.
package issuer
