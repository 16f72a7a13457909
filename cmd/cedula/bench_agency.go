package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/cedula/cedula/internal/bench"
	"github.com/cedula/cedula/internal/jose"
)

// agencyAPI calls Cedula's JSON APIs (admin, consent, issuance) as an
// agency's back end does: with a client_credentials access token obtained
// with private_key_jwt. A bench sets up what it measures through it.
type agencyAPI struct {
	hc *http.Client
	tc *bench.TokenClient
	// base is the server's URL, without a trailing slash.
	base string
	// token is the current access token; login replaces it, and nothing
	// else may run meanwhile.
	token string
}

// newAgencyAPI finds the server at issuer and logs in as clientID with
// key, asking for scope.
func newAgencyAPI(ctx context.Context, hc *http.Client, issuer, clientID string, key *jose.ClientKey, scope string) (*agencyAPI, error) {
	tc, err := bench.NewTokenClient(ctx, bench.TokenConfig{Issuer: issuer, ClientID: clientID, Key: key,
		Audience: bench.AudTokenEndpoint, Scope: scope, HTTP: hc})
	if err != nil {
		return nil, err
	}
	a := &agencyAPI{hc: hc, tc: tc, base: strings.TrimRight(tc.Issuer(), "/")}
	return a, a.login(ctx)
}

// login obtains a fresh access token (one lives for minutes; a long bench
// logs in again before each round).
func (a *agencyAPI) login(ctx context.Context) error {
	token, err := a.tc.Token(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", a.base, err)
	}
	a.token = token
	return nil
}

// post sends body with the token to path and decodes a 2xx answer into
// out. It is safe for concurrent use.
func (a *agencyAPI) post(ctx context.Context, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	return doJSON(a.hc, req, 0, out)
}

// createCitizens registers n fictional citizens through the admin API
// and returns the subs the agency knows them by.
func (a *agencyAPI) createCitizens(ctx context.Context, n int) ([]string, error) {
	subs := make([]string, n)
	for i := range subs {
		var c struct{ Sub string }
		body := fmt.Sprintf(`{"given_name":"Bench","family_name":"Citizen %d","birthdate":"%04d-%02d-%02d","locale":"es"}`,
			i, 1940+i%60, 1+i%12, 1+i%28)
		if err := a.post(ctx, "/admin/citizens", []byte(body), &c); err != nil {
			return nil, fmt.Errorf("%s: create a citizen: %w", a.base, err)
		}
		subs[i] = c.Sub
	}
	return subs, nil
}
