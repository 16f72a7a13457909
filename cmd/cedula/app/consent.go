package app

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/consent/consentapi"
	consentstore "github.com/cedula/cedula/consent/sqlstore"
	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/internal/scopes"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/demo"
	"github.com/cedula/cedula/issuer/pages"
	"github.com/cedula/cedula/journeys"
	"github.com/cedula/cedula/wallet/inbox"
)

// openConsent starts the consent ledger on the server's database and audit
// log and loads the purpose registry: the configured file, and in demo
// mode the demo agency's purpose.
func (s *Server) openConsent(ctx context.Context) error {
	svc, err := consent.New(ctx, consent.Config{
		Store: consentstore.New(s.DB), Audit: s.Audit, Pseudonym: s.Pseudonyms.Of,
		Effects: consentEffects{s}, Logger: s.log, Preload: s.Config.ConsentPreload,
	})
	if err != nil {
		return err
	}
	s.Consent = svc
	var purposes []consent.Purpose
	if s.Config.Purposes != "" {
		f, err := os.Open(s.Config.Purposes)
		if err != nil {
			return fmt.Errorf("purposes: %w", err)
		}
		defer f.Close()
		if purposes, err = consent.ParseRegistry(f); err != nil {
			return fmt.Errorf("purposes: %s: %w", s.Config.Purposes, err)
		}
	}
	if s.Config.Demo {
		purposes = append(purposes, demo.Purpose(s.Config.PublicURL), demo.CredentialPurpose(s.Config.PublicURL))
		purposes = append(purposes, demo.VerificationPurposes(s.Config.PublicURL)...)
	}
	ctx = audit.WithActor(ctx, audit.Actor{Kind: audit.ActorSystem, ID: "config"})
	for _, p := range purposes {
		if _, _, n, err := s.Consent.RegisterPurpose(ctx, p); err != nil {
			return fmt.Errorf("purpose %q: %w", p.ID, err)
		} else if n > 0 {
			s.log.InfoContext(ctx, "purpose notice changed; consents await renewal", "purpose", p.ID, "records", n)
		}
	}
	return nil
}

// ConsentScope lets an agency system ask the consent ledger before it uses
// a citizen's data (POST /consent/decide).
const ConsentScope = scopes.Consent

// consentPorts are what the consent API needs from the other rooms.
type consentPorts struct{ s *Server }

func (p consentPorts) CitizenExists(ctx context.Context, citizenID string) error {
	_, err := p.s.Store.Citizen(ctx, citizenID)
	if errors.Is(err, issuer.ErrNotFound) {
		return consentapi.ErrUnknownSubject
	}
	return err
}

func (p consentPorts) Append(ctx context.Context, entries ...audit.Entry) (int64, error) {
	return p.s.Audit.Append(ctx, entries...)
}

func (p consentPorts) Seal(ctx context.Context, subject string, data []byte) ([]byte, error) {
	return p.s.Shredder.Seal(ctx, subject, data)
}

func (p consentPorts) EntryOf(ctx context.Context, subject, record string) (int64, audit.Hash, error) {
	return p.s.consentEntry(ctx, subject, record)
}

// clientName is a client's name for people, "" when it has none or is
// unknown.
func (s *Server) clientName(ctx context.Context, clientID string) string {
	if c, err := s.Store.Client(ctx, clientID); err == nil {
		return c.Name
	}
	return ""
}

// agencyName is a client's name for people, or its ID when it has none.
func (s *Server) agencyName(ctx context.Context, clientID string) string {
	if n := s.clientName(ctx, clientID); n != "" {
		return n
	}
	return clientID
}

// mountConsent adds the consent ledger's API.
func (s *Server) mountConsent(e *httpapi.Echo) error {
	ports := consentPorts{s}
	api, err := consentapi.New(consentapi.Config{Ledger: s.Consent, Guard: s.guard, Subjects: subjects{s, consentapi.ErrUnknownSubject}, Citizens: ports,
		Log: ports, Pseudonym: s.Pseudonyms.Of, ClientName: s.clientName, Keys: s.Keys,
		Issuer: s.Config.PublicURL, AuditLog: AuditOrigin(s.Config.PublicURL)})
	if err != nil {
		return err
	}
	api.Mount(e)
	s.consentAPI = api
	return nil
}

// consentEffects ends an agency's access when a citizen's consent to its
// purpose ends (withdrawn, objected, expired, awaiting renewal): the agency
// is told by back-channel logout and its tokens for the citizen are
// revoked, so introspection says inactive and userinfo refuses them.
type consentEffects struct{ s *Server }

func (e consentEffects) Ended(ctx context.Context, r consent.Record) error {
	ctx = audit.WithActor(ctx, audit.Actor{Kind: audit.ActorSystem, ID: "consent"})
	_, err := e.s.Provider.EndGrant(ctx, r.Key.Subject, r.Key.Controller)
	// The citizen's pending journey steps under the purpose stop at once.
	var jerr error
	if e.s.Journeys != nil {
		_, jerr = e.s.Journeys.Withdrawn(ctx, r.Key.Subject, r.Key.Controller, r.Key.Purpose)
	}
	return errors.Join(err, jerr, e.tell(ctx, r))
}

// Given runs the journeys that begin when a citizen gives their consent.
func (e consentEffects) Given(ctx context.Context, r consent.Record) error {
	if e.s.Journeys == nil {
		return nil
	}
	_, err := e.s.Journeys.Event(ctx, journeys.EventConsentGiven, r.Key.Subject)
	return err
}

