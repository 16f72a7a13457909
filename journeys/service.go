package journeys

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/journeys/delivery"
	"github.com/cedula/cedula/journeys/rules"
)

// Audit actions of the room.
const (
	ActionDefine  = "journeys.define"  // an agency defined or changed a journey
	ActionRetire  = "journeys.retire"  // an agency retired a journey
	ActionDryRun  = "journeys.dry_run" // an agency counted a journey's reach
	ActionEnrol   = "journeys.enrol"   // a citizen met a journey's segment and entered it
	ActionSend    = "journeys.send"    // a step sent a message to a citizen (the outbox delivers it)
	ActionStop    = "journeys.stop"    // a citizen's journey stopped (done, withdrawn, denied)
	ActionRespond = "journeys.respond" // a citizen answered a message
	ActionPush    = "journeys.push"    // an agency told Cedula what its registry holds of a citizen
)

// Ledger is the consent ledger as the room uses it; consent.Service is one.
type Ledger interface {
	Purpose(ctx context.Context, id string) (consent.Purpose, error)
	DecideEntry(ctx context.Context, q consent.Query) (consent.Decision, audit.Entry, error)
	// DecideUnaudited decides without an entry: for counting (a dry run
	// is audited as a whole).
	DecideUnaudited(ctx context.Context, q consent.Query) (consent.Decision, error)
}

// Appender appends entries to the audit log.
type Appender interface {
	Append(ctx context.Context, entries ...audit.Entry) (int64, error)
}

// Attributes loads what Cedula knows of a citizen into v: the citizen
// record's, the agencies' registry pushes, the credentials they hold. It
// is called only after the ledger allowed the categories asked.
type Attributes interface {
	Load(ctx context.Context, citizenID string, v *rules.Values) error
}

// Sealer seals data under a citizen's data key; audit.Shredder is one.
type Sealer interface {
	SealData(ctx context.Context, subject, label string, data []byte) ([]byte, error)
	OpenData(ctx context.Context, subject, label string, sealed []byte) ([]byte, error)
}

// Inbox posts a message to a citizen's wallet inbox (the mobile API's
// stream); it is idempotent on Notice.Dedupe and returns the message's ID.
type Inbox interface {
	Post(ctx context.Context, citizenID string, n Notice) (string, error)
}

// Notice is a message for the citizen's inbox, in their language, with
// who sent it and why.
type Notice struct {
	Lang, Subject, Body string
	Sender              Sender
	Why                 Why
	// Ask offers the citizen to answer yes or no.
	Ask bool
	// Ref names the step that sent it: the citizen's answer names it back.
	Ref    string
	Dedupe string
}

// Outbox sends messages on the citizen's channels, durably
// (journeys/delivery); the inbox is one of them.
type Outbox interface {
	Enqueue(ctx context.Context, r delivery.Request, entries ...audit.Entry) ([]string, error)
	Wake()
}

// noticeMeta is what an outbox message carries for the inbox beside its
// text.
type noticeMeta struct {
	Sender Sender `json:"sender"`
	Why    Why    `json:"why"`
	Ask    bool   `json:"ask,omitempty"`
	Ref    string `json:"ref,omitempty"`
}

// MetaNotice reads an outbox message's meta back into the inbox notice it
// stands for.
func MetaNotice(m delivery.Message, dedupe string) (Notice, error) {
	var meta noticeMeta
	if err := json.Unmarshal(m.Meta, &meta); err != nil {
		return Notice{}, fmt.Errorf("journeys: an outbox message without its meta: %w", err)
	}
	return Notice{Lang: m.Lang, Subject: m.Subject, Body: m.Body, Sender: meta.Sender, Why: meta.Why, Ask: meta.Ask, Ref: meta.Ref, Dedupe: dedupe}, nil
}

