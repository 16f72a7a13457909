package consent_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/consent"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func event(seq int64, typ consent.EventType, at time.Duration) consent.Event {
	e := consent.Event{
		RecordID: "rec-1", Seq: seq, Type: typ,
		Key:            consent.Key{Subject: "citizen-1", Controller: "dgi-portal", Purpose: "tax-reminders"},
		PurposeVersion: 1, NoticeVersion: "2026-01", LegalBasis: consent.Consent,
		Categories: []string{"identity"}, Method: consent.MethodWeb,
		Actor: audit.Actor{Kind: audit.ActorCitizen, ID: "psn"}, Time: t0.Add(at),
	}
	if typ == consent.Given || typ == consent.Renewed {
		e.Expires = e.Time.Add(30 * 24 * time.Hour)
	}
	return e
}

func TestProject(t *testing.T) {
	events := []consent.Event{
		event(1, consent.Given, 0),
		event(2, consent.Withdrawn, time.Hour),
		event(3, consent.Given, 2*time.Hour),
		event(4, consent.RenewalRequired, 3*time.Hour),
		event(5, consent.Renewed, 4*time.Hour),
	}
	events[4].NoticeVersion = "2026-02"
	r, err := consent.Project(events)
	if err != nil {
		t.Fatalf("Project: %v", err)
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"ID", r.ID, "rec-1"},
		{"Seq", r.Seq, int64(5)},
		{"State", r.State, consent.StateRenewed},
		{"NoticeVersion", r.NoticeVersion, "2026-02"},
		{"Created", r.Created, t0},
		{"Updated", r.Updated, t0.Add(4 * time.Hour)},
		{"Given", r.Given, t0.Add(4 * time.Hour)},
		{"Expires", r.Expires, t0.Add(4*time.Hour + 30*24*time.Hour)},
		{"Ref", r.Ref().String(), "rec-1#5"},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	// Apply one by one gives the same.
	var step consent.Record
	for _, e := range events {
		step = consent.Apply(step, e)
	}
	if step.State != r.State || step.Seq != r.Seq || !slices.Equal(step.Categories, r.Categories) {
		t.Errorf("Apply step by step: got %s #%d, want %s #%d", step.State, step.Seq, r.State, r.Seq)
	}
	// A withdrawal keeps Given, the time of the consent it ends.
	w, _ := consent.Project(events[:2])
	if w.Given != t0 || w.State != consent.StateWithdrawn || !w.Expires.IsZero() {
		t.Errorf("after withdrawal: got given %v, state %s, expires %v; want %v, withdrawn, zero", w.Given, w.State, w.Expires, t0)
	}
}

func TestProjectRejectsBrokenHistories(t *testing.T) {
	other := event(2, consent.Withdrawn, time.Hour)
	other.RecordID = "rec-2"
	expiring := event(2, consent.Withdrawn, time.Hour)
	expiring.Expires = t0.Add(time.Hour)
	for _, tc := range []struct {
		name   string
		events []consent.Event
	}{
		{"starts at 2", []consent.Event{event(2, consent.Given, 0)}},
		{"gap", []consent.Event{event(1, consent.Given, 0), event(3, consent.Withdrawn, time.Hour)}},
		{"repeat", []consent.Event{event(1, consent.Given, 0), event(1, consent.Given, time.Hour)}},
		{"another record", []consent.Event{event(1, consent.Given, 0), other}},
		{"unknown type", []consent.Event{event(1, "paused", 0)}},
		{"expiry on a withdrawal", []consent.Event{event(1, consent.Given, 0), expiring}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := consent.Project(tc.events); !errors.Is(err, consent.ErrInvalid) {
				t.Errorf("Project: got %v, want ErrInvalid", err)
			}
		})
	}
}

func TestRecordInForce(t *testing.T) {
	r, _ := consent.Project([]consent.Event{event(1, consent.Given, 0)})
	for _, tc := range []struct {
		name   string
		at     time.Time
		notice string
		want   bool
	}{
		{"now", t0.Add(time.Minute), "2026-01", true},
		{"at expiry", r.Expires, "2026-01", false},
		{"after expiry", r.Expires.Add(time.Second), "2026-01", false},
		{"new notice", t0.Add(time.Minute), "2026-02", false},
	} {
		if got := r.InForce(tc.at, tc.notice); got != tc.want {
			t.Errorf("%s: InForce: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRefs(t *testing.T) {
	ref := consent.Ref{RecordID: "AZ3x-_q", Seq: 12}
	got, err := consent.ParseRef(ref.String())
	if err != nil || got != ref {
		t.Errorf("ParseRef(%q): got %v, %v; want %v", ref.String(), got, err, ref)
	}
	for _, bad := range []string{"", "abc", "#3", "abc#0", "abc#x"} {
		if _, err := consent.ParseRef(bad); !errors.Is(err, consent.ErrInvalid) {
			t.Errorf("ParseRef(%q): got %v, want ErrInvalid", bad, err)
		}
	}
	for _, tc := range []struct {
		purpose string
		version int
		ref     consent.Ref
		want    string
	}{
		{"tax-reminders", 3, ref, "tax-reminders@3/AZ3x-_q#12"},
		{"tax-reminders", 3, consent.Ref{}, "tax-reminders@3"},
		{"no-such-purpose", 0, consent.Ref{}, "no-such-purpose"},
	} {
		if got := consent.AuditRecord(tc.purpose, tc.version, tc.ref); got != tc.want {
			t.Errorf("AuditRecord(%s, %d, %v): got %q, want %q", tc.purpose, tc.version, tc.ref, got, tc.want)
		}
	}
}
