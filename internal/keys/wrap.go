package keys

import (
	"context"
	"errors"
	"fmt"
)

// DataKeySize is the length in bytes of a data-encryption key (DEK): an
// AES-256 key, as made by dek.New.
const DataKeySize = 32

// ErrUnwrap means a wrapped key did not open: it was damaged or altered,
// wrapped under another ring, bound to other associated data, or wrapped by
// a key version the backend no longer has. UnwrapKey never returns key bytes
// together with an error, and never returns bytes it could not authenticate.
var ErrUnwrap = errors.New("keys: wrapped key does not open")

// Wrapper is the optional key-wrapping capability of a Manager: envelope
// encryption of small data-encryption keys under a per-ring key-encryption
// key that never leaves the backend. It is how the audit log keeps each
// citizen's personal details under a key of their own, and crypto-shreds
// them on erasure by deleting every copy of that key's wrapped form (issue
// 3, "Privacy"; DESIGN.md, "Data minimisation").
//
// Both backends' Managers implement it; find it by type assertion, in the
// manner of zitadel/oidc's optional storage interfaces:
//
//	w, ok := m.(keys.Wrapper) // or: w, err := keys.WrapperOf(m)
//
// Wrapping rings are a namespace of their own: the wrapping key of ring
// "audit" is not the signing key of ring "audit", neither appears in the
// other's operations, and Manager.Rings lists signing rings only. Ring names
// follow ValidRing.
//
// A ring's wrapping key has versions. WrapKey always uses the newest one the
// Manager knows of (a rotation made by another replica is picked up within
// the backend's refresh interval, about a second); the wrapped form names its
// version, so UnwrapKey opens blobs of every version the backend still holds.
// Wrapped forms are opaque and belong to the backend that made them: a local
// keystore's blob does not open in Vault, or the other way round.
//
// Implementations are safe for concurrent use, and several Managers (several
// processes) sharing one backend agree on one wrapping key per ring version,
// so each unwraps what the others wrapped. Errors never carry key material;
// a backend that cannot be reached gives ErrUnavailable.
type Wrapper interface {
	// WrapKey encrypts dek, which must be DataKeySize bytes, under the
	// newest version of ring's wrapping key, authenticating aad with it
	// (nil and empty are the same). The ring's wrapping key is created on
	// first use. The result may be stored in the clear beside the data
	// the DEK protects; each call gives a different result.
	WrapKey(ctx context.Context, ring string, dek, aad []byte) (wrapped []byte, err error)
	// UnwrapKey reverses WrapKey given the same ring and aad. Any
	// mismatch or alteration gives an error matching ErrUnwrap; an
	// unknown ring is such a mismatch and is not created.
	UnwrapKey(ctx context.Context, ring string, wrapped, aad []byte) (dek []byte, err error)
	// RotateWrapKey adds a new version of ring's wrapping key (the first
	// one when the ring has none) and makes WrapKey use it. Blobs wrapped
	// under earlier versions still unwrap.
	RotateWrapKey(ctx context.Context, ring string) error
}

// WrapperOf returns m's key-wrapping capability, or an error matching
// errors.ErrUnsupported when m has none.
func WrapperOf(m Manager) (Wrapper, error) {
	if w, ok := m.(Wrapper); ok {
		return w, nil
	}
	return nil, fmt.Errorf("keys: %T cannot wrap data keys: %w", m, errors.ErrUnsupported)
}
