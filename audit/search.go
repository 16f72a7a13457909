package audit

import (
	"context"
	"time"
)

// MaxSearch is the most records one Searcher.Search call returns.
const MaxSearch = 200

// Query selects entries of the log for a data protection officer. Every
// non-zero field narrows the result; the zero Query (with a Limit) matches
// every entry.
type Query struct {
	// From and To bound Entry.Time to the half-open range [From, To); a
	// zero bound is open. Entry times are stored to the microsecond, so
	// bounds are truncated to the microsecond.
	From, To  time.Time
	ActorKind ActorKind
	ActorID   string
	Action    string
	Purpose   string
	// Subject is a subject pseudonym, as stored in Entry.Subject.
	Subject string
	Outcome Outcome
	// After is the cursor: 0 starts at the newest entry, any other value
	// returns only indices below After (the next of a previous page).
	After int64
	// Limit is the page size, 1 to MaxSearch.
	Limit int
}

// Validate returns ErrBadRange for a limit outside 1…MaxSearch, a negative
// cursor or From after To, and ErrMalformed for an unknown actor kind or
// outcome or a filter that no entry could hold (over MaxFieldLen bytes).
func (q Query) Validate() error {
	switch {
	case q.Limit < 1 || q.Limit > MaxSearch:
		return inputErr(ErrBadRange, "limit %d, want 1 to %d", q.Limit, MaxSearch)
	case q.After < 0:
		return inputErr(ErrBadRange, "cursor %d", q.After)
	case !q.From.IsZero() && !q.To.IsZero() && q.From.After(q.To):
		return inputErr(ErrBadRange, "from %s is after to %s", q.From.UTC().Format(time.RFC3339Nano), q.To.UTC().Format(time.RFC3339Nano))
	case q.ActorKind != "" && !q.ActorKind.Valid():
		return inputErr(ErrMalformed, "actor kind %.60q is not citizen, client, dpo or system", q.ActorKind)
	case q.Outcome != "" && !q.Outcome.Valid():
		return inputErr(ErrMalformed, "outcome %.60q is not allowed, denied or failed", q.Outcome)
	}
	for _, f := range []struct{ name, v string }{{"actor id", q.ActorID}, {"action", q.Action}, {"purpose", q.Purpose}, {"subject", q.Subject}} {
		if len(f.v) > MaxFieldLen {
			return inputErr(ErrMalformed, "%s filter of %d bytes, at most %d", f.name, len(f.v), MaxFieldLen)
		}
	}
	return nil
}

// Matches reports whether e satisfies q's filters (not its cursor or
// limit): the reference semantics of Search.
func (q Query) Matches(e Entry) bool {
	t := e.Time.UTC().Truncate(time.Microsecond)
	return (q.From.IsZero() || !t.Before(q.From.Truncate(time.Microsecond))) &&
		(q.To.IsZero() || t.Before(q.To.Truncate(time.Microsecond))) &&
		(q.ActorKind == "" || e.Actor.Kind == q.ActorKind) &&
		(q.ActorID == "" || e.Actor.ID == q.ActorID) &&
		(q.Action == "" || e.Action == q.Action) &&
		(q.Purpose == "" || e.Purpose == q.Purpose) &&
		(q.Subject == "" || e.Subject == q.Subject) &&
		(q.Outcome == "" || e.Outcome == q.Outcome)
}

// Searcher searches the log by time, actor, action, purpose, subject and
// outcome without scanning it. Stores that implement it index those fields
// when they sequence an entry, in the transaction that gives it its index.
type Searcher interface {
	// Search returns the records matching q, newest first (descending
	// index), at most q.Limit of them. next is the cursor of the following
	// page — the lowest index returned — or 0 when there are no more. An
	// invalid q gives the error of q.Validate.
	Search(ctx context.Context, q Query) (recs []Record, next int64, err error)
}
