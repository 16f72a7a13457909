package cap

import (
	"slices"
	"time"
)

// Alert is a CAP 1.2 alert message (§3.2.1). Parse fills every field from
// the message; optional elements that are absent leave their zero value.
type Alert struct {
	Identifier string
	Sender     string
	Sent       time.Time
	Status     Status
	MsgType    MsgType
	Source     string
	Scope      Scope
	// Restriction is the rule limiting a Restricted alert's distribution.
	Restriction string
	// Addresses are the recipients of a Private alert, split on
	// whitespace; quotes enclosing an address with spaces are removed.
	Addresses []string
	Codes     []string
	Note      string
	// References are the earlier messages this one updates, cancels,
	// acknowledges or rejects.
	References []Reference
	// Incidents are the incident names, split as Addresses are.
	Incidents []string
	Info      []Info
}

// Info is one <info> block (§3.2.2): the event in one language.
type Info struct {
	// Language is the RFC 3066 tag of the block, "en-US" when absent.
	Language      string
	Categories    []Category
	Event         string
	ResponseTypes []ResponseType
	Urgency       Urgency
	Severity      Severity
	Certainty     Certainty
	Audience      string
	EventCodes    []Pair
	// Effective is when the information takes effect: the alert's Sent
	// when absent (§3.2.2).
	Effective time.Time
	// Onset and Expires are zero when absent; an info without Expires
	// never expires here (CAP leaves it to the recipient's policy).
	Onset       time.Time
	Expires     time.Time
	SenderName  string
	Headline    string
	Description string
	Instruction string
	// Web is an absolute URI.
	Web        string
	Contact    string
	Parameters []Pair
	Resources  []Resource
	Areas      []Area
}

// Pair is a valueName and its value: an eventCode, a parameter or a
// geocode.
type Pair struct {
	Name  string
	Value string
}

// Resource is a <resource> block (§3.2.3): a file that goes with the info.
type Resource struct {
	Desc     string
	MimeType string
	// Size is the file's size in bytes, 0 when absent.
	Size int64
	// URI is absolute, or relative and naming Deref.
	URI string
	// Deref is the file itself, decoded from <derefUri>'s base64.
	Deref  []byte
	Digest string
}

// Area is an <area> block (§3.2.4). A point lies in it when it lies in
// one of its polygons or circles; Geocodes are left to the caller.
type Area struct {
	Desc     string
	Polygons []Polygon
	Circles  []Circle
	Geocodes []Pair
	// Altitude and Ceiling are in feet above mean sea level (WGS 84),
	// nil when absent. Ceiling is never set without Altitude, nor below it.
	Altitude *float64
	Ceiling  *float64
}

// Ref is the alert's reference key: what a later message names in its
// <references> to update or cancel it.
func (a *Alert) Ref() Reference {
	return Reference{Sender: a.Sender, Identifier: a.Identifier, Sent: a.Sent}
}

// Expired says whether the alert has expired at t: it has infos and every
// one of them has expired. An alert without info never expires here.
func (a *Alert) Expired(t time.Time) bool {
	if len(a.Info) == 0 {
		return false
	}
	for i := range a.Info {
		if !a.Info[i].Expired(t) {
			return false
		}
	}
	return true
}

// Languages are the languages of the alert's infos, each once, in order.
func (a *Alert) Languages() []string {
	var langs []string
	for _, in := range a.Info {
		if !slices.Contains(langs, in.Language) {
			langs = append(langs, in.Language)
		}
	}
	return langs
}

// Expired says whether the info has expired at t: it has an Expires not
// after t.
func (i *Info) Expired(t time.Time) bool {
	return !i.Expires.IsZero() && !t.Before(i.Expires)
}

// BypassQuietHours says whether the info must reach citizens even in
// their quiet hours: its severity is Extreme or its urgency Immediate.
func (i *Info) BypassQuietHours() bool {
	return i.Severity == SeverityExtreme || i.Urgency == UrgencyImmediate
}

// Contains says whether the point lies in one of the area's polygons or
// circles.
func (a *Area) Contains(lat, lon float64) bool {
	for _, p := range a.Polygons {
		if p.Contains(lat, lon) {
			return true
		}
	}
	for _, c := range a.Circles {
		if c.Contains(lat, lon) {
			return true
		}
	}
	return false
}
