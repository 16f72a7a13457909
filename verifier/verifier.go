package verifier

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/internal/dcql"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/keys/dek"
	"github.com/cedula/cedula/internal/random"
	"github.com/cedula/cedula/internal/sdjwtvc"
	"github.com/cedula/cedula/internal/statuslist"
)

// Audit actions of the verifier.
const (
	ActionRequest = "verifier.request" // an agency created a presentation request
	ActionPresent = "verifier.present" // a presentation was verified, or failed
	ActionCancel  = "verifier.cancel"  // an agency cancelled its request
)

// Ring is the key ring that signs request objects.
const Ring = "verifier"

// Response modes (OpenID4VP 1.0 §8.2, §8.3).
const (
	ModeDirectPost    = "direct_post"
	ModeDirectPostJWT = "direct_post.jwt"
)

// FormatSDJWT is the only credential format asked for.
const FormatSDJWT = "dc+sd-jwt"

// PrefixX509SanDNS and PrefixRedirectURI are the client identifier
// prefixes the verifier can be known by (§5.9.3).
const (
	PrefixX509SanDNS  = "x509_san_dns"
	PrefixRedirectURI = "redirect_uri"
)

// Defaults.
const (
	DefaultRequestTTL = 10 * time.Minute
	DefaultResultTTL  = 10 * time.Minute
	// KBMaxAge is how old a key-binding JWT may be.
	KBMaxAge = 5 * time.Minute
)

// Status is where a request is.
type Status string

const (
	StatusPending   Status = "pending"   // created, not fetched yet
	StatusFetched   Status = "fetched"   // a wallet fetched the request object
	StatusVerified  Status = "verified"  // answered with valid presentations
	StatusFailed    Status = "failed"    // answered, and the answer failed (Failure says why)
	StatusDeclined  Status = "declined"  // the wallet answered with an error (the citizen declined)
	StatusCancelled Status = "cancelled" // the agency cancelled it
	StatusExpired   Status = "expired"   // nobody answered in time
)

// open reports whether a request in status s may still be answered.
func (s Status) open() bool { return s == StatusPending || s == StatusFetched }

// Request is a stored presentation request.
type Request struct {
	ID       string
	ClientID string // the agency
	Purpose  string
	// Categories are what the ledger decides on: those the purpose
	// registers for the types asked.
	Categories   []string
	DCQL         json.RawMessage
	Nonce, State string
	ResponseMode string
	Status       Status
	Failure      *Failure
	Created      time.Time
	Expires      time.Time
	Answered     time.Time // zero until answered
	// Result is the sealed Result, nil until verified (and once dropped).
	Result []byte
}

// Failure says why an answer failed, for the agency and the log: a Reason
// code and a detail without personal data.
type Failure struct {
	Reason string `json:"reason"`
	Detail string `json:"detail"`
}

// Reasons of failures beyond sdjwtvc's.
const (
	ReasonMalformed   = "malformed"       // the response or vp_token does not parse
	ReasonNotAnswered = "not_answered"    // the presentations do not answer the query
	ReasonDenied      = "consent_denied"  // the ledger does not allow the purpose for this citizen
	ReasonHolders     = "several_holders" // the credentials are of different citizens
	ReasonCancelled   = "cancelled"       // the answer came after the agency cancelled
	ReasonExpired     = "expired_request" // the answer came after the request expired
	ReasonDeclined    = "declined"        // the wallet answered with an error
)

// Result is what the agency gets of a verified presentation.
type Result struct {
	Credentials []Presented `json:"credentials"`
	// Purpose and LegalBasis are what the ledger decided on; ConsentRecord
	// is the consent record (the receipt's) the decision rests on, "" for
	// another basis.
	Purpose       string `json:"purpose"`
	LegalBasis    string `json:"legal_basis"`
	ConsentRecord string `json:"consent_record,omitempty"`
}

// Presented is one verified credential as the agency sees it.
type Presented struct {
	QueryID         string         `json:"query_id"`
	VCT             string         `json:"vct"`
	Issuer          string         `json:"issuer"`
	Status          string         `json:"status"` // "valid"; a credential without a status list: "unlisted"
	StatusCheckedAt *time.Time     `json:"status_checked_at,omitempty"`
	ExpiresAt       *time.Time     `json:"expires_at,omitempty"`
	Claims          map[string]any `json:"claims"`
}

