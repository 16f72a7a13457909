package app

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/credential"
	"github.com/cedula/cedula/issuer/pages"
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
		OfferURL:      s.offerURL,
		ListSize:      s.Config.StatusListSize,
		// The citizen's wallet, if it holds the credential, tells them
		// now rather than at the next watch.
		StatusChanged: func(ctx context.Context, citizenID string) {
			go func() {
				ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
				defer cancel()
				if _, err := s.Wallet.CheckStatuses(ctx, citizenID); err != nil {
					s.log.WarnContext(ctx, "wallet: status change not told", "err", err)
				}
			}()
		},
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

// offerURL is where the offer offerID (URL-safe) is served by reference
// (OpenID4VCI 1.0 §4.1.3): in the offer URI the agency receives, and in the
// one the offer's page links to.
func (s *Server) offerURL(offerID string) string {
	return s.Config.PublicURL + vciapi.OfferPath + offerID
}

// citizenOffers shows the issuer's offers and a citizen's credentials on
// the citizen pages.
type citizenOffers struct{ s *Server }

func (o citizenOffers) Offer(ctx context.Context, offerID, lang string) (pages.OfferView, error) {
	_, c, err := o.s.Issuer.Offer(ctx, offerID)
	if errors.Is(err, vci.ErrNotFound) {
		return pages.OfferView{}, fmt.Errorf("offer: %w", issuer.ErrNotFound)
	} else if err != nil {
		return pages.OfferView{}, err
	}
	d := o.display(c.TypeID, lang)
	return pages.OfferView{Name: d.Name, Description: d.Description, Agency: o.s.agencyName(ctx, c.ClientID),
		URI: vci.OfferURI(o.s.offerURL(c.OfferID)), QRCode: vciapi.OfferPath + c.OfferID + "/qr.png",
		TxCodeLength: c.TxCodeLength, Expires: c.OfferExpires}, nil
}

func (o citizenOffers) Credentials(ctx context.Context, citizenID, lang string) ([]pages.CredentialItem, error) {
	cs, err := o.s.Issuer.CitizenCredentials(ctx, citizenID)
	if err != nil {
		return nil, err
	}
	agencies := map[string]string{}
	now := o.s.Issuer.Now()
	out := make([]pages.CredentialItem, 0, len(cs))
	for _, c := range cs {
		if _, ok := agencies[c.ClientID]; !ok {
			agencies[c.ClientID] = o.s.agencyName(ctx, c.ClientID)
		}
		it := pages.CredentialItem{Name: o.display(c.TypeID, lang).Name, Agency: agencies[c.ClientID], State: string(c.State),
			Status: vci.StatusName(c.Status), Created: c.Created, Issued: c.Issued, Expires: c.Expires, OfferExpires: c.OfferExpires}
		// The issuer says whether an offer may still be accepted.
		if c.State == vci.StateOffered && now.Before(c.OfferExpires) {
			_, _, err := o.s.Issuer.Offer(ctx, c.OfferID)
			switch {
			case err == nil:
				it.OfferPage = vciapi.PagePath + c.OfferID
			case !errors.Is(err, vci.ErrNotFound):
				return nil, err
			}
		}
		out = append(out, it)
	}
	return out, nil
}

// display is the type's display in lang; a type no longer configured is
// named by its ID.
func (o citizenOffers) display(typeID, lang string) credential.Display {
	t, ok := o.s.Issuer.Type(typeID)
	if !ok {
		t = credential.Type{ID: typeID}
	}
	return t.DisplayIn(lang)

}
