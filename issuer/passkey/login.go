package passkey

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/cedula/cedula/issuer"
)

// Login is the first half of a login ceremony.
type Login struct {
	// ID names the ceremony; the browser keeps it (in a cookie) and it is
	// handed back to FinishLogin.
	ID string
	// Options go, in their JSON form, to navigator.credentials.get()
	// (WebAuthn L3 §5.5 PublicKeyCredentialRequestOptions). They name no
	// credential, so the browser offers every passkey it holds for the RP:
	// in an autofill list with mediation "conditional" (Credential
	// Management §2.3.2, WebAuthn L3 §5.1.4.1), or in a modal dialog.
	Options *protocol.CredentialAssertion
}

// BeginLogin starts a usernameless login with a discoverable credential
// and user verification required.
func (s *Service) BeginLogin(ctx context.Context) (Login, error) {
	assertion, session, err := s.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return Login{}, fmt.Errorf("passkey: begin login: %w", err)
	}
	id, err := s.putCeremony(ctx, ceremony{Kind: kindLogin, Session: *session})
	if err != nil {
		return Login{}, err
	}
	return Login{ID: id, Options: assertion}, nil
}

// FinishLogin finishes the login ceremony ceremonyID: it verifies body, the
// JSON form of the PublicKeyCredential that navigator.credentials.get()
// returned (WebAuthn L3 §7.2), finds the citizen by the user handle and the
// passkey by the credential ID, and records the signature counter and
// backup state (§7.2 steps 21–24). It returns the citizen and the passkey as
// updated. The ceremony is consumed whatever the outcome.
//
// Errors: ErrCeremony, ErrMalformed, ErrUserVerification,
// ErrUnknownCredential, ErrVerification, ErrAAGUID, and one wrapping
// issuer.ErrCounter when the counter did not increase (a possibly cloned
// authenticator; refused and logged); anything else is a storage failure.
func (s *Service) FinishLogin(ctx context.Context, ceremonyID string, body []byte) (issuer.Citizen, issuer.Passkey, error) {
	cer, err := s.takeCeremony(ctx, ceremonyID, kindLogin)
	if err != nil {
		return issuer.Citizen{}, issuer.Passkey{}, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
	if err != nil {
		return issuer.Citizen{}, issuer.Passkey{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	// WebAuthn L3 §7.2 step 17.
	if !parsed.Response.AuthenticatorData.Flags.HasUserVerified() {
		return issuer.Citizen{}, issuer.Passkey{}, ErrUserVerification
	}
	// WebAuthn L3 §7.2 step 6: for a discoverable login the user handle
	// identifies the account. Every Cedula passkey is discoverable, so a
	// credential without one is not Cedula's.
	if len(parsed.Response.UserHandle) == 0 {
		return issuer.Citizen{}, issuer.Passkey{}, ErrUnknownCredential
	}

	var (
		c         issuer.Citizen
		p         issuer.Passkey
		lookupErr error
	)
	handler := func(rawID, userHandle []byte) (webauthn.User, error) {
		c, lookupErr = s.store.Citizen(ctx, string(userHandle))
		if lookupErr == nil {
			p, lookupErr = s.store.Passkey(ctx, rawID)
		}
		switch {
		case errors.Is(lookupErr, issuer.ErrNotFound):
			lookupErr = ErrUnknownCredential
		case lookupErr == nil && p.CitizenID != c.ID:
			// §7.2 step 6: the credential must belong to the user
			// the user handle names.
			lookupErr = ErrUnknownCredential
		}
		if lookupErr != nil {
			return nil, lookupErr
		}
		return user{c: c, creds: []webauthn.Credential{credential(p)}}, nil
	}
	if _, _, err := s.wa.ValidatePasskeyLogin(handler, cer.Session, parsed); err != nil {
		switch {
		case errors.Is(lookupErr, ErrUnknownCredential):
			return issuer.Citizen{}, issuer.Passkey{}, ErrUnknownCredential
		case lookupErr != nil:
			return issuer.Citizen{}, issuer.Passkey{}, fmt.Errorf("passkey: finish login: %w", lookupErr)
		}
		return issuer.Citizen{}, issuer.Passkey{}, fmt.Errorf("%w: %w", ErrVerification, err)
	}
	if !s.aaguidAllowed(p.AAGUID) {
		return issuer.Citizen{}, issuer.Passkey{}, ErrAAGUID
	}

	// §7.2 steps 21–24: store the new counter and backup state. The store
	// refuses a counter that did not increase, atomically across replicas
	// (§6.1.1: a sign of a cloned authenticator).
	authData := parsed.Response.AuthenticatorData
	now := s.now().UTC()
	err = s.store.RecordPasskeyUse(ctx, p.ID, authData.Counter, authData.Flags.HasBackupState(), now)
	switch {
	case errors.Is(err, issuer.ErrCounter):
		s.log.WarnContext(ctx, "passkey login refused: signature counter did not increase; the authenticator may be cloned",
			"citizen", c, "stored_count", p.SignCount, "received_count", authData.Counter)
		return issuer.Citizen{}, issuer.Passkey{}, fmt.Errorf("passkey: login refused: %w", err)
	case errors.Is(err, issuer.ErrNotFound): // removed meanwhile
		return issuer.Citizen{}, issuer.Passkey{}, ErrUnknownCredential
	case err != nil:
		return issuer.Citizen{}, issuer.Passkey{}, fmt.Errorf("passkey: record use: %w", err)
	}
	p.SignCount = authData.Counter
	p.BackupState = authData.Flags.HasBackupState()
	p.LastUsed = now
	return c, p, nil
}
