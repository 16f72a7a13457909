// Package sqlstore implements issuer.Store on SQLite and PostgreSQL through
// database/sql. Queries are shared ($N placeholders work in both drivers);
// migrations carry one schema per dialect. Times are stored as Unix
// microseconds, lists as JSON arrays, secrets only as hashes.
package sqlstore
