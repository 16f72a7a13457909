package oidcop

import (
	"context"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/issuer"
)

// PurposeScope prefixes the scope by which a client names the purpose it
// asks a citizen's data for: "purpose:tax-filing" names the purpose
// "tax-filing" of the consent ledger's registry. The consent screen shows
// that purpose, and userinfo releases claims only as far as the ledger
// allows it for that purpose.
const PurposeScope = "purpose:"

// Consent is the consent ledger as the provider needs it.
type Consent interface {
	// PurposeOf reports whether the purpose is in the registry with
	// clientID as its controller: only then may the client ask for it.
	PurposeOf(ctx context.Context, clientID, purpose string) bool
	// Agree records that the citizen allowed clientID's request for the
	// purposes (consent where they rest on consent), before the code is
	// issued.
	Agree(ctx context.Context, citizenID, clientID string, purposes []string, method consent.Method) error
	// Declined returns those of the purposes resting on consent that the
	// citizen withdrew or refused: a routine "allow" does not give them
	// again (Provider.Complete).
	Declined(ctx context.Context, citizenID, clientID string, purposes []string) ([]string, error)
	// Agreed reports whether the citizen's consent is in force for every
	// one of the purposes that rests on consent (a request that needs no
	// new consent may complete without the consent screen). It reads the
	// ledger without using any personal data.
	Agreed(ctx context.Context, citizenID, clientID string, purposes []string) (bool, error)
	// Release decides, for each of the purposes, whether categories of
	// the citizen's data may go to clientID, appending every decision to
	// the audit log, and returns the categories that may (the union over
	// the purposes). An error means nothing may be released.
	Release(ctx context.Context, citizenID, clientID string, purposes, categories []string) ([]string, error)
}

// Purposes returns the purpose IDs of the purpose scopes among scopes.
func Purposes(scopes []string) []string {
	var out []string
	for _, sc := range scopes {
		if id, ok := strings.CutPrefix(sc, PurposeScope); ok && id != "" {
			out = append(out, id)
		}
	}
	return out
}

// claimCategories are the data categories of the scopes that release user
// claims (OIDC Core §5.4); a purpose must list them to cover them.
func claimCategories(scopes []string) []string {
	var out []string
	for _, sc := range scopes {
		if sc == oidc.ScopeProfile || sc == oidc.ScopeEmail {
			out = append(out, sc)
		}
	}
	return out
}

// releasedScopes returns the scopes of at whose claims the consent ledger
// lets go to the client: none without a purpose scope or a ledger.
func (s *storage) releasedScopes(ctx context.Context, at issuer.AccessToken) ([]string, error) {
	cats := claimCategories(at.Scopes)
	purposes := Purposes(at.Scopes)
	if len(cats) == 0 || len(purposes) == 0 || s.consent == nil {
		return nil, nil
	}
	return s.consent.Release(ctx, at.CitizenID, at.ClientID, purposes, cats)
}
