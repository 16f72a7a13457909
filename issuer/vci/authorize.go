package vci

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/random"
	"github.com/cedula/cedula/issuer"
)

// The authorization code flow (§5): a wallet, a client of the provider
// registered with the configurations' scopes, asks for credentials with a
// configuration's scope, with authorization_details or with the
// issuer_state of an offer; the citizen logs in with a passkey and
// consents. The provider carries authorization_details and issuer_state as
// scopes of the request (oidcop.Credentials), which the access token then
// holds:
//
//   - the configuration's scope (its ID): the token may issue it;
//   - detailsScope+ID: it was asked with authorization_details, so the
//     token response says credential_identifiers and the credential
//     request names one;
//   - stateScope+ID+":"+issuer_state: the offer it answers.
const (
	detailsScope = "openid_credential:"
	stateScope   = "vci-state:"
)

// IsCredentialScope implements oidcop.Credentials.
func (s *Service) IsCredentialScope(scope string) (string, bool) {
	if _, ok := s.types[scope]; ok {
		return scope, true
	}
	if id, ok := strings.CutPrefix(scope, detailsScope); ok {
		_, known := s.types[id]
		return id, known
	}
	if rest, ok := strings.CutPrefix(scope, stateScope); ok {
		id, _, _ := strings.Cut(rest, ":")
		_, known := s.types[id]
		return id, known
	}
	return "", false
}

// Scopes implements oidcop.Credentials: the scopes of an authorization
// request's authorization_details and issuer_state.
func (s *Service) Scopes(details, state string) ([]string, error) {
	var out []string
	if details != "" {
		ds, err := s.ParseAuthorizationDetails(details)
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			out = append(out, d.CredentialConfigurationID, detailsScope+d.CredentialConfigurationID)
		}
	}
	if state != "" {
		if len(state) > 128 {
			return nil, errors.New("issuer_state is not one of this issuer's")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := s.cfg.Store.CredentialByOffer(ctx, state)
		if errors.Is(err, ErrNotFound) || err == nil && (c.State != StateOffered || !s.Now().Before(c.OfferExpires)) {
			return nil, errors.New("issuer_state names no offer that may still be taken")
		}
		if err != nil {
			return nil, err
		}
		if details == "" {
			out = append(out, c.TypeID)
		}
		out = append(out, stateScope+c.TypeID+":"+state)
	}
	return out, nil
}

// TokenDetails implements oidcop.Credentials: the authorization_details
// of a token response (§6.2), one per configuration asked with them.
func (s *Service) TokenDetails(scopes []string) any {
	var out []AuthorizationDetail
	for _, sc := range scopes {
		if id, ok := strings.CutPrefix(sc, detailsScope); ok {
			if _, known := s.types[id]; known {
				out = append(out, AuthorizationDetail{Type: DetailsType, CredentialConfigurationID: id, CredentialIdentifiers: []string{id}})
			}
		}
	}
	if out == nil {
		return nil
	}
	return out
}

// Access reads what an access token of the provider allows at the
// credential endpoint: a pre-authorized code's token, or a token of the
// code flow that carries a credential scope. For the latter the issuance
// is the offer of its issuer_state — which must be the citizen's — or
// else a new one of the token's own, on behalf of the type's first
// issuing agency. ok is false for a token that allows no issuance.
func (s *Service) Access(ctx context.Context, at issuer.AccessToken) (Access, bool, error) {
	if a, ok := AccessOf(at); ok {
		return a, true, nil
	}
	if at.CitizenID == "" {
		return Access{}, false, nil
	}
	a := Access{CitizenID: at.CitizenID, ClientID: at.ClientID}
	state := ""
	for _, sc := range at.Scopes {
		if _, ok := s.types[sc]; ok && a.TypeID == "" {
			a.TypeID = sc
		}
		if id, ok := strings.CutPrefix(sc, detailsScope); ok && id == a.TypeID {
			a.ByIdentifier = true
		}
		if rest, ok := strings.CutPrefix(sc, stateScope); ok {
			_, state, _ = strings.Cut(rest, ":")
		}
	}
	if a.TypeID == "" {
		return Access{}, false, nil
	}
	t := s.types[a.TypeID]
	if state != "" {
		c, err := s.cfg.Store.CredentialByOffer(ctx, state)
		if errors.Is(err, ErrNotFound) || err == nil && (c.CitizenID != at.CitizenID || c.TypeID != a.TypeID) {
			return Access{}, false, protocolError(CodeDenied, "the offer of this issuer_state is not for this citizen and credential")
		}
		if err != nil {
			return Access{}, false, err
		}
		a.CredentialID = c.ID
		return a, true, nil
	}
	// A wallet-initiated issuance: one record a token.
	h := sha256.Sum256([]byte("cedula wallet issuance\x00" + at.ID))
	a.CredentialID = "w" + base64.RawURLEncoding.EncodeToString(h[:15])
	if _, err := s.cfg.Store.Credential(ctx, a.CredentialID); !errors.Is(err, ErrNotFound) {
		return a, true, err
	}
	now := s.Now()
	c := Credential{ID: a.CredentialID, ClientID: t.Issuers[0], CitizenID: at.CitizenID, TypeID: t.ID, State: StateRedeemed,
		Created: now, OfferID: random.Token(24), CodeHash: codeHash(random.Token(32)), TxCodeHash: []byte{0}, OfferExpires: now}
	e := s.entry(ctx, ActionRedeem, audit.Actor{Kind: audit.ActorCitizen, ID: s.pseudonym(at.CitizenID)}, at.CitizenID, t, audit.Allowed)
	if err := s.cfg.Store.CreateCredential(ctx, c, e); err != nil {
		if _, again := s.cfg.Store.Credential(ctx, a.CredentialID); again == nil {
			return a, true, nil // a concurrent request made it
		}
		return Access{}, false, fmt.Errorf("vci: wallet issuance: %w", err)
	}
	return a, true, nil
}
