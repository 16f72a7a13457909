package delivery

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/cedula/cedula/audit"
)

// Channel is a way to reach a citizen.
type Channel string

const (
	Email Channel = "email" // SMTP
	SMS   Channel = "sms"   // an SMS gateway's webhook
	Push  Channel = "push"  // a push gateway's webhook
	Inbox Channel = "inbox" // the wallet inbox, always there
)

// Valid reports whether c is one of the channels.
func (c Channel) Valid() bool { return c == Email || c == SMS || c == Push || c == Inbox }

// Status is where a delivery is.
type Status string

const (
	StatusPending Status = "pending" // waiting for its next attempt, or being tried
	StatusSent    Status = "sent"    // the receiver took it; payload dropped
	// StatusDead: given up after its attempts, a dead letter. Its payload
	// is kept (sealed) until it is purged, so that the agency's operators
	// can send it again once the channel works (Requeue), or discard it.
	StatusDead Status = "dead"
	// StatusCancelled: not sent because the ledger no longer allowed its
	// purpose when its turn came (the citizen withdrew); payload dropped.
	StatusCancelled Status = "cancelled"
	// StatusDiscarded: a dead letter its agency gave up; payload dropped.
	StatusDiscarded Status = "discarded"
)

// Audit actions of the outbox's outcomes.
const (
	ActionSent  = "journeys.deliver"       // a delivery reached its receiver
	ActionRetry = "journeys.deliver.retry" // an attempt failed; another follows
	ActionDead  = "journeys.deliver.dead"  // the delivery was given up
	// ActionCancel: the ledger refused the delivery's purpose at its turn.
	ActionCancel = "journeys.deliver.cancel"
	// ActionRequeue and ActionDiscard: an agency sent a dead letter again,
	// or gave it up.
	ActionRequeue = "journeys.deliver.requeue"
	ActionDiscard = "journeys.deliver.discard"
)

// Actor is who the outcomes' entries name: Cedula's outbox.
const Actor = "journeys-delivery"

// Errors of the outbox.
var (
	ErrNotFound = errors.New("delivery: not found")
	// ErrInvalid: a request or preferences break a rule; the message says
	// which, never quoting an address.
	ErrInvalid = errors.New("delivery: invalid")
	// ErrConflict: the delivery is not in the state the change needs (a
	// dead letter to send again or discard).
	ErrConflict = errors.New("delivery: conflict")
	// ErrLeaseLost: an outcome was not recorded because the delivery's
	// lease had passed to another worker (or it was settled meanwhile).
	ErrLeaseLost = errors.New("delivery: lease lost")
)

// Message is what a citizen is sent, already sealed: Body is the sealed
// message's text with its verification footer (journeys.Sealed.Text),
// sent as given.
type Message struct {
	Lang    string `json:"lang"`
	Subject string `json:"subject,omitempty"` // email subject, push title; SMS have none
	Body    string `json:"body"`
	// Meta is what the wallet inbox shows beside the text (the verified
	// sender, why the citizen got it), opaque here; other channels ignore
	// it. It is sealed with the rest.
	Meta []byte `json:"meta,omitempty"`
	// Why says, for the channels outside the wallet, why the citizen got
	// the message and how to stop it; it follows the body (and so the
	// verification footer, which a check reads up to).
	Why string `json:"why,omitempty"`
}

// Text is what email, SMS and push carry: the body, then why.
func (m Message) Text() string {
	if m.Why == "" {
		return m.Body
	}
	return m.Body + "\n\n" + m.Why
}

// LogValue implements slog.LogValuer: a message is personal data.
func (m Message) LogValue() slog.Value {
	return slog.GroupValue(slog.String("lang", m.Lang), slog.Int("body_bytes", len(m.Body)))
}

// Request asks for a message to reach a citizen.
type Request struct {
	// Key deduplicates: a request with the key of an earlier one enqueues
	// nothing (e.g. "journey:<id>:<citizen>:<started>:<step>"). Each
	// delivery's key is Key and its channel, or Key and "preferred" when
	// Channels is empty, so that a change of preferences between two
	// runs of a step does not send twice.
	Key       string
	CitizenID string
	// Channels asks for these channels, each the citizen has an address
	// for; none means the first of the citizen's preferred channels they
	// have one for. The inbox stands in when none is left.
	Channels []Channel
	Message  Message
	// Urgent deliveries ignore quiet hours (cap.Info.BypassQuietHours).
	Urgent bool
	// Agency, Purpose (a DPV code) and LegalBasis fill the outcomes'
	// audit entries.
	Agency, Purpose, LegalBasis string
	// PurposeID and Categories are the ledger's purpose (of Agency) and
	// the data categories the message rests on: before each attempt the
	// ledger is asked again (Config.Allowed), so that a citizen who
	// withdrew meanwhile is not sent what waited (quiet hours, retries).
	// Empty: not asked again.
	PurposeID  string
	Categories []string
}

