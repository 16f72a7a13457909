// Package statuslist is the Token Status List (draft-ietf-oauth-status-
// list) as the issuer writes it and the verifier reads it: a byte array
// of statuses, 1, 2, 4 or 8 bits each, the first status in the least
// significant bits of the first byte, compressed with DEFLATE in the ZLIB
// format and base64url-encoded as the "lst" of a status_list claim. The
// signed token around it (typ statuslist+jwt) is made and checked with
// internal/jose.
package statuslist

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
)

// Status values of the IANA "OAuth Status Types" registry.
const (
	Valid     uint8 = 0x00
	Invalid   uint8 = 0x01
	Suspended uint8 = 0x02
)

// MaxBytes bounds a decoded list, so that a small compressed list cannot
// inflate into an unbounded one: 16 MiB is 67 million 2-bit statuses.
const MaxBytes = 16 << 20

// List is a status list. The zero value is not usable; make one with New
// or Decode.
type List struct {
	bits int
	b    []byte
}

// New returns a list of size statuses of bits bits each, all Valid.
func New(bits, size int) (*List, error) {
	if !validBits(bits) {
		return nil, fmt.Errorf("statuslist: %d bits a status: want 1, 2, 4 or 8", bits)
	}
	if size <= 0 || size > MaxBytes*8/bits {
		return nil, fmt.Errorf("statuslist: %d statuses: want 1 to %d", size, MaxBytes*8/bits)
	}
	return &List{bits: bits, b: make([]byte, (size*bits+7)/8)}, nil
}

func validBits(bits int) bool { return bits == 1 || bits == 2 || bits == 4 || bits == 8 }

// Bits is the size of one status.
func (l *List) Bits() int { return l.bits }

// Len is the number of statuses the list holds.
func (l *List) Len() int { return len(l.b) * 8 / l.bits }

// Get returns the status at index idx.
func (l *List) Get(idx int) (uint8, error) {
	if idx < 0 || idx >= l.Len() {
		return 0, fmt.Errorf("statuslist: index %d outside the list of %d", idx, l.Len())
	}
	bit := idx * l.bits
	return (l.b[bit/8] >> (bit % 8)) & mask(l.bits), nil
}

// Set sets the status at index idx.
func (l *List) Set(idx int, status uint8) error {
	if idx < 0 || idx >= l.Len() {
		return fmt.Errorf("statuslist: index %d outside the list of %d", idx, l.Len())
	}
	if status > mask(l.bits) {
		return fmt.Errorf("statuslist: status %d does not fit in %d bits", status, l.bits)
	}
	bit := idx * l.bits
	l.b[bit/8] = l.b[bit/8]&^(mask(l.bits)<<(bit%8)) | status<<(bit%8)
	return nil
}

func mask(bits int) uint8 { return uint8(1<<bits - 1) }

// Encode returns the list's "lst": ZLIB at the best compression,
// base64url without padding.
func (l *List) Encode() (string, error) {
	var buf bytes.Buffer
	w, err := zlib.NewWriterLevel(&buf, zlib.BestCompression)
	if err != nil {
		return "", err
	}
	if _, err := w.Write(l.b); err != nil {
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(buf.Bytes()), nil
}

// Decode reads a status_list claim's bits and lst, refusing a list that
// inflates beyond MaxBytes.
func Decode(bits int, lst string) (*List, error) {
	if !validBits(bits) {
		return nil, fmt.Errorf("statuslist: %d bits a status: want 1, 2, 4 or 8", bits)
	}
	raw, err := base64.RawURLEncoding.DecodeString(lst)
	if err != nil {
		return nil, errors.New("statuslist: lst is not base64url without padding")
	}
	r, err := zlib.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, errors.New("statuslist: lst is not ZLIB data")
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, MaxBytes+1))
	if err != nil {
		return nil, errors.New("statuslist: lst does not inflate")
	}
	if len(b) > MaxBytes {
		return nil, fmt.Errorf("statuslist: lst inflates beyond %d bytes", MaxBytes)
	}
	if len(b) == 0 {
		return nil, errors.New("statuslist: lst is empty")
	}
	return &List{bits: bits, b: b}, nil
}

// Claim is the status_list claim of a Status List Token.
type Claim struct {
	Bits int    `json:"bits"`
	Lst  string `json:"lst"`
	// AggregationURI, when set, lists the issuer's status lists.
	AggregationURI string `json:"aggregation_uri,omitempty"`
}

// Token is the payload of a Status List Token (typ statuslist+jwt): sub
// is the URI it is served at, ttl how long (seconds) a relying party may
// cache it.
type Token struct {
	Sub        string `json:"sub"`
	IssuedAt   int64  `json:"iat"`
	Expiry     int64  `json:"exp,omitempty"`
	TTL        int64  `json:"ttl,omitempty"`
	StatusList Claim  `json:"status_list"`
}

// TokenType is the JWT typ header of a Status List Token.
const TokenType = "statuslist+jwt"

// Reference is what a credential carries to point at its status: the
// "status" claim's status_list member.
type Reference struct {
	Index int    `json:"idx"`
	URI   string `json:"uri"`
}

// StatusClaim is a credential's "status" claim.
type StatusClaim struct {
	StatusList Reference `json:"status_list"`
}
