package jose

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// TestJWERoundTrip: a message encrypted to a derived key opens with it,
// with either enc; another key, another alg or a changed byte do not.
func TestJWERoundTrip(t *testing.T) {
	k, err := DeriveDecryptionKey([]byte("a secret of the server, 32 bytes!"), "vci")
	if err != nil {
		t.Fatal(err)
	}
	again, _ := DeriveDecryptionKey([]byte("a secret of the server, 32 bytes!"), "vci")
	if !bytes.Equal(k.PublicJWK(), again.PublicJWK()) {
		t.Errorf("the same secret derived two keys")
	}
	var pub map[string]any
	json.Unmarshal(k.PublicJWK(), &pub)
	if pub["alg"] != "ECDH-ES" || pub["use"] != "enc" || pub["kid"] == "" || pub["d"] != nil {
		t.Errorf("public JWK %v", pub)
	}
	for _, enc := range EncAlgs {
		c, err := EncryptTo(k.PublicJWK(), enc, []byte(`{"a":1}`))
		if err != nil {
			t.Fatal(err)
		}
		got, err := k.Decrypt([]byte(c))
		if err != nil || string(got) != `{"a":1}` {
			t.Errorf("%s: %q %v", enc, got, err)
		}
		b := []byte(c)
		b[len(b)-5] ^= 1
		if _, err := k.Decrypt(b); !errors.Is(err, ErrJWE) {
			t.Errorf("%s: a changed message opened: %v", enc, err)
		}
		other, _ := NewEncryptionKey()
		if _, err := other.Decrypt([]byte(c)); !errors.Is(err, ErrJWE) {
			t.Errorf("%s: opened with another key: %v", enc, err)
		}
	}
	if _, err := EncryptTo(k.PublicJWK(), "A128CBC-HS256", []byte("x")); err == nil {
		t.Errorf("an enc outside EncAlgs was used")
	}
	rsa := []byte(`{"kty":"RSA","n":"sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw","e":"AQAB"}`)
	if _, err := EncryptTo(rsa, "A128GCM", []byte("x")); err == nil {
		t.Errorf("encrypted to an RSA key")
	}
	if _, err := EncryptTo([]byte(`{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}`), "A128GCM", []byte("x")); err == nil {
		t.Errorf("encrypted to a point off the curve")
	}
}

// FuzzDecrypt: whatever arrives, Decrypt opens it or says ErrJWE.
func FuzzDecrypt(f *testing.F) {
	k, _ := DeriveDecryptionKey([]byte("fuzz"), "vci")
	c, _ := EncryptTo(k.PublicJWK(), "A128GCM", []byte(`{}`))
	f.Add([]byte(c))
	f.Add([]byte("a.b.c.d.e"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := k.Decrypt(b); err != nil && !errors.Is(err, ErrJWE) {
			t.Fatalf("an error that is not ErrJWE: %v", err)
		}
	})
}
