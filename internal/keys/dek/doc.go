// Package dek holds data-encryption keys (DEKs) and the authenticated
// encryption of data under them, so that no caller touches crypto/cipher.
//
// It is the data half of envelope encryption: a DEK (New) seals a citizen's
// personal details (Seal, Open); a keys.Wrapper wraps the DEK under a
// key-encryption key that never leaves the keystore or Vault; the wrapped
// DEK is stored beside the data. Deleting every copy of the wrapped DEK
// makes the data unreadable (crypto-shredding, issue 3).
//
// Seal is AES-256-GCM (NIST SP 800-38D) with a random 96-bit nonce, which
// bounds one key to 2^32 seals (SP 800-38D §8.3): plenty for a per-citizen
// key, not for one key shared by everything. The sealed form is
//
//	0x01 || nonce (12 bytes) || ciphertext || tag (16 bytes)
//
// where 0x01 names the format and is authenticated together with the
// caller's associated data. A Key never shows its bytes through fmt, slog or
// encoding/json.
package dek
