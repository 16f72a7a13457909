// Package scopes names the OAuth scopes of Cedula's own APIs, which every
// room's API checks and the provider grants.
package scopes

const (
	// Admin administers citizens, enrolments, clients and purposes.
	Admin = "cedula:admin"
	// DPO reads consents, privileges and the audit trail as a data
	// protection officer.
	DPO = "cedula:dpo"
	// Consent asks the consent ledger before using a citizen's data.
	Consent = "cedula:consent"
	// Audit records an agency's own use of a citizen's data in the log.
	Audit = "cedula:audit"
	// Issuance offers credentials to citizens and manages those the
	// agency issued (which types, each type's issuers list says).
	Issuance = "cedula:issuance"
	// Verification asks citizens to present credentials under the
	// agency's registered purposes and reads the results.
	Verification = "cedula:verification"
	// Journeys defines the agency's citizen journeys, counts their reach
	// and pushes what the agency knows of citizens (its registry).
	Journeys = "cedula:journeys"
	// Alerts publishes real-time alerts (OASIS CAP 1.2) to citizens.
	Alerts = "cedula:alerts"
	// Wallet holds and manages a citizen's credentials through the mobile
	// app (a citizen's DPoP-bound token; the mobile API, openapi/mobile.yaml).
	Wallet = "cedula:wallet"
)
