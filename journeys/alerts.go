package journeys

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/journeys/cap"
)

// Real-time alerts: an agency posts an OASIS CAP 1.2 alert; it is checked
// (journeys/cap), refused when expired on arrival, sealed with the
// agency's key, and stored; an Update supersedes, a Cancel withdraws, the
// alerts it references (the agency's own). It reaches citizens in one of
// two ways:
//
//   - broadcast: no personal data at all — every connected wallet receives
//     it on its stream and the phone decides, by where it is, whether to
//     show it;
//   - targeted: matched here against the location each citizen chose to
//     share, only where the ledger allows the agency's purpose (consent, or
//     a recorded public-task basis), each decision audited; the citizens
//     inside get it in their inbox with why.

// Audit actions of alerts.
const (
	ActionAlert       = "journeys.alert"        // an agency posted an alert
	ActionAlertTarget = "journeys.alert.target" // a targeted alert reached a citizen
)

// Modes of an alert.
const (
	ModeBroadcast = "broadcast"
	ModeTargeted  = "targeted"
)

// Alert statuses.
const (
	AlertActive     = "active"
	AlertSuperseded = "superseded"
	AlertCancelled  = "cancelled"
)

// ErrExpired: the alert expired before it arrived.
var ErrExpired = errors.New("journeys: the alert has expired")

// ErrAlertExists: an alert with the same sender, identifier and sent time
// was published before with other content, by another agency, or in
// another mode (CAP 1.2 §3.2.1: the identifier is unique to its sender).
var ErrAlertExists = errors.New("journeys: another alert has this sender, identifier and sent time")

// Ingested is what publishing an alert did.
type Ingested struct {
	Notice AlertNotice
	// Reached counts the citizens a targeted alert reached (0 broadcast).
	Reached int
	// Again: the very alert was published before; nothing new was stored,
	// and a targeted one went on to whom it had not reached (an agency's
	// retry after an answer it never got).
	Again bool
}

// AlertNotice is an alert as wallets receive it.
type AlertNotice struct {
	Key        string `json:"key"` // sender,identifier,sent
	Agency     string `json:"agency"`
	AgencyName string `json:"agency_name"`
	Status     string `json:"status"` // active, superseded, cancelled
	// CAPStatus is the alert's own status: Actual, or Exercise, System,
	// Test, Draft, which wallets do not show to the citizen as real.
	CAPStatus  string      `json:"cap_status"`
	MsgType    string      `json:"msg_type"`
	Sent       time.Time   `json:"sent"`
	Expires    *time.Time  `json:"expires,omitempty"`
	References []string    `json:"references,omitempty"`
	Infos      []AlertInfo `json:"infos"`
	// Code and Seal make it checkable like any message of Cedula's.
	Code string `json:"code"`
	Seal string `json:"seal"`
}

// AlertInfo is one language's information of an alert.
type AlertInfo struct {
	Language    string      `json:"language"`
	Event       string      `json:"event"`
	Urgency     string      `json:"urgency"`
	Severity    string      `json:"severity"`
	Certainty   string      `json:"certainty"`
	Headline    string      `json:"headline,omitempty"`
	Description string      `json:"description,omitempty"`
	Instruction string      `json:"instruction,omitempty"`
	Expires     *time.Time  `json:"expires,omitempty"`
	Urgent      bool        `json:"urgent"` // Extreme or Immediate: past quiet hours
	Areas       []AlertArea `json:"areas"`
}

// AlertArea is an area as the phone matches it.
type AlertArea struct {
	Desc     string         `json:"desc"`
	Polygons [][][2]float64 `json:"polygons,omitempty"` // [lat, lon] rings
	Circles  []AlertCircle  `json:"circles,omitempty"`
	Geocodes []cap.Pair     `json:"geocodes,omitempty"`
}

// AlertCircle is a centre and a radius in kilometres.
type AlertCircle struct {
	Lat, Lon, RadiusKM float64
}

