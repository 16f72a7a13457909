// Package oidcop serves OpenID Connect on zitadel/oidc's op package: it
// adapts issuer.Store to op.Storage, keeps signing keys in internal/keys, and
// adds what the library lacks or leaves loose: private_key_jwt for
// client_credentials (RFC 7523 §2.2 with jti replay protection), PKCE S256
// only (RFC 7636 §4.2, plain refused), refresh token rotation with reuse
// detection (RFC 9700 §4.14.2), pairwise subject identifiers (OIDC Core
// §8.1), and a per-client ID token algorithm (id_token_signed_response_alg).
package oidcop
