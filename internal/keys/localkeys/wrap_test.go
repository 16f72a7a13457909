package localkeys

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/keys/dek"
	"github.com/cedula/cedula/internal/keys/keystest"
)

func TestWrapper(t *testing.T) {
	keystest.RunWrapperTests(t, func(t *testing.T) func() keys.Wrapper {
		path, kek := filepath.Join(t.TempDir(), "keystore.json"), newKEK(t)
		return func() keys.Wrapper {
			m, err := Open(path, WithKEK(kek))
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			return m
		}
	})
}

// TestWrapFormat pins the wrapped form and the file entry: the version
// travels in the blob, and the wrapping key is in the file only sealed.
func TestWrapFormat(t *testing.T) {
	ctx := context.Background()
	kek := newKEK(t)
	path := filepath.Join(t.TempDir(), "keystore.json")
	m, err := Open(path, WithKEK(kek))
	if err != nil {
		t.Fatal(err)
	}
	version := func(b []byte) uint32 {
		t.Helper()
		if len(b) != wrappedSize || b[0] != wrapFormat {
			t.Fatalf("wrapped form: %d bytes starting %#x, want %d bytes starting %#x", len(b), b[:1], wrappedSize, wrapFormat)
		}
		return binary.BigEndian.Uint32(b[1:5])
	}
	b1, err := m.WrapKey(ctx, "audit", dek.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := version(b1); v != 1 {
		t.Errorf("first blob: version %d, want 1", v)
	}
	if err := m.RotateWrapKey(ctx, "audit"); err != nil {
		t.Fatal(err)
	}
	b2, err := m.WrapKey(ctx, "audit", dek.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := version(b2); v != 2 {
		t.Errorf("blob after rotation: version %d, want 2", v)
	}

	fj, _, err := readFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := fj.Wrap["audit"]
	if r == nil || len(r.Keys) != 2 || r.Keys[0].Version != 1 || r.Keys[1].Version != 2 || r.Keys[1].Created.IsZero() {
		t.Fatalf("file's wrap section: got %+v, want versions 1 and 2 with creation times", r)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := newAEAD(kek)
	if err != nil {
		t.Fatal(err)
	}
	for _, kj := range r.Keys {
		raw, err := unseal(aead, kj.Key, wrapKeyAD("audit", kj.Version))
		if err != nil {
			t.Fatalf("version %d does not open under the KEK with its additional data: %v", kj.Version, err)
		}
		for _, enc := range [][]byte{raw, []byte(hex.EncodeToString(raw)), []byte(base64.StdEncoding.EncodeToString(raw)), []byte(base64.RawURLEncoding.EncodeToString(raw))} {
			if bytes.Contains(file, enc) {
				t.Errorf("wrapping key version %d appears in the keystore file in the clear", kj.Version)
			}
		}
	}
}

// TestWrapOnlyKeystoreKeepsItsKEK: a keystore that holds wrapping keys and
// no signing key is never given a new KEK, and a wrong KEK fails at Open.
func TestWrapOnlyKeystoreKeepsItsKEK(t *testing.T) {
	t.Setenv(EnvKEK, "")
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "keystore.json")
	m, err := Open(path) // generates dir/kek
	if err != nil {
		t.Fatal(err)
	}
	k := dek.New()
	b, err := m.WrapKey(ctx, "audit", k, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, WithKEK(newKEK(t))); !errors.Is(err, ErrKEK) {
		t.Errorf("Open with another KEK: got %v, want ErrKEK", err)
	}
	other := filepath.Join(dir, "other-kek")
	if _, err := Open(path, WithKEKFile(other)); !errors.Is(err, ErrKEK) {
		t.Errorf("Open without its KEK file: got %v, want ErrKEK", err)
	}
	if _, err := os.Stat(other); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a new KEK was generated for a keystore holding wrapping keys")
	}
	m2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := m2.UnwrapKey(ctx, "audit", b, nil); err != nil || !bytes.Equal(got, k) {
		t.Errorf("UnwrapKey after reopening with the KEK file: %v", err)
	}
}

// TestWrapSurvivesSigningChanges: another Manager's signing rotations
// rewrite the file and keep the wrapping keys.
func TestWrapSurvivesSigningChanges(t *testing.T) {
	ctx := context.Background()
	kek := newKEK(t)
	path := filepath.Join(t.TempDir(), "keystore.json")
	open := func() *Manager {
		m, err := Open(path, WithKEK(kek))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m1 := open()
	k := dek.New()
	b, err := m1.WrapKey(ctx, "audit", k, []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	m2 := open()
	for range 2 {
		if _, err := m2.Rotate(ctx, "oidc", keys.ES256); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := open().UnwrapKey(ctx, "audit", b, []byte("aad")); err != nil || !bytes.Equal(got, k) {
		t.Errorf("UnwrapKey after another manager's signing rotations: %v", err)
	}
}

func TestWrapCorruptFile(t *testing.T) {
	ctx := context.Background()
	kek := newKEK(t)
	// A valid file with wrapping rings a and b to start from.
	src := filepath.Join(t.TempDir(), "keystore.json")
	m, err := Open(src, WithKEK(kek))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"a", "b"} {
		if _, err := m.WrapKey(ctx, r, dek.New(), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.RotateWrapKey(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(fj *fileJSON)
		want   error
	}{
		{"bad ring name", func(fj *fileJSON) { fj.Wrap["A.B"] = fj.Wrap["a"] }, ErrCorrupt},
		{"null ring", func(fj *fileJSON) { fj.Wrap["c"] = nil }, ErrCorrupt},
		{"empty ring", func(fj *fileJSON) { fj.Wrap["c"] = &wrapRingJSON{} }, ErrCorrupt},
		{"version gap", func(fj *fileJSON) { fj.Wrap["a"].Keys[1].Version = 3 }, ErrCorrupt},
		{"versions swapped", func(fj *fileJSON) {
			k := fj.Wrap["a"].Keys
			k[0], k[1] = k[1], k[0]
		}, ErrCorrupt},
		{"sealed key moved to another ring", func(fj *fileJSON) { fj.Wrap["b"].Keys[0].Key = fj.Wrap["a"].Keys[0].Key }, ErrKEK},
		{"sealed key moved to another version", func(fj *fileJSON) {
			k := fj.Wrap["a"].Keys
			k[0].Key, k[1].Key = k[1].Key, k[0].Key
		}, ErrKEK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fj, _, err := readFile(src)
			if err != nil {
				t.Fatal(err)
			}
			tc.change(fj)
			path := filepath.Join(t.TempDir(), "keystore.json")
			if _, err := writeFile(path, fj); err != nil {
				t.Fatal(err)
			}
			if _, err := Open(path, WithKEK(kek)); !errors.Is(err, tc.want) {
				t.Errorf("Open: got %v, want %v", err, tc.want)
			}
		})
	}
}

func BenchmarkWrapKey(b *testing.B) {
	m, err := Open(filepath.Join(b.TempDir(), "keystore.json"), WithKEK(make([]byte, KEKSize)))
	if err != nil {
		b.Fatal(err)
	}
	ctx, k := context.Background(), dek.New()
	if _, err := m.WrapKey(ctx, "bench", k, nil); err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.WrapKey(ctx, "bench", k, []byte("subject")); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkUnwrapKey(b *testing.B) {
	m, err := Open(filepath.Join(b.TempDir(), "keystore.json"), WithKEK(make([]byte, KEKSize)))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	wrapped, err := m.WrapKey(ctx, "bench", dek.New(), []byte("subject"))
	if err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.UnwrapKey(ctx, "bench", wrapped, []byte("subject")); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
