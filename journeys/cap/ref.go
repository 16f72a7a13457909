package cap

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
)

// Reference names a message by its sender, identifier and sent time: the
// "extended message identifier" of §3.2.1 references.
type Reference struct {
	Sender     string
	Identifier string
	Sent       time.Time
}

// String is the reference as CAP writes it: "sender,identifier,sent".
func (r Reference) String() string {
	return r.Sender + "," + r.Identifier + "," + formatTime(r.Sent)
}

// Equal says whether two references name the same message: same sender
// and identifier, sent at the same instant.
func (r Reference) Equal(o Reference) bool {
	return r.Sender == o.Sender && r.Identifier == o.Identifier && r.Sent.Equal(o.Sent)
}

// ParseReference reads one "sender,identifier,sent" reference.
func ParseReference(s string) (Reference, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return Reference{}, fmt.Errorf("%s is not sender,identifier,sent", quote(s))
	}
	if err := checkID(parts[0]); err != nil {
		return Reference{}, fmt.Errorf("sender %w", err)
	}
	if err := checkID(parts[1]); err != nil {
		return Reference{}, fmt.Errorf("identifier %w", err)
	}
	sent, err := parseTime(parts[2])
	if err != nil {
		return Reference{}, fmt.Errorf("sent: %w", err)
	}
	return Reference{Sender: parts[0], Identifier: parts[1], Sent: sent}, nil
}

// checkID checks an identifier or a sender: §3.2.1 forbids spaces, commas
// and the restricted characters < and &.
func checkID(s string) error {
	if s == "" {
		return errors.New("is empty")
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == ',' || r == '<' || r == '&' {
			return fmt.Errorf("%s holds %q: no spaces, commas, < or &", quote(s), r)
		}
	}
	return nil
}

// timeForm is the only form of a CAP 1.2 date and time (§3.3.2, and the
// schema's pattern): seconds, no fraction, a numeric zone.
var timeForm = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$`)

const timeLayout = "2006-01-02T15:04:05-07:00"

// parseTime reads a CAP date and time. Whitespace around it is allowed
// (xs:dateTime collapses it); "Z" is not, and UTC is "-00:00" (§3.3.2).
func parseTime(s string) (time.Time, error) {
	s = strings.Trim(s, xmlSpace)
	if !timeForm.MatchString(s) {
		if strings.HasSuffix(s, "Z") {
			return time.Time{}, fmt.Errorf("%s: a zone letter such as Z is not allowed, UTC is -00:00", quote(s))
		}
		return time.Time{}, fmt.Errorf("%s is not YYYY-MM-DDThh:mm:ss±hh:mm", quote(s))
	}
	if strings.HasSuffix(s, "+00:00") {
		return time.Time{}, fmt.Errorf("%s: UTC is written -00:00", quote(s))
	}
	if s[20:22] > "14" || s[23:25] > "59" || (s[20:22] == "14" && s[23:25] != "00") {
		return time.Time{}, fmt.Errorf("%s: the zone is outside ±14:00", quote(s))
	}
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s is not a date and time", quote(s))
	}
	return t, nil
}

// formatTime writes a time as CAP does, in the time's own zone, UTC as
// "-00:00".
func formatTime(t time.Time) string {
	s := t.Format(timeLayout)
	if strings.HasSuffix(s, "+00:00") {
		s = s[:len(s)-6] + "-00:00"
	}
	return s
}
