package consent

import (
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cedula/cedula/audit"
)

// Key names a consent record: one citizen, one controller, one purpose.
type Key struct {
	// Subject is the citizen's internal opaque ID. It never leaves Cedula:
	// audit entries carry a pseudonym of it, logs nothing.
	Subject    string
	Controller string
	Purpose    string
}

// LogValue implements slog.LogValuer: the controller and purpose, never the
// subject.
func (k Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("controller", k.Controller), slog.String("purpose", k.Purpose))
}

// EventType is what happened to a record. Events are only ever appended.
type EventType string

const (
	Given           EventType = "given"            // the citizen consented (GDPR Art. 7)
	Refused         EventType = "refused"          // the citizen declined when asked
	Withdrawn       EventType = "withdrawn"        // the citizen withdrew a consent (Art. 7(3))
	Expired         EventType = "expired"          // the consent outlived the purpose's retention
	Renewed         EventType = "renewed"          // the citizen confirmed a consent again
	Objected        EventType = "objected"         // the citizen objected to profiling (Art. 21(1))
	RenewalRequired EventType = "renewal_required" // the notice changed; the consent needs renewing
)

// Valid reports whether t is one of the event types.
func (t EventType) Valid() bool {
	switch t {
	case Given, Refused, Withdrawn, Expired, Renewed, Objected, RenewalRequired:
		return true
	}
	return false
}

// State is the state of a record: the type of its latest event, or
// StateNone for a record without events.
type State string

const (
	StateNone            State = ""
	StateGiven           State = State(Given)
	StateRefused         State = State(Refused)
	StateWithdrawn       State = State(Withdrawn)
	StateExpired         State = State(Expired)
	StateRenewed         State = State(Renewed)
	StateObjected        State = State(Objected)
	StateRenewalRequired State = State(RenewalRequired)
)

// InForce reports whether s is a consent in force: given or renewed (its
// expiry and notice version still to be checked).
func (s State) InForce() bool { return s == StateGiven || s == StateRenewed }

// Method is the channel through which an event was collected (ISO/IEC TS
// 27560 "collection method"): "web", "mobile", "api", or MethodSystem for
// what Cedula did by itself.
type Method string

const (
	MethodWeb    Method = "web"
	MethodMobile Method = "mobile"
	MethodAPI    Method = "api"
	MethodSystem Method = "system"
)

