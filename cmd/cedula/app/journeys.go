package app

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/journeys"
	"github.com/cedula/cedula/journeys/delivery"
	deliverystore "github.com/cedula/cedula/journeys/delivery/sqlstore"
	"github.com/cedula/cedula/journeys/journeysapi"
	"github.com/cedula/cedula/journeys/rules"
	mobileapi "github.com/cedula/cedula/mobile-api"
	"github.com/cedula/cedula/wallet/inbox"
	"github.com/cedula/cedula/web"
)

// openJourneys starts the journeys room: its service over the consent
// ledger, the audit log, the citizens' records and inboxes, and the
// journeys of the configured file.
func (s *Server) openJourneys(ctx context.Context) error {
	if err := s.openDelivery(); err != nil {
		return err
	}
	var areas *journeys.Gazetteer
	if s.Config.AlertAreas != "" {
		b, err := os.ReadFile(s.Config.AlertAreas)
		if err != nil {
			return fmt.Errorf("alert areas: %w", err)
		}
		if areas, err = journeys.ParseGazetteer(b); err != nil {
			return fmt.Errorf("alert areas: %s: %w", s.Config.AlertAreas, err)
		}
	}
	var err error
	s.alerts = newAlertHub(s)
	s.Journeys, err = journeys.New(ctx, journeys.Config{Broadcast: s.alerts.wakeUp, Outbox: s.Delivery, Areas: areas,
		Store: s.journeyStore, Seals: s.Seals, Ledger: s.Consent, Audit: s.Audit, Catalogue: rules.Default(),
		Attributes: citizenAttributes{s}, Sealer: s.Shredder, Inbox: journeyInbox{s}, Citizens: s.citizenIDs,
		Language: s.citizenLanguage, AgencyName: s.agencyName, Pseudonym: s.Pseudonyms.Of, Logger: s.log,
	})
	if err != nil {
		return err
	}
	if s.Config.Journeys == "" {
		return nil
	}
	b, err := os.ReadFile(s.Config.Journeys)
	if err != nil {
		return fmt.Errorf("journeys: %w", err)
	}
	js, err := journeys.ParseJourneys(b)
	if err != nil {
		return fmt.Errorf("journeys: %s: %w", s.Config.Journeys, err)
	}
	ctx = audit.WithActor(ctx, audit.Actor{Kind: audit.ActorSystem, ID: "config"})
	for _, j := range js {
		if _, err := s.Journeys.Define(ctx, j.Agency, j); err != nil {
			return fmt.Errorf("journeys: %s: journey %q: %w", s.Config.Journeys, j.ID, err)
		}
	}
	return nil
}

// citizenIDs walks every citizen, a page at a time.
func (s *Server) citizenIDs(ctx context.Context) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		after := ""
		for {
			ids, err := s.Store.CitizenIDs(ctx, after, 1000)
			if err != nil {
				yield("", err)
				return
			}
			for _, id := range ids {
				if !yield(id, nil) {
					return
				}
			}
			if len(ids) < 1000 {
				return
			}
			after = ids[len(ids)-1]
		}
	}
}

// citizenLanguage is the language the citizen chose for messages (their
// delivery preferences), else their account's, Spanish by default.
func (s *Server) citizenLanguage(ctx context.Context, citizenID string) string {
	if l, err := s.Delivery.Lang(ctx, citizenID); err == nil && web.Supported(l) {
		return l
	}
	if c, err := s.Store.Citizen(ctx, citizenID); err == nil && web.Supported(c.Locale) {
		return c.Locale
	}
	return web.Spanish
}

// citizenAttributes gives journeys what Cedula's own record holds of a
// citizen: their names, birthdate and age.
type citizenAttributes struct{ s *Server }

