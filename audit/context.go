package audit

import (
	"context"

	"github.com/cedula/cedula/internal/reqid"
)

type actorKey struct{}

// WithRequestID returns a context carrying the ID of the request being
// served, which entries written on its behalf record as RequestID.
func WithRequestID(ctx context.Context, id string) context.Context {
	return reqid.With(ctx, id)
}

// RequestIDFrom returns the request ID WithRequestID put in ctx, or "".
func RequestIDFrom(ctx context.Context) string { return reqid.From(ctx) }

// WithActor returns a context saying who is acting: the agency whose
// admin call is being served, a DPO, a command-line operator. Rooms that
// write entries on ctx's behalf record it as the actor wherever the
// action itself does not name one (a token is always issued to its
// client; a passkey login is always the citizen's).
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor WithActor put in ctx, if any.
func ActorFrom(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok
}
