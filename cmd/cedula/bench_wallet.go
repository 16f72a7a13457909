package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/issuer/vci"
)

// vciIssuer is a credential issuer as a wallet finds it: its identifier
// (the key proofs' aud) and endpoints, read from its metadata (OpenID4VCI
// 1.0 §12.2) and its authorization server's (RFC 8414).
type vciIssuer struct {
	hc                       *http.Client
	id                       string
	token, nonce, credential string
	// configurations are the credential configuration IDs it offers;
	// batchSize the most key proofs one request may carry.
	configurations []string
	batchSize      int
}

// discoverIssuer reads the metadata of the credential issuer at base.
func discoverIssuer(ctx context.Context, hc *http.Client, base string) (*vciIssuer, error) {
	base = strings.TrimRight(base, "/")
	var md struct {
		Issuer     string                     `json:"credential_issuer"`
		Credential string                     `json:"credential_endpoint"`
		Nonce      string                     `json:"nonce_endpoint"`
		AS         []string                   `json:"authorization_servers"`
		Configs    map[string]json.RawMessage `json:"credential_configurations_supported"`
		Batch      struct {
			Size int `json:"batch_size"`
		} `json:"batch_credential_issuance"`
	}
	if err := getJSON(ctx, hc, base+"/.well-known/openid-credential-issuer", &md); err != nil {
		return nil, err
	}
	as := md.Issuer
	if len(md.AS) > 0 {
		as = md.AS[0]
	}
	// RFC 8414 §3.1 (an issuer without a path: the suffix is appended).
	var asm struct {
		Token      string   `json:"token_endpoint"`
		GrantTypes []string `json:"grant_types_supported"`
	}
	if err := getJSON(ctx, hc, strings.TrimRight(as, "/")+"/.well-known/oauth-authorization-server", &asm); err != nil {
		return nil, err
	}
	var problems []string
	if md.Issuer == "" || md.Credential == "" || md.Nonce == "" {
		problems = append(problems, "the issuer metadata lacks credential_issuer, credential_endpoint or nonce_endpoint")
	}
	if asm.Token == "" || !slices.Contains(asm.GrantTypes, vci.GrantPreAuthorized) {
		problems = append(problems, "the authorization server has no token endpoint for the pre-authorized code grant")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s: %s", base, strings.Join(problems, "; "))
	}
	is := &vciIssuer{hc: hc, id: md.Issuer, token: asm.Token, nonce: md.Nonce, credential: md.Credential, batchSize: max(md.Batch.Size, 1)}
	for id := range md.Configs {
		is.configurations = append(is.configurations, id)
	}
	slices.Sort(is.configurations)
	return is, nil
}

// vciOffer is what a wallet redeems: an offer's pre-authorized code and
// the transaction code the agency sent the citizen apart (§4.1.1).
type vciOffer struct{ code, txCode string }

// resolveOffer fetches an offer by reference (§4.1.3) and returns it with
// txCode.
func (is *vciIssuer) resolveOffer(ctx context.Context, offerURL, txCode string) (vciOffer, error) {
	var o vci.Offer
	if err := getJSON(ctx, is.hc, offerURL, &o); err != nil {
		return vciOffer{}, err
	}
	if o.Grants.PreAuthorized.Code == "" {
		return vciOffer{}, fmt.Errorf("GET %s: the offer has no pre-authorized code", offerURL)
	}
	return vciOffer{code: o.Grants.PreAuthorized.Code, txCode: txCode}, nil
}

// wallet is a virtual wallet's session with the issuer: a DPoP key of its
// own and the access token bound to it. One access token may ask for
// credentials again and again while it lives.
type wallet struct {
	is      *vciIssuer
	dpop    *jose.ClientKey
	token   string
	ath     string // the DPoP proofs' hash of the token (RFC 9449 §4.2)
	expires time.Time
}

// redeem redeems an offer as a new wallet: a fresh ES256 DPoP key, and
// the token request with the pre-authorized code and the transaction code
// (§6.1), its DPoP proof signed (RFC 9449 §5).
func (is *vciIssuer) redeem(ctx context.Context, o vciOffer) (*wallet, error) {
	k, err := jose.NewClientKey(keys.ES256)
	if err != nil {
		return nil, err
	}
	proof, err := k.SignDPoP(http.MethodPost, is.token, "", time.Now())
	if err != nil {
		return nil, err
	}
	form := url.Values{"grant_type": {vci.GrantPreAuthorized}, "pre-authorized_code": {o.code}, "tx_code": {o.txCode}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, is.token, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("DPoP", proof)
	var tr struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	sent := time.Now()
	if err := doJSON(is.hc, req, http.StatusOK, &tr); err != nil {
		return nil, err
	}
	if tr.AccessToken == "" || tr.TokenType != "DPoP" {
		return nil, fmt.Errorf("token: token_type %q, want a DPoP-bound access token", tr.TokenType)
	}
	h := sha256.Sum256([]byte(tr.AccessToken))
	return &wallet{is: is, dpop: k, token: tr.AccessToken, ath: base64.RawURLEncoding.EncodeToString(h[:]),
		expires: sent.Add(time.Duration(tr.ExpiresIn) * time.Second)}, nil
}

// fetchNonce gets a fresh c_nonce from the nonce endpoint (§7).
func (is *vciIssuer) fetchNonce(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, is.nonce, nil)
	if err != nil {
		return "", err
	}
	var n struct {
		Nonce string `json:"c_nonce"`
	}
	if err := doJSON(is.hc, req, http.StatusOK, &n); err != nil {
		return "", err
	}
	if n.Nonce == "" {
		return "", errors.New("nonce: no c_nonce in the answer")
	}
	return n.Nonce, nil
}

