package consent

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/cedula/cedula/audit"
)

// SchedulerActor is the audit actor ID (kind system) of the changes
// Cedula makes by itself: expiries and renewal requests.
const SchedulerActor = "consent-scheduler"

// maxAttempts bounds the retries of a change that keeps losing races.
const maxAttempts = 8

// systemBatch is the most records one scheduler transaction changes.
const systemBatch = 256

// Request is a change a citizen makes to one of their records.
type Request struct {
	// Subject is the citizen's internal ID.
	Subject string
	// Purpose is the purpose ID; the record's controller is the purpose's.
	Purpose string
	// Method is the channel: MethodWeb, MethodMobile, MethodAPI, ….
	Method Method
	// Actor is who makes the change, when not the citizen themselves (an
	// agency's desk, a DPO). Zero means the actor audit.ActorFrom finds in
	// ctx or, without one, the citizen by pseudonym.
	Actor audit.Actor
}

// LogValue implements slog.LogValuer without the subject.
func (r Request) LogValue() slog.Value {
	return slog.GroupValue(slog.String("purpose", r.Purpose), slog.String("method", string(r.Method)))
}

func (r Request) validate() error {
	var problems []string
	if !validSubject(r.Subject) {
		problems = append(problems, "subject is not a citizen ID")
	}
	if !ValidID(r.Purpose) {
		problems = append(problems, fmt.Sprintf("purpose %.80q is not a purpose ID", r.Purpose))
	}
	if !r.Method.Valid() {
		problems = append(problems, fmt.Sprintf("method %.40q is not a channel name", r.Method))
	}
	if r.Actor != (audit.Actor{}) && (!r.Actor.Kind.Valid() || r.Actor.ID == "" || len(r.Actor.ID) > audit.MaxFieldLen) {
		problems = append(problems, "actor has an unknown kind or no ID")
	}
	if len(problems) > 0 {
		return invalid("", problems...)
	}
	return nil
}

// Give records that the citizen consents to the purpose, which must rest
// on consent (else ErrNotConsentBased): a fresh consent under the current
// purpose version and notice, in force until withdrawn or, with a
// retention, until it expires. Giving again restarts it. It returns the
// record once every replica decides on it.
func (s *Service) Give(ctx context.Context, r Request) (Record, error) {
	return s.change(ctx, "give", r, func(p *Purpose, prev Record, now time.Time) (EventType, error) {
		if p.LegalBasis != Consent {
			return "", ErrNotConsentBased
		}
		return Given, nil
	})
}

// Refuse records that the citizen declined when asked. A consent in force
// is withdrawn, not refused: ErrTransition.
func (s *Service) Refuse(ctx context.Context, r Request) (Record, error) {
	return s.change(ctx, "refuse", r, func(p *Purpose, prev Record, now time.Time) (EventType, error) {
		if p.LegalBasis != Consent {
			return "", ErrNotConsentBased
		}
		if prev.InForce(now, p.NoticeVersion) {
			return "", fmt.Errorf("%w: the consent is in force; withdraw it", ErrTransition)
		}
		return Refused, nil
	})
}

// Withdraw records that the citizen withdraws their consent (GDPR Art.
// 7(3)); the history stays (Art. 7(1)). Only a consent given, renewed or
// awaiting renewal can be withdrawn, else ErrTransition. When Withdraw
// returns, every decision on every replica denies.
func (s *Service) Withdraw(ctx context.Context, r Request) (Record, error) {
	return s.change(ctx, "withdraw", r, func(p *Purpose, prev Record, now time.Time) (EventType, error) {
		if p.LegalBasis != Consent {
			return "", ErrNotConsentBased
		}
		switch prev.State {
		case StateGiven, StateRenewed, StateRenewalRequired:
			return Withdrawn, nil
		}
		return "", fmt.Errorf("%w: no consent to withdraw (state %q)", ErrTransition, prev.State)
	})
}