// Delivery is one message to one citizen on one channel, as stored.
type Delivery struct {
	ID        string
	Dedupe    string // the request's key and the channel
	CitizenID string
	Channel   Channel
	Urgent    bool
	Agency    string
	Purpose   string
	// LegalBasis is the outcomes' entries'.
	LegalBasis string
	// PurposeID and Categories are the request's (the ledger's question).
	PurposeID  string
	Categories []string
	// Payload is the recipient and the message, sealed under the
	// citizen's data key; nil once sent, cancelled or discarded.
	Payload  []byte
	Status   Status
	Attempts int // counted when claimed
	NextAt   time.Time
	Created  time.Time
	Done     time.Time // when sent or dead
	// Reason says why the last attempt failed, without personal data:
	// "http 503", "smtp 550 5.1.1", "timeout".
	Reason string
}

// Store keeps the outbox and the citizens' preferences. Its methods are
// safe for concurrent use by several goroutines and replicas.
type Store interface {
	// Enqueue stores ds, each unless one with its Dedupe key exists, in
	// one transaction with entries (appended only when a delivery was
	// new). It returns the deliveries' IDs in order: the earlier one's for
	// a duplicate.
	Enqueue(ctx context.Context, ds []Delivery, entries ...audit.Entry) ([]string, error)
	// Claim leases up to n pending deliveries due at now to lease until
	// until, counting an attempt of each: until then no other claim
	// returns them.
	Claim(ctx context.Context, now, until time.Time, lease string, n int) ([]Delivery, error)
	// Sent, Retry, Dead, Cancel and Defer record an attempt's outcome if
	// the delivery is still pending under lease, with entries in the same
	// transaction; ErrLeaseLost otherwise. Sent and Cancel drop the
	// payload, Dead keeps it; Retry sets the next attempt; Defer sets it
	// without counting the attempt (quiet hours).
	Sent(ctx context.Context, id, lease string, at time.Time, entries ...audit.Entry) error
	Retry(ctx context.Context, id, lease string, next time.Time, reason string, entries ...audit.Entry) error
	Dead(ctx context.Context, id, lease string, at time.Time, reason string, entries ...audit.Entry) error
	Cancel(ctx context.Context, id, lease string, at time.Time, entries ...audit.Entry) error
	Defer(ctx context.Context, id, lease string, next time.Time) error
	// DeadLetters returns up to n of agency's dead letters, the latest
	// first, those that died before the cursor (zero: from the latest).
	DeadLetters(ctx context.Context, agency string, before Cursor, n int) ([]Delivery, error)
	// Requeue makes agency's dead letter id pending again, due at now,
	// its attempts counted afresh; Discard drops its payload. Both append
	// entries in the same transaction; ErrNotFound when agency has no
	// such delivery, ErrConflict when it is not a dead letter that kept
	// its payload.
	Requeue(ctx context.Context, agency, id string, now time.Time, entries ...audit.Entry) error
	Discard(ctx context.Context, agency, id string, at time.Time, entries ...audit.Entry) error
	// Delivery returns a delivery, or ErrNotFound.
	Delivery(ctx context.Context, id string) (Delivery, error)
	// Purge deletes the deliveries settled (not pending) before t, with
	// their payloads and dedupe keys, and returns how many.
	Purge(ctx context.Context, before time.Time) (int, error)
	// PutPrefs stores a citizen's preferences, replacing earlier ones,
	// with entries in the same transaction.
	PutPrefs(ctx context.Context, p PrefsRecord, entries ...audit.Entry) error
	// Prefs returns a citizen's preferences, or ErrNotFound.
	Prefs(ctx context.Context, citizenID string) (PrefsRecord, error)
}

// Cursor is where a page of dead letters ends: the last one's time of
// death and ID.
type Cursor struct {
	Done time.Time
	ID   string
}

// PrefsRecord is a citizen's preferences as stored: Prefs.Contacts is
// empty and the contacts are in Sealed.
type PrefsRecord struct {
	CitizenID string
	Prefs
	Sealed  []byte
	Updated time.Time
}

// Sealer seals data under a citizen's data key; audit.Shredder is one
// (the same as journeys.Sealer).
type Sealer interface {
	SealData(ctx context.Context, subject, label string, data []byte) ([]byte, error)
	OpenData(ctx context.Context, subject, label string, sealed []byte) ([]byte, error)
}