// View is a request as its agency reads it.
type View struct {
	Request
	// Opened is the result, when verified and not dropped yet.
	Opened *Result
}

// Store keeps requests; verifier/sqlstore is one.
type Store interface {
	// CreateRequest stores a new request with entries, in one transaction.
	CreateRequest(ctx context.Context, r Request, entries ...audit.Entry) error
	// Request returns a request; ErrNotFound when there is none.
	Request(ctx context.Context, id string) (Request, error)
	// MarkFetched moves a pending request to fetched (no error when it is
	// not pending any more).
	MarkFetched(ctx context.Context, id string) error
	// Finish ends an open request (pending or fetched, and not expired
	// at at) in status, with its failure or sealed result, queues notice
	// (nil: none) and appends entries, in one transaction; ErrClosed when
	// the request is not open any more (answered, cancelled or expired).
	Finish(ctx context.Context, id string, status Status, f *Failure, result []byte, at time.Time, notice *Delivery, entries ...audit.Entry) error
	// Cancel ends an open request of clientID; ErrNotFound when it has no
	// such request, ErrClosed when it is answered already.
	Cancel(ctx context.Context, clientID, id string, at time.Time, entries ...audit.Entry) error
	// Expiring returns up to n open requests whose time ran out by t.
	Expiring(ctx context.Context, t time.Time, n int) ([]Request, error)
	// Expire ends an open request as expired, queueing notice (nil: none);
	// ErrClosed when it is not open.
	Expire(ctx context.Context, id string, notice *Delivery) error
	// DropResults drops the results of requests answered before t.
	DropResults(ctx context.Context, t time.Time) (int, error)
	Webhooks
}

// Ledger is the consent ledger as the verifier uses it; consent.Service
// is one.
type Ledger interface {
	Purpose(ctx context.Context, id string) (consent.Purpose, error)
	DecideEntry(ctx context.Context, q consent.Query) (consent.Decision, audit.Entry, error)
}

// Appender appends entries to the audit log (outside a request's
// transaction: a refusal at creation).
type Appender interface {
	Append(ctx context.Context, entries ...audit.Entry) (int64, error)
}

// Holders tells which citizen holds a credential Cedula's own issuer
// issued, by its status list place; ErrUnknownHolder for any other.
type Holders interface {
	Holder(ctx context.Context, iss string, ref statuslist.Reference) (citizenID string, err error)
}

// Config is what the verifier is built from.
type Config struct {
	// BaseURL is the server's public URL: request objects are at
	// BaseURL/vp/requests/{id}, answers at BaseURL/vp/responses/{id}.
	BaseURL string
	// ClientID is the verifier's client identifier with its prefix:
	// x509_san_dns:HOST (Chain required) or redirect_uri:BaseURL/vp/responses/
	// (for tests: wallets do not sign-check such requests).
	ClientID string
	// Chain returns the certificate chain (DER, leaf first) for a signing
	// key of the Ring: its leaf must name HOST and certify the key.
	Chain func(ctx context.Context, key keys.Key) ([][]byte, error)
	// Name is shown to the citizen (client_metadata.client_name).
	Name      string
	Keys      keys.Manager
	Settings  Settings
	Store     Store
	Ledger    Ledger
	Audit     Appender
	Holders   Holders
	Resolver  *sdjwtvc.Resolver
	Secret    []byte                 // seals results and derives each request's response key
	Pseudonym func(id string) string // a citizen's pseudonym in the log
	Now       func() time.Time
	// RequestTTL bounds how long a request waits for its answer;
	// ResultTTL how long a result is kept once answered.
	RequestTTL, ResultTTL time.Duration
	// WebhookRetry is the first wait before a failed webhook delivery is
	// tried again (doubling each time, at most an hour); 0: 5 s.
	WebhookRetry time.Duration
}

// Service is the verifier.
type Service struct {
	cfg      Config
	settings Settings
	purposes map[string]Purpose
	trust    map[string][]string // iss → vcts
	sealKey  dek.Key
	host     string // of an x509_san_dns client identifier
	// deliver wakes the webhook worker; webhookClient sends.
	deliver       chan struct{}
	webhookClient *http.Client
}