// Renew records that the citizen confirms a consent again, under the
// current purpose version and notice, with a new expiry. Only a consent
// given, renewed, awaiting renewal or expired can be renewed (one refused
// or withdrawn is given anew), else ErrTransition.
func (s *Service) Renew(ctx context.Context, r Request) (Record, error) {
	return s.change(ctx, "renew", r, func(p *Purpose, prev Record, now time.Time) (EventType, error) {
		if p.LegalBasis != Consent {
			return "", ErrNotConsentBased
		}
		switch prev.State {
		case StateGiven, StateRenewed, StateRenewalRequired, StateExpired:
			return Renewed, nil
		}
		return "", fmt.Errorf("%w: no consent to renew (state %q)", ErrTransition, prev.State)
	})
}

// Object records the citizen's objection to a profiling purpose resting
// on public task or legitimate interest (GDPR Art. 21(1)); from then on
// Decide denies it. Any other purpose gives ErrNotObjectable; objecting
// twice ErrTransition.
func (s *Service) Object(ctx context.Context, r Request) (Record, error) {
	return s.change(ctx, "object", r, func(p *Purpose, prev Record, now time.Time) (EventType, error) {
		if !p.Objectable() {
			return "", ErrNotObjectable
		}
		if prev.State == StateObjected {
			return "", fmt.Errorf("%w: already objected", ErrTransition)
		}
		return Objected, nil
	})
}

// rule decides which event a change appends to prev, or refuses it.
type rule func(p *Purpose, prev Record, now time.Time) (EventType, error)

// change applies a citizen's change: read the purpose and the record,
// apply the rule, append the event and its audit entry in one transaction
// (retrying when another change to the record wins the race), drop the
// record from this replica's cache, wait for the other replicas, run the
// effects.
func (s *Service) change(ctx context.Context, op string, r Request, rule rule) (Record, error) {
	if s.closed.Load() {
		return Record{}, ErrClosed
	}
	if err := r.validate(); err != nil {
		return Record{}, fmt.Errorf("consent: %s: %w", op, err)
	}
	p, err := s.store.Purpose(ctx, r.Purpose)
	if err != nil {
		return Record{}, fmt.Errorf("consent: %s: purpose %q: %w", op, r.Purpose, err)
	}
	key := Key{Subject: r.Subject, Controller: p.Controller, Purpose: p.ID}
	pseudonym := s.pseudonym(r.Subject)
	actor := r.Actor
	if actor == (audit.Actor{}) {
		if a, ok := audit.ActorFrom(ctx); ok {
			actor = a
		} else {
			actor = audit.Actor{Kind: audit.ActorCitizen, ID: pseudonym}
		}
	}
	for attempt := range maxAttempts {
		if attempt > 0 {
			s.stats.conflicts.Add(1)
			time.Sleep(time.Duration(rand.Int64N(int64(attempt)*int64(time.Millisecond)) + 1))
		}
		prev, err := s.store.Record(ctx, key)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return Record{}, fmt.Errorf("consent: %s: %w", op, err)
		}
		now := s.now()
		typ, err := rule(&p, prev, now)
		if err != nil {
			return Record{}, fmt.Errorf("consent: %s: purpose %q: %w", op, p.ID, err)
		}
		t := Transition{Prev: prev, Event: newEvent(&p, prev, key, typ, r.Method, actor, now)}
		entry := s.entry(ctx, t.Event, p.DPV, pseudonym)
		pos, err := s.store.Append(ctx, func(tx *sql.Tx) error {
			return s.audit.AppendTx(ctx, tx, entry)
		}, t)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return Record{}, fmt.Errorf("consent: %s: %w", op, err)
		}
		committed := s.mono()
		s.invalidate(key)
		s.await(pos, committed)
		next := t.Next()
		return next, s.runEffects(ctx, []Record{next})
	}
	return Record{}, fmt.Errorf("consent: %s: %w", op, ErrConflict)
}