// tell asks the citizen, in their inbox, to renew a consent the ledger
// ended without them (expired, or given under a notice that changed);
// what the citizen ended themselves needs no message.
func (e consentEffects) tell(ctx context.Context, r consent.Record) error {
	var es, en [2]string
	switch r.State {
	case consent.StateExpired:
		es = [2]string{"Tu consentimiento ha caducado: %s", "%s ya no puede usar tus datos para esto. Puedes renovarlo en tu cartera si quieres que siga."}
		en = [2]string{"Your consent has expired: %s", "%s can no longer use your data for this. You can renew it in your wallet if you want it to go on."}
	case consent.StateRenewalRequired:
		es = [2]string{"Renueva tu consentimiento: %s", "%s ha cambiado cómo usa tus datos para esto; no los usará hasta que lo leas y lo renueves."}
		en = [2]string{"Renew your consent: %s", "%s has changed how it uses your data for this; it will not use them until you read it and renew."}
	default:
		return nil
	}
	p, err := e.s.Consent.Purpose(ctx, r.Key.Purpose)
	if err != nil {
		return err
	}
	n := inbox.Note{Kind: inbox.ConsentRenewal, Purpose: p.ID, Dedupe: fmt.Sprintf("consent:%s:%d", r.ID, r.Seq),
		Title: map[string]string{}, Body: map[string]string{}}
	for lang, t := range map[string][2]string{"es": es, "en": en} {
		n.Title[lang] = fmt.Sprintf(t[0], p.Name.In(lang))
		n.Body[lang] = fmt.Sprintf(t[1], e.s.agencyName(ctx, r.Key.Controller))
	}
	_, _, err = e.s.Inbox.Post(ctx, r.Key.Subject, n)
	return err
}

// accountConsents shows the citizen's consents on the account page and
// withdraws them.
type accountConsents struct{ s *Server }

func (a accountConsents) Of(ctx context.Context, citizenID, lang string) ([]pages.ConsentItem, error) {
	recs, err := a.s.Consent.Records(ctx, citizenID)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(recs, func(x, y consent.Record) int { return y.Updated.Compare(x.Updated) })
	out := make([]pages.ConsentItem, 0, len(recs))
	seen := map[string]bool{}
	for _, r := range recs {
		p, err := a.s.Consent.Purpose(ctx, r.Key.Purpose)
		if err != nil {
			return nil, err
		}
		seen[p.ID] = true
		st := r.State
		it := a.item(ctx, p, lang)
		it.State, it.Since = string(st), r.Updated
		it.ReceiptURL = "/account/consents/receipt?purpose=" + url.QueryEscape(p.ID)
		it.Withdrawable = p.LegalBasis == consent.Consent &&
			(st == consent.StateGiven || st == consent.StateRenewed || st == consent.StateRenewalRequired)
		it.Renewable = p.LegalBasis == consent.Consent && (st == consent.StateRenewalRequired || st == consent.StateExpired)
		it.Objectable = p.Objectable() && st != consent.StateObjected
		out = append(out, it)
	}
	// Purposes that use citizens' data on a basis other than consent, with
	// profiling, may be objected to even when no record exists yet.
	ps, err := a.s.Consent.Purposes(ctx)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(ps, func(x, y consent.Purpose) int { return strings.Compare(x.ID, y.ID) })
	for _, p := range ps {
		if p.Objectable() && !seen[p.ID] {
			it := a.item(ctx, p, lang)
			it.Objectable = true
			out = append(out, it)
		}
	}
	return out, nil
}

// item is the part of a ConsentItem that comes from the purpose.
func (a accountConsents) item(ctx context.Context, p consent.Purpose, lang string) pages.ConsentItem {
	return pages.ConsentItem{Purpose: p.ID, Name: p.Name.In(lang), Description: p.Description.In(lang), Agency: a.s.agencyName(ctx, p.Controller),
		NoticeURL: p.NoticeURL}
}

// change runs a citizen's change from the account page; the changes that
// do not apply to the record (or purpose) are ErrNotWithdrawable, and a
// change whose effects failed stands (logged).
func (a accountConsents) change(ctx context.Context, op func(context.Context, consent.Request) (consent.Record, error), citizenID, purpose string) error {
	_, err := op(ctx, consent.Request{Subject: citizenID, Purpose: purpose, Method: consent.MethodWeb})
	switch {
	case errors.Is(err, consent.ErrTransition), errors.Is(err, consent.ErrNotFound), errors.Is(err, consent.ErrNotConsentBased),
		errors.Is(err, consent.ErrNotObjectable), errors.Is(err, consent.ErrInvalid):
		return pages.ErrNotWithdrawable
	case errors.Is(err, consent.ErrEffects):
		// The change stands and every decision follows it; ending the
		// agency's access failed and is logged (its tokens are short-lived,
		// and userinfo asks the ledger anyway).
		a.s.log.ErrorContext(ctx, "consent changed, but ending the agency's access failed", "err", err)
		return nil
	}
	return err
}

func (a accountConsents) Renew(ctx context.Context, citizenID, purpose string) error {
	return a.change(ctx, a.s.Consent.Renew, citizenID, purpose)
}

func (a accountConsents) Object(ctx context.Context, citizenID, purpose string) error {
	return a.change(ctx, a.s.Consent.Object, citizenID, purpose)
}

func (a accountConsents) Withdraw(ctx context.Context, citizenID, purpose string) error {
	return a.change(ctx, a.s.Consent.Withdraw, citizenID, purpose)
}
