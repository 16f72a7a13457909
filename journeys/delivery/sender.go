package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Sender sends on one channel. Send returns nil once the receiver took
// the message; a *Failure says whether to try again; any other error is
// tried again. Senders are safe for concurrent use.
type Sender interface {
	Send(ctx context.Context, o Outgoing) error
}

// Outgoing is one attempt of a delivery.
type Outgoing struct {
	// Key is the idempotency key, the delivery's ID: the same on every
	// attempt, so that a receiver drops what it has already taken.
	Key       string
	CitizenID string
	Channel   Channel
	To        string // the address, phone or device token; "" for the inbox
	Message   Message
}

// LogValue implements slog.LogValuer: the key and channel, never the
// address or the text.
func (o Outgoing) LogValue() slog.Value {
	return slog.GroupValue(slog.String("key", o.Key), slog.String("channel", string(o.Channel)))
}

// Failure is an attempt that failed, as a sender tells it.
type Failure struct {
	// Permanent: trying again would fail the same way; the delivery is
	// dead.
	Permanent bool
	// After is how long the receiver asked to be left alone
	// (Retry-After); 0 for the usual backoff.
	After time.Duration
	// Reason is stored and audited: no personal data ("http 404",
	// "smtp 550 5.1.1", "timeout").
	Reason string
	Err    error
}

func (f *Failure) Error() string {
	if f.Err == nil {
		return "delivery: " + f.Reason
	}
	return fmt.Sprintf("delivery: %s: %v", f.Reason, f.Err)
}

func (f *Failure) Unwrap() error { return f.Err }

// Permanent is a failure that will not go better: the delivery is dead.
func Permanent(reason string, err error) error {
	return &Failure{Permanent: true, Reason: reason, Err: err}
}

// Temporary is a failure worth another attempt.
func Temporary(reason string, err error) error { return &Failure{Reason: reason, Err: err} }

// failureOf reads err as a Failure; an error of another kind is a
// temporary one whose text, which may quote an address, is not kept.
func failureOf(err error) *Failure {
	var f *Failure
	if errors.As(err, &f) {
		return f
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &Failure{Reason: "timeout", Err: err}
	}
	return &Failure{Reason: "error", Err: err}
}

// Poster posts a message to a citizen's wallet inbox, as the app
// provides it (the mobile API's stream). It is idempotent on key: a
// second post with a key returns the first's message ID and posts
// nothing.
type Poster interface {
	Post(ctx context.Context, citizenID string, m Message, key string) (string, error)
}

// InboxSender sends on the inbox channel through a Poster.
type InboxSender struct{ Poster Poster }

// Send posts o to the citizen's inbox; the Poster's errors are
// temporary unless it says otherwise with a Failure.
func (s InboxSender) Send(ctx context.Context, o Outgoing) error {
	_, err := s.Poster.Post(ctx, o.CitizenID, o.Message, o.Key)
	return err
}