// newEvent builds the event of type typ after prev. A citizen's act (give,
// renew, refuse, object) is made under the current purpose version p; an
// ending (withdraw, expire, renewal required) carries the terms of the
// consent it ends.
func newEvent(p *Purpose, prev Record, key Key, typ EventType, m Method, actor audit.Actor, now time.Time) Event {
	e := Event{
		RecordID: prev.ID, Seq: prev.Seq + 1, Type: typ, Key: key,
		Method: m, Actor: actor, Time: now.UTC().Truncate(time.Microsecond),
	}
	if prev.Seq == 0 {
		e.RecordID = newID()
	}
	switch typ {
	case Withdrawn, Expired, RenewalRequired:
		e.PurposeVersion, e.NoticeVersion, e.LegalBasis, e.Categories = prev.PurposeVersion, prev.NoticeVersion, prev.LegalBasis, prev.Categories
	default:
		e.PurposeVersion, e.NoticeVersion, e.LegalBasis, e.Categories = p.Version, p.NoticeVersion, p.LegalBasis, p.Categories
	}
	if (typ == Given || typ == Renewed) && p.Retention > 0 {
		e.Expires = e.Time.Add(p.Retention)
	}
	return e
}

// actions are the audit actions of the event types.
var actions = map[EventType]string{
	Given: "consent.give", Refused: "consent.refuse", Withdrawn: "consent.withdraw",
	Objected: "consent.object", Renewed: "consent.renew", Expired: "consent.expire",
	RenewalRequired: "consent.renewal_required",
}

// ActionDecide is the audit action of a decision.
const ActionDecide = "consent.decide"

// Action returns the audit action recording an event of type t:
// "consent.give", "consent.withdraw", ….
func Action(t EventType) string { return actions[t] }

// entry is the audit entry of a change: done (allowed) by the actor, about
// the subject's pseudonym, for the purpose's DPV code; ConsentRecord names
// the purpose version and the record as of the event.
func (s *Service) entry(ctx context.Context, e Event, dpv, pseudonym string) audit.Entry {
	return audit.Entry{
		Time:          e.Time,
		Actor:         e.Actor,
		Action:        Action(e.Type),
		Subject:       pseudonym,
		Purpose:       dpv,
		LegalBasis:    string(e.LegalBasis),
		ConsentRecord: AuditRecord(e.Key.Purpose, e.PurposeVersion, e.Ref()),
		Categories:    e.Categories,
		Outcome:       audit.Allowed,
		RequestID:     audit.RequestIDFrom(ctx),
	}
}

// Expire ends every consent whose expiry is not after now (for the
// scheduler: run it every minute or so) with an expired event by
// SchedulerActor, and returns how many it ended. Each batch commits with
// its audit entries and reaches every replica before the next; Effects run
// for each record.
func (s *Service) Expire(ctx context.Context, now time.Time) (int, error) {
	return s.sweep(ctx, "expire", Expired, now, func(ctx context.Context) ([]Record, error) {
		return s.store.DueToExpire(ctx, now, systemBatch)
	})
}

// NoticeChanged marks renewal_required every consent in force under a
// notice version of the purpose other than the current one, and returns
// how many it marked. Decide denies those consents from the moment the new
// notice is stored; this tells the citizen, and Effects the agency.
func (s *Service) NoticeChanged(ctx context.Context, purpose string) (int, error) {
	p, err := s.store.Purpose(ctx, purpose)
	if err != nil {
		return 0, fmt.Errorf("consent: notice changed: purpose %.80q: %w", purpose, err)
	}
	return s.sweep(ctx, "notice changed", RenewalRequired, s.now(), func(ctx context.Context) ([]Record, error) {
		return s.store.OnOldNotice(ctx, p.ID, p.NoticeVersion, systemBatch)
	})
}

