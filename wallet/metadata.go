package wallet

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// IssuerMetadata is what the wallet reads of a credential issuer's
// metadata (OpenID4VCI 1.0 §12.2.4).
type IssuerMetadata struct {
	CredentialIssuer           string                   `json:"credential_issuer"`
	AuthorizationServers       []string                 `json:"authorization_servers,omitempty"`
	CredentialEndpoint         string                   `json:"credential_endpoint"`
	NonceEndpoint              string                   `json:"nonce_endpoint,omitempty"`
	DeferredCredentialEndpoint string                   `json:"deferred_credential_endpoint,omitempty"`
	NotificationEndpoint       string                   `json:"notification_endpoint,omitempty"`
	BatchIssuance              *BatchIssuance           `json:"batch_credential_issuance,omitempty"`
	Display                    []displayJSON            `json:"display,omitempty"`
	Configurations             map[string]Configuration `json:"credential_configurations_supported"`
}

// BatchIssuance is the issuer's batch_credential_issuance.
type BatchIssuance struct {
	BatchSize int `json:"batch_size"`
}

// Configuration is one credential configuration an issuer supports.
type Configuration struct {
	Format         string               `json:"format"`
	VCT            string               `json:"vct,omitempty"`
	Scope          string               `json:"scope,omitempty"`
	BindingMethods []string             `json:"cryptographic_binding_methods_supported,omitempty"`
	ProofTypes     map[string]proofType `json:"proof_types_supported,omitempty"`
	Metadata       struct {
		Display []displayJSON `json:"display,omitempty"`
		Claims  []claimJSON   `json:"claims,omitempty"`
	} `json:"credential_metadata,omitzero"`
}

type proofType struct {
	Algs []string `json:"proof_signing_alg_values_supported"`
}

type displayJSON struct {
	Name            string `json:"name"`
	Locale          string `json:"locale,omitempty"`
	Description     string `json:"description,omitempty"`
	BackgroundColor string `json:"background_color,omitempty"`
	TextColor       string `json:"text_color,omitempty"`
	Logo            *struct {
		URI     string `json:"uri"`
		AltText string `json:"alt_text,omitempty"`
	} `json:"logo,omitempty"`
}

type claimJSON struct {
	Path      []any         `json:"path"`
	Mandatory bool          `json:"mandatory,omitempty"`
	Display   []displayJSON `json:"display,omitempty"`
}

// pick chooses the display for lang: the one of its language, else one
// without a locale, else the first.
func pick(ds []displayJSON, lang string) Display {
	if len(ds) == 0 {
		return Display{}
	}
	best := -1
	for i, d := range ds {
		l := strings.ToLower(d.Locale)
		if l == lang || strings.HasPrefix(l, lang+"-") {
			best = i
			break
		}
		if l == "" && best < 0 {
			best = i
		}
	}
	if best < 0 {
		best = 0
	}
	d := ds[best]
	out := Display{Locale: d.Locale, Name: d.Name, Description: d.Description, BackgroundColor: d.BackgroundColor, TextColor: d.TextColor}
	if d.Logo != nil {
		out.LogoURI, out.LogoAltText = d.Logo.URI, d.Logo.AltText
	}
	return out
}

// claimInfo gives claims' descriptions with labels in lang.
func claimInfo(claims []claimJSON, lang string) []ClaimInfo {
	out := make([]ClaimInfo, 0, len(claims))
	for _, cl := range claims {
		out = append(out, ClaimInfo{Path: cl.Path, Label: pick(cl.Display, lang).Name, Mandatory: cl.Mandatory})
	}
	return out
}

// check holds the metadata to what the wallet relies on.
func (m *IssuerMetadata) check(issuer string, allowHTTP bool) error {
	if m.CredentialIssuer != issuer {
		return fmt.Errorf("its credential_issuer %q is not the issuer asked for", m.CredentialIssuer)
	}
	if err := checkURL(m.CredentialEndpoint, allowHTTP); err != nil {
		return fmt.Errorf("credential_endpoint is not an https URL")
	}
	for name, e := range map[string]string{"nonce_endpoint": m.NonceEndpoint, "notification_endpoint": m.NotificationEndpoint,
		"deferred_credential_endpoint": m.DeferredCredentialEndpoint} {
		if e != "" && checkURL(e, allowHTTP) != nil {
			return fmt.Errorf("%s is not an https URL", name)
		}
	}
	for _, as := range m.AuthorizationServers {
		if checkURL(as, allowHTTP) != nil {
			return fmt.Errorf("authorization_servers holds a value that is not an https URL")
		}
	}
	if len(m.Configurations) == 0 {
		return fmt.Errorf("credential_configurations_supported is missing or empty")
	}
	return nil
}

