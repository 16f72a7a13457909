// Package consentapi is the consent ledger's HTTP API, mounted on the one
// edge (internal/httpapi), its contract in openapi/:
//
//	POST /consent/decide                  agencies ask before using a citizen's data (cedula:consent; agency.yaml)
//	GET|POST /admin/purposes              the purpose registry (cedula:admin; admin.yaml)
//	GET /dpo/consents/counts|timeline|history, GET /dpo/ropa
//	                                      the DPO's views and the Art. 30 record (cedula:dpo; dpo.yaml)
//	GET /account/consents/receipt         the citizen's signed receipt (session cookie; account.yaml)
//	GET /consent/receipt-keys             the receipts' verification keys (public)
//
// Everything it needs from other rooms — who a client's sub names, whether
// a citizen exists, an agency's name, the audit log's entries about a
// citizen — comes through the small interfaces of Config, which the wiring
// implements; callers are admitted by the edge's Guard (a token's scope,
// or the citizen's session cookie).
package consentapi
