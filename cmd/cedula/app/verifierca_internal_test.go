package app

import (
	"context"
	"crypto/x509"
	"path/filepath"
	"testing"

	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/keys/localkeys"
)

// TestLocalCAIsTheReplicas: two replicas sharing the secret make the same
// CA, so a leaf one certifies chains to the other's certificate; another
// secret makes another CA.
func TestLocalCAIsTheReplicas(t *testing.T) {
	secret := make([]byte, 32)
	secret[0] = 7
	a, err := openLocalCA(t.TempDir(), secret)
	if err != nil {
		t.Fatal(err)
	}
	b, err := openLocalCA(t.TempDir(), secret)
	if err != nil {
		t.Fatal(err)
	}
	if !a.key.PublicKey.Equal(&b.key.PublicKey) {
		t.Fatal("two replicas with one secret derived different CA keys")
	}
	ks, err := localkeys.Open(filepath.Join(t.TempDir(), "ks.json"), localkeys.WithKEK(make([]byte, localkeys.KEKSize)))
	if err != nil {
		t.Fatal(err)
	}
	k, err := ks.Active(context.Background(), "verifier", keys.ES256)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := a.certify(k, "cedula.example")
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(chain[0])
	roots := x509.NewCertPool()
	roots.AddCert(b.cert)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "cedula.example"}); err != nil {
		t.Errorf("a leaf of one replica does not chain to the other's CA: %v", err)
	}
	if again, _ := a.certify(k, "cedula.example"); string(again[0]) != string(chain[0]) {
		t.Error("the leaf of one key and host is made again")
	}
	other := make([]byte, 32)
	c, err := openLocalCA(t.TempDir(), other)
	if err != nil {
		t.Fatal(err)
	}
	if c.key.PublicKey.Equal(&a.key.PublicKey) {
		t.Error("another secret derived the same CA key")
	}
	roots = x509.NewCertPool()
	roots.AddCert(c.cert)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "cedula.example"}); err == nil {
		t.Error("a leaf chains to another secret's CA")
	}
}
