package vci

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// nonces makes and checks c_nonces (§7) without storing them: a nonce is
// its expiry and 16 random bytes sealed with AES-GCM under a key of the
// server secret, so any replica can check it. Spending one is recorded
// (its hash) in the transaction of the issuance that used it.
type nonces struct{ aead cipher.AEAD }

var nonceAAD = []byte("cedula c_nonce v1")

func newNonces(key []byte) (nonces, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nonces{}, err
	}
	aead, err := cipher.NewGCM(block)
	return nonces{aead: aead}, err
}

var nonceEncoding = base64.RawURLEncoding.Strict()

// make returns a nonce that expires at exp.
func (n nonces) make(exp time.Time) string {
	plain := make([]byte, 8+16)
	binary.BigEndian.PutUint64(plain, uint64(exp.Unix()))
	rand.Read(plain[8:])
	out := make([]byte, n.aead.NonceSize(), n.aead.NonceSize()+len(plain)+n.aead.Overhead())
	rand.Read(out)
	return nonceEncoding.EncodeToString(n.aead.Seal(out, out, plain, nonceAAD))
}

var (
	errNonceForged  = errors.New("not a nonce of this issuer")
	errNonceExpired = errors.New("expired")
)

// check returns the nonce's hash (what spending it records) and expiry.
func (n nonces) check(s string, now time.Time) (hash []byte, exp time.Time, err error) {
	if len(s) > 128 {
		return nil, time.Time{}, errNonceForged
	}
	b, err := nonceEncoding.DecodeString(s)
	if err != nil || len(b) != n.aead.NonceSize()+24+n.aead.Overhead() {
		return nil, time.Time{}, errNonceForged
	}
	ns := n.aead.NonceSize()
	plain, err := n.aead.Open(nil, b[:ns], b[ns:], nonceAAD)
	if err != nil {
		return nil, time.Time{}, errNonceForged
	}
	exp = time.Unix(int64(binary.BigEndian.Uint64(plain)), 0)
	if !now.Before(exp) {
		return nil, exp, errNonceExpired
	}
	h := sha256.Sum256(b)
	return h[:], exp, nil
}
