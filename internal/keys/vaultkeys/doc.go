// Package vaultkeys is the HashiCorp Vault backend of keys.Manager: each
// ring is a transit key named <prefix><ring> (prefix "cedula-" by default)
// under the transit mount ("transit" by default), of type ecdsa-p256,
// ed25519 or rsa-2048. Private keys never leave Vault; Cedula hashes locally
// and sends the digest (prehashed=true, hash_algorithm=sha2-256) for ES256
// and RS256, and the message itself for EdDSA.
//
// A key version is a key: its kid is "<ring>-v<version>". Rotate is transit's
// rotate; version v counts as retired when version v+1 was created, and
// stays in Verification for the retention (24h by default) after that.
// min_decryption_version plays no part: it concerns encryption, not signing.
//
// Key metadata (type, versions, public keys, creation times) is cached per
// ring and re-read at most once per refresh interval (1s by default) and at
// once for a ring not seen before, so replicas sharing a Vault converge on a
// rotation within about a second. When Vault cannot be reached, Verification
// serves the last public keys it read, so published key sets survive a
// short outage; signing fails with keys.ErrUnavailable.
//
// Authentication is a token, or AppRole (role_id and secret_id), in which
// case the Manager logs in again when Vault rejects its token. Tokens are
// never logged or put in errors. The policy Cedula needs, for the default
// mount and prefix:
//
//	path "transit/keys/cedula-*" { capabilities = ["create", "read", "update"] }
//	path "transit/keys"          { capabilities = ["list"] }
//	path "transit/sign/cedula-*" { capabilities = ["update"] }
//
// keys.Wrapper (wrap.go) uses an aes256-gcm96 transit key per ring, named
// <prefix><ring>.wrap, and needs in addition:
//
//	path "transit/encrypt/cedula-*" { capabilities = ["create", "update"] }
//	path "transit/decrypt/cedula-*" { capabilities = ["update"] }
package vaultkeys
