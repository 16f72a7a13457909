package wallet

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/random"
	"github.com/cedula/cedula/internal/statuslist"
)

// Audit actions of the wallet; the actor is the citizen.
const (
	ActionReceive = "wallet.credential.receive"
	ActionDelete  = "wallet.credential.delete"
)

// Record is a held credential as stored: everything but its owner, its ID
// and when it came is sealed under the owner's data key.
type Record struct {
	ID        string
	CitizenID string
	Received  time.Time
	Sealed    []byte
	// Summary, sealed apart, is what showing the credential needs (its
	// decoded claims, display texts, dates, status reference), so that a
	// list opens and decodes that alone; empty for records stored before
	// it existed.
	Summary []byte
	// Watch, when set, is stored with the record (WatchStore).
	Watch *Watch
}

// Store keeps the wallet's records. Entries given with a change are
// appended to the audit log in the change's transaction.
type Store interface {
	PutCredential(ctx context.Context, r Record, entries ...audit.Entry) error
	// ListCredentials returns the citizen's records, newest first; a
	// record with a Summary may come without its Sealed content, which
	// GetCredential gives.
	ListCredentials(ctx context.Context, citizenID string) ([]Record, error)
	// GetCredential returns ErrNotFound for an ID the citizen does not
	// hold, whoever else holds it.
	GetCredential(ctx context.Context, citizenID, id string) (Record, error)
	DeleteCredential(ctx context.Context, citizenID, id string, entries ...audit.Entry) error
}

// Sealer encrypts data under a citizen's data key (the key erasure
// destroys), bound to label; audit.Shredder is one.
type Sealer interface {
	SealData(ctx context.Context, subject, label string, data []byte) ([]byte, error)
	OpenData(ctx context.Context, subject, label string, sealed []byte) ([]byte, error)
}

// Config is what a Service is built from.
type Config struct {
	Store  Store
	Sealer Sealer
	// Subject gives a citizen's audit pseudonym, which is also whose data
	// key seals their wallet.
	Subject func(citizenID string) string
	// HTTP is the client for issuers; nil means the wallet's own, which
	// reaches public addresses only (dial.go) unless AllowHTTP.
	HTTP *http.Client
	// AllowHTTP accepts http:// issuers (tests on loopback only).
	AllowHTTP bool
	// ClientID and RedirectURI are the wallet's, as an OAuth client of
	// issuers' authorization servers in the authorization code flow: the
	// wallet app's client ID and the redirect URI the app catches (and
	// hands back to FinishAuthorization). Unset, offers that need the
	// citizen's login at the issuer are refused (ErrUnsupported).
	ClientID, RedirectURI string
	// Copies is how many credentials (each with its own holder key) the
	// wallet asks for per offered configuration, within the issuer's batch
	// size, so that presentations need not be linkable; 0 means 3.
	Copies int
	// VerifierRoots are the trust anchors of verifiers' request objects
	// (x509_san_dns); nil trusts none, so only unsigned redirect_uri
	// requests can be answered.
	VerifierRoots *x509.CertPool
	// Consents, when set, records the citizen's approval of a
	// presentation for a purpose the request names as a consent event in
	// the ledger, for the citizen ID and with the verifier's client_id as
	// the controller it names (the server maps that to an agency); an
	// error there refuses the approval and sends nothing.
	Consents Consents
	// Inbox, when set, is told what happens to the citizen's credentials:
	// received, suspended, reinstated, revoked, about to expire.
	Inbox Notifier
	// Logger logs what fails after a change stands (nil: slog.Default()).
	Logger *slog.Logger
	Now    func() time.Time
}

// Service is the wallet.
type Service struct {
	cfg    Config
	status *statusCache
	keys   issuerKeys
}

// New checks cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Sealer == nil || cfg.Subject == nil {
		return nil, errors.New("wallet: Store, Sealer and Subject are required")
	}
	if cfg.HTTP == nil {
		cfg.HTTP = newHTTPClient(cfg.AllowHTTP)
	}
	if cfg.Copies <= 0 {
		cfg.Copies = 3
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Service{cfg: cfg}
	s.status = newStatusCache(s)
	return s, nil
}