// New checks cfg and builds the verifier.
func New(cfg Config) (*Service, error) {
	var missing []string
	for name, ok := range map[string]bool{"BaseURL": cfg.BaseURL != "", "ClientID": cfg.ClientID != "", "Keys": cfg.Keys != nil,
		"Store": cfg.Store != nil, "Ledger": cfg.Ledger != nil, "Audit": cfg.Audit != nil, "Holders": cfg.Holders != nil,
		"Resolver": cfg.Resolver != nil, "Secret": len(cfg.Secret) >= 32, "Pseudonym": cfg.Pseudonym != nil} {
		if !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, fmt.Errorf("verifier: config lacks %s", strings.Join(missing, ", "))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RequestTTL <= 0 {
		cfg.RequestTTL = DefaultRequestTTL
	}
	if cfg.ResultTTL <= 0 {
		cfg.ResultTTL = DefaultResultTTL
	}
	s := &Service{cfg: cfg, settings: cfg.Settings.resolve(cfg.BaseURL), purposes: map[string]Purpose{}, trust: map[string][]string{},
		deliver: make(chan struct{}, 1), webhookClient: webhookClient(strings.HasPrefix(cfg.BaseURL, "http://"))}
	if err := s.settings.check(); err != nil {
		return nil, fmt.Errorf("verifier: %w", err)
	}
	for _, p := range s.settings.Purposes {
		s.purposes[p.ID] = p
	}
	for _, t := range s.settings.Trust {
		s.trust[t.Issuer] = append(s.trust[t.Issuer], t.VCTs...)
	}
	prefix, id, _ := strings.Cut(cfg.ClientID, ":")
	switch prefix {
	case PrefixX509SanDNS:
		if cfg.Chain == nil {
			return nil, errors.New("verifier: an x509_san_dns client identifier needs the verifier's certificate chain")
		}
		s.host = id
	case PrefixRedirectURI:
		if id != s.responseURI("") {
			return nil, fmt.Errorf("verifier: a redirect_uri client identifier must be %q", PrefixRedirectURI+":"+s.responseURI(""))
		}
	default:
		return nil, fmt.Errorf("verifier: client identifier prefix %q is not supported", prefix)
	}
	k, err := hkdf.Key(sha256.New, cfg.Secret, nil, "cedula-verifier-results", dek.Size)
	if err != nil {
		return nil, err
	}
	s.sealKey = dek.Key(k)
	return s, nil
}

// ClientID is the verifier's client identifier.
func (s *Service) ClientID() string { return s.cfg.ClientID }

// RequestURI is where a request's object is fetched.
func (s *Service) RequestURI(id string) string {
	return strings.TrimSuffix(s.cfg.BaseURL, "/") + "/vp/requests/" + id
}

// responseURI is where a request is answered; id "" gives the prefix.
func (s *Service) responseURI(id string) string {
	return strings.TrimSuffix(s.cfg.BaseURL, "/") + "/vp/responses/" + id
}

// Link is the request as a same-device link or a QR code carries it
// (§5.10: by reference, fetched with POST so the wallet can send its
// metadata and a wallet_nonce).
func (s *Service) Link(id string) string {
	q := url.Values{"client_id": {s.cfg.ClientID}, "request_uri": {s.RequestURI(id)}, "request_uri_method": {"post"}}
	return "openid4vp://?" + q.Encode()
}

// Create is an agency's new request.
type Create struct {
	DCQL         json.RawMessage
	Purpose      string
	ResponseMode string // "" for direct_post.jwt
}

// Create checks an agency's request against its purpose and stores it.
// A request that asks beyond what its purpose registers is refused
// (ErrNotRegistered) and the refusal audited.
func (s *Service) Create(ctx context.Context, clientID string, in Create) (Request, error) {
	p, cats, err := s.vet(ctx, clientID, &in)
	if err != nil {
		return Request{}, err
	}
	now := s.cfg.Now().UTC()
	r := Request{ID: random.Token(18), ClientID: clientID, Purpose: in.Purpose, Categories: cats, DCQL: canonical(in.DCQL),
		Nonce: random.Token(24), State: random.Token(18), ResponseMode: in.ResponseMode, Status: StatusPending,
		Created: now, Expires: now.Add(s.cfg.RequestTTL)}
	e := audit.Entry{Time: now, Actor: audit.Actor{Kind: audit.ActorClient, ID: clientID}, Action: ActionRequest,
		Purpose: p.DPV, LegalBasis: string(p.LegalBasis), Categories: cats, Outcome: audit.Allowed, RequestID: audit.RequestIDFrom(ctx)}
	if err := s.cfg.Store.CreateRequest(ctx, r, e); err != nil {
		return Request{}, err
	}
	return r, nil
}

// vet checks an agency's request (its response mode defaulted in place)
// and returns its purpose and the categories the ledger will decide on;
// a refusal for the purpose is audited.
func (s *Service) vet(ctx context.Context, clientID string, in *Create) (consent.Purpose, []string, error) {
	if in.ResponseMode == "" {
		in.ResponseMode = ModeDirectPostJWT
	}
	if in.ResponseMode != ModeDirectPost && in.ResponseMode != ModeDirectPostJWT {
		return consent.Purpose{}, nil, invalid("response_mode must be %s or %s", ModeDirectPost, ModeDirectPostJWT)
	}
	q, err := dcql.Parse(in.DCQL)
	if err != nil {
		return consent.Purpose{}, nil, invalid("dcql_query: %v", err)
	}
	for _, cq := range q.Credentials {
		if cq.Format != FormatSDJWT {
			return consent.Purpose{}, nil, invalid("credential query %q: format %q is not supported; ask for %s", cq.ID, cq.Format, FormatSDJWT)
		}
		if len(cq.Meta.VCTValues) == 0 {
			return consent.Purpose{}, nil, invalid("credential query %q: meta.vct_values must name the credential types asked for", cq.ID)
		}
	}
	p, err := s.cfg.Ledger.Purpose(ctx, in.Purpose)
	if errors.Is(err, consent.ErrNotFound) || err == nil && p.Controller != clientID {
		return p, nil, s.refuse(ctx, clientID, in.Purpose, fmt.Errorf("%w: purpose %q is not one of this agency's", ErrNotYourPurpose, in.Purpose))
	} else if err != nil {
		return p, nil, err
	}
	reg, ok := s.purposes[in.Purpose]
	if !ok {
		return p, nil, s.refuse(ctx, clientID, in.Purpose, fmt.Errorf("%w: purpose %q registers no presentation", ErrNotRegistered, in.Purpose))
	}
	cats, err := asks(reg, p, q)
	if err != nil {
		return p, nil, s.refuse(ctx, clientID, in.Purpose, err)
	}
	return p, cats, nil
}

// canonical is a JSON document without insignificant space.
func canonical(b json.RawMessage) json.RawMessage {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return b
	}
	out, _ := json.Marshal(v)
	return out
}

