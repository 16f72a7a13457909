package dek

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	a, b := New(), New()
	if len(a) != Size || len(b) != Size {
		t.Fatalf("New: got %d and %d bytes, want %d", len(a), len(b), Size)
	}
	if bytes.Equal(a, b) {
		t.Errorf("two calls of New gave the same key")
	}
	if bytes.Equal(a, make([]byte, Size)) {
		t.Errorf("New gave an all-zero key")
	}
}

func TestSealOpen(t *testing.T) {
	k := New()
	for _, tc := range []struct {
		name           string
		plaintext, aad []byte
	}{
		{"empty", nil, nil},
		{"short", []byte("Ana"), []byte("subject:p-123")},
		{"long", bytes.Repeat([]byte("x"), 1<<16), nil},
		{"binary aad", []byte(`{"name":"Ana Pérez"}`), []byte{0, 1, 2, 0xff}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sealed, err := Seal(k, tc.plaintext, tc.aad)
			if err != nil {
				t.Fatalf("Seal: %v", err)
			}
			if got, want := len(sealed), len(tc.plaintext)+Overhead; got != want {
				t.Errorf("sealed length: got %d, want %d", got, want)
			}
			if len(tc.plaintext) >= 3 && bytes.Contains(sealed, tc.plaintext) {
				t.Errorf("sealed form contains the plaintext")
			}
			got, err := Open(k, sealed, tc.aad)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, tc.plaintext) {
				t.Errorf("Open: got %q, want %q", got, tc.plaintext)
			}
		})
	}
}

func TestSealIsRandomised(t *testing.T) {
	k := New()
	a, _ := Seal(k, []byte("same"), nil)
	b, _ := Seal(k, []byte("same"), nil)
	if bytes.Equal(a, b) {
		t.Errorf("two seals of the same plaintext are equal")
	}
}

func TestNilAndEmptyAADAreTheSame(t *testing.T) {
	k := New()
	sealed, err := Seal(k, []byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(k, sealed, []byte{}); err != nil {
		t.Errorf("Open with empty aad of a value sealed with nil aad: %v", err)
	}
}

// TestOpenRejects: every alteration, another key and other associated
// data give ErrOpen and no bytes.
func TestOpenRejects(t *testing.T) {
	k := New()
	aad := []byte("citizen:p-42")
	sealed, err := Seal(k, []byte("Calle Mayor 1, Madrid"), aad)
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, key Key, in, aad []byte) {
		t.Helper()
		got, err := Open(key, in, aad)
		if !errors.Is(err, ErrOpen) || got != nil {
			t.Errorf("%s: got %q, %v; want nil, ErrOpen", name, got, err)
		}
	}
	for i := range sealed {
		for _, bit := range []byte{0x01, 0x80} {
			c := bytes.Clone(sealed)
			c[i] ^= bit
			check(fmt.Sprintf("byte %d ^ %#x", i, bit), k, c, aad)
		}
	}
	check("truncated by one", k, sealed[:len(sealed)-1], aad)
	check("tag only", k, sealed[len(sealed)-tagSize:], aad)
	check("empty", k, nil, aad)
	check("extra byte", k, append(bytes.Clone(sealed), 0), aad)
	check("other aad", k, sealed, []byte("citizen:p-43"))
	check("aad with a trailing byte", k, sealed, append(bytes.Clone(aad), 0))
	check("no aad", k, sealed, nil)
	check("other key", New(), sealed, aad)
}

func TestKeySize(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		k := make(Key, n)
		if _, err := Seal(k, []byte("x"), nil); !errors.Is(err, ErrKeySize) {
			t.Errorf("Seal with a %d-byte key: got %v, want ErrKeySize", n, err)
		}
		if _, err := Open(k, make([]byte, 64), nil); !errors.Is(err, ErrKeySize) {
			t.Errorf("Open with a %d-byte key: got %v, want ErrKeySize", n, err)
		}
	}
}

// TestKnownAnswer pins the sealed format against an independent AES-GCM
// (OpenSSL, through Python's cryptography package):
//
//	AESGCM(bytes(range(32))).encrypt(bytes(range(12)), b"Calle Mayor 1", b"\x01citizen:p-42")
//
// i.e. the documented layout — format byte, nonce, AES-256-GCM with the
// format byte before the caller's associated data — opens.
func TestKnownAnswer(t *testing.T) {
	k := make(Key, Size)
	nonce := make([]byte, nonceSize)
	for i := range k {
		k[i] = byte(i)
	}
	for i := range nonce {
		nonce[i] = byte(i)
	}
	sealed := append(append([]byte{0x01}, nonce...), mustHex(t, "0463ba77a0c58f7af42ee5ab8074deaa0b97af8f873b7e558e809a2485")...)
	got, err := Open(k, sealed, []byte("citizen:p-42"))
	if err != nil {
		t.Fatalf("Open of the known-answer value: %v", err)
	}
	if string(got) != "Calle Mayor 1" {
		t.Errorf("Open: got %q, want %q", got, "Calle Mayor 1")
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestKeyNeverShown(t *testing.T) {
	k := New()
	secrets := []string{hex.EncodeToString(k), strings.ToUpper(hex.EncodeToString(k)), string(k), fmt.Sprint([]byte(k))}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("wrapped", "dek", k)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("wrapped", "dek", k)
	outputs := map[string]string{
		"%v": fmt.Sprintf("%v", k), "%x": fmt.Sprintf("%x", k), "%X": fmt.Sprintf("%X", k),
		"%s": fmt.Sprintf("%s", k), "%q": fmt.Sprintf("%q", k), "%#v": fmt.Sprintf("%#v", k),
		"%d": fmt.Sprintf("%d", k), "in a struct": fmt.Sprintf("%+v", struct{ K Key }{k}),
		"slog": logged.String(),
	}
	for name, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s shows the key: %s", name, out)
			}
		}
	}
	if !strings.Contains(outputs["slog"], "REDACTED") {
		t.Errorf("slog output lacks REDACTED: %s", outputs["slog"])
	}
	if b, err := json.Marshal(struct{ K Key }{k}); err == nil {
		t.Errorf("json.Marshal of a Key: got %s, want an error", b)
	}
}

func TestDestroy(t *testing.T) {
	k := New()
	k.Destroy()
	if !bytes.Equal(k, make([]byte, Size)) {
		t.Errorf("Destroy left %d non-zero bytes", Size-bytes.Count(k, []byte{0}))
	}
}

func BenchmarkSeal(b *testing.B) {
	k, pt, aad := New(), bytes.Repeat([]byte("x"), 256), []byte("entry:42")
	b.SetBytes(int64(len(pt)))
	for b.Loop() {
		if _, err := Seal(k, pt, aad); err != nil {
			b.Fatal(err)
		}
	}
}
