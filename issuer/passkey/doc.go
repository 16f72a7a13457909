// Package passkey runs the WebAuthn ceremonies that register and use a
// citizen's passkeys, on github.com/go-webauthn/webauthn.
//
// Every passkey is a discoverable credential created with user verification
// required (WebAuthn L3 §5.4.4, §5.4.6); logins are usernameless: the
// authenticator returns the user handle, which is the citizen's random ID and
// never a name (§5.4.3, §14.6.1). The state a ceremony needs between its two
// halves (the challenge above all) is kept server-side in issuer.Ceremonies
// under a random ID that the browser keeps in a cookie, so that any replica
// can finish a ceremony another one began, and each ceremony can be finished
// once.
//
// Failures are reported with the sentinel errors of this package (and
// issuer.ErrCounter, issuer.ErrExists), which the pages map to a message in
// the citizen's language. Credential IDs, user handles and challenges are
// never logged.
package passkey