// refuse audits an agency's refused request and returns err.
func (s *Service) refuse(ctx context.Context, clientID, purpose string, err error) error {
	e := audit.Entry{Time: s.cfg.Now(), Actor: audit.Actor{Kind: audit.ActorClient, ID: clientID}, Action: ActionRequest,
		Outcome: audit.Denied, RequestID: audit.RequestIDFrom(ctx)}
	if _, aerr := s.cfg.Audit.Append(ctx, e); aerr != nil {
		return aerr
	}
	return err
}

// asks checks that q asks only for what reg registers and returns the
// categories the ledger will decide on.
func asks(reg Purpose, p consent.Purpose, q *dcql.Query) ([]string, error) {
	paths, vcts := q.Paths(), q.VCTs()
	var cats []string
	for _, cq := range q.Credentials {
		for _, vct := range vcts[cq.ID] {
			i := slices.IndexFunc(reg.Credentials, func(r Registered) bool { return r.VCT == vct })
			if i < 0 {
				return nil, fmt.Errorf("%w: credential query %q asks for %s, which the purpose does not register", ErrNotRegistered, cq.ID, vct)
			}
			r := reg.Credentials[i]
			for _, path := range paths[cq.ID] {
				if !slices.ContainsFunc(r.Claims, func(rp []any) bool { return covers(rp, path) }) {
					b, _ := json.Marshal(path)
					return nil, fmt.Errorf("%w: credential query %q asks for claim %s of %s, which the purpose does not register", ErrNotRegistered, cq.ID, b, vct)
				}
			}
			c := r.Categories
			if len(c) == 0 {
				c = p.Categories
			}
			for _, cat := range c {
				if !slices.Contains(cats, cat) {
					cats = append(cats, cat)
				}
			}
		}
	}
	if len(cats) == 0 {
		cats = slices.Clone(p.Categories)
	}
	slices.Sort(cats)
	return cats, nil
}