// held is a record's sealed content.
type held struct {
	Issuer          string        `json:"issuer"`
	ConfigurationID string        `json:"configuration_id"`
	Configuration   Configuration `json:"configuration"`
	IssuerDisplay   []displayJSON `json:"issuer_display,omitempty"`
	KeyMode         KeyMode       `json:"key_mode"`
	Instances       []instance    `json:"instances"`
	Notification    *notification `json:"notification,omitempty"`
}

// instance is one copy of a credential with its own holder key.
type instance struct {
	Credential string          `json:"credential"`
	Key        json.RawMessage `json:"key,omitempty"`        // sealed mode: the private JWK
	DeviceKey  json.RawMessage `json:"device_key,omitempty"` // device mode: the phone's public JWK
	Used       int             `json:"used,omitempty"`
}

// notification is what the wallet needs to tell the issuer about the
// credential later (OpenID4VCI 1.0 §11).
type notification struct {
	Endpoint  string    `json:"endpoint"`
	ID        string    `json:"id"`
	Token     string    `json:"token"`
	TokenType string    `json:"token_type"`
	DPoPKey   []byte    `json:"dpop_key,omitempty"`
	Expires   time.Time `json:"expires"`
}

func label(id string) string { return "wallet/credential/" + id }

// sealJSON seals v, as JSON, for the citizen under label.
func (s *Service) sealJSON(ctx context.Context, citizenID, label string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return s.cfg.Sealer.SealData(ctx, s.cfg.Subject(citizenID), label, b)
}

// openJSON opens what sealJSON sealed into v; what names it in errors.
func (s *Service) openJSON(ctx context.Context, citizenID, label string, sealed []byte, what string, v any) error {
	b, err := s.cfg.Sealer.OpenData(ctx, s.cfg.Subject(citizenID), label, sealed)
	if err != nil {
		return fmt.Errorf("wallet: open %s: %w", what, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("wallet: open %s: %w", what, err)
	}
	return nil
}

func (s *Service) seal(ctx context.Context, citizenID, id string, h *held) ([]byte, error) {
	b, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	return s.cfg.Sealer.SealData(ctx, s.cfg.Subject(citizenID), label(id), b)
}

func (s *Service) open(ctx context.Context, r Record) (*held, error) {
	b, err := s.cfg.Sealer.OpenData(ctx, s.cfg.Subject(r.CitizenID), label(r.ID), r.Sealed)
	if err != nil {
		return nil, fmt.Errorf("wallet: open %s: %w", r.ID, err)
	}
	var h held
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("wallet: open %s: %w", r.ID, err)
	}
	return &h, nil
}

