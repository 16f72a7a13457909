package audit

import (
	"context"
	"database/sql"
	"time"
)

// MaxEntries is the most entries one Reader.Entries call returns.
const MaxEntries = 1000

// The storage contracts. Every method is safe for concurrent use by several
// goroutines and by several replicas sharing one database.

// Appender is what the other rooms use to record what they do.
type Appender interface {
	// Append validates entries, gives them consecutive indices and returns
	// the first, once every one of them is durable: a crash after Append
	// returns loses none of them. Either all entries are appended or,
	// with an error, none; an invalid entry gives ErrInvalidEntry. A zero
	// Time is stamped with the store's clock. Concurrent calls are
	// group-committed. Append with no entries returns the current size.
	//
	// Append waits for the commit even when ctx ends meanwhile, because an
	// entry on its way to the disk cannot be called back; ctx only bounds
	// the wait for a place in the next group.
	Append(ctx context.Context, entries ...Entry) (first int64, err error)

	// AppendTx records entries inside tx, the caller's own transaction on
	// the database the log lives in, so that they commit if and only if
	// the change they record commits. They enter the log — get their
	// indices, consecutive and in the order given, and their places in the
	// tree — shortly after tx commits (see Log.Flush); nothing of them
	// remains if tx rolls back. It returns ErrInvalidEntry when any entry
	// is invalid, writing none. AppendTx does nothing outside tx and may be
	// called from inside a db.Batcher piece of work.
	AppendTx(ctx context.Context, tx *sql.Tx, entries ...Entry) error
}

// TxSequencer is implemented by logs that can also number entries inside
// the caller's transaction: the entries get their indices and their places
// in the tree before tx commits, and commit with it or not at all. Unlike
// AppendTx it holds the log's head lock from the call until tx ends, so
// callers use it at the very end of short transactions — on the hottest
// paths, where an outbox would cost a second transaction — and must take
// no row lock after it (lock order: their rows, then the head).
type TxSequencer interface {
	SequenceTx(ctx context.Context, tx *sql.Tx, entries ...Entry) (first int64, err error)
}

// Record is an entry as stored: its index and canonical encoding.
type Record struct {
	Index int64
	// Data is the canonical encoding, the Merkle leaf. Parse it with
	// ParseEntry; a store hands back what it holds, so a record altered in
	// the database fails there (or its hash fails a proof).
	Data []byte
}

// Entry parses r.Data.
func (r Record) Entry() (Entry, error) { return ParseEntry(r.Data) }

// LeafHash returns the Merkle leaf hash of r.Data.
func (r Record) LeafHash() Hash { return LeafHash(r.Data) }

// Reader reads the log and the Merkle tree hashes stored with it. Sizes
// only grow: everything below a size once read stays as it is.
type Reader interface {
	// Size returns the number of entries in the log.
	Size(ctx context.Context) (int64, error)
	// Entries returns the records with indices start ≤ i < end, in order.
	// It returns ErrBadRange for start < 0, start > end or more than
	// MaxEntries, ErrOutOfRange for end beyond Size.
	Entries(ctx context.Context, start, end int64) ([]Record, error)
	// LeafIndex returns the lowest index whose leaf hash is leaf, or
	// ErrNotFound.
	LeafIndex(ctx context.Context, leaf Hash) (int64, error)
	// ReadHashes returns the tree hashes with the given storage indexes
	// (tlog.StoredHashIndex: for each leaf n, the hashes tlog.StoredHashes
	// computed when n was appended), in the order asked. An index whose
	// leaf is beyond Size gives ErrOutOfRange; a missing hash ErrCorrupt.
	ReadHashes(ctx context.Context, indexes []int64) ([]Hash, error)
}

// Log is the whole append-only log.
type Log interface {
	Appender
	Reader
	// Flush returns once every entry whose AppendTx transaction committed
	// before the call is in the log (has an index). Stores also do this by
	// themselves within a few milliseconds; Flush is for callers that need
	// the index now, and for tests.
	Flush(ctx context.Context) error
}

// Checkpoint is a signed statement of the log's size and root hash.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   Hash
	// Note is the signed note (C2SP tlog-checkpoint), as published.
	Note []byte
	// Time is when the checkpoint was stored. It is not signed.
	Time time.Time
}

// Checkpoints stores every checkpoint the log signed.
type Checkpoints interface {
	// AddCheckpoint stores c. When a checkpoint of the same size is stored
	// already, it keeps that one and returns nil if the roots are equal,
	// ErrInconsistent if they differ.
	AddCheckpoint(ctx context.Context, c Checkpoint) error
	// LatestCheckpoint returns the stored checkpoint of the largest size,
	// or ErrNotFound.
	LatestCheckpoint(ctx context.Context) (Checkpoint, error)
	// CheckpointAt returns the stored checkpoint of size, or ErrNotFound.
	CheckpointAt(ctx context.Context, size int64) (Checkpoint, error)
}

// SubjectIndex finds the entries about one subject without scanning the
// log. Stores that implement it index Entry.Subject; EntriesAbout sees
// every entry appended before the call.
type SubjectIndex interface {
	// EntriesAbout returns the records whose Subject is subject, newest
	// first (descending index), at most limit of them. after is the cursor:
	// 0 starts at the newest entry, any other value returns only indices
	// below after. next is the cursor of the following page — the lowest
	// index returned — or 0 when there are no more. An empty subject or a
	// limit outside 1…MaxEntries gives ErrBadRange, a negative after
	// ErrBadRange too.
	EntriesAbout(ctx context.Context, subject string, after int64, limit int) (recs []Record, next int64, err error)
}
