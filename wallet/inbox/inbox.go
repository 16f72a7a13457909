// Package inbox is the citizen's inbox: the messages the wallet and, later,
// journeys and alerts send a citizen (a credential received, suspended,
// revoked or about to expire; a consent awaiting renewal), each stored
// sealed under the citizen's data key, read and acknowledged through the
// mobile API, and delivered as they are posted to every stream the
// citizen's apps hold open on any replica.
//
// Messages are numbered in the order they commit (Store.Add), so that one
// number says where a stream stands: a stream resumed after the last
// number it saw misses nothing and repeats nothing (the Server-Sent
// Events Last-Event-ID). Each replica's Hub follows that order in the
// database — a change feed — and hands each new message to the streams of
// its citizen that the replica holds.
package inbox

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Kind is what a message is about.
type Kind string

// Kinds of message. The wallet's own say what happened to a credential;
// the consent ledger's that a consent needs the citizen again.
const (
	CredentialReceived  Kind = "credential_received"
	CredentialSuspended Kind = "credential_suspended"
	CredentialRevoked   Kind = "credential_revoked"
	CredentialValid     Kind = "credential_reinstated"
	CredentialExpiring  Kind = "credential_expiring"
	ConsentRenewal      Kind = "consent_renewal"
	// JourneyMessage is an agency's message from a citizen journey:
	// sealed, with who sent it and why.
	JourneyMessage Kind = "journey_message"
)

// Note is what a sender posts: the texts in every language the service
// speaks (es and en), and what the message is about.
type Note struct {
	Kind  Kind              `json:"kind"`
	Title map[string]string `json:"title"`
	Body  map[string]string `json:"body,omitempty"`
	// CredentialID names the wallet credential the message is about.
	CredentialID string `json:"credential_id,omitempty"`
	// Purpose names the consent's purpose the message is about.
	Purpose string `json:"purpose,omitempty"`
	// Sender is who sent an agency's message, with its verification code
	// and seal; Why says why the citizen got it; Ask offers them to
	// answer yes or no.
	Sender *Sender `json:"sender,omitempty"`
	Why    *Why    `json:"why,omitempty"`
	Ask    bool    `json:"ask,omitempty"`
	// Ref names what sent it (a journey's step), which the citizen's
	// answer names back.
	Ref string `json:"ref,omitempty"`
	// Dedupe, when set, makes the note one of a kind for the citizen: a
	// second note with the same Dedupe is not posted (a status change
	// seen by two replicas, a sweep run twice). It is stored hashed.
	Dedupe string `json:"-"`
}

// Sender is an agency's message's sender.
type Sender struct {
	Agency string `json:"agency"`
	Name   string `json:"name"`
	Code   string `json:"code"`
	Seal   string `json:"seal"`
}

// Why says why a citizen got a message: the journey or alert, the purpose,
// the legal basis or consent record, the rule that matched.
type Why struct {
	Journey       string `json:"journey,omitempty"`
	Alert         string `json:"alert,omitempty"`
	Purpose       string `json:"purpose"`
	LegalBasis    string `json:"legal_basis"`
	ConsentRecord string `json:"consent_record,omitempty"`
	Rule          string `json:"rule,omitempty"`
}

// Message is a note as the citizen's inbox holds it.
type Message struct {
	Note
	ID        string
	Seq       int64 // the commit order, the stream's event ID
	CitizenID string
	At        time.Time
	ReadAt    time.Time // zero while unread
	AckedAt   time.Time // zero until acknowledged
}

// Row is a message as stored: its note sealed under the citizen's data
// key.
type Row struct {
	ID        string
	Seq       int64
	CitizenID string
	At        time.Time
	ReadAt    time.Time
	AckedAt   time.Time
	Dedupe    string // hex SHA-256 of Note.Dedupe; empty for none
	Sealed    []byte
}

