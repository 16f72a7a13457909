package pages

import (
	"crypto/rand"
	"crypto/sha256"
	"strings"
)

// Recovery codes are 16 characters of Crockford's base32 alphabet (no I,
// L, O or U, so nothing is mistaken for something else), 80 random bits,
// shown as XXXX-XXXX-XXXX-XXXX. Only their SHA-256 is stored; 80 bits make
// a slow hash unnecessary and let the store find a code by its hash alone.
const (
	codeAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	codeLen      = 16
	codeCount    = 10
)

// newRecoveryCodes returns n codes to show and their hashes to store.
func newRecoveryCodes(n int) (codes []string, hashes [][]byte) {
	for range n {
		b := make([]byte, codeLen)
		rand.Read(b)
		raw := make([]byte, codeLen)
		for i, v := range b {
			raw[i] = codeAlphabet[v&31] // 32 symbols: 5 uniform bits each
		}
		s := string(raw)
		codes = append(codes, s[0:4]+"-"+s[4:8]+"-"+s[8:12]+"-"+s[12:16])
		hashes = append(hashes, hashCode(s))
	}
	return codes, hashes
}

// normalizeCode reads a code as typed: any case, with or without dashes
// and spaces, and with the look-alikes Crockford's decoding accepts (O for
// 0, I and L for 1). It reports false when the input is no code.
func normalizeCode(in string) (string, bool) {
	var b strings.Builder
	for _, r := range strings.ToUpper(in) {
		switch {
		case r == '-' || r == ' ' || r == '\t':
			continue
		case r == 'O':
			r = '0'
		case r == 'I' || r == 'L':
			r = '1'
		}
		if r > 127 || strings.IndexRune(codeAlphabet, r) < 0 {
			return "", false
		}
		b.WriteRune(r)
		if b.Len() > codeLen {
			return "", false
		}
	}
	if b.Len() != codeLen {
		return "", false
	}
	return b.String(), true
}

// hashCode is what is stored for a normalized code.
func hashCode(norm string) []byte {
	h := sha256.Sum256([]byte("cedula-recovery-code:" + norm))
	return h[:]
}
