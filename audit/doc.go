// Package audit is Cedula's tamper-evident audit log: every access to a
// citizen's data, every login, token, consent change and consent decision is
// appended as an Entry to one append-only log whose entries are the leaves
// of an RFC 6962 Merkle tree. Signed checkpoints commit to the tree; with
// inclusion and consistency proofs anyone holding a checkpoint can check that
// an entry is in the log and that the log only ever grew — the operator
// included.
//
// This package holds the domain: the Entry type and its canonical encoding,
// the storage contracts (Appender, Reader, Log, Checkpoints), proofs over any
// Reader, the C2SP checkpoint and proof formats, and the Checkpointer that
// signs checkpoints with a key from internal/keys. It imports no SQL driver
// and no HTTP package; audit/sqlstore stores the log in SQLite or
// PostgreSQL and audit/audittest is the conformance suite every store runs.
//
// # Canonical encoding of an entry
//
// The Merkle leaf of an entry is its canonical JSON encoding (Entry.Canonical)
// and the leaf hash is SHA-256(0x00 || canonical bytes) (RFC 6962 §2.1). The
// encoding is one JSON object with no insignificant whitespace and every
// member always present, in this fixed order (which is also the order of the
// keys' code points, so the bytes are the JSON Canonicalization Scheme form,
// RFC 8785, of the same object):
//
//	{"action":"…","actor":{"id":"…","kind":"…"},"categories":["…",…],
//	 "consent_record":"…","details":"…","legal_basis":"…","outcome":"…",
//	 "purpose":"…","request_id":"…","subject":"…","time":"…","v":1}
//
// (shown on two lines; the encoding is one line with no newline at the end).
//
//   - Strings are UTF-8 and escaped as RFC 8785 §3.2.2.2 says: `"` and `\`
//     as \" and \\; U+0008, U+0009, U+000A, U+000C and U+000D as \b, \t, \n,
//     \f and \r; every other code point below U+0020 as \u00XX with lowercase
//     hex digits; everything else, including '/', '<', U+007F and U+2028,
//     as itself. Invalid UTF-8 is rejected, never replaced.
//   - time is the entry's time in UTC, RFC 3339 with exactly six fractional
//     digits and "Z": 2026-03-01T09:30:00.000000Z. Times are kept to the
//     microsecond; finer digits are truncated before encoding.
//   - categories is sorted by byte order, without duplicates; [] when empty.
//   - details is the standard base64 (RFC 4648 §4, with padding) of the
//     encrypted details, "" when there are none.
//   - an absent optional string is "", never null or a missing member.
//   - v is the encoding version, 1. A later version changes the leading
//     member set or rules and bumps v; verifiers refuse versions they do not
//     know.
//
// ParseEntry accepts exactly these bytes: it decodes and re-encodes, and
// refuses input whose re-encoding differs (ErrMalformed), so one entry has
// one encoding and a verifier that recomputes leaf hashes from parsed
// entries hashes what the log hashed.
//
// # Indices across replicas, and atomicity
//
// Entries get consecutive indices 0, 1, 2, … with no gap and no duplicate,
// even with several `cedula serve` replicas on one PostgreSQL. A store keeps
// one head row holding the log's size. Only a sequencing transaction assigns
// indices: it locks the head row (SELECT … FOR UPDATE on PostgreSQL; SQLite's
// immediate transactions hold the database write lock), numbers its entries
// from the size it read, inserts them with their Merkle hashes, and writes
// the new size — all in that one transaction. Two sequencers, in one process
// or in two replicas, therefore run one after the other, and a rolled-back
// sequencer leaves the head as it found it: no index is ever skipped or
// taken twice. The primary key on the index backs this up.
//
// Append runs such a transaction directly, group-committed: concurrent
// callers share one transaction and one fsync, and each returns only after
// that commit, with its first index.
//
// AppendTx is for a change and its entry that must commit together — no
// change without its entry, no entry without its change. It cannot hold the
// head lock: that would serialise every audited transaction of every replica
// behind each other's work and fsyncs, and an index taken by a transaction
// that later rolls back would leave a gap. Instead it writes the entry's
// canonical bytes to an outbox table (audit_pending) inside the caller's
// transaction; the entry commits or rolls back with the change. Each store
// moves committed outbox rows into the log by the same sequencing
// transaction as Append (in outbox order, deleting exactly the rows it
// numbered), polling every few milliseconds and on every group commit;
// Log.Flush waits for it. An outbox row is durable once the caller's
// transaction commits, so an entry written with AppendTx survives a crash
// before it is sequenced, and it is sequenced exactly once because moving it
// and deleting it are one transaction.
//
// The order of entries in the log is the order in which they were sequenced;
// an entry's time is the time its caller gave (or the store's clock when the
// caller gave none), so times are not strictly increasing along the log.
//
// # Checkpoints
//
// A checkpoint is a C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint):
// a signed note (https://c2sp.org/signed-note) whose text is the log's origin
// line, the tree size in decimal and the base64 root hash, each followed by a
// newline. The Checkpointer signs them with the active Ed25519 key of the
// key ring CheckpointRing through a note.Signer adapter; the note key name is
// the origin, and the key hash is the first four bytes of
// SHA-256(name || 0x0A || 0x01 || public key), big-endian. VerifierKey gives
// clients the key in the note verifier-key form name+hash+base64(0x01||key).
//
// Before it signs, the Checkpointer checks the stored hashes against the
// latest stored checkpoint and the last one it signed: their signatures must
// verify with a key of the ring, and a consistency proof (RFC 6962 §2.1.2)
// from each to the new tree, built from the stored hashes, must verify
// against the roots they signed. A log whose history changed under a signed
// checkpoint gets ErrInconsistent and no new signature (C2SP
// tlog-checkpoint: a log MUST NOT sign a checkpoint inconsistent with one it
// signed before). This checks exactly the stored hashes a new root is built
// from — the roots of the complete subtrees of the earlier trees — so a new
// checkpoint can never disagree with an earlier one. A change deeper down
// (an entry's bytes, a leaf hash under a stored subtree root) leaves the
// signed roots intact but breaks that entry's proofs; finding it needs a
// recomputation of the tree from the entries, which is the job of
// `cedula audit verify`, not of every checkpoint.
//
// Inclusion proofs are exchanged in the C2SP tlog-proof format
// (https://c2sp.org/tlog-proof): FormatProof and ParseProof.
package audit
