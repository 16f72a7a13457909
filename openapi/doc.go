// Package openapi holds the OpenAPI 3.0.3 documents that are the contract
// of Cedula's JSON APIs, one per audience — agency.yaml (agency back ends:
// consent decisions, audit entries), admin.yaml (registrars and
// operators), dpo.yaml (data protection officers), account.yaml (the
// citizen's own JSON: export, receipts, audit view), mobile.yaml (the
// citizen's phone app, under /mobile/v1, implemented by mobile-api) and
// log.yaml (the public transparency log) — embedded, served at /openapi/ with a docs
// page, and checked in tests against the routes and every response
// (package openapitest).
package openapi
