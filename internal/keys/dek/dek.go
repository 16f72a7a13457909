package dek

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"

	"github.com/cedula/cedula/internal/keys"
)

// Size is the length of a data-encryption key in bytes (AES-256).
const Size = keys.DataKeySize

// Overhead is how many bytes Seal adds to the plaintext.
const Overhead = 1 + nonceSize + tagSize

const (
	format    byte = 0x01
	nonceSize      = 12
	tagSize        = 16
)

// Sentinel errors.
var (
	// ErrOpen means a sealed value did not open: altered, truncated,
	// sealed under another key or bound to other associated data.
	ErrOpen = errors.New("dek: sealed data does not open")
	// ErrKeySize means a key is not Size bytes long.
	ErrKeySize = errors.New("dek: data key must be 32 bytes")
)

// Key is a data-encryption key. It converts to and from []byte for
// keys.Wrapper, but hides its bytes from fmt verbs, log/slog and
// encoding/json (which refuses it), so that it is not logged or stored in
// the clear by accident.
type Key []byte

// New returns a fresh random key from crypto/rand.
func New() Key {
	k := make(Key, Size)
	rand.Read(k) // never fails (crypto/rand, Go 1.24+)
	return k
}

// Destroy overwrites the key's bytes with zeros, as far as Go allows: copies
// made elsewhere (a wrapped form unwrapped again, garbage not yet reused)
// are beyond its reach.
func (k Key) Destroy() { clear(k) }

// Seal encrypts and authenticates plaintext under k, and authenticates aad
// (nil and empty are the same), which Open must be given again. Each call
// gives a different result, Overhead bytes longer than plaintext.
func Seal(k Key, plaintext, aad []byte) ([]byte, error) {
	aead, err := newAEAD(k)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+nonceSize, Overhead+len(plaintext))
	out[0] = format
	rand.Read(out[1:]) // never fails (crypto/rand, Go 1.24+)
	return aead.Seal(out, out[1:], plaintext, additional(aad)), nil
}

// Open reverses Seal given the same key and aad. Anything else gives an
// error matching ErrOpen, never unauthenticated bytes.
func Open(k Key, sealed, aad []byte) ([]byte, error) {
	aead, err := newAEAD(k)
	if err != nil {
		return nil, err
	}
	if len(sealed) < Overhead {
		return nil, fmt.Errorf("%w: %d bytes is too short", ErrOpen, len(sealed))
	}
	if sealed[0] != format {
		return nil, fmt.Errorf("%w: unknown format 0x%02x", ErrOpen, sealed[0])
	}
	pt, err := aead.Open(nil, sealed[1:1+nonceSize], sealed[1+nonceSize:], additional(aad))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

func newAEAD(k Key) (cipher.AEAD, error) {
	if len(k) != Size {
		return nil, fmt.Errorf("%w, got %d", ErrKeySize, len(k))
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// additional is the GCM additional data: the format byte, then the
// caller's. The format byte has a fixed length, so the split is unambiguous.
func additional(aad []byte) []byte {
	ad := make([]byte, 0, 1+len(aad))
	return append(append(ad, format), aad...)
}

const redacted = "REDACTED"

// String implements fmt.Stringer without the key's bytes.
func (k Key) String() string { return "dek.Key(" + redacted + ")" }

// Format implements fmt.Formatter: every verb (%v, %x, %s, %#v, …) prints
// String, never the bytes.
func (k Key) Format(f fmt.State, _ rune) { fmt.Fprint(f, k.String()) }

// LogValue implements slog.LogValuer.
func (k Key) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText refuses, so encoding/json (and any other text encoder) cannot
// store a key in the clear: store its wrapped form (keys.Wrapper) instead.
func (k Key) MarshalText() ([]byte, error) {
	return nil, errors.New("dek: refusing to encode a data key in the clear; store its wrapped form")
}