// credentialRequest builds a credential request (§8.2) for credentials
// of typeID over nonce, one for each holder key: its key proof (Appendix
// F.1) signed, and the DPoP proof with the token's hash. The signing is
// the wallet's work, part of the request.
func (w *wallet) credentialRequest(ctx context.Context, typeID, nonce string, holders []*jose.ClientKey) (*http.Request, error) {
	proofs := make([]string, len(holders))
	now := time.Now()
	for i, k := range holders {
		var err error
		if proofs[i], err = k.SignKeyProof(vci.ProofType, map[string]any{"aud": w.is.id, "iat": now.Unix(), "nonce": nonce}); err != nil {
			return nil, err
		}
	}
	body, err := json.Marshal(map[string]any{"credential_configuration_id": typeID, "proofs": map[string]any{"jwt": proofs}})
	if err != nil {
		return nil, err
	}
	dpop, err := w.dpop.SignDPoP(http.MethodPost, w.is.credential, w.ath, now)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.is.credential, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "DPoP "+w.token)
	req.Header.Set("DPoP", dpop)
	return req, nil
}

// credential asks for batch credentials of typeID over nonce, each bound
// to a fresh ES256 holder key, and checks that as many SD-JWT VCs came
// back at once.
func (w *wallet) credential(ctx context.Context, typeID, nonce string, batch int) error {
	holders, err := newHolderKeys(batch)
	if err != nil {
		return err
	}
	req, err := w.credentialRequest(ctx, typeID, nonce, holders)
	if err != nil {
		return err
	}
	_, err = checkCredentials(w.is.hc, req, batch)
	return err
}

// newHolderKeys makes n fresh ES256 holder keys.
func newHolderKeys(n int) ([]*jose.ClientKey, error) {
	out := make([]*jose.ClientKey, n)
	for i := range out {
		var err error
		if out[i], err = jose.NewClientKey(keys.ES256); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// checkCredentials sends a credential request and checks its answer:
// 200 with want SD-JWT VCs (§8.3), which it returns.
func checkCredentials(hc *http.Client, req *http.Request, want int) ([]string, error) {
	var cr struct {
		Credentials []struct {
			Credential string `json:"credential"`
		} `json:"credentials"`
	}
	if err := doJSON(hc, req, http.StatusOK, &cr); err != nil {
		if se := (*statusError)(nil); errors.As(err, &se) && se.status == http.StatusAccepted {
			return nil, errors.New("credential: deferred (the type needs an officer's approval): choose a type issued at once")
		}
		return nil, err
	}
	if len(cr.Credentials) != want {
		return nil, fmt.Errorf("credential: %d credentials, want %d", len(cr.Credentials), want)
	}
	out := make([]string, len(cr.Credentials))
	for i, c := range cr.Credentials {
		if !strings.HasPrefix(c.Credential, "ey") || !strings.Contains(c.Credential, "~") {
			return nil, errors.New("credential: an answer that is not an SD-JWT VC")
		}
		out[i] = c.Credential
	}
	return out, nil
}

// getJSON fetches u and decodes a 200 answer into out.
func getJSON(ctx context.Context, hc *http.Client, u string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	return doJSON(hc, req, http.StatusOK, out)
}

// maxAnswer bounds what a bench reads of an answer: a batch of ten
// credentials fits.
const maxAnswer = 1 << 20

// doJSON sends req with hc and decodes an answer of status want (0: any
// 2xx) into out; another status is a *statusError that quotes the answer.
func doJSON(hc *http.Client, req *http.Request, want int, out any) error {
	res, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	if res.StatusCode != want && (want != 0 || res.StatusCode/100 != 2) {
		return &statusError{method: req.Method, path: req.URL.Path, status: res.StatusCode, body: bytes.TrimSpace(b)}
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

// statusError is an answer of another status than the one expected.
type statusError struct {
	method, path string
	status       int
	body         []byte
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: status %d: %s", e.method, e.path, e.status, e.body)
}
