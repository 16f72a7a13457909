package journeys

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// A journey is what an agency defines to reach citizens proactively: a
// trigger (an event inside Cedula, or a schedule), a segment rule in CEL
// over the citizen attributes its purpose covers, an optional propensity
// score with a cap on how many it reaches, steps (send a message, wait,
// branch on the citizen's response, stop) and its messages in Spanish and
// English. It is checked whole when defined — the purpose the agency's,
// the rule and the score type-checked against the purpose's categories,
// every message complete in both languages with only covered attributes,
// the steps a graph that ends — so that nothing is found wrong while
// citizens are being reached.

// Events that trigger a journey for the citizen they concern.
const (
	EventCredentialIssued   = "credential.issued"
	EventCredentialRevoked  = "credential.revoked"
	EventCredentialExpiring = "credential.expiring"
	EventConsentGiven       = "consent.given"
	EventRegistryChanged    = "registry.changed"
)

// Events lists the events a journey may be triggered by.
var Events = []string{EventCredentialIssued, EventCredentialRevoked, EventCredentialExpiring, EventConsentGiven, EventRegistryChanged}

// Schedules a journey may run on: over every citizen its purpose may reach,
// once a day (at 00:00 UTC), on Mondays, or on the first of the month.
const (
	ScheduleDaily   = "daily"
	ScheduleWeekly  = "weekly"
	ScheduleMonthly = "monthly"
)

// Responses a citizen may give to a message, which a branch reads; none is
// the branch's answer when they gave none.
const (
	ResponseYes  = "yes"
	ResponseNo   = "no"
	ResponseNone = "none"
)

// Channels a message may go by.
const (
	ChannelInbox = "inbox"
	ChannelEmail = "email"
	ChannelSMS   = "sms"
	ChannelPush  = "push"
)

// Bounds of a definition.
const (
	MaxSteps    = 32
	MaxMessages = 16
	MaxWait     = 366 * 24 * time.Hour
	MaxCap      = 10_000_000
)

// Journey is a journey's definition.
type Journey struct {
	ID string `yaml:"id" json:"id"`
	// Agency is the client that defines it and sends its messages; it
	// must be the purpose's controller.
	Agency  string  `yaml:"agency" json:"agency,omitempty"`
	Purpose string  `yaml:"purpose" json:"purpose"`
	Trigger Trigger `yaml:"trigger" json:"trigger"`
	// Segment is the CEL rule a citizen must meet; Score, optional, a
	// CEL number ranking them, and Cap how many of a scheduled run's
	// best-scored it reaches (0: all).
	Segment string `yaml:"segment" json:"segment"`
	Score   string `yaml:"score,omitempty" json:"score,omitempty"`
	Cap     int    `yaml:"cap,omitempty" json:"cap,omitempty"`
	Steps   []Step `yaml:"steps" json:"steps"`
	// Messages are the journey's messages by name.
	Messages map[string]Texts `yaml:"messages" json:"messages"`
}

// Trigger is an event or a schedule, one of them.
type Trigger struct {
	Event    string `yaml:"event,omitempty" json:"event,omitempty"`
	Schedule string `yaml:"schedule,omitempty" json:"schedule,omitempty"`
}

// Step is one step: exactly one of Send, Wait, Branch and Stop.
type Step struct {
	ID     string   `yaml:"id" json:"id"`
	Send   *Send    `yaml:"send,omitempty" json:"send,omitempty"`
	Wait   Duration `yaml:"wait,omitempty" json:"wait,omitempty"`
	Branch *Branch  `yaml:"branch,omitempty" json:"branch,omitempty"`
	Stop   bool     `yaml:"stop,omitempty" json:"stop,omitempty"`
}

// Send sends one of the journey's messages; with no channels, by the
// citizen's preferred ones.
type Send struct {
	Message  string   `yaml:"message" json:"message"`
	Channels []string `yaml:"channels,omitempty" json:"channels,omitempty"`
	// Ask offers the citizen to answer yes or no, which a later branch
	// reads.
	Ask bool `yaml:"ask,omitempty" json:"ask,omitempty"`
}

// Branch goes on, by the citizen's response to the last message that
// asked, to the step named for it; a response it does not name goes on
// to the next step. A branch follows a wait: the time the citizen has to
// answer, which their answer ends early.
type Branch struct {
	Yes  string `yaml:"yes,omitempty" json:"yes,omitempty"`
	No   string `yaml:"no,omitempty" json:"no,omitempty"`
	None string `yaml:"none,omitempty" json:"none,omitempty"`
}

// Texts is a message in Spanish and English.
type Texts struct {
	ES Text `yaml:"es" json:"es"`
	EN Text `yaml:"en" json:"en"`
}

// Text is a message in one language.
type Text struct {
	Subject string `yaml:"subject" json:"subject"`
	Body    string `yaml:"body" json:"body"`
}

// In returns the message in lang (es or en).
func (t Texts) In(lang string) Text {
	if lang == "en" {
		return t.EN
	}
	return t.ES
}

// Duration is a time.Duration written as Go writes it ("72h", "30m").
type Duration time.Duration

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 72h or 30m", b)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// DefinitionError is a definition refused, with every problem found.
type DefinitionError struct{ Problems []string }

func (e *DefinitionError) Error() string {
	return "journeys: the definition is refused: " + strings.Join(e.Problems, "; ")
}

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *DefinitionError) Unwrap() error { return ErrInvalid }

var idPattern = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$`)

// ParseJourneys reads journeys from YAML: one document holding a list
// under "journeys". Unknown fields are refused.
func ParseJourneys(b []byte) ([]Journey, error) {
	var doc struct {
		Journeys []Journey `yaml:"journeys"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return nil, &DefinitionError{Problems: []string{"the YAML does not read as journeys: " + err.Error()}}
	}
	return doc.Journeys, nil
}

