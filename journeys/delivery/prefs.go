package delivery

import (
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
)

// DefaultZone is the time zone of a citizen who named none.
const DefaultZone = "America/Montevideo"

// Prefs are how a citizen wants to be reached.
type Prefs struct {
	// Channels are the channels the citizen prefers, best first; the
	// inbox, always there, need not be listed.
	Channels []Channel
	Lang     string // es or en
	Quiet    Quiet
	Zone     string // an IANA time zone; "" means DefaultZone
	Contacts Contacts
}

// Contacts are a citizen's addresses, personal data: sealed at rest,
// redacted in logs.
type Contacts struct {
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty"` // E.164: +59899123456
	Push  string `json:"push,omitempty"`  // a device token
}

// LogValue implements slog.LogValuer: which contacts there are, not them.
func (c Contacts) LogValue() slog.Value {
	return slog.GroupValue(slog.Bool("email", c.Email != ""), slog.Bool("phone", c.Phone != ""), slog.Bool("push", c.Push != ""))
}

// To is the citizen's address on ch: "" when they have none (the inbox
// needs none: it is theirs).
func (c Contacts) To(ch Channel) string {
	switch ch {
	case Email:
		return c.Email
	case SMS:
		return c.Phone
	case Push:
		return c.Push
	}
	return ""
}

// has says whether the citizen can be reached on ch.
func (c Contacts) has(ch Channel) bool { return ch == Inbox || c.To(ch) != "" }

// DefaultPrefs are a citizen's who set none: the inbox, in Spanish, quiet
// from 22:00 to 08:00 in Montevideo.
func DefaultPrefs() Prefs {
	return Prefs{Channels: []Channel{Inbox}, Lang: "es", Quiet: Quiet{From: 22 * 60, To: 8 * 60}, Zone: DefaultZone}
}

// phonePattern is E.164.
var phonePattern = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// Validate reports every rule p breaks, wrapped in ErrInvalid. It quotes
// no address.
func (p Prefs) Validate() error {
	var problems []error
	bad := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }
	for i, ch := range p.Channels {
		switch {
		case !ch.Valid():
			bad("channel %.32q is not email, sms, push or inbox", ch)
		case slices.Contains(p.Channels[:i], ch):
			bad("channel %s is listed twice", ch)
		case !p.Contacts.has(ch):
			bad("channel %s is preferred but has no address", ch)
		}
	}
	if p.Lang != "es" && p.Lang != "en" {
		bad("the language is es or en")
	}
	if _, err := time.LoadLocation(p.zone()); err != nil || p.Zone == "Local" {
		bad("the time zone is not an IANA zone")
	}
	if !p.Quiet.From.valid() || !p.Quiet.To.valid() {
		bad("quiet hours are between 00:00 and 23:59")
	}
	if e := p.Contacts.Email; e != "" {
		a, err := mail.ParseAddress(e)
		if err != nil || a.Address != e || a.Name != "" || len(e) > 254 {
			bad("the email is not a plain address")
		}
	}
	if ph := p.Contacts.Phone; ph != "" && !phonePattern.MatchString(ph) {
		bad("the phone is not in E.164 form (+ and up to 15 digits)")
	}
	if t := p.Contacts.Push; t != "" && (len(t) > 4096 || strings.ContainsFunc(t, func(r rune) bool { return r < 0x21 || r > 0x7e })) {
		bad("the push token is not up to 4096 printable ASCII characters")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(problems...))
	}
	return nil
}

func (p Prefs) zone() string {
	if p.Zone == "" {
		return DefaultZone
	}
	return p.Zone
}

// location is the citizen's time zone, DefaultZone when theirs does not
// load.
func (p Prefs) location() *time.Location {
	if loc, err := time.LoadLocation(p.zone()); err == nil {
		return loc
	}
	if loc, err := time.LoadLocation(DefaultZone); err == nil {
		return loc
	}
	return time.UTC
}

// route picks the channels of a request: those asked that the citizen
// has an address for and a sender is there for, or, when none was asked,
// the first such of their preferred ones; the inbox when none is left.
func (p Prefs) route(asked []Channel, usable func(Channel) bool) []Channel {
	ok := func(ch Channel) bool { return p.Contacts.has(ch) && usable(ch) }
	if len(asked) == 0 {
		for _, ch := range p.Channels {
			if ok(ch) {
				return []Channel{ch}
			}
		}
		return []Channel{Inbox}
	}
	var out []Channel
	for _, ch := range asked {
		if ok(ch) && !slices.Contains(out, ch) {
			out = append(out, ch)
		}
	}
	if len(out) == 0 {
		return []Channel{Inbox}
	}
	return out
}

// Clock is a time of day, in minutes after midnight.
type Clock int

// ParseClock reads "HH:MM".
func ParseClock(s string) (Clock, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("%w: %.8q is not HH:MM", ErrInvalid, s)
	}
	return Clock(t.Hour()*60 + t.Minute()), nil
}

func (c Clock) String() string { return fmt.Sprintf("%02d:%02d", c/60, c%60) }

func (c Clock) valid() bool { return c >= 0 && c < 24*60 }

// Quiet are quiet hours, in the citizen's time zone: from From until To,
// across midnight when From is later than To; none when they are equal.
type Quiet struct {
	From, To Clock
}

// Until says whether t falls in the quiet hours in loc and, if so, when
// they end.
func (q Quiet) Until(t time.Time, loc *time.Location) (time.Time, bool) {
	if q.From == q.To {
		return time.Time{}, false
	}
	lt := t.In(loc)
	m := Clock(lt.Hour()*60 + lt.Minute())
	var in, tomorrow bool
	if q.From < q.To {
		in = m >= q.From && m < q.To
	} else {
		in = m >= q.From || m < q.To
		tomorrow = m >= q.From
	}
	if !in {
		return time.Time{}, false
	}
	day := lt.Day()
	if tomorrow {
		day++
	}
	// time.Date normalises the day past the month's end and the clock
	// across a change to or from summer time.
	return time.Date(lt.Year(), lt.Month(), day, int(q.To/60), int(q.To%60), 0, 0, loc), true
}
