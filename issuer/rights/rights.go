// Package rights carries out the citizen's rights that span the rooms —
// access and portability (GDPR Art. 15 and 20: Export) and erasure (Art.
// 17: Erase) — in one place, over the provider's store, the consent ledger
// and the audit log. It has no HTTP in it; rightsapi serves it.
package rights

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/audit/auditapi"
	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/consent/consentapi"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/reqid"
	"github.com/cedula/cedula/issuer"
)

// ExportRing is the key ring (ES256) that signs citizens' exports.
const ExportRing = "citizen-export"

// ExportJWSType is the "typ" of an export's signature.
const ExportJWSType = "citizen-export+jwt"

// Store is what the rights read and erase in the provider's store.
type Store interface {
	Citizen(ctx context.Context, id string) (issuer.Citizen, error)
	EraseCitizen(ctx context.Context, id string) (issuer.Erased, error)
	PasskeysOf(ctx context.Context, citizenID string) ([]issuer.Passkey, error)
	RecoveryCodesLeft(ctx context.Context, citizenID string) (int, error)
	GrantClients(ctx context.Context, citizenID string, now time.Time) ([]string, error)
}

// Log is what the rights need of the audit log.
type Log interface {
	Append(ctx context.Context, entries ...audit.Entry) (int64, error)
	Flush(ctx context.Context) error
}

// Config is what a Service is built from; every field but Forget is
// required.
type Config struct {
	Store  Store
	Ledger *consent.Service
	Log    Log
	// Checkpoint signs a checkpoint of the log as it is now.
	Checkpoint func(ctx context.Context) error
	// Trail is every audit entry about a pseudonym, proven and opened
	// (auditapi.Views.Trail).
	Trail func(ctx context.Context, subject string) (auditapi.Page, error)
	// Erase destroys the key of a pseudonym's sealed audit details
	// (audit.Shredder.Erase).
	Erase func(ctx context.Context, subject string) error
	// Forget, optional, deletes what other rooms hold of the citizen
	// under their data key (the wallet's credentials, pending answers and
	// presentation history), before that key is destroyed.
	Forget    func(ctx context.Context, citizenID string) error
	Pseudonym func(citizenID string) string
	Keys      keys.Manager
	// Issuer is the public URL.
	Issuer string
}

// Service carries out the rights.
type Service struct{ cfg Config }

// New checks cfg and returns the Service.
func New(cfg Config) (*Service, error) {
	var missing []string
	for name, ok := range map[string]bool{"Store": cfg.Store != nil, "Ledger": cfg.Ledger != nil, "Log": cfg.Log != nil,
		"Checkpoint": cfg.Checkpoint != nil, "Trail": cfg.Trail != nil, "Erase": cfg.Erase != nil, "Pseudonym": cfg.Pseudonym != nil,
		"Keys": cfg.Keys != nil, "Issuer": cfg.Issuer != ""} {
		if !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("rights: missing %s", strings.Join(missing, ", "))
	}
	return &Service{cfg: cfg}, nil
}

// Export is everything Cedula holds about a citizen (GDPR Art. 15, and
// Art. 20 in a machine-readable form).
type Export struct {
	Issuer  string    `json:"iss"`
	Issued  time.Time `json:"issued"`
	Subject string    `json:"audit_subject"` // the citizen's pseudonym in the audit log
	Citizen struct {
		ID         string    `json:"id"`
		GivenName  string    `json:"given_name,omitempty"`
		FamilyName string    `json:"family_name,omitempty"`
		Birthdate  string    `json:"birthdate,omitempty"`
		Email      string    `json:"email,omitempty"`
		Locale     string    `json:"locale,omitempty"`
		Created    time.Time `json:"created"`
	} `json:"citizen"`
	Passkeys          []ExportPasskey `json:"passkeys"`
	RecoveryCodesLeft int             `json:"recovery_codes_left"`
	// AgenciesWithAccess hold unexpired, unrevoked tokens for the citizen.
	AgenciesWithAccess []string           `json:"agencies_with_access"`
	Consents           []ConsentState     `json:"consents"`
	ConsentHistory     []consentapi.Event `json:"consent_history"`
	// Audit holds every entry about the citizen, newest first, with its
	// inclusion proof against the checkpoint carried once.
	Audit auditapi.Page `json:"audit"`
}

