package audit

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/tlog"
)

// Hash is a SHA-256 Merkle tree hash: a leaf hash, an interior node or a
// root (RFC 6962 §2.1).
type Hash = tlog.Hash

// ActorKind says who acted.
type ActorKind string

const (
	ActorCitizen ActorKind = "citizen" // a citizen, by pseudonym
	ActorClient  ActorKind = "client"  // an agency, by OIDC client ID
	ActorDPO     ActorKind = "dpo"     // a data protection officer, by staff pseudonym
	ActorSystem  ActorKind = "system"  // Cedula itself, by component name
)

// Valid reports whether k is one of the actor kinds.
func (k ActorKind) Valid() bool {
	return k == ActorCitizen || k == ActorClient || k == ActorDPO || k == ActorSystem
}

// Actor is who performed the action.
type Actor struct {
	Kind ActorKind
	// ID identifies the actor pseudonymously: a citizen's pseudonym (never
	// a national ID number or a name), an agency's client ID, a DPO's staff
	// pseudonym, or a component name such as "oidc-provider".
	ID string
}

// Outcome is what became of the action.
type Outcome string

const (
	Allowed Outcome = "allowed" // done, or permitted
	Denied  Outcome = "denied"  // refused by consent, policy or authorisation
	Failed  Outcome = "failed"  // attempted and failed
)

// Valid reports whether o is one of the outcomes.
func (o Outcome) Valid() bool { return o == Allowed || o == Denied || o == Failed }

// Limits on an entry, so that one entry cannot make the log expensive to
// store, serve or verify.
const (
	MaxFieldLen   = 1024     // bytes in any one string field or category
	MaxCategories = 64       // data categories per entry
	MaxDetails    = 32 << 10 // bytes of encrypted details
	// MaxEntrySize bounds a canonical encoding: C2SP tlog-tiles entry
	// bundles prefix each entry with a 16-bit length, so no entry of the
	// log may be longer than 65535 bytes.
	MaxEntrySize = 1<<16 - 1
)

// Entry is one audit record. Its leaf in the Merkle tree is its canonical
// encoding (see the package documentation). Entries hold pseudonyms, codes
// and references, never personal data in clear.
type Entry struct {
	// Time is when the action happened. A store stamps a zero Time with its
	// clock; times are kept in UTC to the microsecond.
	Time  time.Time
	Actor Actor
	// Action names what was done, as room.verb: "consent.decide",
	// "oidc.token", "credential.present", "audit.search".
	Action string
	// Subject is the pseudonym of the citizen whose data was touched; ""
	// when none was.
	Subject string
	// Purpose is the purpose of processing, a W3C DPV purpose code.
	Purpose string
	// LegalBasis is the GDPR Art. 6 basis the processing rests on, e.g.
	// "consent", "legal-obligation", "public-task".
	LegalBasis string
	// ConsentRecord references the consent record (ISO/IEC TS 27560) the
	// decision rests on, when the basis is consent.
	ConsentRecord string
	// Categories are the personal data categories touched, e.g.
	// "identity", "address". Order does not matter: the encoding sorts them.
	Categories []string
	Outcome    Outcome
	// RequestID ties the entry to the request that caused it.
	RequestID string
	// Details holds personal details of the event encrypted under the
	// subject's own data key (Shredder.Seal), which internal/keys wraps.
	// The log commits to this ciphertext only: erasing a citizen destroys
	// their key (Shredder.Erase), after which Details can no longer be read
	// while every proof still verifies (crypto-shredding). Never put
	// plaintext here.
	Details []byte
}

// LogValue implements slog.LogValuer: logs name the action and outcome but
// not the pseudonyms, and never the details.
func (e Entry) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("action", e.Action),
		slog.String("actor_kind", string(e.Actor.Kind)),
		slog.String("outcome", string(e.Outcome)),
		slog.String("request_id", e.RequestID),
	)
}

// normalize gives e the form that is encoded: UTC time to the microsecond,
// sorted categories (in a copy).
func (e Entry) normalize() Entry {
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	if len(e.Categories) > 0 {
		e.Categories = slices.Clone(e.Categories)
		slices.Sort(e.Categories)
	}
	return e
}

