// Package mobileapi serves the API the citizen's phone app calls
// (openapi/mobile.yaml, under /mobile/v1) on the one HTTP edge. The
// document is the source of truth: the server interface and types are
// generated from it by oapi-codegen (strict server, echo) into
// server.gen.go, a Go client into mobileclient, and every request is
// validated against it (kin-openapi) before a handler sees it.
//
// Every operation takes a DPoP-bound access token of a citizen with the
// cedula:wallet scope; objects are looked up only among that citizen's
// own, so another citizen's identifiers are simply not found. Refusals
// are RFC 9457 problems. Reads carry a strong ETag and answer
// If-None-Match with 304; lists are paged by an opaque cursor; display
// texts follow Accept-Language (es or en); each citizen has a rate limit;
// the POSTs that create take an Idempotency-Key whose answers are kept, sealed
// under the citizen's key, in the database (mobile-api/sqlstore) for 24
// hours, so a retry reaching any replica gets the same answer.
//
// Presentations (OpenID4VP) are the wallet's: the API resolves requests,
// answers them with the citizen's approval (the phone signing KB-JWTs for
// device-bound keys), declines, and pages the presentation history.
//
// Consents go through the consent ledger (method "mobile"), receipts are
// the account page's, activity is the citizen's view of the audit log with
// inclusion proofs, passkeys are the issuer's; devices registered for push
// are the room's own table, their names and tokens sealed under the
// citizen's key.
//
// The package reaches the wallet, the consent ledger, the audit log, the
// OpenID provider and the citizen registry only through the small
// interfaces of Config.
package mobileapi

//go:generate go tool oapi-codegen -config oapi-server.yaml ../openapi/mobile.yaml
//go:generate go tool oapi-codegen -config oapi-client.yaml ../openapi/mobile.yaml
