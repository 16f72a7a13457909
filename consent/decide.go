package consent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/cedula/cedula/audit"
)

// Query asks whether a controller may use some of a citizen's data for a
// purpose.
type Query struct {
	// Subject is the citizen's internal ID.
	Subject string
	// Controller is the OIDC client ID of the agency asking.
	Controller string
	// Purpose is the purpose ID.
	Purpose string
	// Categories are the personal data categories it would use: at least
	// one, at most MaxCategories.
	Categories []string
}

// LogValue implements slog.LogValuer without the subject.
func (q Query) LogValue() slog.Value {
	return slog.GroupValue(slog.String("controller", q.Controller), slog.String("purpose", q.Purpose))
}

func (q Query) validate() error {
	var problems []string
	if !validSubject(q.Subject) {
		problems = append(problems, "subject is not a citizen ID")
	}
	if !validToken(q.Controller, MaxControllerLen) {
		problems = append(problems, "controller is not a client ID")
	}
	if !ValidID(q.Purpose) {
		problems = append(problems, fmt.Sprintf("purpose %.80q is not a purpose ID", q.Purpose))
	}
	if len(q.Categories) == 0 || len(q.Categories) > MaxCategories {
		problems = append(problems, fmt.Sprintf("%d categories, want 1 to %d", len(q.Categories), MaxCategories))
	}
	for _, c := range q.Categories {
		if !ValidCategory(c) {
			problems = append(problems, fmt.Sprintf("category %.80q is not a category", c))
			break
		}
	}
	if len(problems) > 0 {
		return invalid("query", problems...)
	}
	return nil
}

// Reason says why a decision went the way it did.
type Reason string

const (
	// Allowed.
	ReasonConsent    Reason = "consent"     // a consent given or renewed, unexpired, under the current notice
	ReasonLegalBasis Reason = "legal_basis" // a basis other than consent, and no objection

	// Denied.
	ReasonUnknownPurpose Reason = "unknown_purpose"          // no such purpose in the registry
	ReasonController     Reason = "controller_mismatch"      // the purpose belongs to another controller
	ReasonCategories     Reason = "categories_not_covered"   // a category outside the purpose's
	ReasonConsentScope   Reason = "categories_not_consented" // a category outside what the citizen consented to
	ReasonNoConsent      Reason = "no_consent"               // never asked, or never answered
	ReasonRefused        Reason = "refused"
	ReasonWithdrawn      Reason = "withdrawn"
	ReasonExpired        Reason = "expired"
	ReasonRenewal        Reason = "renewal_required" // given under another notice version
	ReasonObjected       Reason = "objected"         // the citizen objected (GDPR Art. 21)
)

// Decision is the answer to a Query.
type Decision struct {
	Allow bool
	// Basis is the purpose's legal basis ("" for an unknown purpose).
	Basis LegalBasis
	// PurposeVersion is the version of the purpose decided on.
	PurposeVersion int
	// Record is the record event the decision rests on: the consent that
	// allows, or the refusal, withdrawal, expiry or objection that denies.
	// Zero when no record counts.
	Record Ref
	Reason Reason
	// Time is when the decision was taken.
	Time time.Time
}

// Decide answers q and appends the decision — allowed or denied — to the
// audit log (Append: durable, group-committed) before it returns. It
// allows when:
//
//   - the purpose is in the registry, q.Controller is its controller and
//     every category asked is one of its categories; and
//   - for a purpose resting on consent, the citizen's record is given or
//     renewed, not expired, under the purpose's current notice version and
//     covers the categories; for any other basis, the citizen has not
//     objected (GDPR Art. 21, profiling purposes).
//
// Anything else denies, with a Reason. An invalid query gives ErrInvalid,
// and a failure to read the ledger or to append to the audit log an error:
// the caller must then not use the data.
//
// Every decision started after a change's acknowledgement reflects the
// change, on every replica (see the package documentation).
func (s *Service) Decide(ctx context.Context, q Query) (Decision, error) {
	d, e, err := s.DecideEntry(ctx, q)
	if err != nil {
		return Decision{}, err
	}
	if _, err := s.audit.Append(ctx, e); err != nil {
		return Decision{}, fmt.Errorf("consent: decide: audit: %w", err)
	}
	return d, nil
}

