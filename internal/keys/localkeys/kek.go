package localkeys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// EnvKEK names the environment variable that holds the key-encryption key:
// 32 bytes, base64 (standard or URL alphabet, padded or not) or hex.
const EnvKEK = "CEDULA_KEK"

// KEKSize is the length of a key-encryption key in bytes (AES-256).
const KEKSize = 32

// ParseKEK decodes a key-encryption key written as hex or base64. The error
// never repeats the input.
func ParseKEK(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2*KEKSize {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == KEKSize {
			return b, nil
		}
	}
	return nil, fmt.Errorf("%w: want %d bytes as hex or base64", ErrKEK, KEKSize)
}

// newAEAD returns AES-256-GCM under kek.
func newAEAD(kek []byte) (cipher.AEAD, error) {
	if len(kek) != KEKSize {
		return nil, fmt.Errorf("%w: got %d bytes, want %d", ErrKEK, len(kek), KEKSize)
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// additionalData binds a sealed key to its ring and kid. '/' cannot occur in
// a ring name, so the encoding is unambiguous.
func additionalData(ring, kid string) []byte { return []byte(ring + "/" + kid) }

// seal encrypts plaintext as nonce || ciphertext || tag.
func seal(aead cipher.AEAD, plaintext, ad []byte) ([]byte, error) {
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, plaintext, ad), nil
}

// unseal reverses seal. Any failure means the wrong KEK or a damaged entry.
func unseal(aead cipher.AEAD, sealed, ad []byte) ([]byte, error) {
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, errors.New("sealed key too short")
	}
	n := aead.NonceSize()
	return aead.Open(nil, sealed[:n], sealed[n:], ad)
}

// loadKEK finds the key-encryption key: the explicit one, else $CEDULA_KEK,
// else the KEK file, which is created when absent — unless the keystore
// already holds keys (mayGenerate false), since a new KEK could not open them.
func loadKEK(explicit []byte, path string, mayGenerate bool) ([]byte, error) {
	if explicit != nil {
		if len(explicit) != KEKSize {
			return nil, fmt.Errorf("%w: got %d bytes, want %d", ErrKEK, len(explicit), KEKSize)
		}
		return explicit, nil
	}
	if v := os.Getenv(EnvKEK); v != "" {
		k, err := ParseKEK(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvKEK, err)
		}
		return k, nil
	}
	k, err := readKEKFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	if !mayGenerate {
		return nil, fmt.Errorf("%w: the keystore holds keys but neither %s nor the KEK file %s exists; restore the KEK that sealed them", ErrKEK, EnvKEK, path)
	}
	return generateKEKFile(path)
}

func readKEKFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: KEK file %s has mode %v; it must be readable by its owner only (chmod 600)", ErrKEK, path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParseKEK(string(b))
	if err != nil {
		return nil, fmt.Errorf("KEK file %s: %w", path, err)
	}
	return k, nil
}

// generateKEKFile writes a new random KEK to path, mode 0600. The file is
// written aside and hard-linked into place, so two processes starting at once
// agree on one KEK and nobody reads a half-written file.
func generateKEKFile(path string) ([]byte, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	k := make([]byte, KEKSize)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(dir, ".kek-*.tmp") // mode 0600
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(base64.StdEncoding.EncodeToString(k) + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) { // another process won the race
			return readKEKFile(path)
		}
		return nil, err
	}
	if err := syncDir(dir); err != nil {
		return nil, err
	}
	return k, nil
}
