package app

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/journeys"
	"github.com/cedula/cedula/journeys/cap"
	"github.com/cedula/cedula/journeys/delivery"
	mobileapi "github.com/cedula/cedula/mobile-api"
)

// alertHub carries public alerts to this replica's wallet streams: it
// follows the alerts table (woken at once by this replica's ingests,
// polled every second for other replicas') and hands each alert, new or
// changed, to every stream. It keeps the alerts in force, which every
// stream gets when it opens, in memory.
type alertHub struct {
	s    *Server
	wake chan struct{}
	mu   sync.Mutex
	subs map[chan json.RawMessage]struct{}
	// active are the broadcast alerts in force by key, with when each
	// expires (zero: never); nil until run has read them.
	active map[string]activeAlert
}

type activeAlert struct {
	json    json.RawMessage
	expires time.Time
}

func newAlertHub(s *Server) *alertHub {
	return &alertHub{s: s, wake: make(chan struct{}, 1), subs: map[chan json.RawMessage]struct{}{}}
}

// wakeUp tells the hub an alert was stored here.
func (h *alertHub) wakeUp() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// alertBuffer is how many alerts a stream may lag behind before it is
// dropped (the app reconnects and gets those in force).
const alertBuffer = 32

// Subscribe implements mobileapi.Alerts.
func (h *alertHub) Subscribe() (<-chan json.RawMessage, func()) {
	c := make(chan json.RawMessage, alertBuffer)
	h.mu.Lock()
	h.subs[c] = struct{}{}
	h.mu.Unlock()
	var once sync.Once
	return c, func() {
		once.Do(func() {
			h.mu.Lock()
			if _, ok := h.subs[c]; ok {
				delete(h.subs, c)
				close(c)
			}
			h.mu.Unlock()
		})
	}
}

// activeWindow is how far back the alerts in force are looked for.
const activeWindow = 7 * 24 * time.Hour

// Active implements mobileapi.Alerts: the broadcast alerts in force, from
// memory once the hub has read them.
func (h *alertHub) Active(ctx context.Context) ([]json.RawMessage, error) {
	now := time.Now()
	h.mu.Lock()
	if h.active != nil {
		out := []json.RawMessage{}
		for _, a := range h.active {
			if a.expires.IsZero() || a.expires.After(now) {
				out = append(out, a.json)
			}
		}
		h.mu.Unlock()
		return out, nil
	}
	h.mu.Unlock()
	ns, err := h.s.Journeys.AlertsSince(ctx, now.Add(-activeWindow))
	if err != nil {
		return nil, err
	}
	out := []json.RawMessage{}
	for _, n := range ns {
		if n.Status != journeys.AlertActive {
			continue
		}
		b, err := json.Marshal(n)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// keep records n in the alerts in force, or drops it from them.
func (h *alertHub) keep(n journeys.AlertNotice, b json.RawMessage) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.active == nil {
		h.active = map[string]activeAlert{}
	}
	if n.Status != journeys.AlertActive {
		delete(h.active, n.Key)
		return
	}
	a := activeAlert{json: b}
	if n.Expires != nil {
		a.expires = *n.Expires
	}
	h.active[n.Key] = a
}

// run follows the alerts until ctx ends: first those of the last week,
// kept as the alerts in force (sent to no stream: each gets them when it
// opens), then what changes.
func (h *alertHub) run(ctx context.Context) {
	seen := map[string]string{} // key → status sent
	since := time.Now().Add(-activeWindow)
	loaded := false
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if loaded {
			select {
			case <-ctx.Done():
				return
			case <-h.wake:
			case <-t.C:
			}
		}
		// A little overlap: a row committed late with an earlier time is
		// read again, and sent once (seen).
		from := since.Add(-5 * time.Second)
		ns, err := h.s.Journeys.AlertsSince(ctx, from)
		if err != nil {
			if !loaded { // the first read failed: wait before the next
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
			continue
		}
		since = time.Now()
		for _, n := range ns {
			if seen[n.Key] == n.Status {
				continue
			}
			seen[n.Key] = n.Status
			b, err := json.Marshal(n)
			if err != nil {
				continue
			}
			h.keep(n, b)
			if loaded {
				h.fanOut(b)
			}
		}
		if !loaded {
			loaded = true
			h.mu.Lock()
			if h.active == nil {
				h.active = map[string]activeAlert{}
			}
			h.mu.Unlock()
		}
		if len(seen) > 100_000 {
			clear(seen)
		}
	}
}

// fanOut hands b to every stream; a stream that lags too far is dropped.
func (h *alertHub) fanOut(b json.RawMessage) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.subs {
		select {
		case c <- b:
		default:
			delete(h.subs, c)
			close(c)
		}
	}
}

