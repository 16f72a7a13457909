// Package passkeytest provides a software WebAuthn authenticator for tests:
// it answers the options a Cedula server sends the way a browser with a
// platform authenticator would, so the server's real verification runs.
// It is softauthn's authenticator with a test's helpers: a failure ends
// the test.
package passkeytest

import (
	"encoding/base64"
	"testing"

	"github.com/cedula/cedula/issuer/passkey/softauthn"
)

// Authenticator is a software WebAuthn authenticator and client in one
// (softauthn.Authenticator); its fields (AAGUID, Origin, BackupEligible,
// BackedUp) are softauthn's.
type Authenticator struct {
	*softauthn.Authenticator
}

// TestAAGUID is the AAGUID a new Authenticator reports.
var TestAAGUID = softauthn.DefaultAAGUID

// New returns an authenticator used from origin.
func New(origin string) *Authenticator {
	return &Authenticator{softauthn.New(origin)}
}

// Gesture describes one use of the authenticator (softauthn.Gesture).
type Gesture = softauthn.Gesture

// B64 is base64url without padding, as WebAuthn JSON uses.
func B64(b []byte) string { return softauthn.B64(b) }

// Unb64 decodes base64url without padding.
func Unb64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return b
}

// Create answers PublicKeyCredentialCreationOptions given as the JSON the
// server sends, and returns the RegistrationResponseJSON body and the new
// credential ID.
func (a *Authenticator) Create(t testing.TB, options any, g Gesture) (body, credID []byte) {
	t.Helper()
	body, credID, err := a.Authenticator.Create(options, g)
	if err != nil {
		t.Fatal(err)
	}
	return body, credID
}

// Get answers PublicKeyCredentialRequestOptions with the credential credID
// and returns the AuthenticationResponseJSON body.
func (a *Authenticator) Get(t testing.TB, options any, credID []byte, g Gesture) []byte {
	t.Helper()
	body, err := a.Authenticator.Get(options, credID, g)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// RoundTrip encodes v as the server would send it and decodes it as the
// browser's JavaScript would read it.
func RoundTrip(t testing.TB, v, into any) {
	t.Helper()
	if err := softauthn.RoundTrip(v, into); err != nil {
		t.Fatal(err)
	}
}
