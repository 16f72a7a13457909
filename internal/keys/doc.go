// Package keys holds every signing key Cedula uses — ID tokens, credentials,
// audit checkpoints, consent receipts — behind one interface, so that no
// other package ever touches private key material.
//
// Two backends implement Manager: a local keystore file whose private keys
// are encrypted at rest under a key-encryption key (the embedded default), and
// HashiCorp Vault's transit engine, where private keys never leave Vault.
//
// Keys are grouped in named rings (one per use and algorithm). Each ring has
// one active key; Rotate adds a new active key and retires the previous one,
// whose public half stays published until every token it signed has expired.
//
// Both backends also implement Wrapper, found by type assertion on the
// Manager (or WrapperOf): envelope encryption of data-encryption keys under
// per-ring wrapping keys that stay in the backend, for crypto-shredding. The
// dek subpackage makes the data keys and seals data under them.
package keys
