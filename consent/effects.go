package consent

import (
	"context"
	"errors"
	"fmt"
)

// Effects is what happens outside the ledger when processing must stop:
// revoking the tokens an agency holds for the purpose, telling the agency.
// The Service calls Ended after the change has committed and reached every
// replica (so every decision already denies), with the record as it now
// is: State is StateWithdrawn, StateObjected, StateExpired or
// StateRenewalRequired. A failure does not undo the change; the Service
// logs it, counts it and returns it wrapped in ErrEffects.
type Effects interface {
	Ended(ctx context.Context, r Record) error
}

// GivenEffects, when the Effects also implement it, is told of a consent
// given or renewed (journeys that begin with it run).
type GivenEffects interface {
	Given(ctx context.Context, r Record) error
}

// ends reports whether an event of type t ends processing on its record.
func ends(t EventType) bool {
	return t == Withdrawn || t == Objected || t == Expired || t == RenewalRequired
}

// runEffects calls Effects for each record that ended, even when the
// caller has gone (a withdrawal must revoke tokens regardless), and joins
// the failures.
func (s *Service) runEffects(ctx context.Context, recs []Record) error {
	if s.effects == nil {
		return nil
	}
	ctx = context.WithoutCancel(ctx)
	var errs []error
	for _, r := range recs {
		if g, ok := s.effects.(GivenEffects); ok && (r.State == StateGiven || r.State == StateRenewed) {
			if err := g.Given(ctx, r); err != nil {
				s.log.ErrorContext(ctx, "consent: effects of a consent given failed; it stands", "record", r, "err", err)
			}
			continue
		}
		if !ends(EventType(r.State)) {
			continue
		}
		if err := s.effects.Ended(ctx, r); err != nil {
			s.stats.effectFailures.Add(1)
			s.log.ErrorContext(ctx, "consent: effects of a change failed; the change stands", "record", r, "err", err)
			errs = append(errs, fmt.Errorf("record %s: %w", r.Ref(), err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrEffects, errors.Join(errs...))
	}
	return nil
}
