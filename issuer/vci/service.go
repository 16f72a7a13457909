package vci

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/credential"
)

// IssuerRing is the key ring credentials and status lists are signed
// with. Its retired keys stay published as long as the longest-lived
// credential may be checked.
const IssuerRing = "vc-issuer"

// Ledger is the consent ledger's decision, whose audit entry the caller
// appends in its own transaction (consent.Service.DecideEntry).
type Ledger interface {
	DecideEntry(ctx context.Context, q consent.Query) (consent.Decision, audit.Entry, error)
}

// Citizens reads the registry and the agencies' pairwise subjects.
type Citizens interface {
	Citizen(ctx context.Context, id string) (issuer.Citizen, error)
	// SubjectCitizen returns the citizen clientID knows by sub
	// (ErrUnknownSubject when none), Subject the other way round.
	SubjectCitizen(ctx context.Context, clientID, sub string) (string, error)
	Subject(ctx context.Context, clientID, citizenID string) (string, error)
}

// Config builds a Service; the fields without a default are required.
type Config struct {
	// Issuer is the credential issuer identifier: the public URL.
	Issuer string
	Types  []credential.Type
	Store  Store
	Keys   keys.Manager
	Ledger Ledger
	// Audit takes the entries of refusals, which change nothing else.
	Audit      audit.Appender
	Pseudonyms *audit.Pseudonyms
	Citizens   Citizens
	// Sources gives each type its attribute source (default SourceFor
	// with an HTTP client of its own).
	Sources func(credential.Type) Source
	// Secret keys the pre-authorized codes, transaction codes and
	// c_nonces; every replica shares it. At least 32 bytes.
	Secret []byte
	// StatusListURI is the URL a status list is served at.
	StatusListURI func(list string) string
	// OfferURL is the URL of an offer by reference.
	OfferURL func(offerID string) string
	// StatusChanged, when set, is called after a status change has
	// committed, with the citizen the credentials were issued to.
	StatusChanged func(ctx context.Context, citizenID string)
	Now           func() time.Time
	// OfferTTL is how long an offer may be redeemed (default 72h);
	// NonceTTL how long a c_nonce lives (default 5m).
	OfferTTL, NonceTTL time.Duration
	// ListSize is the number of places in a status list: a power of four
	// (default 65536).
	ListSize int
	// BatchSize is the most credentials one request may ask (default 10).
	BatchSize int
	// Encryption, when set, is the key wallets encrypt credential
	// requests to, and makes encrypted responses available (§10).
	Encryption *jose.DecryptionKey
	// Certificates is the issuer's X.509 certificate chain (DER, leaf
	// first): credentials signed with the key its leaf certifies carry it
	// as x5c, beside the key the jwt-vc-issuer metadata publishes.
	Certificates [][]byte
	// ListTTL is the ttl of status list tokens, how long a verifier may
	// cache one (default 5m).
	ListTTL time.Duration
}

// Service is the credential issuer.
type Service struct {
	cfg    Config
	types  map[string]credential.Type
	order  []string
	meta   map[string][]byte // type metadata documents by type id
	integ  map[string]string // their integrity
	source func(credential.Type) Source
	nonces nonces
	secret []byte
	places *placePool
	lists  sync.Map // list id → cachedList
	leaf   crypto.PublicKey
}