// DecideEntry is Decide for a caller that appends the decision's audit
// entry itself, in the transaction of the change the decision allows (an
// issuance and its decision then commit together or not at all). It
// returns the decision and that entry, and appends nothing: the caller
// must append e before it uses the data.
func (s *Service) DecideEntry(ctx context.Context, q Query) (d Decision, e audit.Entry, err error) {
	d, dpv, err := s.decide(ctx, q)
	if err != nil {
		return Decision{}, audit.Entry{}, fmt.Errorf("consent: decide: %w", err)
	}
	outcome := audit.Denied
	if d.Allow {
		outcome = audit.Allowed
	}
	e = audit.Entry{
		Time:          d.Time,
		Actor:         audit.Actor{Kind: audit.ActorClient, ID: q.Controller},
		Action:        ActionDecide,
		Subject:       s.pseudonym(q.Subject),
		Purpose:       dpv,
		LegalBasis:    string(d.Basis),
		ConsentRecord: AuditRecord(q.Purpose, d.PurposeVersion, d.Record),
		Categories:    distinct(q.Categories),
		Outcome:       outcome,
		RequestID:     audit.RequestIDFrom(ctx),
	}
	return d, e, nil
}

// DecideUnaudited is Decide without the audit entry: the decision core,
// for benchmarks, and for a caller that appends the decision's entry
// itself in its own transaction. Anything else must call Decide: every
// use of personal data is audited.
func (s *Service) DecideUnaudited(ctx context.Context, q Query) (Decision, error) {
	d, _, err := s.decide(ctx, q)
	if err != nil {
		return Decision{}, fmt.Errorf("consent: decide: %w", err)
	}
	return d, nil
}

// decide applies the rules; dpv is the purpose's DPV code ("" when
// unknown).
func (s *Service) decide(ctx context.Context, q Query) (d Decision, dpv string, err error) {
	if s.closed.Load() {
		return Decision{}, "", ErrClosed
	}
	if err := q.validate(); err != nil {
		return Decision{}, "", err
	}
	d.Time = s.now()
	p, ok, err := s.purpose(ctx, q.Purpose)
	if err != nil {
		return Decision{}, "", err
	}
	if !ok {
		d.Reason = ReasonUnknownPurpose
		return d, "", nil
	}
	d.Basis, d.PurposeVersion, dpv = p.LegalBasis, p.Version, p.DPV
	if q.Controller != p.Controller {
		d.Reason = ReasonController
		return d, dpv, nil
	}
	if !p.Covers(q.Categories) {
		d.Reason = ReasonCategories
		return d, dpv, nil
	}
	r, err := s.projection(ctx, Key{Subject: q.Subject, Controller: p.Controller, Purpose: p.ID})
	if err != nil {
		return Decision{}, "", err
	}
	if p.LegalBasis != Consent {
		if p.Objectable() && r.state == StateObjected {
			d.Record, d.Reason = r.ref(), ReasonObjected
			return d, dpv, nil
		}
		d.Allow, d.Reason = true, ReasonLegalBasis
		return d, dpv, nil
	}
	d.Record = r.ref()
	switch r.state {
	case StateNone:
		d.Reason = ReasonNoConsent
	case StateRefused:
		d.Reason = ReasonRefused
	case StateWithdrawn:
		d.Reason = ReasonWithdrawn
	case StateExpired:
		d.Reason = ReasonExpired
	case StateRenewalRequired:
		d.Reason = ReasonRenewal
	case StateObjected:
		d.Reason = ReasonObjected
	case StateGiven, StateRenewed:
		switch {
		case r.expires != 0 && d.Time.UnixMicro() >= r.expires:
			d.Reason = ReasonExpired
		case r.notice != p.NoticeVersion:
			d.Reason = ReasonRenewal
		case !subset(q.Categories, r.categories):
			d.Reason = ReasonConsentScope
		default:
			d.Allow, d.Reason = true, ReasonConsent
		}
	default:
		d.Reason = ReasonNoConsent
	}
	return d, dpv, nil
}

// projection returns what the record k says: from the cache while the
// lease holds (filling it on a miss), from the store otherwise. A record
// without events is the zero proj; a complete cache gives it for every key
// it does not hold, without reading the store (see cache).
func (s *Service) projection(ctx context.Context, k Key) (proj, error) {
	leased := s.leased()
	if leased {
		if p, ok := s.cache.get(k); ok {
			s.stats.hits.Add(1)
			return p, nil
		}
		s.stats.misses.Add(1)
	} else {
		s.stats.direct.Add(1)
	}
	epoch := s.cache.epoch(k)
	r, err := s.store.Record(ctx, k)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return proj{}, err
	}
	p := projOf(r)
	if leased {
		s.cache.fill(k, epoch, p)
	}
	return p, nil
}

// distinct returns cats without repeats, in their order; cats itself when
// it has none.
func distinct(cats []string) []string {
	for i, c := range cats {
		if slices.Contains(cats[:i], c) {
			out := make([]string, 0, len(cats))
			for _, c := range cats {
				if !slices.Contains(out, c) {
					out = append(out, c)
				}
			}
			return out
		}
	}
	return cats
}