// post sends n to the citizen: through the outbox on the channels asked
// (or their preferred ones), or straight to the inbox without one. The
// outbox asks the ledger again about pd and categories before each
// attempt.
func (s *Service) post(ctx context.Context, citizenID string, n Notice, channels []string, urgent bool, agency string, pd consent.Purpose, categories []string) error {
	if s.cfg.Outbox == nil {
		_, err := s.cfg.Inbox.Post(ctx, citizenID, n)
		return err
	}
	meta, err := json.Marshal(noticeMeta{Sender: n.Sender, Why: n.Why, Ask: n.Ask, Ref: n.Ref})
	if err != nil {
		return err
	}
	r := delivery.Request{Key: n.Dedupe, CitizenID: citizenID, Message: delivery.Message{Lang: n.Lang, Subject: n.Subject, Body: n.Body, Meta: meta,
		Why: whyText(n.Lang, pd, n.Sender.Name, n.Why.Alert != "")},
		Urgent: urgent, Agency: agency, Purpose: pd.DPV, LegalBasis: string(pd.LegalBasis), PurposeID: pd.ID, Categories: categories}
	for _, c := range channels {
		r.Channels = append(r.Channels, delivery.Channel(c))
	}
	if _, err := s.cfg.Outbox.Enqueue(ctx, r); err != nil {
		return err
	}
	s.cfg.Outbox.Wake()
	return nil
}

// Sender is a message's sender, sealed: the wallet shows it verified.
type Sender struct {
	Agency string `json:"agency"`
	Name   string `json:"name"`
	Code   string `json:"code"`
	Seal   string `json:"seal"`
}

// Why says why a citizen got a message: the journey or alert, the purpose,
// what it rests on and the rule that matched.
type Why struct {
	Journey       string `json:"journey,omitempty"`
	Alert         string `json:"alert,omitempty"`
	Purpose       string `json:"purpose"`
	LegalBasis    string `json:"legal_basis"`
	ConsentRecord string `json:"consent_record,omitempty"`
	Rule          string `json:"rule,omitempty"`
}

// Enrolment is a citizen's way through a journey.
type Enrolment struct {
	Journey, CitizenID string
	Step               int
	Status             Status
	NextAt             time.Time
	// Asked is the inbox message of the last send that asked; Response
	// the citizen's answer to it ("" while none).
	Asked, Response string
	Started         time.Time
}

// Status is where an enrolment is.
type Status string

const (
	StatusActive    Status = "active"
	StatusDone      Status = "done"      // it reached a stop or its last step
	StatusWithdrawn Status = "withdrawn" // the citizen's consent ended
	StatusDenied    Status = "denied"    // the ledger said no at a step
)

// Definition is a journey as stored.
type Definition struct {
	Journey Journey
	Updated time.Time
}

// Store keeps the room's records.
type Store interface {
	SealStore
	AlertStore
	PutJourney(ctx context.Context, d Definition, entries ...audit.Entry) error
	DeleteJourney(ctx context.Context, agency, id string, entries ...audit.Entry) error
	Journeys(ctx context.Context) ([]Definition, error)
	// Enrol starts e unless the citizen is already active in the journey
	// (false then), appending entries.
	Enrol(ctx context.Context, e Enrolment, entries ...audit.Entry) (bool, error)
	// Due returns up to limit active enrolments due at now.
	Due(ctx context.Context, now time.Time, limit int) ([]Enrolment, error)
	// Update stores e's step, status, next time, asked message and
	// response, if its step is still from (so that two replicas do not
	// both run it); false when it moved meanwhile.
	Update(ctx context.Context, e Enrolment, from int, entries ...audit.Entry) (bool, error)
	// Enrolments lists the citizen's enrolments.
	Enrolments(ctx context.Context, citizenID string) ([]Enrolment, error)
	// PutAttributes stores an agency's attributes of a citizen, sealed.
	PutAttributes(ctx context.Context, citizenID, agency string, sealed []byte, at time.Time) error
	// AttributesOf returns every agency's attributes of the citizen, by agency.
	AttributesOf(ctx context.Context, citizenID string) (map[string][]byte, error)
	// StepCounts counts a journey's active enrolments by step.
	StepCounts(ctx context.Context, journey string) (map[int]int, error)
	// TakeRun records that a replica runs a scheduled journey on day;
	// false when another took it — unless that one took it before stale
	// and never finished it (it died), when this one takes it over.
	TakeRun(ctx context.Context, journey, day string, at, stale time.Time) (bool, error)
	// FinishRun records that the run of journey on day is done.
	FinishRun(ctx context.Context, journey, day string, at time.Time) error
}

