package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/db"
)

// TxAppender records audit entries inside a transaction of the store's
// database: audit.Appender's AppendTx.
type TxAppender interface {
	AppendTx(ctx context.Context, tx *sql.Tx, entries ...audit.Entry) error
}

// statementSequencer is an audit log that numbers entries in a statement
// the caller sends with its own in one round trip (audit/sqlstore on
// PostgreSQL, SequenceStatement).
type statementSequencer interface {
	SequenceStatement(entries ...audit.Entry) (st db.Statement, done func(committed bool), ok bool, err error)
}

// Option configures a Store.
type Option func(*Store)

// WithAudit makes every change the store makes append its audit entry (the
// actions in package issuer) in the same transaction, so that a change
// commits if and only if its entry does, naming citizens by their
// pseudonyms in ps. The entry's actor
// is the one the action implies — the client a token goes to, the citizen
// who logs in — or else the one audit.WithActor put in the context, or
// else the citizen concerned, or else the system.
func WithAudit(a TxAppender, ps *audit.Pseudonyms) Option {
	return func(s *Store) { s.audit, s.pseudonyms = a, ps }
}

// system is the actor of changes nobody in particular asked for.
var system = audit.Actor{Kind: audit.ActorSystem, ID: "oidc-provider"}

// subject returns citizenID's audit pseudonym, "" for none.
func (s *Store) subject(citizenID string) string {
	if s.pseudonyms == nil {
		return "" // a store without audit records no entries
	}
	return s.pseudonyms.Of(citizenID)
}

// citizen is the citizen as an actor.
func (s *Store) citizen(citizenID string) audit.Actor {
	return audit.Actor{Kind: audit.ActorCitizen, ID: s.subject(citizenID)}
}

func client(id string) audit.Actor { return audit.Actor{Kind: audit.ActorClient, ID: id} }

// actorOr returns the context's actor, or def.
func actorOr(ctx context.Context, def audit.Actor) audit.Actor {
	if a, ok := audit.ActorFrom(ctx); ok {
		return a
	}
	return def
}

// entry builds an entry about citizenID (or about nobody).
func (s *Store) entry(ctx context.Context, action string, actor audit.Actor, citizenID string, outcome audit.Outcome, categories []string) audit.Entry {
	return audit.Entry{Actor: actor, Action: action, Subject: s.subject(citizenID), Categories: categories,
		Outcome: outcome, RequestID: audit.RequestIDFrom(ctx)}
}

// record appends entries in tx when the store audits.
func (s *Store) record(ctx context.Context, tx *sql.Tx, entries ...audit.Entry) error {
	if s.audit == nil || len(entries) == 0 {
		return nil
	}
	if err := s.audit.AppendTx(ctx, tx, entries...); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// recordLast appends entries in tx as its last statement: numbered in tx
// when the log can (audit.TxSequencer), which spares the token endpoint
// the outbox's second transaction; else through the outbox. Call done,
// when it is not nil, with whether tx committed.
func (s *Store) recordLast(ctx context.Context, tx *sql.Tx, entries ...audit.Entry) (done func(committed bool), err error) {
	if len(entries) == 0 {
		return nil, nil
	}
	if seq, ok := s.audit.(doneSequencer); ok {
		if _, done, err = seq.SequenceTxDone(ctx, tx, entries...); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		return done, nil
	}
	seq, ok := s.audit.(audit.TxSequencer)
	if !ok {
		return nil, s.record(ctx, tx, entries...)
	}
	if _, err := seq.SequenceTx(ctx, tx, entries...); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return nil, nil
}

// doneSequencer is an audit log whose SequenceTx can be told whether the
// transaction committed (audit/sqlstore: it then keeps the tree's frontier
// for the next one).
type doneSequencer interface {
	SequenceTxDone(ctx context.Context, tx *sql.Tx, entries ...audit.Entry) (first int64, done func(committed bool), err error)
}

// Audits reports whether the store records its changes in an audit log.
func (s *Store) Audits() bool { return s.audit != nil }
