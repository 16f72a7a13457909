package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/sdjwtvc"
	"github.com/cedula/cedula/internal/statuslist"
	"github.com/cedula/cedula/issuer/vci"
	"github.com/cedula/cedula/verifier"
	verifierstore "github.com/cedula/cedula/verifier/sqlstore"
	"github.com/cedula/cedula/verifier/verifierapi"
)

// verifierSettings loads the configured verifier settings and, in demo
// mode, the demo's.
func (s *Server) verifierSettings() (verifier.Settings, error) {
	var out verifier.Settings
	if s.Config.VerifierSettings != "" {
		b, err := os.ReadFile(s.Config.VerifierSettings)
		if err != nil {
			return out, fmt.Errorf("verifier settings: %w", err)
		}
		if out, err = verifier.LoadSettings(b); err != nil {
			return out, fmt.Errorf("%s: %w", s.Config.VerifierSettings, err)
		}
	}
	if s.Config.Demo {
		demo, err := verifier.DemoSettings()
		if err != nil {
			return out, err
		}
		out = out.Merge(demo)
	}
	return out, nil
}

// openVerifier builds the verifier; ca is the local CA that certifies its
// key when no certificate is configured.
func (s *Server) openVerifier(secret []byte, ca *localCA) error {
	settings, err := s.verifierSettings()
	if err != nil {
		return err
	}
	u, err := url.Parse(s.Config.PublicURL)
	if err != nil || u.Hostname() == "" {
		return fmt.Errorf("verifier: public URL %q has no host", s.Config.PublicURL)
	}
	var chain func(context.Context, keys.Key) ([][]byte, error)
	if s.Config.VerifierCertificate != "" {
		certs, err := readCertificates(s.Config.VerifierCertificate)
		if err != nil {
			return err
		}
		if len(certs) == 0 {
			return fmt.Errorf("verifier certificate: %s holds no certificate", s.Config.VerifierCertificate)
		}
		chain = func(context.Context, keys.Key) ([][]byte, error) { return certs, nil }
	} else {
		chain = func(_ context.Context, k keys.Key) ([][]byte, error) { return ca.certify(k, u.Hostname()) }
	}
	allowHTTP := strings.HasPrefix(s.Config.PublicURL, "http://")
	s.verifierStore = verifierstore.New(s.DB, s.Audit)
	s.Verifier, err = verifier.New(verifier.Config{
		BaseURL: s.Config.PublicURL, ClientID: verifier.PrefixX509SanDNS + ":" + u.Hostname(), Chain: chain, Name: "Cedula",
		Keys: s.Keys, Settings: settings, Store: s.verifierStore, Ledger: s.Consent, Audit: s.Audit,
		Holders: verifierHolders{s},
		Resolver: &sdjwtvc.Resolver{Client: &http.Client{Timeout: 10 * time.Second}, AllowHTTP: allowHTTP,
			Now: time.Now},
		Secret: secret, Pseudonym: s.Pseudonyms.Of,
	})
	return err
}

func (s *Server) mountVerifier(e *httpapi.Echo) error {
	api, err := verifierapi.New(verifierapi.Config{Service: s.Verifier, Guard: s.guard, BaseURL: s.Config.PublicURL, Keys: s.Keys})
	if err != nil {
		return err
	}
	api.Mount(e)
	return nil
}

// verifierHolders tells the verifier which citizen holds a credential
// this server's issuer issued.
type verifierHolders struct{ s *Server }

func (h verifierHolders) Holder(ctx context.Context, iss string, ref statuslist.Reference) (string, error) {
	if iss != h.s.Config.PublicURL {
		return "", verifier.ErrUnknownHolder
	}
	id, err := h.s.Issuer.Holder(ctx, ref.URI, ref.Index)
	if errors.Is(err, vci.ErrNotFound) {
		return "", verifier.ErrUnknownHolder
	}
	return id, err
}

// localCA is the CA a server without a configured verifier certificate
// uses to certify its verifier's keys. Its key is derived from the
// server secret, so every replica has the same CA (and no private key is
// written anywhere); its certificate is written to the data directory
// (verifier-ca.pem) for other wallets to be given. This server's wallet
// trusts it.
type localCA struct {
	cert  *x509.Certificate
	key   *ecdsa.PrivateKey
	mu    sync.Mutex
	leafs map[string][]byte // by key ID and host
}

// openLocalCA derives the CA from secret and writes its certificate to
// dataDir.
func openLocalCA(dataDir string, secret []byte) (*localCA, error) {
	var key *ecdsa.PrivateKey
	for i := byte(0); i < 16 && key == nil; i++ {
		b, err := hkdf.Key(sha256.New, secret, []byte{i}, "cedula-verifier-ca", 32)
		if err != nil {
			return nil, err
		}
		key, _ = ecdsa.ParseRawPrivateKey(elliptic.P256(), b) // nil for a scalar out of range: the next one
	}
	if key == nil {
		return nil, errors.New("verifier CA: no key could be derived")
	}
	// Fixed serial, subject and validity: replicas make certificates that
	// differ only in their signatures, each a valid root for the others'
	// leaves.
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Cedula local verifier CA", Organization: []string{"Cedula"}},
		NotBefore: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2046, 1, 1, 0, 0, 0, 0, time.UTC), IsCA: true,
		BasicConstraintsValid: true, MaxPathLenZero: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("verifier CA: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, "verifier-ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, fmt.Errorf("verifier CA: %w", err)
	}
	return &localCA{cert: cert, key: key, leafs: map[string][]byte{}}, nil
}

// certify returns a chain whose leaf names host and certifies k (made
// once per key and host).
func (ca *localCA) certify(k keys.Key, host string) ([][]byte, error) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	id := k.ID() + "\x00" + host
	if der, ok := ca.leafs[id]; ok {
		return [][]byte{der, ca.cert.Raw}, nil
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: host, Organization: []string{"Cedula"}},
		DNSNames: []string{host}, KeyUsage: x509.KeyUsageDigitalSignature,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: ca.cert.NotAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, k.Public(), ca.key)
	if err != nil {
		return nil, fmt.Errorf("verifier CA: %w", err)
	}
	ca.leafs[id] = der
	return [][]byte{der, ca.cert.Raw}, nil
}