// Validate reports every rule e breaks, wrapped in ErrInvalidEntry: a time
// (non-zero, years 1–9999), an actor of a known kind with an ID, an action
// and a known outcome are required; strings must be valid UTF-8 of at most
// MaxFieldLen bytes; categories non-empty and distinct, at most
// MaxCategories; details at most MaxDetails bytes.
func (e Entry) Validate() error {
	return e.normalize().validate()
}

func (e Entry) validate() error {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if e.Time.IsZero() {
		bad("time is zero")
	} else if y := e.Time.Year(); y < 1 || y > 9999 {
		bad("time %s is outside years 1–9999", e.Time)
	}
	if !e.Actor.Kind.Valid() {
		bad("actor kind %q is not citizen, client, dpo or system", e.Actor.Kind)
	}
	if e.Actor.ID == "" {
		bad("actor id is empty")
	}
	if e.Action == "" {
		bad("action is empty")
	}
	if !e.Outcome.Valid() {
		bad("outcome %q is not allowed, denied or failed", e.Outcome)
	}
	for _, f := range []struct{ name, v string }{
		{"actor kind", string(e.Actor.Kind)}, {"actor id", e.Actor.ID}, {"action", e.Action},
		{"subject", e.Subject}, {"purpose", e.Purpose}, {"legal basis", e.LegalBasis},
		{"consent record", e.ConsentRecord}, {"outcome", string(e.Outcome)}, {"request id", e.RequestID},
	} {
		checkString(bad, f.name, f.v)
	}
	if len(e.Categories) > MaxCategories {
		bad("%d categories, at most %d allowed", len(e.Categories), MaxCategories)
	}
	for i, c := range e.Categories {
		if c == "" {
			bad("a category is empty")
		}
		checkString(bad, "category", c)
		if i > 0 && c == e.Categories[i-1] && c != "" {
			bad("category %q is repeated", c)
		}
	}
	if len(e.Details) > MaxDetails {
		bad("details are %d bytes, at most %d allowed", len(e.Details), MaxDetails)
	}
	if len(problems) == 0 {
		if n := len(e.appendCanonical(nil)); n > MaxEntrySize {
			bad("the entry encodes to %d bytes, at most %d allowed (one entry of a tile bundle)", n, MaxEntrySize)
		}
	}
	if len(problems) > 0 {
		return &InputError{Kind: ErrInvalidEntry, Text: strings.Join(problems, "; ")}
	}
	return nil
}

func checkString(bad func(string, ...any), name, v string) {
	if !utf8.ValidString(v) {
		bad("%s is not valid UTF-8", name)
	}
	if len(v) > MaxFieldLen {
		bad("%s is %d bytes, at most %d allowed", name, len(v), MaxFieldLen)
	}
}

// timeLayout is RFC 3339 in UTC with exactly six fractional digits.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// encodingVersion is the value of the "v" member.
const encodingVersion = 1

// Canonical returns e's canonical encoding, the bytes of its Merkle leaf
// (see the package documentation), or ErrInvalidEntry.
func (e Entry) Canonical() ([]byte, error) {
	e = e.normalize()
	if err := e.validate(); err != nil {
		return nil, err
	}
	return e.appendCanonical(make([]byte, 0, 256+len(e.Details)*4/3)), nil
}