// sweep appends an event of type typ, by the scheduler, to every record
// due returns, batch by batch, until due returns none. A batch that loses
// a race with another change is read again.
func (s *Service) sweep(ctx context.Context, op string, typ EventType, now time.Time, due func(context.Context) ([]Record, error)) (int, error) {
	if s.closed.Load() {
		return 0, ErrClosed
	}
	actor := audit.Actor{Kind: audit.ActorSystem, ID: SchedulerActor}
	type version struct {
		id string
		v  int
	}
	dpvs := map[version]string{} // DPV codes of the versions met
	dpvOf := func(id string, v int) (string, error) {
		if d, ok := dpvs[version{id, v}]; ok {
			return d, nil
		}
		p, err := s.store.PurposeVersion(ctx, id, v)
		if err != nil {
			return "", err
		}
		dpvs[version{id, v}] = p.DPV
		return p.DPV, nil
	}
	total, conflicts := 0, 0
	var effectErrs []error
	for {
		recs, err := due(ctx)
		if err != nil {
			return total, fmt.Errorf("consent: %s: %w", op, err)
		}
		if len(recs) == 0 {
			break
		}
		ts := make([]Transition, len(recs))
		entries := make([]audit.Entry, len(recs))
		keys := make([]Key, len(recs))
		for i, r := range recs {
			dpv, err := dpvOf(r.Key.Purpose, r.PurposeVersion)
			if err != nil {
				return total, fmt.Errorf("consent: %s: purpose %q version %d: %w", op, r.Key.Purpose, r.PurposeVersion, err)
			}
			ts[i] = Transition{Prev: r, Event: newEvent(nil, r, r.Key, typ, MethodSystem, actor, now)}
			entries[i] = s.entry(ctx, ts[i].Event, dpv, s.pseudonym(r.Key.Subject))
			keys[i] = r.Key
		}
		pos, err := s.store.Append(ctx, func(tx *sql.Tx) error {
			return s.audit.AppendTx(ctx, tx, entries...)
		}, ts...)
		if errors.Is(err, ErrConflict) {
			s.stats.conflicts.Add(1)
			if conflicts++; conflicts >= maxAttempts {
				return total, fmt.Errorf("consent: %s: %w", op, err)
			}
			continue
		}
		if err != nil {
			return total, fmt.Errorf("consent: %s: %w", op, err)
		}
		conflicts = 0
		committed := s.mono()
		s.invalidate(keys...)
		s.await(pos, committed)
		total += len(ts)
		next := make([]Record, len(ts))
		for i, t := range ts {
			next[i] = t.Next()
		}
		if err := s.runEffects(ctx, next); err != nil {
			effectErrs = append(effectErrs, err)
		}
	}
	if len(effectErrs) > 0 {
		return total, fmt.Errorf("consent: %s: %w", op, errors.Join(effectErrs...))
	}
	return total, nil
}

// Record returns the citizen's record of the purpose (under the purpose's
// current controller), or ErrNotFound.
func (s *Service) Record(ctx context.Context, subject, purpose string) (Record, error) {
	p, err := s.store.Purpose(ctx, purpose)
	if err != nil {
		return Record{}, fmt.Errorf("consent: record: purpose %.80q: %w", purpose, err)
	}
	r, err := s.store.Record(ctx, Key{Subject: subject, Controller: p.Controller, Purpose: p.ID})
	if err != nil {
		return Record{}, fmt.Errorf("consent: record: %w", err)
	}
	return r, nil
}

// Records returns every record of the citizen.
func (s *Service) Records(ctx context.Context, subject string) ([]Record, error) {
	rs, err := s.store.SubjectRecords(ctx, subject)
	if err != nil {
		return nil, fmt.Errorf("consent: records: %w", err)
	}
	return rs, nil
}

// History returns every event of every record of the citizen, in ledger
// order, withdrawn consents included (GDPR Art. 7(1)).
func (s *Service) History(ctx context.Context, subject string) ([]Event, error) {
	es, err := s.store.SubjectHistory(ctx, subject)
	if err != nil {
		return nil, fmt.Errorf("consent: history: %w", err)
	}
	return es, nil
}

// Counts returns the number of records per purpose, controller and state.
func (s *Service) Counts(ctx context.Context) ([]Count, error) {
	cs, err := s.store.Counts(ctx)
	if err != nil {
		return nil, fmt.Errorf("consent: counts: %w", err)
	}
	return cs, nil
}

// EventCounts returns the events of each type per UTC day, purpose and
// controller between from and to: consents given, withdrawn, expired, …
// over time.
func (s *Service) EventCounts(ctx context.Context, from, to time.Time) ([]EventCount, error) {
	cs, err := s.store.EventCounts(ctx, from, to)
	if err != nil {
		return nil, fmt.Errorf("consent: event counts: %w", err)
	}
	return cs, nil
}
