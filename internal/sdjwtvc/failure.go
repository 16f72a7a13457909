package sdjwtvc

import "fmt"

// Reason is why a presentation was refused: a short code the verifier
// room can map to OpenID4VP errors and show to an agency.
type Reason string

// Reasons Verify fails with.
const (
	// ReasonMalformed: not a compact SD-JWT VC, a wrong typ, or registered
	// claims of the wrong type.
	ReasonMalformed Reason = "malformed"
	// ReasonUntrustedIssuer: the trust list does not admit the iss for
	// the vct.
	ReasonUntrustedIssuer Reason = "untrusted_issuer"
	// ReasonIssuerUnavailable: the issuer's keys could not be read.
	ReasonIssuerUnavailable Reason = "issuer_unavailable"
	// ReasonSignature: the issuer's signature does not verify, or its
	// algorithm is not accepted (none, HMAC, RSA).
	ReasonSignature Reason = "signature"
	// ReasonDisclosure: a disclosure is malformed, unreferenced, sent
	// twice, or discloses a registered claim.
	ReasonDisclosure Reason = "disclosure"
	// ReasonTypeMetadata: the type metadata cannot be read, its integrity
	// does not match, or it is for another vct.
	ReasonTypeMetadata Reason = "type_metadata"
	// ReasonExpired: exp has passed.
	ReasonExpired Reason = "expired"
	// ReasonNotYetValid: nbf (or iat) is in the future.
	ReasonNotYetValid Reason = "not_yet_valid"
	// ReasonKeyBinding: no cnf.jwk, no key-binding JWT, or one with a
	// wrong typ, algorithm, signature or sd_hash.
	ReasonKeyBinding Reason = "key_binding"
	// ReasonNonce: the key-binding JWT's nonce is not the request's.
	ReasonNonce Reason = "nonce"
	// ReasonAudience: the key-binding JWT's aud is not the verifier.
	ReasonAudience Reason = "audience"
	// ReasonStale: the key-binding JWT was made too long ago, or in the
	// future.
	ReasonStale Reason = "stale"
	// ReasonRevoked: the status list says 1, invalid.
	ReasonRevoked Reason = "revoked"
	// ReasonSuspended: the status list says 2, suspended.
	ReasonSuspended Reason = "suspended"
	// ReasonStatusUnavailable: the credential has a status that could not
	// be read (and no cached reading is within its ttl), or a status value
	// this package does not understand.
	ReasonStatusUnavailable Reason = "status_unavailable"
)

// Failure is why Verify (or a Resolver method) refused. Detail says what
// was wrong in words safe to show an agency: it never holds a claim's
// value. The underlying cause, for logs, is available through Unwrap.
type Failure struct {
	Reason Reason
	Detail string
	cause  error
}

func (f *Failure) Error() string { return "sdjwtvc: " + string(f.Reason) + ": " + f.Detail }

// Unwrap returns the cause, if any: for logs, not for agencies.
func (f *Failure) Unwrap() error { return f.cause }

func fail(r Reason, detail string) *Failure { return &Failure{Reason: r, Detail: detail} }

func failf(r Reason, cause error, format string, args ...any) *Failure {
	return &Failure{Reason: r, Detail: fmt.Sprintf(format, args...), cause: cause}
}