// Config is what the Service is built from.
type Config struct {
	Store      Store
	Seals      *Seals
	Ledger     Ledger
	Audit      Appender
	Catalogue  *rules.Catalogue
	Attributes Attributes
	// Sealer seals the attributes agencies push under each citizen's data
	// key (erasing the citizen erases them).
	Sealer Sealer
	Inbox  Inbox
	// Outbox, when set, sends messages on every channel durably; without
	// it they go to the inbox alone.
	Outbox Outbox
	// Broadcast, when set, wakes this replica's alert streams at once
	// (others see a new alert within their poll).
	Broadcast func()
	// Citizens lists every citizen, for scheduled journeys.
	Citizens func(ctx context.Context) iter.Seq2[string, error]
	// Areas are the areas Cedula knows by geocode (nil: none), for
	// targeted alerts.
	Areas *Gazetteer
	// Language is the citizen's language (es or en).
	Language   func(ctx context.Context, citizenID string) string
	AgencyName func(ctx context.Context, id string) string
	Pseudonym  func(citizenID string) string
	Logger     *slog.Logger
	Now        func() time.Time
}

// Service runs journeys.
type Service struct {
	cfg Config
	mu  sync.RWMutex
	// compiled are the journeys in force, by ID.
	compiled map[string]*Compiled
}

// New checks cfg and loads the stored journeys.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Seals == nil || cfg.Ledger == nil || cfg.Audit == nil || cfg.Catalogue == nil || cfg.Attributes == nil || cfg.Sealer == nil ||
		cfg.Inbox == nil || cfg.Citizens == nil || cfg.Language == nil || cfg.AgencyName == nil || cfg.Pseudonym == nil {
		return nil, errors.New("journeys: the service's configuration is incomplete")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Service{cfg: cfg, compiled: map[string]*Compiled{}}
	defs, err := cfg.Store.Journeys(ctx)
	if err != nil {
		return nil, err
	}
	for _, d := range defs {
		c, err := Compile(ctx, d.Journey, cfg.Ledger, cfg.Catalogue)
		if err != nil {
			// A purpose changed under it: it stays stored, and idle.
			cfg.Logger.WarnContext(ctx, "journeys: a stored journey no longer compiles; it does not run", "journey", d.Journey.ID, "err", err)
			continue
		}
		s.compiled[d.Journey.ID] = c
	}
	return s, nil
}

// Define checks and stores a journey of agency (replacing its earlier
// definition), audited.
func (s *Service) Define(ctx context.Context, agency string, j Journey) (*Compiled, error) {
	j.Agency = agency
	c, err := Compile(ctx, j, s.cfg.Ledger, s.cfg.Catalogue)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.compiled[j.ID]; ok && old.Agency != agency {
		return nil, fmt.Errorf("%w: journey %q is another agency's", ErrNotFound, j.ID)
	}
	now := s.cfg.Now().UTC()
	e := s.agencyEntry(ctx, agency, ActionDefine, c, now)
	if err := s.cfg.Store.PutJourney(ctx, Definition{Journey: j, Updated: now}, e); err != nil {
		return nil, err
	}
	s.compiled[j.ID] = c
	return c, nil
}

// Retire removes an agency's journey; its citizens' pending steps stop.
func (s *Service) Retire(ctx context.Context, agency, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.compiled[id]
	if !ok || c.Agency != agency {
		return fmt.Errorf("%w: no journey %q of this agency", ErrNotFound, id)
	}
	if err := s.cfg.Store.DeleteJourney(ctx, agency, id, s.agencyEntry(ctx, agency, ActionRetire, c, s.cfg.Now().UTC())); err != nil {
		return err
	}
	delete(s.compiled, id)
	return nil
}

// Get returns an agency's journey.
func (s *Service) Get(agency, id string) (*Compiled, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.compiled[id]
	if !ok || c.Agency != agency {
		return nil, fmt.Errorf("%w: no journey %q of this agency", ErrNotFound, id)
	}
	return c, nil
}

