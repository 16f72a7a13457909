// Package httpapi is Cedula's one HTTP edge: the echo server that carries
// every route — the rooms' JSON APIs, the OpenID provider and the pages —
// with one error handler, strict JSON binding, scope checks, request IDs,
// access logs and metrics by route template. Rooms own their APIs (a
// struct with a Mount method taking *echo.Group or *echo.Echo); this
// package knows none of them.
//
// Handlers return errors; HTTPErrorHandler turns them into responses: an
// *Error into its RFC 9457 problem (public title and detail, the cause
// logged only), an *OAuthError into the RFC 6749 §5.2 JSON, a domain
// sentinel into the *Error a Classifier maps it to, and anything else into
// a 500 problem that names the request ID and hides the cause.
package httpapi
