package issuer

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/cedula/cedula/internal/jose"
)

// InvalidError is client or citizen data that breaks a rule; nothing was
// stored. Its Problems are written for whoever sent the data (each names
// a field and a rule, quoting only that sender's bounded input);
// errors.Is matches its Kind, ErrInvalidClient or ErrInvalidCitizen.
type InvalidError struct {
	Kind     error
	Problems []string
}

func (e *InvalidError) Error() string { return e.Kind.Error() + ": " + e.Public() }

// Unwrap returns Kind.
func (e *InvalidError) Unwrap() error { return e.Kind }

// Public is the text for the sender.
func (e *InvalidError) Public() string { return strings.Join(e.Problems, "; ") }

// Authority is who registers a client.
type Authority int

const (
	// Delegate is delegated administration (the admin API): it may not
	// grant or remove privileged scopes, not even its own.
	Delegate Authority = iota
	// Operator is the operator (command line, configuration, demo set-up):
	// privileged scopes are theirs to grant and remove.
	Operator
)

// Registration says how a client is registered.
type Registration struct {
	By Authority
	// MintSecret gives a client_secret_basic client without a secret
	// digest a new secret, returned this once (the admin API and the
	// command line do; the configuration names a digest file instead).
	MintSecret bool
}

// RegistrarStore is what a Registrar writes to.
type RegistrarStore interface {
	Clients
	Citizens
}

// Registrar holds the rules of registering clients and creating citizens,
// for every way in — the admin API, the command line, the configuration
// and the demo — so that all of them get the same defaults and checks.
type Registrar struct {
	Store RegistrarStore
	// Forget, when set, drops the cached copy of a client that changed
	// (the OpenID provider's client cache on this replica).
	Forget func(clientID string)
}

// RegisterClient creates or replaces client c. Defaults: pairwise
// subjects; the authorization code and refresh token grants. With
// reg.MintSecret, a client of client_secret_basic without a secret digest
// gets a new secret, returned this once (Cedula keeps its SHA-256 only). A
// JWKS must hold public keys with key IDs. Rule breaks are an
// *InvalidError; a Delegate changing a client's privileged scopes gets
// ErrPrivileged. Nothing is stored then.
func (r *Registrar) RegisterClient(ctx context.Context, c Client, reg Registration) (secret string, err error) {
	if c.SubjectType == "" {
		c.SubjectType = SubjectPairwise
	}
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken}
	}
	if c.Created.IsZero() {
		c.Created = time.Now()
	}
	if reg.MintSecret && c.AuthMethod == AuthClientSecretBasic && len(c.SecretHash) == 0 {
		secret, c.SecretHash = NewClientSecret()
	}
	err = c.Validate()
	if len(c.JWKS) > 0 {
		if jerr := jose.ValidPublicJWKS(c.JWKS); jerr != nil {
			var ie *InvalidError
			if !errors.As(err, &ie) {
				ie = &InvalidError{Kind: ErrInvalidClient}
			}
			ie.Problems = append(ie.Problems, "jwks is not a JSON Web Key Set of public keys with key IDs")
			err = ie
		}
	}
	if err != nil {
		return "", err
	}
	if reg.By == Operator {
		err = r.Store.PutClient(ctx, c)
	} else {
		err = r.Store.PutClientKeepPrivileges(ctx, c)
	}
	if err != nil {
		return "", err
	}
	if r.Forget != nil {
		r.Forget(c.ID)
	}
	return secret, nil
}

// CreateCitizen gives c a new ID when it has none and its creation time,
// checks it (ValidateCitizen: an *InvalidError) and stores it; ErrExists
// when the ID is taken.
func (r *Registrar) CreateCitizen(ctx context.Context, c Citizen) (Citizen, error) {
	if c.ID == "" {
		c.ID = NewCitizenID()
	}
	if c.Created.IsZero() {
		c.Created = time.Now()
	}
	if err := ValidateCitizen(c); err != nil {
		return Citizen{}, err
	}
	if err := r.Store.CreateCitizen(ctx, c); err != nil {
		return Citizen{}, err
	}
	return c, nil
}
