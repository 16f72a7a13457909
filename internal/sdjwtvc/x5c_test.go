package sdjwtvc

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/url"
	"testing"
	"time"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/issuer/credential"
)

// testCA is a root certificate and its key.
type testCA struct {
	cert *x509.Certificate
	key  testKey
}

func newTestCA(t *testing.T) testCA {
	t.Helper()
	key := newTestKey(t, "ca")
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test root"},
		NotBefore: start.Add(-time.Hour), NotAfter: start.Add(365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key.priv)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return testCA{cert: cert, key: key}
}

// leaf returns a certificate for key, issued by ca, naming uris and dns.
func (ca testCA) leaf(t *testing.T, key testKey, uris []string, dns []string) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "Issuer"},
		NotBefore: start.Add(-time.Hour), NotAfter: start.Add(30 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, DNSNames: dns}
	for _, s := range uris {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key.priv)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestVerifyX5C(t *testing.T) {
	f := newFixture(t)
	ca, otherCA := newTestCA(t), newTestCA(t)
	leafKey := newTestKey(t, "x5c-leaf") // not among the published keys
	host := mustHost(t, f.is.iss)
	for _, tc := range []struct {
		name  string
		chain []byte
		roots bool
		want  Reason // "" for success
	}{
		{"leaf naming the iss as a URI", ca.leaf(t, leafKey, []string{f.is.iss}, nil), true, ""},
		{"leaf naming the iss's host", ca.leaf(t, leafKey, nil, []string{host}), true, ""},
		{"leaf naming another issuer", ca.leaf(t, leafKey, []string{"https://other.example/issuer"}, []string{"other.example"}), true, ReasonSignature},
		{"chain to another root", otherCA.leaf(t, leafKey, []string{f.is.iss}, nil), true, ReasonSignature},
		{"no roots: x5c ignored, the published keys lack the leaf's", ca.leaf(t, leafKey, []string{f.is.iss}, nil), false, ReasonSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.is.keyHits.Store(0)
			r := f.resolver()
			if tc.roots {
				r.Roots = x509.NewCertPool()
				r.Roots.AddCert(ca.cert)
			}
			cred, _, err := credential.Issue(context.Background(), leafKey, credential.Request{Issuer: f.is.iss, Type: f.typ,
				Claims: map[string]any{"given_name": "Ana", "issuing_country": "UY"}, Holder: f.holder.jwk(t), Now: start,
				X5C: jose.CertChain{tc.chain}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = r.Verify(context.Background(), f.present(cred, nil, nil), f.options())
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Verify: got %v, want nil", err)
			case tc.want != "" && !isReason(err, tc.want):
				t.Fatalf("Verify: got %v, want %s", err, tc.want)
			}
			if n := f.is.keyHits.Load(); tc.roots && n != 0 {
				t.Errorf("key fetches with a verified x5c: got %d, want 0", n)
			}
		})
	}
	// With roots, a credential without x5c verifies with the published keys.
	r := f.resolver()
	r.Roots = x509.NewCertPool()
	r.Roots.AddCert(ca.cert)
	if _, err := r.Verify(context.Background(), f.present(f.issue(nil), nil, nil), f.options()); err != nil {
		t.Errorf("Verify without x5c, roots set: got %v, want nil", err)
	}
}

func mustHost(t *testing.T, s string) string {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u.Hostname()
}