// AlertRecord is an alert as stored.
type AlertRecord struct {
	Key, Agency, Status, Mode, Purpose string
	Sent                               time.Time
	Expires                            time.Time // zero: none
	Notice                             []byte    // the AlertNotice, JSON
	Updated                            time.Time
}

// AlertStore keeps alerts and citizens' shared locations.
type AlertStore interface {
	// PutAlert stores r and sets the alerts of keys (the agency's) to
	// status, appending entries, in one transaction.
	PutAlert(ctx context.Context, r AlertRecord, keys []string, status string, entries ...audit.Entry) error
	Alert(ctx context.Context, key string) (AlertRecord, error)
	// AlertsSince returns the alerts stored or changed at or after t.
	AlertsSince(ctx context.Context, t time.Time) ([]AlertRecord, error)
	// PutLocation stores a citizen's shared location, sealed; nil deletes it.
	PutLocation(ctx context.Context, citizenID string, sealed []byte, at time.Time) error
	// Locations walks the citizens who share a location.
	Locations(ctx context.Context, fn func(citizenID string, sealed []byte) error) error
}

// Ingest checks an agency's CAP alert and stores it; a targeted alert
// (mode ModeTargeted, under the agency's purpose) is delivered at once to
// the citizens inside it, and it returns how many it reached.
func (s *Service) Ingest(ctx context.Context, agency string, xml []byte, mode, purpose string) (Ingested, error) {
	a, err := cap.Parse(xml)
	if err != nil {
		return Ingested{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if mode == "" {
		mode = ModeBroadcast
	}
	n, reached, err := s.ingest(ctx, agency, a, mode, purpose)
	if errors.Is(err, errAgain) {
		return s.again(ctx, agency, a, mode, purpose)
	}
	return Ingested{Notice: n, Reached: reached}, err
}

// errAgain: the alert's key is stored already.
var errAgain = errors.New("journeys: the alert is stored already")

// again answers an alert published again: the same alert (same agency,
// mode, purpose and content) is a retry — its stored notice, and a
// targeted one still in force goes on to whom it did not reach (the
// dedupe keys of its deliveries keep those it reached from a second
// copy); anything else under its key is ErrAlertExists.
func (s *Service) again(ctx context.Context, agency string, a *cap.Alert, mode, purpose string) (Ingested, error) {
	old, err := s.cfg.Store.Alert(ctx, a.Ref().String())
	if err != nil {
		return Ingested{}, err
	}
	var stored AlertNotice
	if err := json.Unmarshal(old.Notice, &stored); err != nil {
		return Ingested{}, err
	}
	fresh := s.notice(ctx, a, agency)
	fresh.Code, fresh.Seal, fresh.Status, fresh.AgencyName = stored.Code, stored.Seal, stored.Status, stored.AgencyName
	b1, _ := json.Marshal(fresh)
	b2, _ := json.Marshal(stored)
	if old.Agency != agency || old.Mode != mode || old.Purpose != purpose || !bytes.Equal(b1, b2) {
		return Ingested{}, ErrAlertExists
	}
	stored.Status = old.Status
	out := Ingested{Notice: stored, Again: true}
	if mode == ModeTargeted && old.Status == AlertActive && !a.Expired(s.cfg.Now().UTC()) {
		pd, err := s.cfg.Ledger.Purpose(ctx, purpose)
		if err != nil {
			return out, err
		}
		where, _ := s.cfg.Areas.reachOf(a)
		out.Reached, err = s.target(ctx, where, stored, pd)
		return out, err
	}
	return out, nil
}

func (s *Service) ingest(ctx context.Context, agency string, a *cap.Alert, mode, purpose string) (AlertNotice, int, error) {
	now := s.cfg.Now().UTC()
	if a.Expired(now) {
		return AlertNotice{}, 0, fmt.Errorf("%w on arrival", ErrExpired)
	}
	if mode != ModeBroadcast && mode != ModeTargeted {
		return AlertNotice{}, 0, fmt.Errorf("%w: mode is broadcast or targeted", ErrInvalid)
	}
	var pd consent.Purpose
	var where reach
	var err error
	if mode == ModeTargeted {
		if pd, err = s.cfg.Ledger.Purpose(ctx, purpose); errors.Is(err, consent.ErrNotFound) || err == nil && pd.Controller != agency {
			return AlertNotice{}, 0, fmt.Errorf("%w: a targeted alert needs one of the agency's purposes", ErrInvalid)
		} else if err != nil {
			return AlertNotice{}, 0, err
		}
		if !pd.Covers([]string{LocationCategory}) {
			return AlertNotice{}, 0, fmt.Errorf("%w: purpose %q does not cover the %s category", ErrInvalid, purpose, LocationCategory)
		}
		var unmatched []string
		if where, unmatched = s.cfg.Areas.reachOf(a); len(unmatched) > 0 && a.MsgType != cap.MsgCancel {
			return AlertNotice{}, 0, fmt.Errorf("%w: a targeted alert is matched on the server, and area %.120q has neither a polygon nor a circle, nor a geocode of an area Cedula knows",
				ErrInvalid, unmatched[0])
		}
	}
	var refs []string
	for _, r := range a.References {
		old, err := s.cfg.Store.Alert(ctx, r.String())
		if errors.Is(err, ErrNotFound) || err == nil && old.Agency != agency {
			return AlertNotice{}, 0, fmt.Errorf("%w: the alert references %q, which this agency did not send", ErrInvalid, r.String())
		} else if err != nil {
			return AlertNotice{}, 0, err
		}
		refs = append(refs, old.Key)
	}
	n := s.notice(ctx, a, agency)
	if _, err := s.cfg.Store.Alert(ctx, n.Key); err == nil {
		return AlertNotice{}, 0, errAgain
	} else if !errors.Is(err, ErrNotFound) {
		return AlertNotice{}, 0, err
	}
	text := strings.TrimSpace(n.Infos[0].Headline + "\n" + n.Infos[0].Description)
	if text == "" {
		text = n.Infos[0].Event + " " + n.Key
	}
	sealed, err := s.cfg.Seals.Seal(ctx, Message{Agency: agency, Lang: langOf(n.Infos[0].Language), Subject: n.Infos[0].Event, Body: text})
	if err != nil {
		return AlertNotice{}, 0, err
	}
	n.Code, n.Seal = sealed.Code, sealed.Seal
	b, err := json.Marshal(n)
	if err != nil {
		return AlertNotice{}, 0, err
	}
	rec := AlertRecord{Key: n.Key, Agency: agency, Status: AlertActive, Mode: mode, Purpose: purpose, Sent: a.Sent.UTC(), Notice: b, Updated: now}
	if n.Expires != nil {
		rec.Expires = *n.Expires
	}
	status := AlertSuperseded
	if a.MsgType == cap.MsgCancel {
		status = AlertCancelled
	}
	e := audit.Entry{Time: now, Actor: audit.Actor{Kind: audit.ActorClient, ID: agency}, Action: ActionAlert, Outcome: audit.Allowed,
		RequestID: audit.RequestIDFrom(ctx)}
	if mode == ModeTargeted {
		e.Purpose, e.LegalBasis, e.Categories = pd.DPV, string(pd.LegalBasis), []string{LocationCategory}
	}
	if err := s.cfg.Store.PutAlert(ctx, rec, refs, status, e); err != nil {
		if _, gerr := s.cfg.Store.Alert(ctx, n.Key); gerr == nil {
			return AlertNotice{}, 0, errAgain // the same key, stored meanwhile by a concurrent request
		}
		return AlertNotice{}, 0, err
	}
	if s.cfg.Broadcast != nil {
		s.cfg.Broadcast()
	}
	reached := 0
	if mode == ModeTargeted {
		if reached, err = s.target(ctx, where, n, pd); err != nil {
			return n, reached, err
		}
	}
	return n, reached, nil
}

// LocationCategory is the data category of a citizen's shared location.
const LocationCategory = "location"

// Location is where a citizen chose to be alerted for: a point, or an
// area of the gazetteer (less precise, so more private: an alert reaches
// it when it names the area or crosses it).
type Location struct {
	Lat  *float64  `json:",omitempty"`
	Lon  *float64  `json:",omitempty"`
	Area *cap.Pair `json:",omitempty"`
}

func locationLabel() string { return "journeys/location" }

// ShareLocation stores (or, with nil, forgets) where a citizen wants
// targeted alerts for, sealed under their data key.
func (s *Service) ShareLocation(ctx context.Context, citizenID string, l *Location) error {
	if l == nil {
		return s.cfg.Store.PutLocation(ctx, citizenID, nil, s.cfg.Now().UTC())
	}
	switch {
	case l.Area != nil && (l.Lat != nil || l.Lon != nil):
		return fmt.Errorf("%w: a location is a point or an area, not both", ErrInvalid)
	case l.Area != nil:
		if _, ok := s.cfg.Areas.Area(*l.Area); !ok {
			return fmt.Errorf("%w: the area is not one Cedula knows (GET /mobile/v1/location/areas lists them)", ErrInvalid)
		}
	case l.Lat == nil || l.Lon == nil || *l.Lat < -90 || *l.Lat > 90 || *l.Lon < -180 || *l.Lon > 180:
		return fmt.Errorf("%w: a location is a latitude in [-90, 90] and a longitude in [-180, 180], or an area", ErrInvalid)
	}
	b, _ := json.Marshal(l)
	sealed, err := s.cfg.Sealer.SealData(ctx, s.cfg.Pseudonym(citizenID), locationLabel(), b)
	if err != nil {
		return err
	}
	return s.cfg.Store.PutLocation(ctx, citizenID, sealed, s.cfg.Now().UTC())
}

// target delivers a targeted alert to the citizens inside its areas whose
// location the ledger lets the purpose use.
func (s *Service) target(ctx context.Context, where reach, n AlertNotice, pd consent.Purpose) (int, error) {
	reached := 0
	now := s.cfg.Now().UTC()
	// Each language's text is sealed as it is sent, so that the wallet
	// checks exactly what the citizen reads.
	texts := map[string]Sealed{}
	err := s.cfg.Store.Locations(ctx, func(citizenID string, box []byte) error {
		d, e, err := s.cfg.Ledger.DecideEntry(ctx, consent.Query{Subject: citizenID, Controller: pd.Controller, Purpose: pd.ID, Categories: []string{LocationCategory}})
		if err != nil {
			return err
		}
		if _, err := s.cfg.Audit.Append(ctx, e); err != nil {
			return err
		}
		if !d.Allow {
			return nil
		}
		b, err := s.cfg.Sealer.OpenData(ctx, s.cfg.Pseudonym(citizenID), locationLabel(), box)
		if err != nil {
			return nil // erased meanwhile
		}
		var l Location
		if json.Unmarshal(b, &l) != nil || !where.holds(l) {
			return nil
		}
		lang := s.cfg.Language(ctx, citizenID)
		info := pick(n.Infos, lang)
		rule := "the point you shared is inside the alert's area"
		if l.Area != nil {
			rule = "the area you shared is in the alert's area"
		}
		why := Why{Alert: n.Key, Purpose: pd.ID, LegalBasis: string(pd.LegalBasis), Rule: rule}
		if pd.LegalBasis == consent.Consent {
			why.ConsentRecord = d.Record.String()
		}
		il := langOf(info.Language)
		sl, ok := texts[il]
		if !ok {
			body := strings.TrimSpace(info.Headline + "\n\n" + info.Description + "\n\n" + info.Instruction)
			if sl, err = s.cfg.Seals.Seal(ctx, Message{Agency: pd.Controller, Lang: il, Subject: info.Event, Body: body}); err != nil {
				return err
			}
			texts[il] = sl
		}
		if err := s.post(ctx, citizenID, Notice{Lang: il, Subject: info.Event, Body: sl.Text,
			Sender: Sender{Agency: pd.Controller, Name: n.AgencyName, Code: sl.Code, Seal: sl.Seal}, Why: why,
			Dedupe: "alert:" + n.Key + ":" + citizenID}, nil, info.Urgent, pd.Controller, pd, []string{LocationCategory}); err != nil {
			return err
		}
		en := audit.Entry{Time: now, Actor: audit.Actor{Kind: audit.ActorClient, ID: pd.Controller}, Action: ActionAlertTarget, Subject: s.cfg.Pseudonym(citizenID),
			Purpose: pd.DPV, LegalBasis: string(pd.LegalBasis), Categories: []string{LocationCategory}, Outcome: audit.Allowed, RequestID: audit.RequestIDFrom(ctx)}
		if _, err := s.cfg.Audit.Append(ctx, en); err != nil {
			return err
		}
		reached++
		return nil
	})
	return reached, err
}

// pick is the info in lang, else the first.
func pick(infos []AlertInfo, lang string) AlertInfo {
	for _, i := range infos {
		if langOf(i.Language) == lang {
			return i
		}
	}
	return infos[0]
}

// langOf maps a CAP language tag to es or en (Spanish for any other).
func langOf(tag string) string {
	if strings.HasPrefix(strings.ToLower(tag), "en") {
		return "en"
	}
	return "es"
}

// notice is an alert as wallets receive it.
func (s *Service) notice(ctx context.Context, a *cap.Alert, agency string) AlertNotice {
	n := AlertNotice{Key: a.Ref().String(), Agency: agency, AgencyName: s.cfg.AgencyName(ctx, agency), Status: AlertActive,
		CAPStatus: string(a.Status), MsgType: string(a.MsgType), Sent: a.Sent.UTC()}
	for _, r := range a.References {
		n.References = append(n.References, r.String())
	}
	for _, in := range a.Info {
		ai := AlertInfo{Language: in.Language, Event: in.Event, Urgency: string(in.Urgency), Severity: string(in.Severity),
			Certainty: string(in.Certainty), Headline: in.Headline, Description: in.Description, Instruction: in.Instruction,
			Urgent: in.BypassQuietHours()}
		if !in.Expires.IsZero() {
			t := in.Expires.UTC()
			ai.Expires = &t
			if n.Expires == nil || t.After(*n.Expires) {
				n.Expires = &t
			}
		}
		for _, ar := range in.Areas {
			aa := AlertArea{Desc: ar.Desc, Geocodes: ar.Geocodes}
			for _, p := range ar.Polygons {
				ring := make([][2]float64, len(p))
				for i, pt := range p {
					ring[i] = [2]float64{pt.Lat, pt.Lon}
				}
				aa.Polygons = append(aa.Polygons, ring)
			}
			for _, c := range ar.Circles {
				aa.Circles = append(aa.Circles, AlertCircle{Lat: c.Center.Lat, Lon: c.Center.Lon, RadiusKM: c.Radius})
			}
			ai.Areas = append(ai.Areas, aa)
		}
		n.Infos = append(n.Infos, ai)
	}
	if len(n.Infos) == 0 {
		n.Infos = []AlertInfo{{Language: "es", Event: string(a.MsgType)}}
	}
	return n
}

// AlertsSince returns the broadcast alerts stored or changed since t, as
// wallets receive them, with their current status; expired ones are left
// out.
func (s *Service) AlertsSince(ctx context.Context, t time.Time) ([]AlertNotice, error) {
	rs, err := s.cfg.Store.AlertsSince(ctx, t)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now().UTC()
	var out []AlertNotice
	for _, r := range rs {
		if r.Mode != ModeBroadcast || (!r.Expires.IsZero() && !r.Expires.After(now) && r.Status == AlertActive) {
			continue
		}
		var n AlertNotice
		if err := json.Unmarshal(r.Notice, &n); err != nil {
			return nil, err
		}
		n.Status = r.Status
		out = append(out, n)
	}
	return out, nil
}

// Areas lists the areas Cedula knows by geocode, which citizens may share
// instead of a point.
func (s *Service) Areas() []KnownArea { return s.cfg.Areas.Areas() }