// List returns an agency's journeys.
func (s *Service) List(agency string) []*Compiled {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*Compiled
	for _, c := range s.compiled {
		if c.Agency == agency {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b *Compiled) int {
		if a.ID < b.ID {
			return -1
		}
		return 1
	})
	return out
}

func (s *Service) journey(id string) (*Compiled, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.compiled[id]
	return c, ok
}

func (s *Service) agencyEntry(ctx context.Context, agency, action string, c *Compiled, now time.Time) audit.Entry {
	return audit.Entry{Time: now, Actor: audit.Actor{Kind: audit.ActorClient, ID: agency}, Action: action,
		Purpose: c.PurposeDef.DPV, LegalBasis: string(c.PurposeDef.LegalBasis), Categories: c.Categories,
		Outcome: audit.Allowed, RequestID: audit.RequestIDFrom(ctx)}
}

// citizenEntry is an entry about a citizen of journey c.
func (s *Service) citizenEntry(ctx context.Context, citizenID, action string, c *Compiled, now time.Time, outcome audit.Outcome) audit.Entry {
	e := s.agencyEntry(ctx, c.Agency, action, c, now)
	e.Subject, e.Outcome = s.cfg.Pseudonym(citizenID), outcome
	return e
}

// decide asks the ledger whether c may use the citizen's data now; the
// decision's entry is appended whatever it says.
func (s *Service) decide(ctx context.Context, c *Compiled, citizenID string) (consent.Decision, error) {
	d, e, err := s.cfg.Ledger.DecideEntry(ctx, consent.Query{Subject: citizenID, Controller: c.Agency, Purpose: c.Purpose, Categories: c.Categories})
	if err != nil {
		return d, err
	}
	_, err = s.cfg.Audit.Append(ctx, e)
	return d, err
}