// checkShape checks what needs no catalogue nor ledger: names, the
// trigger, the steps' graph, the messages named. It returns every problem.
func (j *Journey) checkShape() []string {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	if !idPattern.MatchString(j.ID) {
		add("id %.80q must be a slug of lowercase letters, digits and inner hyphens", j.ID)
	}
	if j.Agency == "" {
		add("agency is required")
	}
	if j.Purpose == "" {
		add("purpose is required")
	}
	switch t := j.Trigger; {
	case t.Event != "" && t.Schedule != "":
		add("trigger: an event or a schedule, not both")
	case t.Event != "" && !slices.Contains(Events, t.Event):
		add("trigger: event %.80q is not one of %s", t.Event, strings.Join(Events, ", "))
	case t.Schedule != "" && t.Schedule != ScheduleDaily && t.Schedule != ScheduleWeekly && t.Schedule != ScheduleMonthly:
		add("trigger: schedule %.80q is not daily, weekly or monthly", t.Schedule)
	case t.Event == "" && t.Schedule == "":
		add("trigger: an event or a schedule is required")
	}
	if strings.TrimSpace(j.Segment) == "" {
		add("segment: a rule is required (true reaches everyone the purpose may reach)")
	}
	if j.Cap < 0 || j.Cap > MaxCap {
		add("cap must be between 0 (none) and %d", MaxCap)
	}
	if j.Cap > 0 && j.Score == "" {
		add("cap needs a score to choose whom to reach")
	}
	if len(j.Messages) > MaxMessages {
		add("at most %d messages", MaxMessages)
	}
	switch {
	case len(j.Steps) == 0:
		add("steps: at least one")
	case len(j.Steps) > MaxSteps:
		add("steps: at most %d", MaxSteps)
	}
	ids := map[string]int{}
	for i, s := range j.Steps {
		if !idPattern.MatchString(s.ID) {
			add("step %d: id %.80q must be a slug", i, s.ID)
		} else if _, dup := ids[s.ID]; dup {
			add("step %d: id %q is used twice", i, s.ID)
		}
		ids[s.ID] = i
	}
	asked := false
	for i, s := range j.Steps {
		n := 0
		for _, set := range []bool{s.Send != nil, s.Wait != 0, s.Branch != nil, s.Stop} {
			if set {
				n++
			}
		}
		if n != 1 {
			add("step %q: exactly one of send, wait, branch and stop", s.ID)
			continue
		}
		switch {
		case s.Send != nil:
			if _, ok := j.Messages[s.Send.Message]; !ok {
				add("step %q: message %.80q is not among the journey's messages", s.ID, s.Send.Message)
			}
			for _, c := range s.Send.Channels {
				if c != ChannelInbox && c != ChannelEmail && c != ChannelSMS && c != ChannelPush {
					add("step %q: channel %.40q is not inbox, email, sms or push", s.ID, c)
				}
			}
			asked = asked || s.Send.Ask
		case s.Wait != 0:
			if s.Wait < Duration(time.Minute) || time.Duration(s.Wait) > MaxWait {
				add("step %q: wait must be between 1m and %s", s.ID, MaxWait)
			}
		case s.Branch != nil:
			if !asked {
				add("step %q: a branch needs an earlier send that asks (ask: true)", s.ID)
			} else if i == 0 || j.Steps[i-1].Wait == 0 {
				add("step %q: a branch must follow a wait, the time the citizen has to answer (an answer ends the wait)", s.ID)
			}
			for name, to := range map[string]string{ResponseYes: s.Branch.Yes, ResponseNo: s.Branch.No, ResponseNone: s.Branch.None} {
				if to == "" {
					continue
				}
				if k, ok := ids[to]; !ok {
					add("step %q: %s goes to %.80q, which is no step", s.ID, name, to)
				} else if k == i {
					add("step %q: %s goes to itself", s.ID, name)
				}
			}
		}
	}
	for name, m := range j.Messages {
		if !idPattern.MatchString(name) {
			add("message name %.80q must be a slug", name)
		}
		for lang, t := range map[string]Text{"es": m.ES, "en": m.EN} {
			if strings.TrimSpace(t.Body) == "" {
				add("message %q: the %s body is missing (both languages are required)", name, lang)
			}
		}
	}
	if len(p) == 0 {
		if cyc := j.loopWithoutWait(ids); cyc != "" {
			add("steps: %s can loop back to itself without waiting", cyc)
		}
	}
	return p
}

// next lists where step i may go on to.
func (j *Journey) next(i int, ids map[string]int) []int {
	s := j.Steps[i]
	if s.Stop {
		return nil
	}
	var out []int
	if s.Branch != nil {
		for _, to := range []string{s.Branch.Yes, s.Branch.No, s.Branch.None} {
			if to != "" {
				out = append(out, ids[to])
			}
		}
	}
	if i+1 < len(j.Steps) {
		out = append(out, i+1)
	}
	return out
}

// loopWithoutWait finds a step that can reach itself without passing a
// wait: a journey that would send without end.
func (j *Journey) loopWithoutWait(ids map[string]int) string {
	for start := range j.Steps {
		if j.Steps[start].Wait != 0 {
			continue
		}
		seen := map[int]bool{}
		stack := []int{start}
		for len(stack) > 0 {
			i := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for _, n := range j.next(i, ids) {
				if n == start {
					return fmt.Sprintf("step %q", j.Steps[start].ID)
				}
				if !seen[n] && j.Steps[n].Wait == 0 {
					seen[n] = true
					stack = append(stack, n)
				}
			}
		}
	}
	return ""
}

// errDefinition builds a DefinitionError of problems, nil for none.
func errDefinition(problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	return &DefinitionError{Problems: problems}
}