// ExportPasskey is a passkey as the export shows it.
type ExportPasskey struct {
	Name           string    `json:"name"`
	Created        time.Time `json:"created"`
	LastUsed       time.Time `json:"last_used,omitzero"`
	BackupEligible bool      `json:"backup_eligible"`
	BackupState    bool      `json:"backup_state"`
	Transports     []string  `json:"transports,omitempty"`
	AAGUID         string    `json:"aaguid,omitempty"`
}

// ConsentState is a consent record as the export shows it.
type ConsentState struct {
	Record         string    `json:"record"`
	Purpose        string    `json:"purpose"`
	PurposeVersion int       `json:"purpose_version"`
	Controller     string    `json:"controller"`
	State          string    `json:"state"`
	LegalBasis     string    `json:"legal_basis"`
	Categories     []string  `json:"categories"`
	NoticeVersion  string    `json:"notice_version"`
	Updated        time.Time `json:"updated"`
	Expires        time.Time `json:"expires,omitzero"`
}

// Export gathers everything held about the citizen and signs it (a JWS of
// ring ExportRing whose payload is the same export, so that anyone can
// check it came from Cedula unchanged). Taking it is audited first.
func (s *Service) Export(ctx context.Context, citizenID string) (Export, string, error) {
	subject := s.cfg.Pseudonym(citizenID)
	if _, err := s.cfg.Log.Append(ctx, audit.Entry{Time: time.Now(), Actor: audit.Actor{Kind: audit.ActorCitizen, ID: subject},
		Action: "citizen.export", Subject: subject, LegalBasis: "legal-obligation", Outcome: audit.Allowed, RequestID: reqid.From(ctx)}); err != nil {
		return Export{}, "", err
	}
	x, err := s.gather(ctx, citizenID)
	if err != nil {
		return x, "", err
	}
	k, err := s.cfg.Keys.Active(ctx, ExportRing, keys.ES256)
	if err != nil {
		return x, "", err
	}
	sig, err := jose.SignJSON(ctx, k, x, map[string]any{"typ": ExportJWSType})
	return x, sig, err
}

func (s *Service) gather(ctx context.Context, citizenID string) (Export, error) {
	var x Export
	c, err := s.cfg.Store.Citizen(ctx, citizenID)
	if err != nil {
		return x, err
	}
	x.Issuer, x.Issued, x.Subject = s.cfg.Issuer, time.Now().UTC(), s.cfg.Pseudonym(citizenID)
	x.Citizen.ID, x.Citizen.GivenName, x.Citizen.FamilyName = c.ID, c.GivenName, c.FamilyName
	x.Citizen.Birthdate, x.Citizen.Email, x.Citizen.Locale, x.Citizen.Created = c.Birthdate, c.Email, c.Locale, c.Created
	pks, err := s.cfg.Store.PasskeysOf(ctx, citizenID)
	if err != nil {
		return x, err
	}
	x.Passkeys = []ExportPasskey{}
	for _, p := range pks {
		x.Passkeys = append(x.Passkeys, ExportPasskey{Name: p.Name, Created: p.Created, LastUsed: p.LastUsed,
			BackupEligible: p.BackupEligible, BackupState: p.BackupState, Transports: p.Transports, AAGUID: hex.EncodeToString(p.AAGUID)})
	}
	if x.RecoveryCodesLeft, err = s.cfg.Store.RecoveryCodesLeft(ctx, citizenID); err != nil {
		return x, err
	}
	if x.AgenciesWithAccess, err = s.cfg.Store.GrantClients(ctx, citizenID, time.Now()); err != nil {
		return x, err
	}
	recs, err := s.cfg.Ledger.Records(ctx, citizenID)
	if err != nil {
		return x, err
	}
	x.Consents = []ConsentState{}
	for _, r := range recs {
		x.Consents = append(x.Consents, ConsentState{Record: r.Ref().String(), Purpose: r.Key.Purpose, PurposeVersion: r.PurposeVersion,
			Controller: r.Key.Controller, State: string(r.State), LegalBasis: string(r.LegalBasis), Categories: r.Categories,
			NoticeVersion: r.NoticeVersion, Updated: r.Updated, Expires: r.Expires})
	}
	es, err := s.cfg.Ledger.History(ctx, citizenID)
	if err != nil {
		return x, err
	}
	x.ConsentHistory = consentapi.Events(es)
	// Everything appended so far, under a checkpoint signed now.
	if err := s.cfg.Log.Flush(ctx); err != nil {
		return x, err
	}
	if err := s.cfg.Checkpoint(ctx); err != nil {
		return x, err
	}
	x.Audit, err = s.cfg.Trail(ctx, x.Subject)
	return x, err
}

