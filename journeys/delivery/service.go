package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/random"
)

// Limits of a request.
const (
	MaxKey     = 512
	MaxSubject = 256
	MaxBody    = 32 << 10
	MaxMeta    = 16 << 10
	MaxWhy     = 1 << 10
)

// Config is what a Service is built from.
type Config struct {
	Store  Store
	Sealer Sealer
	// Senders send on each channel; the inbox's is required, the others
	// optional (a channel without one is never routed to).
	Senders map[Channel]Sender
	// Pseudonym names a citizen in audit entries and to the Sealer
	// (audit.Pseudonyms.Of).
	Pseudonym func(citizenID string) string
	// MaxAttempts is how many attempts a delivery gets; 10 when 0.
	MaxAttempts int
	// Backoff is the wait after the first failed attempt, doubled after
	// each other up to MaxBackoff; 5 s and 1 h when 0.
	Backoff, MaxBackoff time.Duration
	// Lease is how long a claimed batch is a worker's; longer than the
	// slowest sender's timeout (the batch is sent in parallel). 5 min
	// when 0.
	Lease time.Duration
	// Batch is how many deliveries a worker claims at once; 16 when 0.
	Batch int
	// Allowed asks the ledger, before each attempt of a delivery with a
	// PurposeID, whether its purpose may still use the citizen's data,
	// appending the decision to the audit log; a refusal cancels the
	// delivery. Nil: deliveries are sent as enqueued.
	Allowed func(ctx context.Context, d Delivery) (bool, error)
	Logger  *slog.Logger
	Now     func() time.Time
}

// Service is the outbox: it enqueues deliveries and sends them.
type Service struct {
	cfg  Config
	wake chan struct{}
}

// New checks cfg and returns the outbox.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Sealer == nil || cfg.Pseudonym == nil || cfg.Senders[Inbox] == nil {
		return nil, errors.New("delivery: the outbox needs a store, a sealer, pseudonyms and the inbox's sender")
	}
	for ch := range cfg.Senders {
		if !ch.Valid() {
			return nil, fmt.Errorf("delivery: no channel %q", ch)
		}
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 10
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 5 * time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = time.Hour
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 5 * time.Minute
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 16
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{cfg: cfg, wake: make(chan struct{}, 1)}, nil
}

// payload is what a delivery's Payload seals.
type payload struct {
	To      string  `json:"to,omitempty"`
	Message Message `json:"message"`
}

// payloadLabel binds a payload to its delivery (the Sealer's label).
func payloadLabel(id string) string { return "journeys/delivery/" + id }

// contactsLabel binds a citizen's sealed contacts to what they are.
const contactsLabel = "journeys/delivery/contacts"

// Enqueue routes r to the citizen's channels and stores one delivery for
// each, its payload sealed, in one transaction with entries — unless
// r.Key was enqueued before, when it stores nothing and appends nothing.
// It returns the deliveries' IDs. A delivery that is not urgent and
// falls in the citizen's quiet hours is due when they end — except in
// the inbox, which is silent: the wallet shows it when opened.
func (s *Service) Enqueue(ctx context.Context, r Request, entries ...audit.Entry) ([]string, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	p, err := s.Prefs(ctx, r.CitizenID)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now().UTC()
	next := now
	if end, quiet := p.Quiet.Until(now, p.location()); quiet && !r.Urgent {
		next = end.UTC()
	}
	suffix := ""
	if len(r.Channels) == 0 {
		suffix = ":preferred"
	}
	subject := s.cfg.Pseudonym(r.CitizenID)
	var ds []Delivery
	for _, ch := range p.route(r.Channels, func(ch Channel) bool { return s.cfg.Senders[ch] != nil }) {
		id := "dl-" + random.Token(18)
		b, err := json.Marshal(payload{To: p.Contacts.To(ch), Message: r.Message})
		if err != nil {
			return nil, err
		}
		sealed, err := s.cfg.Sealer.SealData(ctx, subject, payloadLabel(id), b)
		if err != nil {
			return nil, fmt.Errorf("delivery: seal: %w", err)
		}
		dedupe := r.Key + suffix
		if suffix == "" {
			dedupe += ":" + string(ch)
		}
		at := next
		if ch == Inbox {
			at = now
		}
		ds = append(ds, Delivery{ID: id, Dedupe: dedupe, CitizenID: r.CitizenID, Channel: ch, Urgent: r.Urgent,
			Agency: r.Agency, Purpose: r.Purpose, LegalBasis: r.LegalBasis, PurposeID: r.PurposeID, Categories: r.Categories,
			Payload: sealed, Status: StatusPending,
			NextAt: at, Created: now})
	}
	ids, err := s.cfg.Store.Enqueue(ctx, ds, entries...)
	if err != nil {
		return nil, fmt.Errorf("delivery: enqueue: %w", err)
	}
	s.Wake()
	return ids, nil
}

