// Package sqlstore keeps the mobile API's idempotency records in SQLite
// or PostgreSQL through internal/db, so that a retried POST reaching any
// replica, before or after a restart, gets the answer the first one got.
// It implements mobileapi.IdempotencyStore.
//
// Tables (Migrations, room "mobile"):
//
//	mobile_idempotency  (citizen, idem_key) → SHA-256 of the body, the sealed answer (NULL while pending), created (Unix µs); by created for Purge
//
// Answers are stored only as the API sealed them under the citizen's key:
// the table holds no claim in clear, and erasing the citizen's key makes
// their rows unreadable.
package sqlstore