func (a citizenAttributes) Load(ctx context.Context, citizenID string, v *rules.Values) error {
	c, err := a.s.Store.Citizen(ctx, citizenID)
	if err != nil {
		return err
	}
	if c.GivenName != "" {
		if err := v.SetString("given_name", c.GivenName); err != nil {
			return err
		}
	}
	if c.FamilyName != "" {
		if err := v.SetString("family_name", c.FamilyName); err != nil {
			return err
		}
	}
	if b, err := time.Parse(time.DateOnly, c.Birthdate); err == nil {
		if err := v.SetTime("birthdate", b); err != nil {
			return err
		}
		now := time.Now().UTC()
		age := now.Year() - b.Year()
		if now.YearDay() < b.YearDay() {
			age--
		}
		if err := v.SetInt("age", int64(age)); err != nil {
			return err
		}
	}
	return nil
}

// journeyInbox posts journeys' messages to the citizen's wallet inbox.
type journeyInbox struct{ s *Server }

func (b journeyInbox) Post(ctx context.Context, citizenID string, n journeys.Notice) (string, error) {
	// The rooms keep their own types, field for field the same.
	sender, why := inbox.Sender(n.Sender), inbox.Why(n.Why)
	m, _, err := b.s.Inbox.Post(ctx, citizenID, inbox.Note{Kind: inbox.JourneyMessage,
		Title: map[string]string{n.Lang: n.Subject}, Body: map[string]string{n.Lang: n.Body}, Purpose: why.Purpose,
		Sender: &sender, Why: &why, Ask: n.Ask, Ref: n.Ref, Dedupe: n.Dedupe})
	return m.ID, err
}

// deliveryInbox is the outbox's inbox channel: the message's meta back
// into a notice, posted to the citizen's inbox (idempotent on the key).
type deliveryInbox struct{ s *Server }

func (d deliveryInbox) Post(ctx context.Context, citizenID string, m delivery.Message, key string) (string, error) {
	n, err := journeys.MetaNotice(m, key)
	if err != nil {
		return "", delivery.Permanent("no meta", err)
	}
	return journeyInbox(d).Post(ctx, citizenID, n)
}

// openDelivery starts the journeys' outbox with the channels configured:
// the inbox always, email, SMS and push when their relay or gateway is.
func (s *Server) openDelivery() error {
	senders := map[delivery.Channel]delivery.Sender{delivery.Inbox: delivery.InboxSender{Poster: deliveryInbox{s}}}
	if c := s.Config; c.MailRelay != "" {
		host, port, err := net.SplitHostPort(c.MailRelay)
		if err != nil {
			return fmt.Errorf("mail_relay %q: %w", c.MailRelay, err)
		}
		p, _ := strconv.Atoi(port)
		m, err := delivery.NewMail(delivery.MailConfig{Host: host, Port: p, From: c.MailFrom,
			Username: os.Getenv("CEDULA_MAIL_USERNAME"), Password: os.Getenv("CEDULA_MAIL_PASSWORD")})
		if err != nil {
			return err
		}
		senders[delivery.Email] = m
	}
	dev := strings.HasPrefix(s.Config.PublicURL, "http://")
	for ch, u := range map[delivery.Channel]string{delivery.SMS: s.Config.SMSGateway, delivery.Push: s.Config.PushGateway} {
		if u == "" {
			continue
		}
		g, err := delivery.NewGateway(delivery.GatewayConfig{URL: u, Token: os.Getenv("CEDULA_GATEWAY_TOKEN"), Dev: dev})
		if err != nil {
			return fmt.Errorf("%s gateway: %w", ch, err)
		}
		senders[ch] = g
	}
	var err error
	s.Delivery, err = delivery.New(delivery.Config{Store: deliverystore.New(s.DB, s.Audit), Sealer: s.Shredder, Senders: senders,
		Pseudonym: s.Pseudonyms.Of, Logger: s.log, Allowed: s.deliveryAllowed})
	return err
}

// deliveryAllowed asks the ledger, before a delivery is sent, whether its
// purpose may still use the citizen's data (they may have withdrawn since
// it was enqueued); the decision is audited under the delivery's ID.
func (s *Server) deliveryAllowed(ctx context.Context, d delivery.Delivery) (bool, error) {
	ctx = audit.WithRequestID(ctx, d.ID)
	dec, err := s.Consent.Decide(ctx, consent.Query{Subject: d.CitizenID, Controller: d.Agency, Purpose: d.PurposeID, Categories: d.Categories})
	if errors.Is(err, consent.ErrInvalid) {
		return false, nil // a question the ledger can never allow
	} else if err != nil {
		return false, err
	}
	return dec.Allow, nil
}

