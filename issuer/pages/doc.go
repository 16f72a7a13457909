// Package pages serves the citizen-facing pages of the authorization
// server: passkey login (usernameless, with autofill), the consent screen
// an agency's sign-in request leads to, enrolment through a one-time link,
// passkey management, and recovery with a one-time recovery code. There are
// no passwords anywhere. The account page also lists the citizen's consents
// and credentials; a credential offer has a page of its own (/offer/{id}),
// with a QR code and a link that opens the wallet (the Offers interface,
// which the credential issuer implements).
//
// Pages are server-rendered in Spanish or English (package web); the
// WebAuthn ceremonies run through small JSON endpoints that web/static/
// webauthn.js calls, and that answer errors as RFC 9457 problem JSON in the
// citizen's language. Every form and every JSON call is CSRF-checked, and
// login, enrolment and recovery attempts are rate-limited per client IP and
// per citizen.
//
// A session with these pages is a random 256-bit value in the HttpOnly
// cookie cedula_session; only its SHA-256 is stored. The OIDC layer
// (issuer/oidcop) sends the browser to /login?authRequestID=… and learns the
// outcome through the AuthFlow interface it implements.
package pages
