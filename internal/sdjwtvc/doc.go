// Package sdjwtvc verifies one presented SD-JWT VC as a verifier must:
// the SD-JWT (RFC 9901) of an IETF SD-JWT VC (typ dc+sd-jwt) with its
// key-binding JWT, against the metadata its issuer publishes. It is the
// plumbing the verifier room (OpenID4VP) builds on; it holds no policy of
// its own beyond what the caller passes in Options.
//
// Verify checks, in this order, and fails with a *Failure naming the first
// check that failed:
//
//   - the form: a compact SD-JWT+KB, the issuer-signed JWT's typ
//     dc+sd-jwt and its alg ES256, ES384 or EdDSA (never none, never HMAC);
//   - trust: the caller's trust list admits the iss for the vct, before
//     anything is fetched from the network;
//   - the issuer's signature, with the keys of the issuer's JWT VC Issuer
//     Metadata (/.well-known/jwt-vc-issuer, SD-JWT VC §5), refetched once
//     when the token names a kid the cached keys lack, so that key
//     rotation works; or, when the Resolver has Roots and the header an
//     x5c, with the leaf of a chain to one of those roots whose subject
//     alternative names include the iss (SD-JWT VC §3.5);
//   - the disclosures (sdjwt.Reconstruct: _sd_alg sha-256, every
//     disclosure referenced once, no duplicates), and that no registered
//     claim was selectively disclosed;
//   - iat, nbf and exp, with a minute's leeway for clocks;
//   - the holder binding: a cnf.jwk, and a key-binding JWT (typ kb+jwt)
//     signed with it whose sd_hash covers the presentation, whose aud and
//     nonce are the caller's and whose iat is fresh (RFC 9901 §7.3);
//   - when asked, the type metadata at the vct URL and its vct#integrity
//     (W3C Subresource Integrity);
//   - the credential's status in its issuer's Token Status List
//     (statuslist+jwt, signed with the issuer's keys, sub its URI, exp
//     honoured), cached for the list's ttl.
//
// What is not checked: type metadata "extends" chains are not followed;
// the issuer-signed JWT must name its key with a kid when it is verified
// with the issuer's published keys; status mechanisms other than the
// Token Status List are not understood, so a credential whose status
// claim has none fails as status_unavailable.
package sdjwtvc