// runJourneys runs citizens' due steps every two seconds and the
// scheduled journeys when due (looking each minute); the outbox sends as messages come.
func (s *Server) runJourneys(ctx context.Context) {
	go s.Delivery.Run(ctx, 2*time.Second)
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	lastDay := ""
	var lastRuns time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ctx := audit.WithActor(ctx, audit.Actor{Kind: audit.ActorSystem, ID: "journeys"})
		if _, err := s.Journeys.Step(ctx, 200); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "journeys: steps", "err", err)
		}
		now := time.Now().UTC()
		// One replica runs each journey each day (the first to take it);
		// every replica looks again each minute, to take over a run whose
		// replica died before finishing it (journeys.RunLease).
		if now.Sub(lastRuns) >= time.Minute {
			lastRuns = now
			if _, err := s.Journeys.RunScheduled(ctx, now); err != nil && ctx.Err() == nil {
				s.log.ErrorContext(ctx, "journeys: scheduled runs", "err", err)
			}
		}
		if day := now.Format(time.DateOnly); day != lastDay {
			lastDay = day
			if _, err := s.Delivery.Purge(ctx); err != nil && ctx.Err() == nil {
				s.log.ErrorContext(ctx, "journeys: outbox purge", "err", err)
			}
		}
	}
}

// mountJourneys adds the journeys room's agency API and the public check
// of messages.
func (s *Server) mountJourneys(e *httpapi.Echo) error {
	r, err := web.NewRenderer()
	if err != nil {
		return err
	}
	api, err := journeysapi.New(journeysapi.Config{Seals: s.Seals, AgencyName: s.agencyName, Renderer: r, Secure: s.Config.Secure(),
		Journeys: s.Journeys, Outbox: s.Delivery, Guard: s.guard, Subjects: subjects{s, journeysapi.ErrUnknownSubject}})
	if err != nil {
		return err
	}
	api.Mount(e)
	return nil
}

// mobileJourneys gives the mobile API the journeys room: a sender's seal
// checked, a citizen's answer taken.
type mobileJourneys struct{ s *Server }

func (m mobileJourneys) Genuine(ctx context.Context, agency, code, text string) bool {
	v, err := m.s.Seals.Check(ctx, code, text)
	return err == nil && v.Genuine && v.Agency == agency && v.TextMatches != nil && *v.TextMatches
}

func (m mobileJourneys) Respond(ctx context.Context, citizenID, messageID, answer string) error {
	err := m.s.Journeys.Respond(ctx, citizenID, messageID, answer)
	if errors.Is(err, journeys.ErrNotFound) {
		return fmt.Errorf("%w: %v", mobileapi.ErrNoQuestion, err)
	}
	return err
}

// walletEvents posts the wallet's notes to the citizen's inbox and, for a
// credential received, revoked or about to expire, runs the journeys that
// listen for it (the note posted for the first time only).
type walletEvents struct{ s *Server }

func (w walletEvents) Post(ctx context.Context, citizenID string, n inbox.Note) (inbox.Message, bool, error) {
	m, posted, err := w.s.Inbox.Post(ctx, citizenID, n)
	if err != nil || !posted || w.s.Journeys == nil {
		return m, posted, err
	}
	event := map[inbox.Kind]string{inbox.CredentialReceived: journeys.EventCredentialIssued,
		inbox.CredentialRevoked: journeys.EventCredentialRevoked, inbox.CredentialExpiring: journeys.EventCredentialExpiring}[n.Kind]
	if event != "" {
		if _, jerr := w.s.Journeys.Event(ctx, event, citizenID); jerr != nil {
			w.s.log.ErrorContext(ctx, "journeys: an event's journeys failed; the note stands", "event", event, "err", jerr)
		}
	}
	return m, posted, nil
}
