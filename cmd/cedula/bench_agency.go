package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/cedula/cedula/internal/bench"
	"github.com/cedula/cedula/internal/jose"
)

// agencyAPI calls Cedula's JSON APIs (admin, consent, issuance,
// verification) as an
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
	return a.postAs(ctx, path, "application/json", body, out)
}

// postAs is post with a body of another media type.
func (a *agencyAPI) postAs(ctx context.Context, path, contentType string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", contentType)
	return doJSON(a.hc, req, 0, out)
}

// get fetches path with the token and decodes a 200 answer into out. It
// is safe for concurrent use.
func (a *agencyAPI) get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	return doJSON(a.hc, req, http.StatusOK, out)
}

// createCitizens registers n fictional citizens through the admin API
// and returns the subs the agency knows them by.
func (a *agencyAPI) createCitizens(ctx context.Context, n int) ([]string, error) {
	subs := make([]string, n)
	for i := range subs {
		_, sub, err := a.createCitizen(ctx, i)
		if err != nil {
			return nil, err
		}
		subs[i] = sub
	}
	return subs, nil
}

// createCitizen registers the i-th fictional citizen through the admin
// API and returns their ID and the sub the agency knows them by.
func (a *agencyAPI) createCitizen(ctx context.Context, i int) (id, sub string, err error) {
	var c struct{ ID, Sub string }
	body := fmt.Sprintf(`{"given_name":"Bench","family_name":"Citizen %d","birthdate":"%04d-%02d-%02d","locale":"es"}`,
		i, 1940+i%60, 1+i%12, 1+i%28)
	if err := a.post(ctx, "/admin/citizens", []byte(body), &c); err != nil {
		return "", "", fmt.Errorf("%s: create a citizen: %w", a.base, err)
	}
	return c.ID, c.Sub, nil
}

// enrolmentLink asks the admin API for a citizen's one-time passkey
// enrolment link.
func (a *agencyAPI) enrolmentLink(ctx context.Context, citizenID string) (string, error) {
	var e struct{ Link string }
	if err := a.post(ctx, "/admin/enrolments", fmt.Appendf(nil, `{"citizen_id":%q}`, citizenID), &e); err != nil {
		return "", fmt.Errorf("%s: enrolment link: %w", a.base, err)
	}
	return e.Link, nil
}

// offer offers the citizen the agency knows as sub a credential of
// typeID (POST /issuance/offers) and returns the offer's
// openid-credential-offer:// URI and its transaction code.
func (a *agencyAPI) offer(ctx context.Context, sub, typeID string) (uri, txCode string, err error) {
	uri, txCode, _, err = a.offerID(ctx, sub, typeID)
	return uri, txCode, err
}

// offerID is offer, also returning the issuance's ID.
func (a *agencyAPI) offerID(ctx context.Context, sub, typeID string) (uri, txCode, id string, err error) {
	var o struct {
		URI    string `json:"credential_offer_uri"`
		TxCode string `json:"tx_code"`
		ID     string `json:"credential_id"`
	}
	body := fmt.Appendf(nil, `{"subject":%q,"credential_configuration_id":%q}`, sub, typeID)
	if err := a.post(ctx, "/issuance/offers", body, &o); err != nil {
		return "", "", "", fmt.Errorf("%s: offer: %w", a.base, err)
	}
	return o.URI, o.TxCode, o.ID, nil
}

// setStatus sets the status of the issuance id (PUT
// /issuance/credentials/{id}/status): valid, suspended or invalid.
func (a *agencyAPI) setStatus(ctx context.Context, id, status string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, a.base+"/issuance/credentials/"+url.PathEscape(id)+"/status",
		strings.NewReader(fmt.Sprintf(`{"status":%q}`, status)))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	var out map[string]any
	return doJSON(a.hc, req, http.StatusOK, &out)
}

// readClientKey reads an agency client's private JWK from path.
func readClientKey(path string) (*jose.ClientKey, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	key, err := jose.ParseClientKey(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}
