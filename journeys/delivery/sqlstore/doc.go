// Package sqlstore keeps the journeys room's delivery outbox in SQLite or
// PostgreSQL (Migrations, room "journeys-delivery"):
//
//	journeys_deliveries      one message to one citizen on one channel: its
//	                         dedupe key (unique), channel, urgency, the agency,
//	                         purpose and legal basis its entries name, the
//	                         ledger's purpose ID and categories (asked again
//	                         before each attempt), the payload sealed under
//	                         the citizen's data key (NULL once sent, cancelled
//	                         or discarded; a dead letter keeps it), status,
//	                         attempts, next attempt,
//	                         the lease of the claim that holds it, and why the
//	                         last attempt failed (no personal data)
//	journeys_delivery_prefs  a citizen's preferred channels, language, quiet
//	                         hours and time zone in the clear, their addresses
//	                         sealed
//
// Every change that records an outcome appends its audit entries in its
// own transaction (TxAppender).
package sqlstore
