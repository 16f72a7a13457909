// Package consent is Cedula's consent ledger: the registry of purposes for
// which agencies process citizens' data, each citizen's consent records,
// and Decide, the question every room asks before it uses personal data.
//
// This package holds the domain — Purpose and its YAML registry, the
// event-sourced Record, the sentinel errors, the storage contracts (Store:
// Purposes, Ledger, Replicas) and the Service with the rules. It imports no
// SQL driver and no HTTP package; consent/sqlstore stores the ledger in
// SQLite or PostgreSQL and consent/consenttest is the suite every store
// and the Service pass.
//
// # Records and events
//
// A record is one citizen's relation with one controller about one purpose,
// shaped after ISO/IEC TS 27560: subject, controller, purpose and purpose
// version, data categories, legal basis, notice version, collection method,
// time, expiry and state. It is event-sourced: given, refused, withdrawn,
// expired, renewed, objected and renewal_required events are appended and
// never changed or deleted, so the history survives a withdrawal (GDPR Art.
// 7(1)); the record's state is the projection of its events (Apply,
// Project), which stores keep beside them in the same transaction.
//
// Two changes to one record cannot both win silently: an event is appended
// only while the record is still at the sequence its writer read
// (Transition), otherwise ErrConflict and the Service reads again and
// reapplies its rule.
//
// Every change commits in one transaction with its audit entry
// (audit.Appender.AppendTx): no change without its entry, no entry without
// its change. Every decision, allowed or denied, is appended to the audit
// log (audit.Appender.Append, durable) before Decide returns. Entries carry
// the citizen's audit pseudonym, the purpose's DPV code and, as
// ConsentRecord, "<purpose-id>@<version>/<record-id>#<seq>" (AuditRecord).
//
// # Decisions, the cache and replicas
//
// Decide runs in-process: the registry (latest version of each purpose) is
// held in memory, and each replica caches record projections (a bounded,
// sharded map). The guarantee is that every decision started after a
// change's acknowledgement reflects the change, on every replica sharing
// the database — after a withdrawal returns, every Decide denies. It rests
// on leases:
//
//   - Ledger positions. Every event and purpose version gets a position
//     1, 2, 3, … handed out under one row lock held to the commit, so
//     positions become visible in order and without gaps.
//   - Sync. Each Service is a replica with a row in the store. Every
//     SyncInterval (20 ms) it notes t0 on its monotonic clock, reads the
//     head position and the changes since the last one it saw, drops those
//     records from its cache (and reloads changed purposes), and writes its
//     row: the position seen and a heartbeat stamped with the database
//     clock. A successful write extends its lease to t0 + Lease (1 s).
//     Every change committed before t0 has a position at most the head it
//     read, so the cache reflects all of them.
//   - Lease. A replica answers from its cache and registry only while its
//     lease holds; otherwise it reads the store. A replica cut off from the
//     database stops trusting its cache within Lease.
//   - Fills. A cache miss reads the store and fills the cache only if no
//     invalidation touched the entry's shard meanwhile (an epoch per shard),
//     so a slow read cannot put back a state older than an invalidation.
//   - Changes wait. A change commits, drops the record from its own
//     replica's cache at once, and returns only when every other replica
//     has confirmed a position at least its own — or can no longer be using
//     a cache that misses it. A replica whose heartbeat is more than
//     Lease + a margin (Lease/5) old on the database clock is fenced: its
//     row is deleted, atomically with respect to its own heartbeat write.
//     Its lease began before that heartbeat, so it has run out, and it
//     cannot renew it from a round that missed the change: its next
//     heartbeat finds no row, and it clears its cache and registers anew.
//     Whatever the database answers, a change returns at the latest
//     Lease + margin after its commit: every lease granted by a round that
//     began before the commit has ended by then, and every round that began
//     after it saw the change.
//
// With Config.Preload a replica's cache is complete: New reads every record
// into it, so a key it does not hold has no record and every decision is
// answered from memory while the lease holds. Invalidating a key then
// leaves a tombstone — unknown, read the database — never a hole, so a
// record created on another replica is never taken for absent; the read
// fills it back under the same epochs. The preload reads the head first,
// scans the records a page at a time, and only then registers the replica
// with that head and runs one sync round before granting a lease: a record
// the scan missed was created after the head, and that round replays it.
// A complete replica far behind reads every change a page at a time
// rather than emptying its cache; one that is fenced empties it, and is
// from then on an ordinary replica.
//
// Replicas that keep syncing confirm within one or two sync intervals, so a
// change usually returns some 20–40 ms after its commit; a replica that
// died holds up the changes of one lease (about 1.2 s), until it is fenced.
// Close deregisters a replica so that nothing waits for it.
//
// What this assumes: the monotonic clocks of the replicas and the database
// clock run at the same rate to within the margin over a lease, and the
// database clock does not jump forward by more than the margin (it is
// read, never compared with a replica's clock). Fencing trusts that; the
// final bound of Lease + margin after the commit depends only on each
// side's monotonic clock.
//
// # Legal bases
//
// A purpose resting on consent (GDPR Art. 6(1)(a)) is allowed only while
// the citizen's consent is in force: given or renewed, not expired, under
// the current notice version, covering the categories asked. Other bases
// (Art. 6(1)(b)–(f)) allow without a consent; a purpose with profiling on
// public task or legitimate interest is denied once the citizen objected
// (Art. 21(1)). Give, Refuse, Withdraw and Renew apply only to consent
// purposes (ErrNotConsentBased), Object only to those open to objection
// (ErrNotObjectable).
//
// Expire and NoticeChanged are the scheduler's: they append expired and
// renewal_required events (actor "consent-scheduler"). Decide already
// denies an expired consent or one under an old notice before they run;
// the events tell the citizen and, through Effects, revoke the agency's
// tokens.
package consent