// Store keeps the inboxes. Methods are safe for concurrent use, also from
// several replicas on one database.
type Store interface {
	// Add stores r under the next number, which it returns, unless the
	// citizen has a row of r's Dedupe already: (0, false, nil). Numbers
	// are given in commit order: once n is visible, so is every lower
	// number.
	Add(ctx context.Context, r Row) (seq int64, added bool, err error)
	// Messages returns up to limit of the citizen's rows numbered below
	// before (0: from the newest), newest first; unread keeps the unread
	// ones only.
	Messages(ctx context.Context, citizenID string, before int64, limit int, unread bool) ([]Row, error)
	// Message returns one of the citizen's rows; ErrNotFound for an ID of
	// none of theirs.
	Message(ctx context.Context, citizenID, id string) (Row, error)
	// After returns up to limit of the citizen's rows numbered above
	// after, oldest first.
	After(ctx context.Context, citizenID string, after int64, limit int) ([]Row, error)
	// Feed returns up to limit rows of every citizen numbered above
	// after, oldest first.
	Feed(ctx context.Context, after int64, limit int) ([]Row, error)
	// Head is the highest number given.
	Head(ctx context.Context) (int64, error)
	// Mark sets the row's ReadAt (and AckedAt, when ack) to at unless set
	// already, and returns the row; ErrNotFound as Message.
	Mark(ctx context.Context, citizenID, id string, at time.Time, ack bool) (Row, error)
}

// ErrNotFound: the citizen has no message of that ID.
var ErrNotFound = errors.New("inbox: not found")

// Sealer encrypts data under a citizen's data key, bound to label
// (audit.Shredder is one, through the citizen's pseudonym).
type Sealer interface {
	SealData(ctx context.Context, subject, label string, data []byte) ([]byte, error)
	OpenData(ctx context.Context, subject, label string, sealed []byte) ([]byte, error)
}

// Config is what a Service is built from; Now may be nil.
type Config struct {
	Store  Store
	Sealer Sealer
	// Subject gives a citizen's audit pseudonym, whose data key seals
	// their messages.
	Subject func(citizenID string) string
	// Poll is how often the Hub reads the feed for messages posted on
	// other replicas; 0 means 250 ms. Posts on this replica wake it at
	// once.
	Poll time.Duration
	Now  func() time.Time
}

// Service is the inbox.
type Service struct {
	cfg Config
	hub *Hub
}

// New checks cfg and returns a Service; Run delivers to its streams.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Sealer == nil || cfg.Subject == nil {
		return nil, errors.New("inbox: Store, Sealer and Subject are required")
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 250 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Service{cfg: cfg}
	s.hub = newHub(s)
	return s, nil
}

func label(id string) string { return "inbox/message/" + id }

// sealed is what a row seals: the note and the message's ID, so that a
// sealed note moved to another row is refused.
type sealed struct {
	ID   string `json:"id"`
	Note Note   `json:"note"`
}

// Post adds n to the citizen's inbox and wakes this replica's streams;
// posted is false when a note of the same Dedupe was posted before.
func (s *Service) Post(ctx context.Context, citizenID string, n Note) (m Message, posted bool, err error) {
	if n.Kind == "" || len(n.Title) == 0 {
		return Message{}, false, errors.New("inbox: a note needs a kind and a title")
	}
	id := make([]byte, 16)
	rand.Read(id)
	r := Row{ID: "msg_" + base64.RawURLEncoding.EncodeToString(id), CitizenID: citizenID, At: s.cfg.Now().UTC().Truncate(time.Microsecond)}
	if n.Dedupe != "" {
		h := sha256.Sum256([]byte(n.Dedupe))
		r.Dedupe = hex.EncodeToString(h[:])
	}
	b, err := json.Marshal(sealed{ID: r.ID, Note: n})
	if err != nil {
		return Message{}, false, err
	}
	if r.Sealed, err = s.cfg.Sealer.SealData(ctx, s.cfg.Subject(citizenID), label(r.ID), b); err != nil {
		return Message{}, false, fmt.Errorf("inbox: post: %w", err)
	}
	seq, added, err := s.cfg.Store.Add(ctx, r)
	if err != nil || !added {
		return Message{}, false, err
	}
	r.Seq = seq
	s.hub.wakeUp()
	n.Dedupe = ""
	return Message{Note: n, ID: r.ID, Seq: seq, CitizenID: citizenID, At: r.At}, true, nil
}

