// Package delivery is the journeys room's outbox: it takes a sealed
// message for a citizen to the channels they can be reached on — email
// over SMTP, SMS and push through an HTTP gateway, the wallet inbox in
// process — and makes sure it arrives, without HTTP server or SQL of its
// own (journeys/delivery/sqlstore keeps the records).
//
// Enqueue stores one delivery per channel in one transaction, together
// with the caller's audit entries, deduplicated on a key the caller gives
// (a step run twice enqueues once). The payload — recipient address,
// subject, body — is sealed under the citizen's data key and dropped once
// the delivery is sent, so erasing the citizen makes what was still
// waiting unreadable.
//
// A delivery keeps the ledger's question (Request.PurposeID, Categories):
// before each attempt Config.Allowed asks it again, so that a citizen who
// withdrew while their message waited is not sent it (cancelled, audited
// journeys.deliver.cancel).
//
// Workers (Deliver, Run) claim due deliveries with a lease, so that
// replicas never send one at the same time; a lease that expires — a
// worker killed between sending and recording — lets another take it.
// That other worker may send it again: every attempt carries the same
// idempotency key, derived from the delivery's ID (the SMTP Message-ID,
// the gateway's Idempotency-Key header), and receivers drop a key they
// have seen. A failed attempt is retried with exponential backoff (5 s
// doubling, at most an hour); after MaxAttempts, or at once on a
// permanent refusal (a gateway's 4xx other than 408 and 429, an SMTP
// server's 5xx to the message), the delivery is dead: a dead letter,
// which keeps its payload so that its agency can send it again (Requeue)
// once the channel works, or give it up (Discard). Every outcome
// appends its audit entry in the transaction that records it
// (journeys.deliver, journeys.deliver.retry, journeys.deliver.dead),
// naming the citizen by pseudonym only.
//
// Citizens' preferences (Prefs) say which channels they prefer and in
// which order, their language, and their quiet hours, during which
// deliveries that are not urgent wait (CAP Extreme or Immediate alerts
// are urgent). A message for "the preferred channel" goes to the first
// channel the citizen has an address for, the inbox when none.
package delivery
