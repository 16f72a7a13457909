package passkey

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/cedula/cedula/issuer"
)

// Registration is the first half of a registration ceremony.
type Registration struct {
	// ID names the ceremony; the browser keeps it (in a cookie) and it is
	// handed back to VerifyRegistration or FinishRegistration.
	ID string
	// Options go, in their JSON form, to navigator.credentials.create()
	// (WebAuthn L3 §5.4 PublicKeyCredentialCreationOptions).
	Options *protocol.CredentialCreation
}

// BeginRegistration starts registering a new passkey for c: a discoverable
// credential with user verification required, excluding the authenticators
// that already hold one of c's passkeys (WebAuthn L3 §5.4.3
// excludeCredentials).
func (s *Service) BeginRegistration(ctx context.Context, c issuer.Citizen) (Registration, error) {
	if c.ID == "" {
		return Registration{}, errors.New("passkey: begin registration: citizen has no ID")
	}
	existing, err := s.store.PasskeysOf(ctx, c.ID)
	if err != nil {
		return Registration{}, fmt.Errorf("passkey: begin registration: %w", err)
	}
	exclude := make([]protocol.CredentialDescriptor, len(existing))
	for i, p := range existing {
		cred := credential(p)
		exclude[i] = cred.Descriptor()
	}
	creation, session, err := s.wa.BeginRegistration(user{c: c}, webauthn.WithExclusions(exclude))
	if err != nil {
		return Registration{}, fmt.Errorf("passkey: begin registration: %w", err)
	}
	id, err := s.putCeremony(ctx, ceremony{Kind: kindRegister, CitizenID: c.ID, Session: *session})
	if err != nil {
		return Registration{}, err
	}
	return Registration{ID: id, Options: creation}, nil
}

// VerifyRegistration finishes the ceremony ceremonyID that BeginRegistration
// started for c: it verifies body, the JSON form of the PublicKeyCredential
// that navigator.credentials.create() returned (WebAuthn L3 §7.1), and
// returns the passkey to store, named name. It stores nothing, so that a
// caller can make the registration depend on another step (such as using an
// enrolment link) before AddPasskey. The ceremony is consumed whatever the
// outcome.
//
// Errors: ErrCeremony, ErrMalformed, ErrUserVerification, ErrVerification,
// ErrAAGUID; anything else is a storage failure.
func (s *Service) VerifyRegistration(ctx context.Context, ceremonyID string, c issuer.Citizen, body []byte, name string) (issuer.Passkey, error) {
	cer, err := s.takeCeremony(ctx, ceremonyID, kindRegister)
	if err != nil {
		return issuer.Passkey{}, err
	}
	if cer.CitizenID != c.ID {
		return issuer.Passkey{}, ErrCeremony
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(body)
	if err != nil {
		return issuer.Passkey{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	// WebAuthn L3 §7.1 step 15: user verification is required, so the UV
	// flag must be set. The library checks it too; checking first gives
	// the citizen a precise message.
	if !parsed.Response.AttestationObject.AuthData.Flags.HasUserVerified() {
		return issuer.Passkey{}, ErrUserVerification
	}
	cred, err := s.wa.CreateCredential(user{c: c}, cer.Session, parsed)
	if err != nil {
		return issuer.Passkey{}, fmt.Errorf("%w: %w", ErrVerification, err)
	}
	if !s.aaguidAllowed(cred.Authenticator.AAGUID) {
		return issuer.Passkey{}, ErrAAGUID
	}
	transports := make([]string, len(cred.Transport))
	for i, t := range cred.Transport {
		transports[i] = string(t)
	}
	return issuer.Passkey{
		ID:              cred.ID,
		CitizenID:       c.ID,
		Name:            name,
		PublicKey:       cred.PublicKey,
		AttestationType: cred.AttestationType,
		AAGUID:          cred.Authenticator.AAGUID,
		SignCount:       cred.Authenticator.SignCount,
		// WebAuthn L3 §6.1.3: BE is fixed for the credential's life, BS
		// may change at each use.
		BackupEligible: cred.Flags.BackupEligible,
		BackupState:    cred.Flags.BackupState,
		Transports:     transports,
		Created:        s.now().UTC(),
	}, nil
}

// FinishRegistration is VerifyRegistration followed by storing the passkey.
// Besides VerifyRegistration's errors it returns one wrapping
// issuer.ErrExists when the credential ID is already registered (WebAuthn L3
// §7.1 step 26).
func (s *Service) FinishRegistration(ctx context.Context, ceremonyID string, c issuer.Citizen, body []byte, name string) (issuer.Passkey, error) {
	p, err := s.VerifyRegistration(ctx, ceremonyID, c, body, name)
	if err != nil {
		return issuer.Passkey{}, err
	}
	if err := s.store.AddPasskey(ctx, p); err != nil {
		return issuer.Passkey{}, fmt.Errorf("passkey: store passkey: %w", err)
	}
	return p, nil
}
