package passkey

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"github.com/cedula/cedula/issuer"
)

// Sentinel errors of the ceremonies; compare with errors.Is. Besides these,
// FinishLogin returns an error wrapping issuer.ErrCounter when an
// authenticator's signature counter went backwards, and FinishRegistration
// one wrapping issuer.ErrExists when the credential is already registered.
var (
	// ErrCeremony: the ceremony ID is unknown, expired, already finished, or
	// belongs to another kind of ceremony or another citizen. The browser
	// must begin again.
	ErrCeremony = errors.New("passkey: no such ceremony (unknown, expired or finished)")
	// ErrMalformed: the body is not a PublicKeyCredential in its JSON form
	// (WebAuthn L3 §5.1.8, §5.1.9).
	ErrMalformed = errors.New("passkey: malformed credential")
	// ErrVerification: the credential was well formed but failed one of
	// the verification steps (WebAuthn L3 §7.1, §7.2): wrong challenge,
	// origin or RP ID, bad signature or attestation.
	ErrVerification = errors.New("passkey: credential verification failed")
	// ErrUnknownCredential: no registered passkey has the credential ID and
	// user handle the authenticator returned (WebAuthn L3 §7.2 step 6).
	ErrUnknownCredential = errors.New("passkey: unknown credential")
	// ErrUserVerification: the authenticator did not set the UV flag, which
	// Cedula requires (WebAuthn L3 §7.1 step 15, §7.2 step 17).
	ErrUserVerification = errors.New("passkey: user verification required")
	// ErrAAGUID: the authenticator's model (AAGUID) is not on the
	// configured allow-list.
	ErrAAGUID = errors.New("passkey: authenticator model not allowed")
)

// Store is the storage the ceremonies use.
type Store interface {
	issuer.Citizens
	issuer.Passkeys
	issuer.Ceremonies
}

// Config configures the relying party.
type Config struct {
	// RPID is the relying party ID, a registrable domain such as
	// "id.example.gob" (WebAuthn L3 §5.1.2, §13.4.9).
	RPID string
	// RPDisplayName is shown by authenticators next to the account.
	RPDisplayName string
	// Origins lists every origin the pages are served from, such as
	// "https://id.example.gob" (WebAuthn L3 §7.1 step 9).
	Origins []string
	// AllowedAAGUIDs, when not empty, lists the authenticator models
	// (AAGUIDs, as UUID strings) that may register or use a passkey. The
	// check is strict: an authenticator reporting the zero AAGUID is refused
	// unless "00000000-0000-0000-0000-000000000000" is listed. Without
	// attestation an AAGUID is the authenticator's own claim, so this is a
	// policy filter, not a security boundary.
	AllowedAAGUIDs []string
	// CeremonyTTL bounds the time between Begin and Finish (default 5 min).
	CeremonyTTL time.Duration
	// Logger receives refusals worth an operator's attention (default
	// slog.Default()).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Validate reports every problem with the configuration at once.
func (c Config) Validate() error {
	var probs []error
	if c.RPID == "" {
		probs = append(probs, errors.New("rp id is required"))
	} else if err := protocol.ValidateRPID(c.RPID); err != nil {
		probs = append(probs, fmt.Errorf("rp id %q is not a valid domain: %v", c.RPID, err))
	}
	if strings.TrimSpace(c.RPDisplayName) == "" {
		probs = append(probs, errors.New("rp display name is required"))
	}
	if len(c.Origins) == 0 {
		probs = append(probs, errors.New("at least one origin is required"))
	}
	for _, o := range c.Origins {
		u, err := url.Parse(o)
		switch {
		case err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
			probs = append(probs, fmt.Errorf("origin %q must be scheme://host[:port]", o))
		case u.Scheme != "https" && !(u.Scheme == "http" && u.Hostname() == "localhost"):
			probs = append(probs, fmt.Errorf("origin %q must use https (http only for localhost)", o))
		case c.RPID != "" && u.Hostname() != c.RPID && !strings.HasSuffix(u.Hostname(), "."+c.RPID):
			// WebAuthn L3 §5.1.2: the RP ID must be the origin's effective
			// domain or a registrable suffix of it.
			probs = append(probs, fmt.Errorf("origin %q is not within rp id %q", o, c.RPID))
		}
	}
	for _, a := range c.AllowedAAGUIDs {
		if _, err := uuid.Parse(a); err != nil {
			probs = append(probs, fmt.Errorf("allowed aaguid %q is not a UUID", a))
		}
	}
	if c.CeremonyTTL < 0 {
		probs = append(probs, errors.New("ceremony ttl must not be negative"))
	}
	if len(probs) > 0 {
		return fmt.Errorf("passkey: invalid config: %w", errors.Join(probs...))
	}
	return nil
}

// Service runs registration and login ceremonies. It is safe for concurrent
// use, and several replicas sharing one Store may each run half a ceremony.
type Service struct {
	wa      *webauthn.WebAuthn
	store   Store
	ttl     time.Duration
	allowed []uuid.UUID // nil: any authenticator
	log     *slog.Logger
	now     func() time.Time
}

// New returns a Service for the relying party in cfg.
func New(cfg Config, store Store) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if store == nil {
		return nil, errors.New("passkey: nil store")
	}
	s := &Service{store: store, ttl: cfg.CeremonyTTL, log: cfg.Logger, now: cfg.Now}
	if s.ttl == 0 {
		s.ttl = 5 * time.Minute
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	for _, a := range cfg.AllowedAAGUIDs {
		s.allowed = append(s.allowed, uuid.MustParse(a))
	}
	timeout := webauthn.TimeoutConfig{Timeout: s.ttl, TimeoutUVD: s.ttl}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:          cfg.RPID,
		RPDisplayName: cfg.RPDisplayName,
		RPOrigins:     slices.Clone(cfg.Origins),
		// Attestation "none": Cedula does not ask for authenticator
		// attestation, which would identify the device model to us
		// (WebAuthn L3 §5.4.7, §14.4.1).
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			// WebAuthn L3 §5.4.4, §5.4.6: a discoverable credential, so
			// that login needs no username, and user verification.
			RequireResidentKey: protocol.ResidentKeyRequired(),
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			UserVerification:   protocol.VerificationRequired,
		},
		// The ceremony's lifetime is enforced by the ceremony store; the
		// library's timeouts only become the options' "timeout" hint.
		Timeouts: webauthn.TimeoutsConfig{Login: timeout, Registration: timeout},
	})
	if err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	s.wa = wa
	return s, nil
}

// aaguidAllowed applies the allow-list to an authenticator's AAGUID.
func (s *Service) aaguidAllowed(aaguid []byte) bool {
	if len(s.allowed) == 0 {
		return true
	}
	id, err := uuid.FromBytes(aaguid)
	if err != nil {
		return false
	}
	return slices.Contains(s.allowed, id)
}
