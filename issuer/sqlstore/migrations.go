package sqlstore

import (
	"github.com/cedula/cedula/internal/db"
)

// schemaV1 is written once with type placeholders: {BLOB} becomes BLOB on
// SQLite and BYTEA on PostgreSQL.
const schemaV1 = `
CREATE TABLE issuer_citizens (
	id TEXT PRIMARY KEY,
	given_name TEXT NOT NULL,
	family_name TEXT NOT NULL,
	birthdate TEXT NOT NULL,
	email TEXT NOT NULL,
	locale TEXT NOT NULL,
	created BIGINT NOT NULL
);
CREATE TABLE issuer_clients (
	id TEXT PRIMARY KEY,
	name TEXT NOT NULL,
	redirect_uris TEXT NOT NULL,
	post_logout_uris TEXT NOT NULL,
	grant_types TEXT NOT NULL,
	auth_method TEXT NOT NULL,
	secret_hash {BLOB},
	jwks {BLOB},
	subject_type TEXT NOT NULL,
	sector_id TEXT NOT NULL,
	id_token_alg TEXT NOT NULL,
	backchannel_logout_uri TEXT NOT NULL,
	scopes TEXT NOT NULL,
	created BIGINT NOT NULL
);
CREATE TABLE issuer_passkeys (
	id {BLOB} PRIMARY KEY,
	citizen_id TEXT NOT NULL REFERENCES issuer_citizens(id),
	name TEXT NOT NULL,
	public_key {BLOB} NOT NULL,
	attestation_type TEXT NOT NULL,
	aaguid {BLOB},
	sign_count BIGINT NOT NULL,
	backup_eligible INTEGER NOT NULL,
	backup_state INTEGER NOT NULL,
	transports TEXT NOT NULL,
	created BIGINT NOT NULL,
	last_used BIGINT NOT NULL
);
CREATE INDEX issuer_passkeys_citizen ON issuer_passkeys (citizen_id);
CREATE TABLE issuer_enrolments (
	token_hash {BLOB} PRIMARY KEY,
	citizen_id TEXT NOT NULL REFERENCES issuer_citizens(id),
	created_by TEXT NOT NULL,
	created BIGINT NOT NULL,
	expires BIGINT NOT NULL,
	used BIGINT NOT NULL
);
CREATE TABLE issuer_recovery_codes (
	hash {BLOB} PRIMARY KEY,
	citizen_id TEXT NOT NULL REFERENCES issuer_citizens(id)
);
CREATE INDEX issuer_recovery_codes_citizen ON issuer_recovery_codes (citizen_id);
CREATE TABLE issuer_subjects (
	sector TEXT NOT NULL,
	sub TEXT NOT NULL,
	citizen_id TEXT NOT NULL REFERENCES issuer_citizens(id),
	PRIMARY KEY (sector, sub)
);
CREATE TABLE issuer_auth_requests (
	id TEXT PRIMARY KEY,
	data TEXT NOT NULL,
	code TEXT UNIQUE,
	created BIGINT NOT NULL
);
CREATE INDEX issuer_auth_requests_created ON issuer_auth_requests (created);
CREATE TABLE issuer_refresh_tokens (
	id TEXT PRIMARY KEY,
	family_id TEXT NOT NULL,
	client_id TEXT NOT NULL,
	citizen_id TEXT NOT NULL,
	data TEXT NOT NULL,
	expiration BIGINT NOT NULL,
	used INTEGER NOT NULL,
	revoked INTEGER NOT NULL
);
CREATE INDEX issuer_refresh_tokens_family ON issuer_refresh_tokens (family_id);
CREATE INDEX issuer_refresh_tokens_grant ON issuer_refresh_tokens (citizen_id, client_id);
CREATE TABLE issuer_access_tokens (
	id TEXT PRIMARY KEY,
	client_id TEXT NOT NULL,
	citizen_id TEXT NOT NULL,
	refresh_token_id TEXT NOT NULL,
	data TEXT NOT NULL,
	expiration BIGINT NOT NULL,
	revoked INTEGER NOT NULL
);
CREATE INDEX issuer_access_tokens_grant ON issuer_access_tokens (citizen_id, client_id);
CREATE INDEX issuer_access_tokens_refresh ON issuer_access_tokens (refresh_token_id);
CREATE TABLE issuer_sessions (
	id_hash {BLOB} PRIMARY KEY,
	citizen_id TEXT NOT NULL,
	amr TEXT NOT NULL,
	auth_time BIGINT NOT NULL,
	expires BIGINT NOT NULL
);
CREATE INDEX issuer_sessions_citizen ON issuer_sessions (citizen_id);
CREATE TABLE issuer_ceremonies (
	id TEXT PRIMARY KEY,
	data {BLOB} NOT NULL,
	expires BIGINT NOT NULL
);
`

