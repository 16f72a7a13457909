// Package localkeys is the embedded keystore backend of keys.Manager: one
// JSON file (by default ./data/keystore.json, mode 0600) holding every ring,
// each private key sealed with AES-256-GCM under a key-encryption key (KEK).
//
// The KEK comes from, in order: the WithKEK option, the CEDULA_KEK
// environment variable (32 bytes as base64 or hex), or a 0600 file beside the
// keystore (WithKEKFile; by default "kek" in the keystore's folder), which is
// generated on first start. A keystore that already holds keys is never given
// a freshly generated KEK: a missing KEK file is reported, not papered over.
// Each sealed key is bound to its ring and kid as GCM additional data, so a
// sealed key copied to another entry does not open.
//
// Several processes may share the file (replicas of cedula serve on one
// machine). Every change is a read-modify-write under an exclusive flock(2)
// on "<file>.lock", written to a temporary file, fsynced, renamed over the
// keystore and followed by an fsync of the folder, so a reader sees either the
// old or the new file, and an acknowledged rotation survives a crash. Readers
// re-read the file when it changed (new inode, size or mtime), checked at most
// once per reload interval (WithReloadInterval, 1s by default) and at once
// when a ring is unknown; so a replica picks up a key rotated by another
// within about a second.
//
// The same file holds the wrapping keys of keys.Wrapper (see wrap.go),
// sealed under the same KEK and shared between processes the same way.
package localkeys