func (r Request) validate() error {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if r.Key == "" || len(r.Key) > MaxKey {
		bad("the key is empty or longer than %d bytes", MaxKey)
	}
	if r.CitizenID == "" {
		bad("no citizen")
	}
	if r.PurposeID == "" && len(r.Categories) > 0 {
		bad("categories without a purpose")
	}
	for _, ch := range r.Channels {
		if !ch.Valid() {
			bad("channel %.32q is not email, sms, push or inbox", ch)
		}
	}
	m := r.Message
	if strings.TrimSpace(m.Body) == "" || len(m.Body) > MaxBody {
		bad("the body is empty or longer than %d bytes", MaxBody)
	}
	if len(m.Subject) > MaxSubject || len(m.Meta) > MaxMeta || len(m.Why) > MaxWhy {
		bad("the subject is longer than %d bytes, the meta than %d or why than %d", MaxSubject, MaxMeta, MaxWhy)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(problems, "; "))
	}
	return nil
}

// Wake asks Run to look for due deliveries now.
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run sends due deliveries until ctx ends: at once after an Enqueue of
// this process, and every poll for other replicas', retries and the end
// of quiet hours.
func (s *Service) Run(ctx context.Context, poll time.Duration) {
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		for {
			n, err := s.Deliver(ctx)
			if err != nil && ctx.Err() == nil {
				s.cfg.Logger.WarnContext(ctx, "delivery: outbox", "err", err)
			}
			if n == 0 || err != nil {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.wake:
		}
	}
}

// Deliver claims up to a batch of due deliveries, tries them in parallel
// and records each outcome; it returns how many it claimed.
func (s *Service) Deliver(ctx context.Context) (int, error) {
	now := s.cfg.Now().UTC()
	lease := random.Token(18)
	ds, err := s.cfg.Store.Claim(ctx, now, now.Add(s.cfg.Lease), lease, s.cfg.Batch)
	if err != nil {
		return 0, fmt.Errorf("delivery: claim: %w", err)
	}
	errs := make([]error, len(ds))
	var wg sync.WaitGroup
	for i, d := range ds {
		wg.Go(func() { errs[i] = s.attempt(ctx, d, lease) })
	}
	wg.Wait()
	return len(ds), errors.Join(errs...)
}