// Credentials returns the citizen's credentials, newest first, decoded,
// with display texts in lang and their status as of now.
func (s *Service) Credentials(ctx context.Context, citizenID, lang string) ([]Credential, error) {
	rs, err := s.cfg.Store.ListCredentials(ctx, citizenID)
	if err != nil {
		return nil, err
	}
	out := make([]Credential, 0, len(rs))
	for _, r := range rs {
		c, err := s.view(ctx, r, lang, false)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Credential returns one of the citizen's credentials, its status read
// from the issuer's list now.
func (s *Service) Credential(ctx context.Context, citizenID, id, lang string) (Credential, error) {
	r, err := s.cfg.Store.GetCredential(ctx, citizenID, id)
	if err != nil {
		return Credential{}, err
	}
	return s.view(ctx, r, lang, true)
}

// view decodes a record for the citizen; fresh reads its status from the
// issuer now rather than from the cached list.
func (s *Service) view(ctx context.Context, r Record, lang string, fresh bool) (Credential, error) {
	sum, err := s.summaryOf(ctx, r)
	if err != nil {
		return Credential{}, err
	}
	c := Credential{ID: r.ID, Issuer: sum.Issuer, IssuerName: pick(sum.IssuerDisplay, lang).Name, ConfigurationID: sum.ConfigurationID,
		Format: sum.Format, VCT: sum.VCT, Display: pick(sum.Display, lang), Claims: sum.Claims,
		ClaimInfo: claimInfo(sum.ClaimsMeta, lang),
		IssuedAt:  sum.IssuedAt, ExpiresAt: sum.ExpiresAt, ReceivedAt: r.Received, KeyMode: sum.KeyMode}
	c.Status, c.StatusCheckedAt = StatusValid, time.Time{}
	if sum.Status != nil {
		c.Status, c.StatusCheckedAt = s.status.status(ctx, sum.Iss, *sum.Status, fresh)
	}
	if !c.ExpiresAt.IsZero() && !s.cfg.Now().Before(c.ExpiresAt) {
		c.Status = StatusExpired
	}
	return c, nil
}

// summary is what showing a held credential needs, sealed apart from the
// rest (Record.Summary).
type summary struct {
	Issuer          string                `json:"issuer"`
	Iss             string                `json:"iss"`
	ConfigurationID string                `json:"configuration_id"`
	Format          string                `json:"format"`
	VCT             string                `json:"vct"`
	IssuerDisplay   []displayJSON         `json:"issuer_display,omitempty"`
	Display         []displayJSON         `json:"display,omitempty"`
	ClaimsMeta      []claimJSON           `json:"claims_meta,omitempty"`
	Claims          map[string]any        `json:"claims"`
	IssuedAt        time.Time             `json:"iat"`
	ExpiresAt       time.Time             `json:"exp"`
	Status          *statuslist.Reference `json:"status,omitempty"`
	KeyMode         KeyMode               `json:"key_mode"`
}

func summaryLabel(id string) string { return "wallet/summary/" + id }

// summarize makes a held credential's summary.
func summarize(h *held) (*summary, error) {
	if len(h.Instances) == 0 {
		return nil, errors.New("wallet: a held credential without a copy")
	}
	d, err := decodeCredential(h.Instances[0].Credential)
	if err != nil {
		return nil, err
	}
	return &summary{Issuer: h.Issuer, Iss: d.Iss, ConfigurationID: h.ConfigurationID, Format: h.Configuration.Format, VCT: d.VCT,
		IssuerDisplay: h.IssuerDisplay, Display: h.Configuration.Metadata.Display, ClaimsMeta: h.Configuration.Metadata.Claims,
		Claims: d.Claims, IssuedAt: d.IssuedAt, ExpiresAt: d.ExpiresAt, Status: d.Status, KeyMode: h.KeyMode}, nil
}

// summaryOf opens a record's summary, or makes it from the whole record
// when it has none.
func (s *Service) summaryOf(ctx context.Context, r Record) (*summary, error) {
	if len(r.Summary) == 0 {
		h, err := s.open(ctx, r)
		if err != nil {
			return nil, err
		}
		sum, err := summarize(h)
		if err != nil {
			return nil, fmt.Errorf("wallet: %s: %w", r.ID, err)
		}
		return sum, nil
	}
	b, err := s.cfg.Sealer.OpenData(ctx, s.cfg.Subject(r.CitizenID), summaryLabel(r.ID), r.Summary)
	if err != nil {
		return nil, fmt.Errorf("wallet: open %s: %w", r.ID, err)
	}
	var sum summary
	if err := json.Unmarshal(b, &sum); err != nil {
		return nil, fmt.Errorf("wallet: open %s: %w", r.ID, err)
	}
	return &sum, nil
}

// DeleteCredential deletes one of the citizen's credentials and tells its
// issuer (credential_deleted), when the issuer has a notification
// endpoint and the wallet's access token for it still holds.
func (s *Service) DeleteCredential(ctx context.Context, citizenID, id string) error {
	r, err := s.cfg.Store.GetCredential(ctx, citizenID, id)
	if err != nil {
		return err
	}
	h, openErr := s.open(ctx, r)
	e := s.entry(citizenID, ActionDelete, id)
	if err := s.cfg.Store.DeleteCredential(ctx, citizenID, id, e); err != nil {
		return err
	}
	if openErr == nil && h.Notification != nil {
		s.notify(ctx, h.Notification, "credential_deleted")
	}
	return nil
}

func (s *Service) entry(citizenID, action, id string) audit.Entry {
	sub := s.cfg.Subject(citizenID)
	return audit.Entry{Time: s.cfg.Now(), Actor: audit.Actor{Kind: audit.ActorCitizen, ID: sub}, Action: action, Subject: sub,
		Outcome: audit.Allowed, RequestID: id}
}

// newID is a held credential's ID.
func newID() string { return "wc-" + random.Token(16) }
