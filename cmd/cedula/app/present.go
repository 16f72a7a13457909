package app

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/wallet"
)

// readTrustAnchors reads verifier_trust_anchors: the CA certificates
// verifiers' request objects (OpenID4VP x509_san_dns) must chain to. ""
// trusts none.
func readTrustAnchors(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("verifier trust anchors: %w", err)
	}
	pool := x509.NewCertPool()
	n := 0
	for {
		var block *pem.Block
		if block, b = pem.Decode(b); block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("verifier trust anchors: %s: certificate %d: %w", path, n+1, err)
		}
		if !c.IsCA {
			return nil, fmt.Errorf("verifier trust anchors: %s: certificate %d (%s) is not a CA certificate", path, n+1, c.Subject)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("verifier trust anchors: %s holds no PEM certificate", path)
	}
	return pool, nil
}

// presentationConsents records, in the consent ledger, a citizen's
// approval of a presentation to a verifier that names a registered
// purpose (wallet.Consents).
//
// The ledger's controllers are agencies (OIDC clients); a verifier is
// known by its OpenID4VP client identifier. The purpose a request names
// says which agency it is for: its controller. The verifier is taken to
// act for that agency only when the wallet verified who it is
// (x509_san_dns: the request object is signed by a certificate that
// chains to verifier_trust_anchors and names the host) and that host is
// the agency's own — the host of its client's sector (sector_identifier,
// else its first redirect URI's host). Then the consent is given to the
// agency's purpose (method "mobile") if it rests on consent and is not in
// force. A registered purpose from any other verifier is refused, so
// nothing is presented: no verifier records consents for an agency it is
// not. This server's own verifier (package verifier) acts for the agency
// whose request it serves, which must be the purpose's controller. A
// purpose that is not registered is the verifier's own word and is
// recorded in the presentation history only.
type presentationConsents struct{ s *Server }

var _ wallet.Consents = presentationConsents{}

func (c presentationConsents) Agree(ctx context.Context, citizenID string, verifier wallet.Verifier, purposes []string, method consent.Method) (wallet.Basis, error) {
	var basis wallet.Basis
	for _, id := range purposes {
		p, err := c.s.Consent.Purpose(ctx, id)
		if errors.Is(err, consent.ErrNotFound) {
			continue
		} else if err != nil {
			return basis, err
		}
		if err := c.actsFor(ctx, verifier, id, p.Controller); err != nil {
			return basis, err
		}
		if err := c.s.Consent.Agree(ctx, citizenID, p.Controller, []string{id}, method); err != nil {
			return basis, err
		}
		// What the presentation rests on, for its audit entry: the
		// consent just agreed (or in force), or the purpose's other basis.
		basis = wallet.Basis{Purpose: p.DPV, LegalBasis: string(p.LegalBasis), ConsentRecord: consent.AuditRecord(p.ID, p.Version, consent.Ref{})}
		if p.LegalBasis == consent.Consent {
			r, err := c.s.Consent.Record(ctx, citizenID, id)
			if err != nil {
				return basis, err
			}
			basis.ConsentRecord = consent.AuditRecord(p.ID, r.PurposeVersion, r.Ref())
		}
	}
	return basis, nil
}

// actsFor checks that the verifier is the agency clientID, or this
// server's own verifier answering a request that agency made under
// purpose.
func (c presentationConsents) actsFor(ctx context.Context, v wallet.Verifier, purpose, clientID string) error {
	if agency, ok, err := c.s.Verifier.AskedBy(ctx, v.ClientID, v.ResponseURI, purpose); err != nil {
		return err
	} else if ok {
		if agency != clientID {
			return fmt.Errorf("app: the request was made by %q, not by the purpose's controller %q", agency, clientID)
		}
		return nil
	}
	prefix, host, _ := strings.Cut(v.ClientID, ":")
	if prefix != wallet.PrefixX509SanDNS {
		return fmt.Errorf("app: a %s verifier cannot act for an agency", prefix)
	}
	cl, err := c.s.Store.Client(ctx, clientID)
	if errors.Is(err, issuer.ErrNotFound) {
		return fmt.Errorf("app: the purpose's controller %q is not a registered agency", clientID)
	} else if err != nil {
		return err
	}
	sector := cl.Sector()
	if u, err := url.Parse("//" + sector); err == nil && u.Hostname() != "" {
		sector = u.Hostname()
	}
	if !strings.EqualFold(sector, host) {
		return fmt.Errorf("app: the verifier %q is not on the host of %q (%q)", host, clientID, sector)
	}
	return nil
}
