// Package web holds what Cedula's server-rendered pages share: the embedded
// templates and static files (CSS, and webauthn.js that runs the passkey
// ceremonies in the browser), the Spanish and English message catalog and
// language negotiation, a Renderer that wraps every page in an accessible
// layout (WCAG 2.2 AA: language, skip link, landmarks, visible focus, error
// summaries), CSRF protection for forms and JSON calls, and the RFC 9457
// problem writer for JSON endpoints.
//
// It knows nothing of citizens or passkeys: the handlers that use it live
// in the rooms (issuer/pages).
package web
