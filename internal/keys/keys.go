package keys

import (
	"context"
	"crypto"
	"errors"
	"io"
	"time"
)

// Alg is a JWS signature algorithm (RFC 7518 §3.1, RFC 8037).
type Alg string

const (
	ES256 Alg = "ES256" // ECDSA P-256 with SHA-256: the default
	EdDSA Alg = "EdDSA" // Ed25519
	RS256 Alg = "RS256" // RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys
)

// Valid reports whether a is one of the supported algorithms.
func (a Alg) Valid() bool { return a == ES256 || a == EdDSA || a == RS256 }

// Hash returns the hash the algorithm signs over, or 0 for EdDSA, which signs
// the whole message.
func (a Alg) Hash() crypto.Hash {
	if a == EdDSA {
		return 0
	}
	return crypto.SHA256
}

// Sentinel errors.
var (
	ErrUnsupportedAlg = errors.New("keys: unsupported algorithm")
	ErrBadName        = errors.New("keys: invalid ring name")
	ErrUnavailable    = errors.New("keys: backend unavailable")
)

// Key is one signing key. Its private half stays inside the backend.
type Key interface {
	// ID is the key's JWS "kid": stable, unique across rings and versions.
	ID() string
	Alg() Alg
	// Public returns *ecdsa.PublicKey, ed25519.PublicKey or *rsa.PublicKey.
	Public() crypto.PublicKey
	// Sign has crypto.Signer's contract: for ES256 and RS256, digest is the
	// SHA-256 of the message and opts.HashFunc() is crypto.SHA256; ECDSA
	// signatures are ASN.1 DER. For EdDSA, digest is the whole message and
	// opts.HashFunc() is 0. Safe for concurrent use.
	Sign(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error)
}

// PublicKey is a verification key as published in a JWKS.
type PublicKey struct {
	ID      string
	Alg     Alg
	Key     crypto.PublicKey
	Created time.Time
	// Retired is when a newer key replaced this one; zero while active.
	Retired time.Time
}

// Manager owns the key rings. Implementations are safe for concurrent use by
// several goroutines and, sharing one backend, by several processes.
type Manager interface {
	// Active returns the ring's active key, creating the ring with a first
	// key of alg when it does not exist. A ring holds keys of one
	// algorithm; asking an existing ring for another returns
	// ErrUnsupportedAlg.
	Active(ctx context.Context, ring string, alg Alg) (Key, error)
	// Rotate makes a new key of alg the ring's active key and retires the
	// previous one.
	Rotate(ctx context.Context, ring string, alg Alg) (Key, error)
	// Verification lists the ring's active key and every retired key
	// retired less than the manager's retention ago, newest first. An
	// unknown ring gives an empty list.
	Verification(ctx context.Context, ring string) ([]PublicKey, error)
	// Rings lists the names of the existing rings.
	Rings(ctx context.Context) ([]string, error)
}

// Signer adapts k to crypto.Signer for libraries that want one; ctx bounds
// every Sign call.
func Signer(ctx context.Context, k Key) crypto.Signer { return cryptoSigner{ctx: ctx, k: k} }

type cryptoSigner struct {
	ctx context.Context
	k   Key
}

func (s cryptoSigner) Public() crypto.PublicKey { return s.k.Public() }

func (s cryptoSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.k.Sign(s.ctx, digest, opts)
}

// ValidRing reports whether name may name a ring: 1–64 characters of
// a–z, 0–9 and '-'.
func ValidRing(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