// Valid reports whether m is a channel name: 1 to 32 bytes of lowercase
// ASCII letters, digits, '_' and '-'.
func (m Method) Valid() bool {
	if m == "" || len(m) > 32 {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Event is one entry of a record's history, shaped after an ISO/IEC TS
// 27560 consent record: it carries every field of the record as of the
// event, so that the history reads without the registry.
type Event struct {
	// Pos is the event's position in the ledger (every record's events
	// and every purpose version share one sequence: 1, 2, 3, …). The store
	// sets it.
	Pos int64
	// RecordID is the record's opaque ID; Seq numbers the record's events
	// 1, 2, 3, ….
	RecordID string
	Seq      int64
	Type     EventType
	Key      Key
	// PurposeVersion and NoticeVersion are those the event was made under.
	PurposeVersion int
	NoticeVersion  string
	LegalBasis     LegalBasis
	Categories     []string
	Method         Method
	// Actor is who made the change: the citizen (by audit pseudonym), an
	// agency or DPO acting for them, or Cedula's scheduler.
	Actor audit.Actor
	Time  time.Time
	// Expires is when a given or renewed consent lapses; zero for no expiry
	// and for every other type.
	Expires time.Time
}

// Ref returns the reference of the record as of this event.
func (e Event) Ref() Ref { return Ref{RecordID: e.RecordID, Seq: e.Seq} }

// LogValue implements slog.LogValuer without the subject and actor.
func (e Event) LogValue() slog.Value {
	return slog.GroupValue(slog.String("record", e.Ref().String()), slog.String("type", string(e.Type)),
		slog.String("controller", e.Key.Controller), slog.String("purpose", e.Key.Purpose))
}

// Record is the current state of a consent record, the projection of its
// events (Apply, Project). Stores keep it beside the events, written in the
// same transaction, for the lookups; the events remain the truth.
type Record struct {
	ID  string
	Key Key
	// Seq is the number of the latest event: the record's version for
	// optimistic concurrency. 0 for a record without events.
	Seq            int64
	State          State
	PurposeVersion int
	NoticeVersion  string
	LegalBasis     LegalBasis
	Categories     []string
	Method         Method
	// Created is the time of the first event, Updated of the latest.
	Created, Updated time.Time
	// Given is the time of the latest given or renewed event; zero when
	// there was none.
	Given time.Time
	// Expires is the latest event's Expires.
	Expires time.Time
}

// Ref returns the reference to the record's latest event.
func (r Record) Ref() Ref { return Ref{RecordID: r.ID, Seq: r.Seq} }

// InForce reports whether the record is a consent in force at t: given or
// renewed, not expired, under notice version notice.
func (r Record) InForce(t time.Time, notice string) bool {
	return r.State.InForce() && (r.Expires.IsZero() || t.Before(r.Expires)) && r.NoticeVersion == notice
}

// LogValue implements slog.LogValuer without the subject.
func (r Record) LogValue() slog.Value {
	return slog.GroupValue(slog.String("record", r.Ref().String()), slog.String("state", string(r.State)),
		slog.String("controller", r.Key.Controller), slog.String("purpose", r.Key.Purpose))
}

// Ref points at one event of one record: "<record-id>#<seq>".
type Ref struct {
	RecordID string
	Seq      int64
}

// IsZero reports whether r points nowhere.
func (r Ref) IsZero() bool { return r.RecordID == "" }

// String returns "<record-id>#<seq>", or "" for the zero Ref.
func (r Ref) String() string {
	if r.IsZero() {
		return ""
	}
	return r.RecordID + "#" + strconv.FormatInt(r.Seq, 10)
}

// ParseRef parses the form String returns.
func ParseRef(s string) (Ref, error) {
	id, seq, ok := strings.Cut(s, "#")
	n, err := strconv.ParseInt(seq, 10, 64)
	if !ok || id == "" || err != nil || n < 1 {
		return Ref{}, invalid("", fmt.Sprintf("record reference %.80q is not <record>#<sequence>", s))
	}
	return Ref{RecordID: id, Seq: n}, nil
}

// AuditRecord is the audit entry's ConsentRecord for a record of a
// purpose version: "<purpose-id>@<version>/<record-id>#<seq>", or
// "<purpose-id>@<version>" without a record ("<purpose-id>" for a purpose
// not in the registry).
func AuditRecord(purpose string, version int, ref Ref) string {
	s := purpose
	if version > 0 {
		s += "@" + strconv.Itoa(version)
	}
	if !ref.IsZero() {
		s += "/" + ref.String()
	}
	return s
}

// Apply returns the record after e, given the record before it (the zero
// Record for e.Seq 1). It assumes t := Transition{prev, e} is valid.
func Apply(prev Record, e Event) Record {
	r := prev
	if e.Seq == 1 {
		r = Record{ID: e.RecordID, Key: e.Key, Created: e.Time}
	}
	r.Seq = e.Seq
	r.State = State(e.Type)
	r.PurposeVersion = e.PurposeVersion
	r.NoticeVersion = e.NoticeVersion
	r.LegalBasis = e.LegalBasis
	r.Categories = slices.Clone(e.Categories)
	r.Method = e.Method
	r.Updated = e.Time
	r.Expires = e.Expires
	if e.Type == Given || e.Type == Renewed {
		r.Given = e.Time
	}
	return r
}

// Project folds a record's events, in order, into its current state. It
// returns ErrInvalid when they are not events 1, 2, … of one record.
func Project(events []Event) (Record, error) {
	var r Record
	for _, e := range events {
		if err := (Transition{Prev: r, Event: e}).Validate(); err != nil {
			return Record{}, err
		}
		r = Apply(r, e)
	}
	return r, nil
}

// Transition is one event to append to a record, with the record as the
// writer read it. A store appends it only while the record is still at
// Prev.Seq (optimistic concurrency).
type Transition struct {
	// Prev is the record before the event; for a new record, the zero
	// Record (Seq 0).
	Prev  Record
	Event Event
}

// Next returns the record after the transition.
func (t Transition) Next() Record { return Apply(t.Prev, t.Event) }

// Validate reports, wrapped in ErrInvalid, an event that cannot follow
// Prev: a sequence other than Prev.Seq+1, another record or key, an unknown
// type or method, a zero time, an invalid legal basis or categories.
func (t Transition) Validate() error {
	e, p := t.Event, t.Prev
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if e.Seq != p.Seq+1 {
		bad("event %d does not follow event %d", e.Seq, p.Seq)
	}
	if e.RecordID == "" || len(e.RecordID) > MaxIDLen {
		bad("record ID is empty or longer than %d bytes", MaxIDLen)
	}
	if p.Seq > 0 && (e.RecordID != p.ID || e.Key != p.Key) {
		bad("event of another record")
	}
	if !validSubject(e.Key.Subject) || !validToken(e.Key.Controller, MaxControllerLen) || !ValidID(e.Key.Purpose) {
		bad("invalid key")
	}
	if !e.Type.Valid() {
		bad("event type %.40q", e.Type)
	}
	if !e.Method.Valid() {
		bad("method %.40q", e.Method)
	}
	if e.PurposeVersion < 1 {
		bad("purpose version %d", e.PurposeVersion)
	}
	if !validToken(e.NoticeVersion, MaxNoticeLen) {
		bad("notice version %.80q", e.NoticeVersion)
	}
	if !e.LegalBasis.Valid() {
		bad("legal basis %.40q", e.LegalBasis)
	}
	if err := checkCategories(e.Categories); err != nil {
		bad("%v", err)
	}
	if !e.Actor.Kind.Valid() || e.Actor.ID == "" {
		bad("actor %q/%q", e.Actor.Kind, e.Actor.ID)
	}
	if e.Time.IsZero() {
		bad("zero time")
	}
	if !e.Expires.IsZero() && e.Type != Given && e.Type != Renewed {
		bad("an expiry on a %s event", e.Type)
	}
	if len(problems) > 0 {
		return invalid("event "+e.Ref().String(), problems...)
	}
	return nil
}

// MaxSubjectLen bounds a citizen ID.
const MaxSubjectLen = 256

// validSubject: a citizen ID is printable, spaceless UTF-8 of at most
// MaxSubjectLen bytes.
func validSubject(s string) bool { return validToken(s, MaxSubjectLen) }