// AskedBy says which agency made the open request a wallet answers at
// responseURI under purpose, when the wallet talks to this verifier
// (clientID is this verifier's and responseURI one of its response
// URIs); ok is false for any other verifier.
func (s *Service) AskedBy(ctx context.Context, clientID, responseURI, purpose string) (agency string, ok bool, err error) {
	id, mine := strings.CutPrefix(responseURI, s.responseURI(""))
	if clientID != s.cfg.ClientID || !mine || id == "" {
		return "", false, nil
	}
	r, err := s.cfg.Store.Request(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return "", false, fmt.Errorf("verifier: no request is waiting at %s", responseURI)
	} else if err != nil {
		return "", false, err
	}
	if r = s.expired(r); !r.Status.open() || r.Purpose != purpose {
		return "", false, fmt.Errorf("verifier: the request at %s is %s, or not under purpose %q", responseURI, r.Status, purpose)
	}
	return r.ClientID, true, nil
}

// Get returns an agency's request with its result opened.
func (s *Service) Get(ctx context.Context, clientID, id string) (View, error) {
	r, err := s.agencyRequest(ctx, clientID, id)
	if err != nil {
		return View{}, err
	}
	r = s.expired(r)
	v := View{Request: r}
	if len(r.Result) > 0 {
		plain, err := dek.Open(s.sealKey, r.Result, []byte(r.ID))
		if err != nil {
			return View{}, fmt.Errorf("verifier: result of %s: %w", r.ID, err)
		}
		var res Result
		if err := json.Unmarshal(plain, &res); err != nil {
			return View{}, fmt.Errorf("verifier: result of %s: %w", r.ID, err)
		}
		v.Opened = &res
	}
	return v, nil
}

// agencyRequest is one of clientID's requests; ErrNotFound for another
// agency's, as for none.
func (s *Service) agencyRequest(ctx context.Context, clientID, id string) (Request, error) {
	r, err := s.cfg.Store.Request(ctx, id)
	if err != nil {
		return Request{}, err
	}
	if r.ClientID != clientID {
		return Request{}, ErrNotFound
	}
	return r, nil
}

// expired shows an open request past its time as expired.
func (s *Service) expired(r Request) Request {
	if r.Status.open() && !s.cfg.Now().Before(r.Expires) {
		r.Status = StatusExpired
	}
	return r
}

// Cancel ends an agency's open request.
func (s *Service) Cancel(ctx context.Context, clientID, id string) error {
	r, err := s.agencyRequest(ctx, clientID, id)
	if err != nil {
		return err
	}
	now := s.cfg.Now().UTC()
	e := audit.Entry{Time: now, Actor: audit.Actor{Kind: audit.ActorClient, ID: clientID}, Action: ActionCancel,
		Categories: r.Categories, Outcome: audit.Allowed, RequestID: audit.RequestIDFrom(ctx)}
	return s.cfg.Store.Cancel(ctx, clientID, id, now, e)
}

// Housekeep expires requests nobody answered (their agencies' webhooks
// are told) and drops results past their retention.
func (s *Service) Housekeep(ctx context.Context) (expired, dropped int, err error) {
	now := s.cfg.Now()
	for {
		rs, err := s.cfg.Store.Expiring(ctx, now, 100)
		if err != nil {
			return expired, 0, err
		}
		for _, r := range rs {
			notice, err := s.outbox(ctx, r, StatusExpired, nil, nil, time.Time{}, now)
			if err != nil {
				return expired, 0, err
			}
			if err := s.cfg.Store.Expire(ctx, r.ID, notice); err == nil {
				expired++
			} else if !errors.Is(err, ErrClosed) {
				return expired, 0, err
			}
		}
		if len(rs) < 100 {
			break
		}
	}
	if expired > 0 {
		s.wake()
	}
	dropped, err = s.cfg.Store.DropResults(ctx, now.Add(-s.cfg.ResultTTL))
	return expired, dropped, err
}

// outbox is the notice of r's outcome for its agency's webhook, nil when
// the agency has none.
func (s *Service) outbox(ctx context.Context, r Request, st Status, f *Failure, res *Result, answered, now time.Time) (*Delivery, error) {
	u, err := s.cfg.Store.Webhook(ctx, r.ClientID)
	if err != nil || u == "" {
		return nil, err
	}
	sealed, err := s.notice(r, st, f, res, answered)
	if err != nil {
		return nil, err
	}
	return &Delivery{ID: newDeliveryID(), ClientID: r.ClientID, URL: u, Sealed: sealed, Created: now, RequestID: r.ID}, nil
}