// attempt tries one claimed delivery and records how it went.
func (s *Service) attempt(ctx context.Context, d Delivery, lease string) error {
	now := s.cfg.Now().UTC()
	if !d.Urgent && d.Channel != Inbox {
		// A retry may fall in quiet hours, or the citizen set them since.
		end, quiet, err := s.quietUntil(ctx, d.CitizenID, now)
		if err != nil {
			return err
		}
		if quiet {
			return s.record(ctx, d, s.cfg.Store.Defer(ctx, d.ID, lease, end))
		}
	}
	subject := s.cfg.Pseudonym(d.CitizenID)
	entry := func(at time.Time, action string, outcome audit.Outcome) audit.Entry {
		return audit.Entry{Time: at, Actor: audit.Actor{Kind: audit.ActorSystem, ID: Actor}, Action: action, Subject: subject,
			Purpose: d.Purpose, LegalBasis: d.LegalBasis, Outcome: outcome, RequestID: d.ID}
	}
	if d.PurposeID != "" && s.cfg.Allowed != nil {
		ok, err := s.cfg.Allowed(ctx, d)
		if err != nil {
			// Not an attempt: the message was not tried.
			s.cfg.Logger.WarnContext(ctx, "delivery: the ledger did not answer; the delivery waits", "delivery", d.ID, "err", err)
			return s.record(ctx, d, s.cfg.Store.Defer(ctx, d.ID, lease, now.Add(s.cfg.Backoff)))
		}
		if !ok {
			return s.record(ctx, d, s.cfg.Store.Cancel(ctx, d.ID, lease, now, entry(now, ActionCancel, audit.Denied)))
		}
	}
	sender := s.cfg.Senders[d.Channel]
	var err error
	var p payload
	if sender == nil {
		err = Temporary("no sender for "+string(d.Channel), nil)
	} else if b, oerr := s.cfg.Sealer.OpenData(ctx, subject, payloadLabel(d.ID), d.Payload); oerr != nil {
		err = Temporary("payload sealed", oerr)
		if errors.Is(oerr, audit.ErrErased) || errors.Is(oerr, audit.ErrCorrupt) || errors.Is(oerr, audit.ErrNotFound) {
			// The citizen was erased: what waited for them goes with them.
			err = Permanent("payload unreadable", oerr)
		}
	} else if uerr := json.Unmarshal(b, &p); uerr != nil {
		err = Permanent("payload unreadable", uerr)
	} else {
		err = sender.Send(ctx, Outgoing{Key: d.ID, CitizenID: d.CitizenID, Channel: d.Channel, To: p.To, Message: p.Message})
	}
	at := s.cfg.Now().UTC()
	if err == nil {
		return s.record(ctx, d, s.cfg.Store.Sent(ctx, d.ID, lease, at, entry(at, ActionSent, audit.Allowed)))
	}
	f := failureOf(err)
	s.cfg.Logger.InfoContext(ctx, "delivery: attempt failed", "delivery", d.ID, "channel", d.Channel, "attempt", d.Attempts,
		"reason", f.Reason, "permanent", f.Permanent)
	if f.Permanent || d.Attempts >= s.cfg.MaxAttempts {
		return s.record(ctx, d, s.cfg.Store.Dead(ctx, d.ID, lease, at, f.Reason, entry(at, ActionDead, audit.Failed)))
	}
	wait := max(backoff(d.Attempts, s.cfg.Backoff, s.cfg.MaxBackoff), min(f.After, s.cfg.MaxBackoff))
	return s.record(ctx, d, s.cfg.Store.Retry(ctx, d.ID, lease, at.Add(wait), f.Reason, entry(at, ActionRetry, audit.Failed)))
}

