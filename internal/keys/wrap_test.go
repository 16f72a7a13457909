package keys_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/keys/dek"
	"github.com/cedula/cedula/internal/keys/localkeys"
)

// signOnly is a Manager without the wrapping capability.
type signOnly struct{ keys.Manager }

func TestWrapperOf(t *testing.T) {
	if _, err := keys.WrapperOf(signOnly{}); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("WrapperOf of a signing-only Manager: got %v, want errors.ErrUnsupported", err)
	}
	m, err := localkeys.Open(filepath.Join(t.TempDir(), "keystore.json"), localkeys.WithKEK(make([]byte, localkeys.KEKSize)))
	if err != nil {
		t.Fatal(err)
	}
	if w, err := keys.WrapperOf(m); err != nil || w == nil {
		t.Errorf("WrapperOf(*localkeys.Manager): got %v, %v; want the Manager", w, err)
	}
}

// Example shows envelope encryption as the audit log uses it: a data key
// per citizen seals their details, the Manager wraps the data key, and
// deleting the wrapped key crypto-shreds the details.
func Example() {
	dir, _ := os.MkdirTemp("", "keys-example")
	defer os.RemoveAll(dir)
	m, err := localkeys.Open(filepath.Join(dir, "keystore.json")) // or backend.Open
	if err != nil {
		fmt.Println(err)
		return
	}
	w, err := keys.WrapperOf(m) // or: w, ok := m.(keys.Wrapper)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	subject := []byte("subject:p-8f3a") // binds the data key to its citizen

	// Enrolment: a data key for the citizen, stored wrapped.
	k := dek.New()
	wrapped, err := w.WrapKey(ctx, "audit-subjects", k, subject)
	if err != nil {
		fmt.Println(err)
		return
	}
	k.Destroy()

	// Writing an entry: unwrap, seal the personal details, forget the key.
	raw, err := w.UnwrapKey(ctx, "audit-subjects", wrapped, subject)
	if err != nil {
		fmt.Println(err)
		return
	}
	k = dek.Key(raw)
	sealed, _ := dek.Seal(k, []byte(`{"name":"Ana Pérez"}`), []byte("entry:42"))
	k.Destroy()

	// Reading it back.
	raw, _ = w.UnwrapKey(ctx, "audit-subjects", wrapped, subject)
	details, _ := dek.Open(dek.Key(raw), sealed, []byte("entry:42"))
	fmt.Println(string(details))

	// Erasure deletes the wrapped key; a blob for another citizen does not
	// open in its place.
	_, err = w.UnwrapKey(ctx, "audit-subjects", wrapped, []byte("subject:p-0000"))
	fmt.Println(errors.Is(err, keys.ErrUnwrap))
	// Output:
	// {"name":"Ana Pérez"}
	// true
}