// Erasure counts what Erase did.
type Erasure struct {
	Index                int64 `json:"index"` // of the audit entry of the erasure
	ConsentsWithdrawn    int64 `json:"consents_withdrawn"`
	PasskeysRemoved      int64 `json:"passkeys_removed"`
	RecoveryCodesRemoved int64 `json:"recovery_codes_removed"`
	EnrolmentsRemoved    int64 `json:"enrolments_removed"`
	SessionsEnded        int64 `json:"sessions_ended"`
	TokensRevoked        int64 `json:"tokens_revoked"`
}

// Erase erases the citizen (issuer.ErrNotFound when unknown), across the
// rooms, each step audited, as actor: the consents in force are withdrawn
// (ending the agencies' access), the provider's personal data erased, the
// other rooms' rows of the citizen deleted (Forget), and
// last the key of the citizen's audit details destroyed, so their details
// become unreadable while every proof still verifies. The consent history
// and the log stay, under pseudonyms, as the proof of what was done and
// of the erasure itself.
func (s *Service) Erase(ctx context.Context, citizenID string, actor audit.Actor) (Erasure, error) {
	var out Erasure
	if _, err := s.cfg.Store.Citizen(ctx, citizenID); err != nil {
		return out, err
	}
	withdrawn, err := s.withdrawAll(ctx, citizenID, actor)
	if err != nil {
		return out, err
	}
	erased, err := s.cfg.Store.EraseCitizen(ctx, citizenID)
	if err != nil {
		return out, err
	}
	if s.cfg.Forget != nil {
		if err := s.cfg.Forget(ctx, citizenID); err != nil {
			return out, err
		}
	}
	subject := s.cfg.Pseudonym(citizenID)
	if err := s.cfg.Erase(ctx, subject); err != nil {
		return out, err
	}
	i, err := s.cfg.Log.Append(ctx, audit.Entry{Time: time.Now(), Actor: actor,
		Action: "audit.erase", Subject: subject, LegalBasis: "legal-obligation", Outcome: audit.Allowed, RequestID: reqid.From(ctx)})
	if err != nil {
		return out, err
	}
	return Erasure{Index: i, ConsentsWithdrawn: int64(withdrawn), PasskeysRemoved: int64(erased.Passkeys),
		RecoveryCodesRemoved: int64(erased.RecoveryCodes), EnrolmentsRemoved: int64(erased.Enrolments),
		SessionsEnded: int64(erased.Sessions), TokensRevoked: int64(erased.Tokens)}, nil
}

// withdrawAll withdraws every consent of the citizen that a withdrawal
// applies to (given, renewed or awaiting renewal) and returns how many.
func (s *Service) withdrawAll(ctx context.Context, citizenID string, actor audit.Actor) (int, error) {
	recs, err := s.cfg.Ledger.Records(ctx, citizenID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, rec := range recs {
		if rec.LegalBasis != consent.Consent || (rec.State != consent.StateGiven && rec.State != consent.StateRenewed && rec.State != consent.StateRenewalRequired) {
			continue
		}
		_, err := s.cfg.Ledger.Withdraw(ctx, consent.Request{Subject: citizenID, Purpose: rec.Key.Purpose, Method: consent.MethodAPI, Actor: actor})
		if err != nil && !errors.Is(err, consent.ErrEffects) {
			return n, err
		}
		n++
	}
	return n, nil
}