// schemaV2 adds what ends a login well:
//   - sessions get a public session ID (sid, OIDC Back-Channel Logout 1.0
//     §2.1) shared by the rows of one login session with Cedula, so that a
//     re-authentication can replace the cookie without ending the session;
//   - issuer_session_clients records which clients a session logged in to,
//     and issuer_logouts is the durable outbox of back-channel logout
//     notifications, written in the transaction that ends a session;
//   - an authorization request remembers that its code was redeemed, and
//     every access token names the grant (family) it came from, so that a
//     second redemption revokes everything the first one issued
//     (RFC 6749 §4.1.2); access tokens issued with a refresh token take
//     their family from it;
//   - clients may be required to use pushed authorization requests
//     (RFC 9126 §6).
const schemaV2 = `
ALTER TABLE issuer_sessions ADD COLUMN sid TEXT NOT NULL DEFAULT '';
CREATE INDEX issuer_sessions_sid ON issuer_sessions (sid);
CREATE TABLE issuer_session_clients (
	sid TEXT NOT NULL,
	client_id TEXT NOT NULL,
	citizen_id TEXT NOT NULL,
	PRIMARY KEY (sid, client_id)
);
CREATE INDEX issuer_session_clients_citizen ON issuer_session_clients (citizen_id, client_id);
CREATE TABLE issuer_logouts (
	id {SERIAL},
	client_id TEXT NOT NULL,
	citizen_id TEXT NOT NULL,
	sid TEXT NOT NULL,
	created BIGINT NOT NULL,
	attempts INTEGER NOT NULL,
	next_attempt BIGINT NOT NULL
);
CREATE INDEX issuer_logouts_due ON issuer_logouts (next_attempt);
ALTER TABLE issuer_auth_requests ADD COLUMN redeemed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE issuer_access_tokens ADD COLUMN family_id TEXT NOT NULL DEFAULT '';
UPDATE issuer_access_tokens SET family_id = COALESCE((SELECT r.family_id FROM issuer_refresh_tokens r
	WHERE r.id = issuer_access_tokens.refresh_token_id), '') WHERE refresh_token_id <> '';
CREATE INDEX issuer_access_tokens_family ON issuer_access_tokens (family_id) WHERE family_id <> '';
ALTER TABLE issuer_clients ADD COLUMN require_par INTEGER NOT NULL DEFAULT 0;
`

// schemaV4 indexes the tokens by expiry, so that housekeeping deletes
// expired tokens a bounded batch at a time (DeleteTokensBefore) instead of
// scanning both tables in one transaction, which at the token endpoint's
// pace (millions of tokens between two rounds) held SQLite's write lock
// for seconds. Expiry times grow with issuance, so the index grows at its
// end.
const schemaV4 = `
CREATE INDEX issuer_access_tokens_expiration ON issuer_access_tokens (expiration);
CREATE INDEX issuer_refresh_tokens_expiration ON issuer_refresh_tokens (expiration);
`

// schemaV5 holds the credential issuer's records (OpenID4VCI): issuances
// with their offers, status lists, the places credentials hold in them
// (only places whose status is not valid are read to build a list), and
// spent c_nonces. A transaction ID hash is unique where present; several
// NULLs are allowed in both dialects.
const schemaV5 = `
CREATE TABLE issuer_vci_credentials (
	id TEXT PRIMARY KEY,
	client_id TEXT NOT NULL,
	citizen_id TEXT NOT NULL,
	type_id TEXT NOT NULL,
	state TEXT NOT NULL,
	status INTEGER NOT NULL,
	count INTEGER NOT NULL,
	event TEXT NOT NULL,
	created BIGINT NOT NULL,
	issued BIGINT NOT NULL,
	expires BIGINT NOT NULL,
	offer_id TEXT NOT NULL UNIQUE,
	code_hash {BLOB} NOT NULL UNIQUE,
	tx_code_hash {BLOB} NOT NULL,
	tx_code_length INTEGER NOT NULL,
	tries INTEGER NOT NULL,
	offer_expires BIGINT NOT NULL,
	pending {BLOB},
	txn_hash {BLOB} UNIQUE
);
CREATE INDEX issuer_vci_credentials_client ON issuer_vci_credentials (client_id, created, id);
CREATE INDEX issuer_vci_credentials_citizen ON issuer_vci_credentials (citizen_id, created);
CREATE TABLE issuer_vci_lists (
	id TEXT PRIMARY KEY,
	bits INTEGER NOT NULL,
	size INTEGER NOT NULL,
	taken INTEGER NOT NULL,
	key {BLOB} NOT NULL,
	version BIGINT NOT NULL,
	created BIGINT NOT NULL,
	updated BIGINT NOT NULL
);
CREATE TABLE issuer_vci_places (
	list_id TEXT NOT NULL,
	idx INTEGER NOT NULL,
	credential_id TEXT NOT NULL,
	status INTEGER NOT NULL,
	PRIMARY KEY (list_id, idx)
);
CREATE INDEX issuer_vci_places_credential ON issuer_vci_places (credential_id);
CREATE INDEX issuer_vci_places_set ON issuer_vci_places (list_id, idx) WHERE status <> 0;
CREATE TABLE issuer_vci_spent_nonces (
	hash {BLOB} PRIMARY KEY,
	expires BIGINT NOT NULL
);
CREATE INDEX issuer_vci_spent_nonces_expires ON issuer_vci_spent_nonces (expires);
`

// Migrations are the issuer room's schema changes.
var Migrations = []db.Migration{
	{
		Room:     "issuer",
		Version:  1,
		SQLite:   db.Schema(schemaV1, db.SQLite),
		Postgres: db.Schema(schemaV1, db.Postgres),
	},
	{
		Room:     "issuer",
		Version:  2,
		SQLite:   db.Schema(schemaV2, db.SQLite),
		Postgres: db.Schema(schemaV2, db.Postgres),
	},
	{Room: "issuer", Version: 4, SQLite: schemaV4, Postgres: schemaV4},
	{Room: "issuer", Version: 5, SQLite: db.Schema(schemaV5, db.SQLite), Postgres: db.Schema(schemaV5, db.Postgres)},
}