// New checks cfg and builds the service. A vct that is a path ("/…") is
// made absolute under the issuer's URL, where its type metadata is served.
func New(cfg Config) (*Service, error) {
	var missing []string
	for name, ok := range map[string]bool{"Issuer": cfg.Issuer != "", "Store": cfg.Store != nil, "Keys": cfg.Keys != nil,
		"Ledger": cfg.Ledger != nil, "Audit": cfg.Audit != nil, "Pseudonyms": cfg.Pseudonyms != nil, "Citizens": cfg.Citizens != nil,
		"StatusListURI": cfg.StatusListURI != nil, "OfferURL": cfg.OfferURL != nil} {
		if !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, fmt.Errorf("vci: config lacks %s", strings.Join(missing, ", "))
	}
	if len(cfg.Secret) < 32 {
		return nil, errors.New("vci: the secret must have at least 32 bytes")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.OfferTTL <= 0 {
		cfg.OfferTTL = 72 * time.Hour
	}
	if cfg.NonceTTL <= 0 {
		cfg.NonceTTL = 5 * time.Minute
	}
	if cfg.ListSize == 0 {
		cfg.ListSize = 1 << 16
	}
	if !validListSize(cfg.ListSize) {
		return nil, fmt.Errorf("vci: status list size %d is not a power of four between 16 and 2^24", cfg.ListSize)
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 10
	}
	if cfg.ListTTL <= 0 {
		cfg.ListTTL = 5 * time.Minute
	}
	s := &Service{cfg: cfg, types: map[string]credential.Type{}, meta: map[string][]byte{}, integ: map[string]string{},
		secret: derive(cfg.Secret, "secret")}
	s.source = cfg.Sources
	if s.source == nil {
		client := &http.Client{}
		s.source = func(t credential.Type) Source { return SourceFor(t, client) }
	}
	for _, t := range cfg.Types {
		if strings.HasPrefix(t.VCT, "/") {
			t.VCT = strings.TrimSuffix(cfg.Issuer, "/") + t.VCT
		}
		doc, err := t.Metadata()
		if err != nil {
			return nil, fmt.Errorf("vci: type %s: %w", t.ID, err)
		}
		s.types[t.ID], s.meta[t.ID], s.integ[t.ID] = t, doc, credential.Integrity(doc)
		s.order = append(s.order, t.ID)
	}
	if len(cfg.Certificates) > 0 {
		c, err := x509.ParseCertificate(cfg.Certificates[0])
		if err != nil {
			return nil, fmt.Errorf("vci: issuer certificate: %w", err)
		}
		s.leaf = c.PublicKey
	}
	var err error
	if s.nonces, err = newNonces(derive(cfg.Secret, "c_nonce")); err != nil {
		return nil, err
	}
	s.places = &placePool{bits: 2, size: cfg.ListSize, block: 64, reserve: cfg.Store.Reserve}
	return s, nil
}

// derive returns a key for one use of the secret.
func derive(secret []byte, use string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("cedula-vci-" + use))
	return m.Sum(nil)
}

// Issuer is the credential issuer identifier.
func (s *Service) Issuer() string { return s.cfg.Issuer }

// Types lists the types in configuration order.
func (s *Service) Types() []credential.Type {
	out := make([]credential.Type, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, s.types[id])
	}
	return out
}

// Type returns the type of id.
func (s *Service) Type(id string) (credential.Type, bool) {
	t, ok := s.types[id]
	return t, ok
}

// TypeMetadata returns the type metadata document served at vct.
func (s *Service) TypeMetadata(vct string) ([]byte, bool) {
	for id, t := range s.types {
		if t.VCT == vct {
			return s.meta[id], true
		}
	}
	return nil, false
}

// Now is the service's clock.
func (s *Service) Now() time.Time { return s.cfg.Now().UTC() }

func (s *Service) pseudonym(citizenID string) string { return s.cfg.Pseudonyms.Of(citizenID) }

// entry builds an audit entry of the issuer about citizenID.
func (s *Service) entry(ctx context.Context, action string, actor audit.Actor, citizenID string, t credential.Type, outcome audit.Outcome) audit.Entry {
	return audit.Entry{Time: s.Now(), Actor: actor, Action: action, Subject: s.pseudonym(citizenID), Categories: t.Categories,
		Outcome: outcome, RequestID: audit.RequestIDFrom(ctx)}
}

func agency(clientID string) audit.Actor { return audit.Actor{Kind: audit.ActorClient, ID: clientID} }

// decide asks the ledger whether the agency may use the citizen's data of
// type t for the type's purpose. A denial is appended to the log here
// with a refusal entry of action, and returns ErrDenied; an allowance
// returns the decision's entry for the caller's transaction.
func (s *Service) decide(ctx context.Context, clientID, citizenID string, t credential.Type, action string, actor audit.Actor) (audit.Entry, error) {
	d, e, err := s.cfg.Ledger.DecideEntry(ctx, consent.Query{Subject: citizenID, Controller: clientID, Purpose: t.Purpose, Categories: t.Categories})
	if err != nil {
		return audit.Entry{}, err
	}
	if d.Allow {
		return e, nil
	}
	if _, err := s.cfg.Audit.Append(ctx, e, s.entry(ctx, action, actor, citizenID, t, audit.Denied)); err != nil {
		return audit.Entry{}, err
	}
	return audit.Entry{}, fmt.Errorf("%w (%s)", ErrDenied, d.Reason)
}

// x5c is the certificate chain to send with credentials signed by key:
// the configured chain when its leaf certifies key, else none.
func (s *Service) x5c(key keys.Key) jose.CertChain {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if s.leaf == nil {
		return nil
	}
	if pub, ok := key.Public().(equaler); !ok || !pub.Equal(s.leaf) {
		return nil
	}
	return jose.CertChain(s.cfg.Certificates)
}
