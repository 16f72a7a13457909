package consent

import (
	"context"
	"errors"
	"fmt"
)

// The methods below are what the OpenID provider asks the ledger (its
// oidcop.Consent): a client names the purpose of a login with a purpose
// scope, the citizen's "allow" on the consent screen gives the consent, and
// userinfo releases claims only as far as Decide allows.

// PurposeOf reports whether purpose is in the registry with controller as
// its controller.
func (s *Service) PurposeOf(ctx context.Context, controller, purpose string) bool {
	if !ValidID(purpose) {
		return false
	}
	p, ok, err := s.purpose(ctx, purpose)
	return err == nil && ok && p.Controller == controller
}

// Agree records, for a citizen who allowed controller's request on the
// consent screen (method), consent to each of purposes that rests on
// consent and is not in force already; purposes on another basis need
// none. A purpose not controller's gives ErrInvalid, changing nothing.
func (s *Service) Agree(ctx context.Context, subject, controller string, purposes []string, method Method) error {
	ps := make([]*Purpose, 0, len(purposes))
	for _, id := range purposes {
		p, ok, err := s.purpose(ctx, id)
		if err != nil {
			return err
		}
		if !ok || p.Controller != controller {
			return invalid("", fmt.Sprintf("purpose %.80q is not one of the client's", id))
		}
		ps = append(ps, p)
	}
	for _, p := range ps {
		if p.LegalBasis != Consent {
			continue
		}
		rec, err := s.store.Record(ctx, Key{Subject: subject, Controller: controller, Purpose: p.ID})
		if err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("consent: agree: %w", err)
		}
		if err == nil && rec.InForce(s.now(), p.NoticeVersion) {
			continue
		}
		if _, err := s.Give(ctx, Request{Subject: subject, Purpose: p.ID, Method: method}); err != nil {
			return err
		}
	}
	return nil
}

// Declined returns those of purposes resting on consent whose record says
// the citizen withdrew or refused it: a deliberate no, which a routine
// "allow" on the consent screen must not turn into a yes (Agree gives them
// only when the citizen asks for it apart). Purposes not controller's are
// left out. It reads the ledger and records nothing.
func (s *Service) Declined(ctx context.Context, subject, controller string, purposes []string) ([]string, error) {
	var out []string
	for _, id := range purposes {
		p, ok, err := s.purpose(ctx, id)
		if err != nil {
			return nil, err
		}
		if !ok || p.Controller != controller || p.LegalBasis != Consent {
			continue
		}
		rec, err := s.store.Record(ctx, Key{Subject: subject, Controller: controller, Purpose: p.ID})
		if errors.Is(err, ErrNotFound) {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("consent: declined: %w", err)
		}
		if rec.State == StateWithdrawn || rec.State == StateRefused {
			out = append(out, p.ID)
		}
	}
	return out, nil
}

// Agreed reports whether every one of purposes that rests on consent has
// the citizen's consent in force under its current notice; purposes on
// another basis need none. A purpose not controller's gives false. It
// changes and records nothing: it uses no personal data, only asks whether
// the consent screen would ask anything new.
func (s *Service) Agreed(ctx context.Context, subject, controller string, purposes []string) (bool, error) {
	for _, id := range purposes {
		p, ok, err := s.purpose(ctx, id)
		if err != nil {
			return false, err
		}
		if !ok || p.Controller != controller {
			return false, nil
		}
		if p.LegalBasis != Consent {
			continue
		}
		rec, err := s.store.Record(ctx, Key{Subject: subject, Controller: controller, Purpose: p.ID})
		if errors.Is(err, ErrNotFound) {
			return false, nil
		} else if err != nil {
			return false, fmt.Errorf("consent: agreed: %w", err)
		}
		if !rec.InForce(s.now(), p.NoticeVersion) {
			return false, nil
		}
	}
	return true, nil
}

// Release decides, for each of purposes, whether the categories among
// categories that the purpose covers may go to controller, and returns
// those that may (the union over purposes). Each decision is audited
// (Decide). An error means nothing may be released.
func (s *Service) Release(ctx context.Context, subject, controller string, purposes, categories []string) ([]string, error) {
	allowed := map[string]bool{}
	for _, id := range purposes {
		p, ok, err := s.purpose(ctx, id)
		if err != nil {
			return nil, err
		}
		var asked []string
		for _, c := range categories {
			if ok && p.Covers([]string{c}) {
				asked = append(asked, c)
			}
		}
		if len(asked) == 0 {
			asked = categories // decided (and denied, audited) all the same
		}
		d, err := s.Decide(ctx, Query{Subject: subject, Controller: controller, Purpose: id, Categories: asked})
		if err != nil {
			return nil, err
		}
		if d.Allow {
			for _, c := range asked {
				allowed[c] = true
			}
		}
	}
	var out []string
	for _, c := range categories {
		if allowed[c] {
			out = append(out, c)
		}
	}
	return out, nil
}