// values loads a citizen's attributes, once the ledger allowed it: what
// Cedula knows (Attributes), then what agencies pushed.
func (s *Service) values(ctx context.Context, citizenID string) (*rules.Values, error) {
	v := s.cfg.Catalogue.NewValues()
	if err := s.cfg.Attributes.Load(ctx, citizenID, v); err != nil {
		return nil, err
	}
	pushed, err := s.cfg.Store.AttributesOf(ctx, citizenID)
	if err != nil {
		return nil, err
	}
	for _, agency := range sortedNames(pushed) {
		b, err := s.cfg.Sealer.OpenData(ctx, s.cfg.Pseudonym(citizenID), attributesLabel(agency), pushed[agency])
		if err != nil {
			return nil, fmt.Errorf("journeys: attributes of %s: %w", agency, err)
		}
		var attrs map[string]json.RawMessage
		if err := json.Unmarshal(b, &attrs); err != nil {
			return nil, err
		}
		if err := setAll(v, attrs); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func attributesLabel(agency string) string { return "journeys/attributes/" + agency }

// setAll sets each attribute by its kind; an attribute of another kind, or
// not in the catalogue, is an ErrInvalid naming it.
func setAll(v *rules.Values, attrs map[string]json.RawMessage) error {
	cat := v.Catalogue()
	for _, name := range sortedNames(attrs) {
		a, ok := cat.Lookup(name)
		if !ok {
			return fmt.Errorf("%w: attribute %.64q is not in the catalogue", ErrInvalid, name)
		}
		raw := attrs[name]
		bad := func() error { return fmt.Errorf("%w: attribute %q must be a %s", ErrInvalid, name, a.Kind) }
		// A null decodes into any kind as its zero value: it is none.
		if string(bytes.TrimSpace(raw)) == "null" {
			return bad()
		}
		var err error
		switch a.Kind {
		case rules.String:
			var x string
			if json.Unmarshal(raw, &x) != nil {
				return bad()
			}
			err = v.SetString(name, x)
		case rules.Int:
			var x int64
			if json.Unmarshal(raw, &x) != nil {
				return bad()
			}
			err = v.SetInt(name, x)
		case rules.Double:
			var x float64
			if json.Unmarshal(raw, &x) != nil {
				return bad()
			}
			err = v.SetDouble(name, x)
		case rules.Bool:
			var x bool
			if json.Unmarshal(raw, &x) != nil {
				return bad()
			}
			err = v.SetBool(name, x)
		case rules.Timestamp:
			var x string
			if json.Unmarshal(raw, &x) != nil {
				return bad()
			}
			t, perr := time.Parse(time.RFC3339, x)
			if perr != nil {
				if t, perr = time.Parse(time.DateOnly, x); perr != nil {
					return bad()
				}
			}
			err = v.SetTime(name, t)
		case rules.StringList:
			var ps []*string
			if json.Unmarshal(raw, &ps) != nil || slices.Contains(ps, nil) {
				return bad()
			}
			x := make([]string, len(ps))
			for i, p := range ps {
				x[i] = *p
			}
			err = v.SetStrings(name, x)
		}
		if err != nil {
			return fmt.Errorf("%w: attribute %q: %v", ErrInvalid, name, err)
		}
	}
	return nil
}

// MaxAttributes bounds an agency's push for one citizen.
const MaxAttributes = 64

// PushAttributes stores what agency knows of a citizen — attributes of
// the catalogue, each of its kind — sealed under the citizen's data key,
// replacing the agency's earlier push, and triggers the journeys that
// listen for registry changes. It returns how many the citizen entered.
func (s *Service) PushAttributes(ctx context.Context, agency, citizenID string, attrs map[string]json.RawMessage) (int, error) {
	if len(attrs) > MaxAttributes {
		return 0, fmt.Errorf("%w: at most %d attributes", ErrInvalid, MaxAttributes)
	}
	if err := setAll(s.cfg.Catalogue.NewValues(), attrs); err != nil {
		return 0, err
	}
	b, err := json.Marshal(attrs)
	if err != nil {
		return 0, err
	}
	sealed, err := s.cfg.Sealer.SealData(ctx, s.cfg.Pseudonym(citizenID), attributesLabel(agency), b)
	if err != nil {
		return 0, err
	}
	now := s.cfg.Now().UTC()
	if err := s.cfg.Store.PutAttributes(ctx, citizenID, agency, sealed, now); err != nil {
		return 0, err
	}
	var cats []string
	for name := range attrs {
		if a, ok := s.cfg.Catalogue.Lookup(name); ok && !slices.Contains(cats, a.Category) {
			cats = append(cats, a.Category)
		}
	}
	slices.Sort(cats)
	if _, err := s.cfg.Audit.Append(ctx, audit.Entry{Time: now, Actor: audit.Actor{Kind: audit.ActorClient, ID: agency}, Action: ActionPush,
		Subject: s.cfg.Pseudonym(citizenID), Categories: cats, Outcome: audit.Allowed, RequestID: audit.RequestIDFrom(ctx)}); err != nil {
		return 0, err
	}
	return s.Event(ctx, EventRegistryChanged, citizenID)
}

// Event triggers the journeys listening for event, for the citizen it
// concerns: for each, the ledger decides (audited), then the segment rule
// reads the citizen's attributes, and a citizen who meets it enters the
// journey at its first step. It returns how many journeys they entered.
func (s *Service) Event(ctx context.Context, event, citizenID string) (int, error) {
	s.mu.RLock()
	var listening []*Compiled
	for _, c := range s.compiled {
		if c.Trigger.Event == event {
			listening = append(listening, c)
		}
	}
	s.mu.RUnlock()
	n := 0
	for _, c := range listening {
		ok, err := s.consider(ctx, c, citizenID)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// consider decides, evaluates and enrols one citizen in c.
func (s *Service) consider(ctx context.Context, c *Compiled, citizenID string) (bool, error) {
	d, err := s.decide(ctx, c, citizenID)
	if err != nil || !d.Allow {
		return false, err
	}
	v, err := s.values(ctx, citizenID)
	if err != nil {
		return false, err
	}
	now := s.cfg.Now().UTC()
	ok, err := c.Rule.Match(v, now)
	if err != nil || !ok {
		return false, nil // a rule that cannot decide does not match
	}
	return s.cfg.Store.Enrol(ctx, Enrolment{Journey: c.ID, CitizenID: citizenID, Status: StatusActive, NextAt: now, Started: now},
		s.citizenEntry(ctx, citizenID, ActionEnrol, c, now, audit.Allowed))
}

// Step runs the due steps of citizens' journeys, up to limit, and returns
// how many it ran.
func (s *Service) Step(ctx context.Context, limit int) (int, error) {
	now := s.cfg.Now().UTC()
	due, err := s.cfg.Store.Due(ctx, now, limit)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range due {
		if err := s.step(ctx, e, now); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// step runs e's current step and the ones after it that need no wait.
func (s *Service) step(ctx context.Context, e Enrolment, now time.Time) error {
	from := e.Step
	c, ok := s.journey(e.Journey)
	var entries []audit.Entry
	if !ok {
		e.Status = StatusDone // retired
		_, err := s.cfg.Store.Update(ctx, e, from)
		return err
	}
	for e.Status == StatusActive && e.Step < len(c.Steps) && !e.NextAt.After(now) {
		st := c.Steps[e.Step]
		switch {
		case st.Stop:
			e.Status = StatusDone
		case st.Wait != 0:
			e.NextAt = now.Add(time.Duration(st.Wait))
			e.Step++
			// Wait: the enrolment is saved with its next time below.
			ok, err := s.cfg.Store.Update(ctx, e, from, entries...)
			if err != nil || !ok {
				return err
			}
			return nil
		case st.Branch != nil:
			to := map[string]string{ResponseYes: st.Branch.Yes, ResponseNo: st.Branch.No, "": st.Branch.None}[e.Response]
			if i := slices.IndexFunc(c.Steps, func(x Step) bool { return x.ID == to }); to != "" && i >= 0 {
				e.Step = i
			} else {
				e.Step++
			}
		case st.Send != nil:
			// Consent at every step: the ledger decides again before the
			// citizen's data are read for the message.
			d, err := s.decide(ctx, c, e.CitizenID)
			if err != nil {
				return err
			}
			if !d.Allow {
				e.Status = StatusDenied
				entries = append(entries, s.citizenEntry(ctx, e.CitizenID, ActionStop, c, now, audit.Denied))
				break
			}
			id, err := s.send(ctx, c, e, st, d, now)
			if err != nil {
				return err
			}
			entries = append(entries, s.citizenEntry(ctx, e.CitizenID, ActionSend, c, now, audit.Allowed))
			if st.Send.Ask {
				e.Asked, e.Response = id, ""
			}
			e.Step++
		}
	}
	if e.Status == StatusActive && e.Step >= len(c.Steps) {
		e.Status = StatusDone
	}
	if e.Status == StatusDone {
		entries = append(entries, s.citizenEntry(ctx, e.CitizenID, ActionStop, c, now, audit.Allowed))
	}
	_, err := s.cfg.Store.Update(ctx, e, from, entries...)
	return err
}

// send renders, seals and posts a step's message to the citizen's inbox,
// with who sent it and why.
func (s *Service) send(ctx context.Context, c *Compiled, e Enrolment, st Step, d consent.Decision, now time.Time) (string, error) {
	v, err := s.values(ctx, e.CitizenID)
	if err != nil {
		return "", err
	}
	lang := s.cfg.Language(ctx, e.CitizenID)
	if lang != "en" {
		lang = "es"
	}
	subject, body, err := c.Messages[st.Send.Message].Render(lang, v)
	if err != nil {
		return "", err
	}
	sealed, err := s.cfg.Seals.Seal(ctx, Message{Agency: c.Agency, Lang: lang, Subject: subject, Body: body})
	if err != nil {
		return "", err
	}
	why := Why{Journey: c.ID, Purpose: c.Purpose, LegalBasis: string(c.PurposeDef.LegalBasis), Rule: c.Segment}
	if c.PurposeDef.LegalBasis == consent.Consent {
		why.ConsentRecord = d.Record.String()
	}
	key := fmt.Sprintf("journey:%s:%s:%d:%s", c.ID, e.CitizenID, e.Started.UnixMicro(), st.ID)
	return key, s.post(ctx, e.CitizenID, Notice{Lang: lang, Subject: subject, Body: sealed.Text, Ask: st.Send.Ask, Ref: key,
		Sender: Sender{Agency: c.Agency, Name: s.cfg.AgencyName(ctx, c.Agency), Code: sealed.Code, Seal: sealed.Seal},
		Why:    why, Dedupe: key}, st.Send.Channels, false, c.Agency, c.PurposeDef, c.Categories)
}

// Withdrawn stops, at once, the citizen's pending steps in journeys of
// controller under purpose (their consent ended).
func (s *Service) Withdrawn(ctx context.Context, citizenID, controller, purpose string) (int, error) {
	es, err := s.cfg.Store.Enrolments(ctx, citizenID)
	if err != nil {
		return 0, err
	}
	n := 0
	now := s.cfg.Now().UTC()
	for _, e := range es {
		c, ok := s.journey(e.Journey)
		if e.Status != StatusActive || !ok || c.Agency != controller || c.Purpose != purpose {
			continue
		}
		from := e.Step
		e.Status = StatusWithdrawn
		ok, err := s.cfg.Store.Update(ctx, e, from, s.citizenEntry(ctx, citizenID, ActionStop, c, now, audit.Denied))
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// Enrolments lists the citizen's ways through journeys.
func (s *Service) Enrolments(ctx context.Context, citizenID string) ([]Enrolment, error) {
	return s.cfg.Store.Enrolments(ctx, citizenID)
}

// Respond records the citizen's answer (yes or no) to a message that
// asked, named by its Ref; ErrNotFound when no journey of theirs waits
// for it.
func (s *Service) Respond(ctx context.Context, citizenID, ref, response string) error {
	if response != ResponseYes && response != ResponseNo {
		return fmt.Errorf("%w: the answer is yes or no", ErrInvalid)
	}
	es, err := s.cfg.Store.Enrolments(ctx, citizenID)
	if err != nil {
		return err
	}
	for _, e := range es {
		if e.Asked != ref || e.Status != StatusActive {
			continue
		}
		c, ok := s.journey(e.Journey)
		if !ok {
			break
		}
		e.Response = response
		now := s.cfg.Now().UTC()
		if e.NextAt.After(now) {
			e.NextAt = now // the answer ends the wait before the branch
		}
		_, err := s.cfg.Store.Update(ctx, e, e.Step, s.citizenEntry(ctx, citizenID, ActionRespond, c, now, audit.Allowed))
		return err
	}
	return fmt.Errorf("%w: no journey waits for an answer to that message", ErrNotFound)
}

// Suppressed is the smallest count a dry run shows; fewer is shown as
// suppressed, so that a count cannot single a citizen out.
const Suppressed = 10

// Count is a dry run's count; nil when suppressed (fewer than Suppressed).
type Count = *int

func count(n int) Count {
	if n < Suppressed {
		return nil
	}
	return &n
}

// Reach is what a dry run found: how many citizens the journey's purpose
// may use the data of, how many of them meet the segment, how many it
// would reach (after the cap), and how many are at each step now.
type Reach struct {
	Considered int
	Allowed    Count
	Matched    Count
	Reached    Count
	Steps      []StepCount
}

// StepCount is how many citizens are at a step of the journey now.
type StepCount struct {
	Step  string
	Count Count
}

// DryRun counts, without reaching anyone, whom an agency's journey would
// reach now: counts only, those under Suppressed suppressed; the dry run
// is audited as a whole.
func (s *Service) DryRun(ctx context.Context, agency, id string) (Reach, error) {
	c, err := s.Get(agency, id)
	if err != nil {
		return Reach{}, err
	}
	now := s.cfg.Now().UTC()
	var r Reach
	allowed, matched := 0, 0
	for citizenID, err := range s.cfg.Citizens(ctx) {
		if err != nil {
			return Reach{}, err
		}
		r.Considered++
		d, err := s.cfg.Ledger.DecideUnaudited(ctx, consent.Query{Subject: citizenID, Controller: c.Agency, Purpose: c.Purpose, Categories: c.Categories})
		if err != nil {
			return Reach{}, err
		}
		if !d.Allow {
			continue
		}
		allowed++
		v, err := s.values(ctx, citizenID)
		if err != nil {
			return Reach{}, err
		}
		if ok, _ := c.Rule.Match(v, now); ok {
			matched++
		}
	}
	reached := matched
	if c.Cap > 0 && reached > c.Cap {
		reached = c.Cap
	}
	r.Allowed, r.Matched, r.Reached = count(allowed), count(matched), count(reached)
	at, err := s.cfg.Store.StepCounts(ctx, c.ID)
	if err != nil {
		return Reach{}, err
	}
	for i, st := range c.Steps {
		r.Steps = append(r.Steps, StepCount{Step: st.ID, Count: count(at[i])})
	}
	e := s.agencyEntry(ctx, agency, ActionDryRun, c, now)
	_, err = s.cfg.Audit.Append(ctx, e)
	return r, err
}

// RunSchedule runs a scheduled journey now over every citizen: the ledger
// decides for each (audited), the segment and the score read the data of
// those allowed, and the best-scored up to the cap enter it. It returns
// how many entered.
func (s *Service) RunSchedule(ctx context.Context, id string) (int, error) {
	c, ok := s.journey(id)
	if !ok || c.Trigger.Schedule == "" {
		return 0, fmt.Errorf("%w: no scheduled journey %q", ErrNotFound, id)
	}
	type scored struct {
		id    string
		score float64
	}
	var picked []scored
	n := 0
	now := s.cfg.Now().UTC()
	for citizenID, err := range s.cfg.Citizens(ctx) {
		if err != nil {
			return n, err
		}
		if c.Score == nil {
			ok, err := s.consider(ctx, c, citizenID)
			if err != nil {
				return n, err
			}
			if ok {
				n++
			}
			continue
		}
		d, err := s.decide(ctx, c, citizenID)
		if err != nil {
			return n, err
		}
		if !d.Allow {
			continue
		}
		v, err := s.values(ctx, citizenID)
		if err != nil {
			return n, err
		}
		if ok, _ := c.Rule.Match(v, now); !ok {
			continue
		}
		// The score only orders this run; it is never stored.
		sc, err := c.Score.Value(v, now)
		if err != nil {
			continue
		}
		picked = append(picked, scored{citizenID, sc})
	}
	slices.SortStableFunc(picked, func(a, b scored) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return 0
	})
	if c.Cap > 0 && len(picked) > c.Cap {
		picked = picked[:c.Cap]
	}
	for _, p := range picked {
		ok, err := s.cfg.Store.Enrol(ctx, Enrolment{Journey: c.ID, CitizenID: p.id, Status: StatusActive, NextAt: now, Started: now},
			s.citizenEntry(ctx, p.id, ActionEnrol, c, now, audit.Allowed))
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// RunLease is how long a replica's scheduled run is its own: a run not
// finished by then (the replica died) is taken again by the next replica
// to look. Running a journey twice is harmless — a citizen enters it once
// — so a run slower than the lease only costs work.
const RunLease = 30 * time.Minute

// RunScheduled runs the scheduled journeys due on t's day that no other
// replica has taken (or that one left unfinished past RunLease), and
// returns how many it ran. It runs them all, whatever fails.
func (s *Service) RunScheduled(ctx context.Context, t time.Time) (int, error) {
	day := t.UTC().Format(time.DateOnly)
	n := 0
	var errs []error
	for _, id := range s.Scheduled(t) {
		now := s.cfg.Now().UTC()
		ok, err := s.cfg.Store.TakeRun(ctx, id, day, now, now.Add(-RunLease))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !ok {
			continue
		}
		if _, err := s.RunSchedule(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("journey %s: %w", id, err))
			continue
		}
		if err := s.cfg.Store.FinishRun(ctx, id, day, s.cfg.Now().UTC()); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// Scheduled lists the journeys due to run at t on their schedule (daily,
// weekly on Mondays, monthly on the 1st).
func (s *Service) Scheduled(t time.Time) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	for id, c := range s.compiled {
		switch c.Trigger.Schedule {
		case ScheduleDaily:
		case ScheduleWeekly:
			if t.Weekday() != time.Monday {
				continue
			}
		case ScheduleMonthly:
			if t.Day() != 1 {
				continue
			}
		default:
			continue
		}
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}
