package passkey

import (
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/cedula/cedula/issuer"
)

// user adapts an issuer.Citizen and their passkeys to webauthn.User.
type user struct {
	c     issuer.Citizen
	creds []webauthn.Credential
}

var _ webauthn.User = user{}

// WebAuthnID is the user handle: the citizen's random ID, never a name or
// an e-mail address (WebAuthn L3 §5.4.3, §14.6.1). Authorization decisions
// rest on it alone.
func (u user) WebAuthnID() []byte { return []byte(u.c.ID) }

// WebAuthnName is the account name an authenticator shows when the citizen
// picks a passkey (WebAuthn L3 §5.4.3 "name"). It is the citizen's e-mail
// address when known, else their name.
func (u user) WebAuthnName() string {
	switch {
	case u.c.Email != "":
		return u.c.Email
	case u.c.DisplayName() != "":
		return u.c.DisplayName()
	}
	return "Cedula"
}

// WebAuthnDisplayName is the citizen's name (WebAuthn L3 §5.4.3
// "displayName").
func (u user) WebAuthnDisplayName() string {
	if n := u.c.DisplayName(); n != "" {
		return n
	}
	return u.WebAuthnName()
}

func (u user) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// credential converts a stored passkey to the library's credential record
// (WebAuthn L3 §4 "credential record").
func credential(p issuer.Passkey) webauthn.Credential {
	var flags protocol.AuthenticatorFlags = protocol.FlagUserPresent | protocol.FlagUserVerified
	if p.BackupEligible {
		flags |= protocol.FlagBackupEligible
	}
	if p.BackupState {
		flags |= protocol.FlagBackupState
	}
	transports := make([]protocol.AuthenticatorTransport, len(p.Transports))
	for i, t := range p.Transports {
		transports[i] = protocol.AuthenticatorTransport(t)
	}
	return webauthn.Credential{
		ID:              p.ID,
		PublicKey:       p.PublicKey,
		AttestationType: p.AttestationType,
		Transport:       transports,
		Flags:           webauthn.NewCredentialFlags(flags),
		Authenticator: webauthn.Authenticator{
			AAGUID:    p.AAGUID,
			SignCount: p.SignCount,
		},
	}
}