// ASMetadata is what the wallet reads of an authorization server's
// metadata (RFC 8414).
type ASMetadata struct {
	Issuer                 string   `json:"issuer"`
	TokenEndpoint          string   `json:"token_endpoint"`
	DPoPAlgs               []string `json:"dpop_signing_alg_values_supported,omitempty"`
	PreAuthorizedAnonymous bool     `json:"pre-authorized_grant_anonymous_access_supported,omitempty"`
	// The authorization code flow's.
	AuthorizationEndpoint string   `json:"authorization_endpoint,omitempty"`
	PAREndpoint           string   `json:"pushed_authorization_request_endpoint,omitempty"` // RFC 9126 §5
	RequirePAR            bool     `json:"require_pushed_authorization_requests,omitempty"`
	CodeChallengeMethods  []string `json:"code_challenge_methods_supported,omitempty"`
	DetailsTypes          []string `json:"authorization_details_types_supported,omitempty"` // RFC 9396 §10
	GrantTypes            []string `json:"grant_types_supported,omitempty"`
	// IssParameter: the authorization response names the server (RFC 9207).
	IssParameter bool `json:"authorization_response_iss_parameter_supported,omitempty"`
}

// wellKnown inserts /.well-known/name between an identifier's host and its
// path (RFC 8414 §3.1, OpenID4VCI 1.0 §12.2.2, SD-JWT VC §5).
func wellKnown(id, name string) string {
	u, err := url.Parse(id)
	if err != nil {
		return ""
	}
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	return u.Scheme + "://" + u.Host + "/.well-known/" + name + path
}

// maxDocument bounds a metadata document, an offer or an answer read from
// an issuer.
const maxDocument = 1 << 20

// getJSON fetches a JSON document.
func (s *Service) getJSON(ctx context.Context, u string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	res, err := s.cfg.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %d", u, res.StatusCode)
	}
	return readJSON(res, out)
}

// readJSON decodes a JSON body of at most maxDocument bytes.
func readJSON(res *http.Response, out any) error {
	if mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type")); mt != "application/json" {
		return fmt.Errorf("the answer is %q, not application/json", res.Header.Get("Content-Type"))
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, maxDocument+1))
	if err != nil {
		return err
	}
	if len(b) > maxDocument {
		return fmt.Errorf("the answer is larger than %d bytes", maxDocument)
	}
	return json.Unmarshal(b, out)
}

// issuerMetadata fetches and checks an issuer's metadata.
func (s *Service) issuerMetadata(ctx context.Context, issuer string) (*IssuerMetadata, error) {
	var m IssuerMetadata
	if err := s.getJSON(ctx, wellKnown(issuer, "openid-credential-issuer"), &m); err != nil {
		return nil, fail(ErrIssuer, err, "the issuer's metadata could not be read")
	}
	if err := m.check(issuer, s.cfg.AllowHTTP); err != nil {
		return nil, fail(ErrIssuer, err, "the issuer's metadata is not valid: %v", err)
	}
	return &m, nil
}

// asMetadata fetches an authorization server's metadata: RFC 8414's
// location, then OpenID Connect Discovery's.
func (s *Service) asMetadata(ctx context.Context, as string) (*ASMetadata, error) {
	var m ASMetadata
	err := s.getJSON(ctx, wellKnown(as, "oauth-authorization-server"), &m)
	if err != nil {
		m = ASMetadata{}
		err = s.getJSON(ctx, strings.TrimSuffix(as, "/")+"/.well-known/openid-configuration", &m)
	}
	if err != nil {
		return nil, fail(ErrIssuer, err, "the authorization server's metadata could not be read")
	}
	if m.Issuer != as {
		return nil, fail(ErrIssuer, nil, "the authorization server's metadata names another issuer")
	}
	if checkURL(m.TokenEndpoint, s.cfg.AllowHTTP) != nil {
		return nil, fail(ErrIssuer, nil, "the authorization server has no https token_endpoint")
	}
	return &m, nil
}