// open opens a row.
func (s *Service) open(ctx context.Context, r Row) (Message, error) {
	b, err := s.cfg.Sealer.OpenData(ctx, s.cfg.Subject(r.CitizenID), label(r.ID), r.Sealed)
	if err != nil {
		return Message{}, fmt.Errorf("inbox: open %s: %w", r.ID, err)
	}
	var sd sealed
	if err := json.Unmarshal(b, &sd); err != nil || sd.ID != r.ID {
		return Message{}, fmt.Errorf("inbox: open %s: not the row's note", r.ID)
	}
	return Message{Note: sd.Note, ID: r.ID, Seq: r.Seq, CitizenID: r.CitizenID, At: r.At, ReadAt: r.ReadAt, AckedAt: r.AckedAt}, nil
}

func (s *Service) openAll(ctx context.Context, rs []Row) ([]Message, error) {
	out := make([]Message, 0, len(rs))
	for _, r := range rs {
		m, err := s.open(ctx, r)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// Messages returns up to limit of the citizen's messages numbered below
// before (0: from the newest), newest first; unread keeps the unread.
func (s *Service) Messages(ctx context.Context, citizenID string, before int64, limit int, unread bool) ([]Message, error) {
	rs, err := s.cfg.Store.Messages(ctx, citizenID, before, limit, unread)
	if err != nil {
		return nil, err
	}
	return s.openAll(ctx, rs)
}

// Message returns one of the citizen's messages.
func (s *Service) Message(ctx context.Context, citizenID, id string) (Message, error) {
	r, err := s.cfg.Store.Message(ctx, citizenID, id)
	if err != nil {
		return Message{}, err
	}
	return s.open(ctx, r)
}

// MarkRead marks one of the citizen's messages read (once: a second call
// keeps the first time); Acknowledge marks it read and acknowledged — the
// citizen has dealt with it.
func (s *Service) MarkRead(ctx context.Context, citizenID, id string) (Message, error) {
	return s.mark(ctx, citizenID, id, false)
}

// Acknowledge: see MarkRead.
func (s *Service) Acknowledge(ctx context.Context, citizenID, id string) (Message, error) {
	return s.mark(ctx, citizenID, id, true)
}

func (s *Service) mark(ctx context.Context, citizenID, id string, ack bool) (Message, error) {
	r, err := s.cfg.Store.Mark(ctx, citizenID, id, s.cfg.Now().UTC().Truncate(time.Microsecond), ack)
	if err != nil {
		return Message{}, err
	}
	return s.open(ctx, r)
}

// After returns up to limit of the citizen's messages numbered above
// after, oldest first: what a stream resumed at after missed.
func (s *Service) After(ctx context.Context, citizenID string, after int64, limit int) ([]Message, error) {
	rs, err := s.cfg.Store.After(ctx, citizenID, after, limit)
	if err != nil {
		return nil, err
	}
	return s.openAll(ctx, rs)
}

// Run delivers new messages to this replica's streams until ctx ends.
func (s *Service) Run(ctx context.Context) error { return s.hub.run(ctx) }

// Subscribe opens a stream of the citizen's messages posted from now on
// (on any replica); Cancel it when done.
func (s *Service) Subscribe(citizenID string) *Subscription { return s.hub.subscribe(citizenID) }

// Streams is how many streams this replica holds.
func (s *Service) Streams() int { return s.hub.count() }