// appendCanonical appends the encoding of the normalized, valid e to b.
func (e Entry) appendCanonical(b []byte) []byte {
	b = append(b, `{"action":`...)
	b = appendString(b, e.Action)
	b = append(b, `,"actor":{"id":`...)
	b = appendString(b, e.Actor.ID)
	b = append(b, `,"kind":`...)
	b = appendString(b, string(e.Actor.Kind))
	b = append(b, `},"categories":[`...)
	for i, c := range e.Categories {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, c)
	}
	b = append(b, `],"consent_record":`...)
	b = appendString(b, e.ConsentRecord)
	b = append(b, `,"details":"`...)
	b = base64.StdEncoding.AppendEncode(b, e.Details)
	b = append(b, `","legal_basis":`...)
	b = appendString(b, e.LegalBasis)
	b = append(b, `,"outcome":`...)
	b = appendString(b, string(e.Outcome))
	b = append(b, `,"purpose":`...)
	b = appendString(b, e.Purpose)
	b = append(b, `,"request_id":`...)
	b = appendString(b, e.RequestID)
	b = append(b, `,"subject":`...)
	b = appendString(b, e.Subject)
	b = append(b, `,"time":"`...)
	b = e.Time.AppendFormat(b, timeLayout)
	b = append(b, `","v":`...)
	b = append(b, '0'+encodingVersion)
	return append(b, '}')
}

// appendString appends s as a JSON string escaped per RFC 8785 §3.2.2.2.
// s is valid UTF-8 (validate checked).
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\t':
			b = append(b, '\\', 't')
		case '\n':
			b = append(b, '\\', 'n')
		case '\f':
			b = append(b, '\\', 'f')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// wireEntry is the JSON shape of the canonical encoding, for decoding.
type wireEntry struct {
	Action string `json:"action"`
	Actor  struct {
		ID   string `json:"id"`
		Kind string `json:"kind"`
	} `json:"actor"`
	Categories    []string `json:"categories"`
	ConsentRecord string   `json:"consent_record"`
	Details       string   `json:"details"`
	LegalBasis    string   `json:"legal_basis"`
	Outcome       string   `json:"outcome"`
	Purpose       string   `json:"purpose"`
	RequestID     string   `json:"request_id"`
	Subject       string   `json:"subject"`
	Time          string   `json:"time"`
	V             int      `json:"v"`
}

// ParseEntry decodes a canonical encoding. It returns ErrMalformed unless
// data is exactly the canonical encoding of a valid entry: any other
// spelling of the same entry (whitespace, member order, escapes, time
// precision, unsorted categories) is refused, so a leaf has one meaning and
// one hash.
func ParseEntry(data []byte) (Entry, error) {
	if len(data) > MaxEntrySize {
		return Entry{}, fmt.Errorf("%w: entry of %d bytes, at most %d", ErrMalformed, len(data), MaxEntrySize)
	}
	var w wireEntry
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return Entry{}, fmt.Errorf("%w: entry: %v", ErrMalformed, err)
	}
	if w.V != encodingVersion {
		return Entry{}, fmt.Errorf("%w: entry encoding version %d, want %d", ErrMalformed, w.V, encodingVersion)
	}
	t, err := time.Parse(time.RFC3339Nano, w.Time)
	if err != nil {
		return Entry{}, fmt.Errorf("%w: entry time: %v", ErrMalformed, err)
	}
	details, err := decodeBase64(w.Details)
	if err != nil {
		return Entry{}, fmt.Errorf("%w: entry details: %v", ErrMalformed, err)
	}
	e := Entry{
		Time:          t.UTC(),
		Actor:         Actor{Kind: ActorKind(w.Actor.Kind), ID: w.Actor.ID},
		Action:        w.Action,
		Subject:       w.Subject,
		Purpose:       w.Purpose,
		LegalBasis:    w.LegalBasis,
		ConsentRecord: w.ConsentRecord,
		Categories:    w.Categories,
		Outcome:       Outcome(w.Outcome),
		RequestID:     w.RequestID,
		Details:       details,
	}
	if len(e.Details) == 0 {
		e.Details = nil
	}
	if len(e.Categories) == 0 {
		e.Categories = nil
	}
	again, err := e.Canonical()
	if err != nil {
		return Entry{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if !bytes.Equal(again, data) {
		return Entry{}, fmt.Errorf("%w: entry is not in canonical form", ErrMalformed)
	}
	return e, nil
}

// LeafHash returns the Merkle leaf hash of a canonical encoding:
// SHA-256(0x00 || data) (RFC 6962 §2.1).
func LeafHash(data []byte) Hash { return tlog.RecordHash(data) }
