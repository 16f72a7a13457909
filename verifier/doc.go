// Package verifier is the OpenID4VP 1.0 verifier agencies use to check
// citizens' credentials: an agency creates a presentation request (a DCQL
// query under one of its registered purposes), the citizen's wallet
// fetches the signed request object and answers at the response endpoint
// (direct_post, or direct_post.jwt encrypted to the request's own key),
// and the agency reads the result — only the claims it asked for, each
// credential's issuer and status, and the consent record the ledger's
// decision rests on.
//
// A request may ask only for what its purpose registers (Settings): the
// credential types and the claims of each. Every presented SD-JWT VC is
// validated (internal/sdjwtvc: the issuer's published keys and trust for
// the type, disclosures, times, key binding to this request's nonce and
// to this verifier, status), what it discloses must answer the query
// (internal/dcql) and only what the query asked reaches the agency. When
// Cedula's own issuer issued the credentials, the presentation is tied
// to the citizen (the status list place) so that the consent ledger can
// decide on the purpose; the agency never learns that tie. The decision,
// allowed or denied, and the presentation's outcome are appended to the
// audit log with the request's change, in one transaction.
//
// A request is answered once: the first response, good or bad, ends it.
// Its nonce binds each presentation to it, so a presentation made for
// one request fails at another. Results are sealed at rest and dropped
// once read by the agency's retention (ResultTTL after the answer).
//
// This package speaks no HTTP; verifierapi serves it.
package verifier