// locations gives the mobile API the journeys room's shared locations.
type locations struct{ s *Server }

func (l locations) Share(ctx context.Context, citizenID string, lat, lon *float64, area *mobileapi.Geocode) error {
	loc := &journeys.Location{Lat: lat, Lon: lon}
	if area != nil {
		loc.Area = &cap.Pair{Name: area.ValueName, Value: area.Value}
	}
	return l.s.Journeys.ShareLocation(ctx, citizenID, loc)
}

func (l locations) Areas(context.Context) []mobileapi.KnownArea {
	var out []mobileapi.KnownArea
	for _, k := range l.s.Journeys.Areas() {
		a := mobileapi.KnownArea{Area: mobileapi.Geocode{ValueName: k.ValueName, Value: k.Value}}
		a.Name.Es, a.Name.En = k.Name.ES, k.Name.EN
		out = append(out, a)
	}
	return out
}

func (l locations) Forget(ctx context.Context, citizenID string) error {
	return l.s.Journeys.ShareLocation(ctx, citizenID, nil)
}

// preferences gives the mobile API the outbox's delivery preferences.
type preferences struct{ s *Server }

func (p preferences) Get(ctx context.Context, citizenID string) (mobileapi.Preferences, error) {
	d, err := p.s.Delivery.Prefs(ctx, citizenID)
	if err != nil {
		return mobileapi.Preferences{}, err
	}
	return toAPIPrefs(d), nil
}

func (p preferences) Set(ctx context.Context, citizenID string, in mobileapi.Preferences) (mobileapi.Preferences, error) {
	d := delivery.Prefs{Lang: string(in.Lang), Zone: in.Zone}
	for _, c := range in.Channels {
		d.Channels = append(d.Channels, delivery.Channel(c))
	}
	if in.QuietFrom != nil || in.QuietTo != nil {
		if in.QuietFrom == nil || in.QuietTo == nil {
			return mobileapi.Preferences{}, httpapi.BadRequest("quiet_from and quiet_to go together")
		}
		from, err := delivery.ParseClock(*in.QuietFrom)
		if err != nil {
			return mobileapi.Preferences{}, httpapi.BadRequest("quiet_from is not HH:MM")
		}
		to, err := delivery.ParseClock(*in.QuietTo)
		if err != nil {
			return mobileapi.Preferences{}, httpapi.BadRequest("quiet_to is not HH:MM")
		}
		d.Quiet = delivery.Quiet{From: from, To: to}
	}
	for field, v := range map[*string]*string{&d.Contacts.Email: in.Email, &d.Contacts.Phone: in.Phone, &d.Contacts.Push: in.PushToken} {
		if v != nil {
			*field = *v
		}
	}
	if err := d.Validate(); err != nil {
		return mobileapi.Preferences{}, httpapi.BadRequest(strings.TrimPrefix(err.Error(), delivery.ErrInvalid.Error()+": ")).WithCause(err)
	}
	if err := p.s.Delivery.SetPrefs(ctx, citizenID, d); err != nil {
		return mobileapi.Preferences{}, err
	}
	return p.Get(ctx, citizenID)
}

// toAPIPrefs is d as the mobile API shows it.
func toAPIPrefs(d delivery.Prefs) mobileapi.Preferences {
	out := mobileapi.Preferences{Lang: mobileapi.PreferencesLang(d.Lang), Zone: d.Zone, Channels: []string{}}
	if out.Zone == "" {
		out.Zone = delivery.DefaultZone
	}
	for _, c := range d.Channels {
		out.Channels = append(out.Channels, string(c))
	}
	if d.Quiet.From != d.Quiet.To {
		f, t := d.Quiet.From.String(), d.Quiet.To.String()
		out.QuietFrom, out.QuietTo = &f, &t
	}
	for _, c := range []struct {
		v     string
		field **string
	}{{d.Contacts.Email, &out.Email}, {d.Contacts.Phone, &out.Phone}, {d.Contacts.Push, &out.PushToken}} {
		if c.v != "" {
			v := c.v
			*c.field = &v
		}
	}
	return out
}