// record reads a store's answer to an outcome: a lost lease is another
// worker's business now.
func (s *Service) record(ctx context.Context, d Delivery, err error) error {
	if errors.Is(err, ErrLeaseLost) {
		s.cfg.Logger.WarnContext(ctx, "delivery: lease lost before the outcome was recorded", "delivery", d.ID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("delivery: record %s: %w", d.ID, err)
	}
	return nil
}

// backoff is the wait after attempt n (1, 2, …): base doubled each time,
// at most limit.
func backoff(n int, base, limit time.Duration) time.Duration {
	d := base
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// quietUntil says whether now is in the citizen's quiet hours and when
// they end, from their stored preferences (the defaults' without).
func (s *Service) quietUntil(ctx context.Context, citizenID string, now time.Time) (time.Time, bool, error) {
	p := DefaultPrefs()
	rec, err := s.cfg.Store.Prefs(ctx, citizenID)
	if err == nil {
		p = rec.Prefs
	} else if !errors.Is(err, ErrNotFound) {
		return time.Time{}, false, fmt.Errorf("delivery: preferences: %w", err)
	}
	end, quiet := p.Quiet.Until(now, p.location())
	return end.UTC(), quiet, nil
}

// Keep is how long a settled delivery is kept: long enough for a step or
// a retry to find its dedupe key, and for an agency's operators to see
// what went dead and send it again; then it goes, with a dead letter's
// sealed payload.
const Keep = 30 * 24 * time.Hour

// Purge deletes the deliveries settled more than Keep ago.
func (s *Service) Purge(ctx context.Context) (int, error) {
	return s.cfg.Store.Purge(ctx, s.cfg.Now().Add(-Keep))
}

// Lang returns the language a citizen chose for their messages, "" when
// they set no preferences (it reads no contact).
func (s *Service) Lang(ctx context.Context, citizenID string) (string, error) {
	rec, err := s.cfg.Store.Prefs(ctx, citizenID)
	if errors.Is(err, ErrNotFound) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("delivery: preferences: %w", err)
	}
	return rec.Prefs.Lang, nil
}

// Prefs returns a citizen's preferences, contacts opened; DefaultPrefs
// when they set none.
func (s *Service) Prefs(ctx context.Context, citizenID string) (Prefs, error) {
	rec, err := s.cfg.Store.Prefs(ctx, citizenID)
	if errors.Is(err, ErrNotFound) {
		return DefaultPrefs(), nil
	} else if err != nil {
		return Prefs{}, fmt.Errorf("delivery: preferences: %w", err)
	}
	p := rec.Prefs
	b, err := s.cfg.Sealer.OpenData(ctx, s.cfg.Pseudonym(citizenID), contactsLabel, rec.Sealed)
	if err != nil {
		return Prefs{}, fmt.Errorf("delivery: preferences: %w", err)
	}
	if err := json.Unmarshal(b, &p.Contacts); err != nil {
		return Prefs{}, fmt.Errorf("delivery: preferences: %w", err)
	}
	return p, nil
}

// SetPrefs checks and stores a citizen's preferences, contacts sealed,
// with entries in the same transaction.
func (s *Service) SetPrefs(ctx context.Context, citizenID string, p Prefs, entries ...audit.Entry) error {
	if p.Zone == "" {
		p.Zone = DefaultZone
	}
	if citizenID == "" {
		return fmt.Errorf("%w: no citizen", ErrInvalid)
	}
	if err := p.Validate(); err != nil {
		return err
	}
	b, err := json.Marshal(p.Contacts)
	if err != nil {
		return err
	}
	sealed, err := s.cfg.Sealer.SealData(ctx, s.cfg.Pseudonym(citizenID), contactsLabel, b)
	if err != nil {
		return fmt.Errorf("delivery: seal: %w", err)
	}
	p.Contacts = Contacts{}
	return s.cfg.Store.PutPrefs(ctx, PrefsRecord{CitizenID: citizenID, Prefs: p, Sealed: sealed, Updated: s.cfg.Now().UTC()}, entries...)
}

// DeadLetters returns a page of agency's dead letters (n at most 500),
// the latest first, and the cursor of the next page (zero: none).
func (s *Service) DeadLetters(ctx context.Context, agency string, before Cursor, n int) ([]Delivery, Cursor, error) {
	n = min(max(n, 1), 500)
	ds, err := s.cfg.Store.DeadLetters(ctx, agency, before, n+1)
	if err != nil {
		return nil, Cursor{}, err
	}
	if len(ds) <= n {
		return ds, Cursor{}, nil
	}
	ds = ds[:n]
	last := ds[n-1]
	return ds, Cursor{Done: last.Done, ID: last.ID}, nil
}

// Requeue sends agency's dead letter id again: pending at once, with
// its attempts counted afresh and the ledger asked again at its turn.
// ErrNotFound when agency has no such delivery, ErrConflict when it is
// not a dead letter with its message.
func (s *Service) Requeue(ctx context.Context, agency, id string) error {
	now := s.cfg.Now().UTC()
	e, err := s.agencyEntry(ctx, agency, id, ActionRequeue, now)
	if err != nil {
		return err
	}
	if err := s.cfg.Store.Requeue(ctx, agency, id, now, e); err != nil {
		return err
	}
	s.Wake()
	return nil
}

// Discard gives up agency's dead letter id for good: its payload goes.
func (s *Service) Discard(ctx context.Context, agency, id string) error {
	now := s.cfg.Now().UTC()
	e, err := s.agencyEntry(ctx, agency, id, ActionDiscard, now)
	if err != nil {
		return err
	}
	return s.cfg.Store.Discard(ctx, agency, id, now, e)
}

// agencyEntry is the entry of an agency's change to its delivery id,
// which it checks is the agency's.
func (s *Service) agencyEntry(ctx context.Context, agency, id, action string, now time.Time) (audit.Entry, error) {
	d, err := s.cfg.Store.Delivery(ctx, id)
	if err != nil {
		return audit.Entry{}, err
	}
	if d.Agency != agency {
		return audit.Entry{}, ErrNotFound
	}
	return audit.Entry{Time: now, Actor: audit.Actor{Kind: audit.ActorClient, ID: agency}, Action: action,
		Subject: s.cfg.Pseudonym(d.CitizenID), Purpose: d.Purpose, LegalBasis: d.LegalBasis, Outcome: audit.Allowed, RequestID: d.ID}, nil
}
