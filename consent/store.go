package consent

import (
	"context"
	"database/sql"
	"time"
)

// The storage contracts. Every method is safe for concurrent use by several
// goroutines and by several replicas sharing one database. consenttest
// holds the suite every store passes.

// Purposes stores the versions of the purpose registry.
type Purposes interface {
	// PutPurpose stores p, which must be valid, as version p.Version of
	// p.ID. That must be the next version: 1 for a new ID, the latest
	// version plus one otherwise; anything else (another writer stored it
	// first) gives ErrConflict and stores nothing. The store stamps
	// Created. It returns the ledger position it gave the new version (see
	// Replicas). within, when given, runs in the same transaction (the
	// audit entry of the change), and its failure stores nothing.
	PutPurpose(ctx context.Context, p Purpose, within ...func(*sql.Tx) error) (pos int64, err error)
	// Purpose returns the latest version of id, or ErrNotFound.
	Purpose(ctx context.Context, id string) (Purpose, error)
	// PurposeVersion returns version v of id, or ErrNotFound.
	PurposeVersion(ctx context.Context, id string, v int) (Purpose, error)
	// ListPurposes returns the latest version of every purpose, by ID.
	ListPurposes(ctx context.Context) ([]Purpose, error)
}

// Ledger stores consent records as append-only event histories, with each
// record's current state (the projection of its events) beside them.
type Ledger interface {
	// Append appends the events of ts, each to its record, and then runs
	// within in the same transaction — the caller writes its audit entries
	// there (audit.Appender.AppendTx) — and commits: all of it or, with an
	// error, none of it. Each record must still be at its Prev.Seq, else
	// ErrConflict (a new record, Prev.Seq 0, must not exist yet); an event
	// that cannot follow its Prev (Transition.Validate) gives ErrInvalid;
	// at most one transition per record. The store writes the event and
	// the record's new state, Transition.Next, and gives the events
	// consecutive ledger positions in the order of ts; it returns the last.
	// Positions are assigned in commit order: once a position is visible,
	// so are all below it.
	Append(ctx context.Context, within func(tx *sql.Tx) error, ts ...Transition) (pos int64, err error)
	// Record returns the current state of the record k, or ErrNotFound.
	Record(ctx context.Context, k Key) (Record, error)
	// RecordByID returns the current state of the record with that ID, or
	// ErrNotFound.
	RecordByID(ctx context.Context, id string) (Record, error)
	// SubjectRecords returns the current state of every record of the
	// citizen, by purpose then controller.
	SubjectRecords(ctx context.Context, subject string) ([]Record, error)
	// ScanRecords returns the current state of at most limit records
	// (limit ≥ 1, else ErrInvalid) whose keys come after after, in key
	// order: by subject, then purpose, then controller, comparing bytes.
	// The zero Key starts at the first record; passing the last key
	// returned reads the next page. Each call reads the ledger as of some
	// moment during the call (Service.New scans with it to preload its
	// cache).
	ScanRecords(ctx context.Context, after Key, limit int) ([]Record, error)
	// History returns every event of the record k, in order (empty when
	// there is none). Events are never changed or removed.
	History(ctx context.Context, k Key) ([]Event, error)
	// SubjectHistory returns every event of every record of the citizen,
	// in ledger order.
	SubjectHistory(ctx context.Context, subject string) ([]Event, error)
	// DueToExpire returns at most limit records in force (given or
	// renewed) whose Expires is set and not after at, earliest first.
	DueToExpire(ctx context.Context, at time.Time, limit int) ([]Record, error)
	// OnOldNotice returns at most limit records of the purpose in force
	// (given or renewed) under a notice version other than notice.
	OnOldNotice(ctx context.Context, purpose, notice string, limit int) ([]Record, error)
	// Counts returns how many records there are per purpose, controller
	// and state, sorted by those.
	Counts(ctx context.Context) ([]Count, error)
	// EventCounts counts the events of each type per UTC day, purpose and
	// controller, for events at from ≤ time < to; ordered by day, purpose,
	// controller and type.
	EventCounts(ctx context.Context, from, to time.Time) ([]EventCount, error)
}

// Count is a number of records in one state, for the DPO.
type Count struct {
	Purpose    string
	Controller string
	State      State
	N          int64
}

// EventCount is the number of events of one type on one UTC day for a
// purpose and controller: consents given, withdrawn, expired over time.
type EventCount struct {
	Day        time.Time // midnight UTC
	Purpose    string
	Controller string
	Type       EventType
	N          int64
}

// Change is one entry of the ledger's change feed: an event (Key set) or a
// new purpose version (Purpose set).
type Change struct {
	Pos     int64
	Key     Key
	Purpose string
}

// Replica is a Service instance as registered in the store.
type Replica struct {
	ID string
	// Seen is the ledger position up to which the replica has dropped
	// every changed record from its cache.
	Seen int64
	// Heartbeat is when the replica last wrote its row, on the database
	// clock; Age is how long ago that was, on the same clock.
	Heartbeat time.Time
	Age       time.Duration
}

// Replicas is what replicas use to keep their caches coherent (see the
// package documentation): the change feed and the registry of replicas.
// Times come from the database's clock, the one clock every replica shares.
type Replicas interface {
	// Head returns the latest ledger position, 0 for an empty ledger.
	Head(ctx context.Context) (int64, error)
	// Changes returns the changes at positions after < pos ≤ upTo, in
	// order. Every position up to a Head read earlier is there.
	Changes(ctx context.Context, after, upTo int64) ([]Change, error)
	// Register writes (or overwrites) the row of replica id with seen and
	// a heartbeat of now.
	Register(ctx context.Context, id string, seen int64) error
	// Heartbeat updates the row of replica id to seen and a heartbeat of
	// now. It returns false, changing nothing, when the row is gone
	// (fenced, deregistered or never registered).
	Heartbeat(ctx context.Context, id string, seen int64) (bool, error)
	// Deregister removes the row of replica id.
	Deregister(ctx context.Context, id string) error
	// ListReplicas returns every registered replica.
	ListReplicas(ctx context.Context) ([]Replica, error)
	// Fence removes the row of replica id if its heartbeat is still
	// heartbeat and at least age old on the database clock, atomically
	// with respect to Heartbeat: after it returns true, the replica's next
	// Heartbeat returns false. It reports whether it removed the row.
	Fence(ctx context.Context, id string, heartbeat time.Time, age time.Duration) (bool, error)
}

// Store is everything the Service needs from storage.
type Store interface {
	Purposes
	Ledger
	Replicas
}
