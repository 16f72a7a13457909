package app

import (
	"context"
	"encoding/pem"
	"fmt"
	"os"

	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/credential"
	"github.com/cedula/cedula/issuer/vci"
	"github.com/cedula/cedula/issuer/vci/vciapi"
)

// credentialTypes loads the configured credential types and, in demo
// mode, the demo's.
func (s *Server) credentialTypes() ([]credential.Type, error) {
	var types []credential.Type
	if s.Config.CredentialTypes != "" {
		b, err := os.ReadFile(s.Config.CredentialTypes)
		if err != nil {
			return nil, fmt.Errorf("credential types: %w", err)
		}
		if types, err = credential.Load(b); err != nil {
			return nil, fmt.Errorf("%s: %w", s.Config.CredentialTypes, err)
		}
	}
	if s.Config.Demo {
		demo, err := credential.Demo()
		if err != nil {
			return nil, err
		}
		for _, d := range demo {
			dup := false
			for _, t := range types {
				dup = dup || t.ID == d.ID
			}
			if !dup {
				types = append(types, d)
			}
		}
	}
	return types, nil
}

// openIssuer builds the credential issuer (before the provider, whose
// token endpoint redeems its offers).
func (s *Server) openIssuer(secret []byte) error {
	types, err := s.credentialTypes()
	if err != nil {
		return err
	}
	base := s.Config.PublicURL
	enc, err := jose.DeriveDecryptionKey(secret, "credential-requests")
	if err != nil {
		return err
	}
	chain, err := readCertificates(s.Config.CredentialCertificate)
	if err != nil {
		return err
	}
	s.Issuer, err = vci.New(vci.Config{
		Encryption: enc, Certificates: chain,
		Issuer: base, Types: types, Store: s.Store, Keys: s.Keys, Ledger: s.Consent, Audit: s.Audit,
		Pseudonyms: s.Pseudonyms, Citizens: vciCitizens{s}, Secret: secret,
		StatusListURI: func(list string) string { return base + vciapi.StatusPath + list },
		OfferURL:      func(id string) string { return base + vciapi.OfferPath + id },
		ListSize:      s.Config.StatusListSize,
	})
	return err
}

func (s *Server) mountIssuer(e *httpapi.Echo) error {
	api, err := vciapi.New(vciapi.Config{Service: s.Issuer, Tokens: s.Provider, Guard: s.guard,
		Subjects: subjects{s, vci.ErrUnknownSubject}, BaseURL: s.Config.PublicURL})
	if err != nil {
		return err
	}
	api.Mount(e)
	return nil
}

// vciCitizens gives the issuer the registry and the agencies' subjects.
type vciCitizens struct{ s *Server }

func (v vciCitizens) Citizen(ctx context.Context, id string) (issuer.Citizen, error) {
	return v.s.Store.Citizen(ctx, id)
}

func (v vciCitizens) SubjectCitizen(ctx context.Context, clientID, sub string) (string, error) {
	return subjects{v.s, vci.ErrUnknownSubject}.SubjectCitizen(ctx, clientID, sub)
}

func (v vciCitizens) Subject(ctx context.Context, clientID, citizenID string) (string, error) {
	return v.s.Provider.Subject(ctx, clientID, citizenID)
}

// readCertificates reads a PEM file of certificates, "" giving none.
func readCertificates(path string) ([][]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("credential certificate: %w", err)
	}
	var chain [][]byte
	for {
		var block *pem.Block
		if block, b = pem.Decode(b); block == nil {
			break
		}
		if block.Type == "CERTIFICATE" {
			chain = append(chain, block.Bytes)
		}
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("credential certificate: %s holds no PEM certificate", path)
	}
	return chain, nil
}
