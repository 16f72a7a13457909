package wallet

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/cedula/cedula/internal/dcql"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/random"
)

// Presentation requests (OpenID4VP 1.0 §5): as scanned, fetched from the
// verifier's request_uri (GET, or POST with the wallet's metadata and a
// wallet_nonce, §5.10), the request object's signature checked according
// to its client identifier prefix (§5.9.3), and every parameter the
// wallet relies on held to the specification.

// Request object types and bounds.
const (
	RequestObjectType = "oauth-authz-req+jwt"
	// MaxRequestLink bounds a scanned request.
	MaxRequestLink = 16 << 10
	// MaxRequestObject bounds a request object fetched from request_uri.
	MaxRequestObject = 256 << 10
)

// Client identifier prefixes the wallet takes (§5.9.3).
const (
	PrefixX509SanDNS  = "x509_san_dns"
	PrefixRedirectURI = "redirect_uri"
)

// Response modes (§8.2, §8.3.1).
const (
	ModeDirectPost    = "direct_post"
	ModeDirectPostJWT = "direct_post.jwt"
)

// Verifier is who asks, as far as the wallet could tell.
type Verifier struct {
	// ClientID is the verifier's client identifier, prefix included: the
	// audience of the key-binding JWTs.
	ClientID string
	Prefix   string // x509_san_dns or redirect_uri
	// Verified: the request was signed by a certificate that chains to
	// one of the wallet's trust anchors and names ClientID. An unverified
	// verifier (redirect_uri) is only where it says it sends the answer.
	Verified bool
	// Name is the certificate subject's organization when verified, else
	// the name the verifier gives itself (client_metadata.client_name),
	// which nothing vouches for.
	Name    string
	LogoURI string
	// ResponseURI is where the answer goes.
	ResponseURI string
}

// request is a checked presentation request, kept (sealed) between
// resolving it and answering it.
type request struct {
	Verifier     Verifier        `json:"verifier"`
	ResponseMode string          `json:"response_mode"`
	Nonce        string          `json:"nonce"`
	State        string          `json:"state,omitempty"`
	DCQL         json.RawMessage `json:"dcql_query"`
	Purpose      string          `json:"purpose,omitempty"`
	// EncKey and Enc are the verifier's key and content encryption for
	// direct_post.jwt.
	EncKey json.RawMessage `json:"enc_key,omitempty"`
	Enc    string          `json:"enc,omitempty"`
}

// requestParams are the request's parameters, from a request object or a
// request by value.
type requestParams struct {
	ClientID        string          `json:"client_id"`
	ResponseType    string          `json:"response_type"`
	ResponseMode    string          `json:"response_mode"`
	ResponseURI     string          `json:"response_uri"`
	RedirectURI     string          `json:"redirect_uri"`
	Nonce           string          `json:"nonce"`
	State           string          `json:"state"`
	Scope           string          `json:"scope"`
	DCQL            json.RawMessage `json:"dcql_query"`
	ClientMetadata  *clientMetadata `json:"client_metadata"`
	WalletNonce     string          `json:"wallet_nonce"`
	TransactionData json.RawMessage `json:"transaction_data"`
	// Purpose is the registered purpose the verifier asks under (a
	// Cedula extension; other verifiers send none).
	Purpose string `json:"purpose"`
}

// clientMetadata is what the wallet reads of client_metadata (§5.1).
type clientMetadata struct {
	ClientName string `json:"client_name"`
	LogoURI    string `json:"logo_uri"`
	JWKS       *struct {
		Keys []json.RawMessage `json:"keys"`
	} `json:"jwks"`
	EncValues []string `json:"encrypted_response_enc_values_supported"`
}

// urlSafe are the characters §5.2 allows in nonce and state.
var urlSafe = regexp.MustCompile(`^[A-Za-z0-9._~-]{1,512}$`)

// walletMetadata is what the wallet tells a verifier with
// request_uri_method=post (§5.10, §10).
func walletMetadata(prefix string) string {
	md := map[string]any{
		"vp_formats_supported": map[string]any{FormatSDJWT: map[string]any{
			"sd-jwt_alg_values": []string{string(keys.ES256), string(keys.EdDSA)}, "kb-jwt_alg_values": []string{string(keys.ES256)}}},
		"client_id_prefixes_supported":                  []string{PrefixX509SanDNS, PrefixRedirectURI},
		"response_types_supported":                      []string{"vp_token"},
		"response_modes_supported":                      []string{ModeDirectPost, ModeDirectPostJWT},
		"authorization_encryption_alg_values_supported": []string{"ECDH-ES"},
		"authorization_encryption_enc_values_supported": jose.EncAlgs,
	}
	if prefix != PrefixRedirectURI { // §5.10: not where requests cannot be signed
		md["request_object_signing_alg_values_supported"] = []string{string(keys.ES256), string(keys.EdDSA)}
	}
	b, _ := json.Marshal(md)
	return string(b)
}

// resolveRequest reads a scanned request, fetches its request object when
// it is by reference, and checks it.
func (s *Service) resolveRequest(ctx context.Context, link string) (*request, error) {
	link = strings.TrimSpace(link)
	if link == "" || len(link) > MaxRequestLink {
		return nil, fail(ErrRequest, nil, "the request is empty or longer than %d bytes", MaxRequestLink)
	}
	u, err := url.Parse(link)
	if err != nil || u.Scheme == "" {
		return nil, fail(ErrRequest, err, "the request is not a URI")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, fail(ErrRequest, err, "the request's query does not parse")
	}
	clientID := q.Get("client_id")
	if clientID == "" {
		return nil, fail(ErrRequest, nil, "the request has no client_id")
	}
	prefix, _, _ := strings.Cut(clientID, ":")
	if prefix != PrefixX509SanDNS && prefix != PrefixRedirectURI {
		return nil, fail(ErrUnsupported, nil, "the verifier's client identifier prefix %.40q is not one this wallet takes (x509_san_dns, redirect_uri)", prefix)
	}
	var object []byte
	walletNonce := ""
	switch ref, val := q.Get("request_uri"), q.Get("request"); {
	case ref != "" && val != "":
		return nil, fail(ErrRequest, nil, "the request carries both request and request_uri")
	case ref != "":
		method := q.Get("request_uri_method")
		if method != "" && method != "get" && method != "post" {
			return nil, fail(ErrRequest, nil, "request_uri_method %.20q is neither get nor post", method)
		}
		if err := checkURL(ref, s.cfg.AllowHTTP); err != nil {
			return nil, fail(ErrRequest, err, "request_uri is not an https URL")
		}
		if method == "post" {
			walletNonce = random.Token(16)
		}
		if object, err = s.fetchRequestObject(ctx, ref, prefix, walletNonce); err != nil {
			return nil, err
		}
	case val != "":
		object = []byte(val)
	default:
		// By value, unsigned: the parameters are the query's (§5).
		if prefix != PrefixRedirectURI {
			return nil, fail(ErrRequest, nil, "a request from an %s verifier must be a signed request object", prefix)
		}
		p, err := paramsFromQuery(q)
		if err != nil {
			return nil, err
		}
		return s.checkRequest(clientID, p, "", nil)
	}
	return s.openRequestObject(clientID, prefix, object, walletNonce)
}

// paramsFromQuery reads a request by value.
func paramsFromQuery(q url.Values) (requestParams, error) {
	p := requestParams{ClientID: q.Get("client_id"), ResponseType: q.Get("response_type"), ResponseMode: q.Get("response_mode"),
		ResponseURI: q.Get("response_uri"), RedirectURI: q.Get("redirect_uri"), Nonce: q.Get("nonce"), State: q.Get("state"),
		Scope: q.Get("scope"), Purpose: q.Get("purpose")}
	if v := q.Get("dcql_query"); v != "" {
		p.DCQL = json.RawMessage(v)
	}
	if v := q.Get("transaction_data"); v != "" {
		p.TransactionData = json.RawMessage(strconv.Quote(v))
	}
	if v := q.Get("client_metadata"); v != "" {
		p.ClientMetadata = &clientMetadata{}
		if err := json.Unmarshal([]byte(v), p.ClientMetadata); err != nil {
			return p, fail(ErrRequest, err, "client_metadata is not a JSON object")
		}
	}
	return p, nil
}

// noRedirects is the wallet's client, redirects refused: a verifier's
// request_uri and response_uri answer themselves (§13.6).
func (s *Service) noRedirects() *http.Client {
	c := *s.cfg.HTTP
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// fetchRequestObject GETs the request object, or POSTs the wallet's
// metadata and nonce for it (§5.10).
func (s *Service) fetchRequestObject(ctx context.Context, uri, prefix, walletNonce string) ([]byte, error) {
	var req *http.Request
	var err error
	if walletNonce != "" {
		form := url.Values{"wallet_metadata": {walletMetadata(prefix)}, "wallet_nonce": {walletNonce}}
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, uri, strings.NewReader(form.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	}
	if err != nil {
		return nil, fail(ErrRequest, err, "request_uri is not usable")
	}
	req.Header.Set("Accept", "application/"+RequestObjectType)
	res, err := s.noRedirects().Do(req)
	if err != nil {
		return nil, fail(ErrRequest, err, "the verifier's request_uri could not be reached")
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fail(ErrRequest, nil, "the verifier's request_uri answered %d", res.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, MaxRequestObject+1))
	if err != nil {
		return nil, fail(ErrRequest, err, "the request object could not be read")
	}
	if len(b) > MaxRequestObject {
		return nil, fail(ErrRequest, nil, "the request object is larger than %d bytes", MaxRequestObject)
	}
	return []byte(strings.TrimSpace(string(b))), nil
}

// openRequestObject checks a request object's signature as its client
// identifier prefix says (§5.9.3) and then its parameters.
func (s *Service) openRequestObject(clientID, prefix string, object []byte, walletNonce string) (*request, error) {
	parts := strings.Split(string(object), ".")
	if len(parts) != 3 {
		if len(parts) == 5 {
			return nil, fail(ErrUnsupported, nil, "the request object is encrypted, which this wallet does not ask for")
		}
		return nil, fail(ErrRequest, nil, "the request object is not a JWT")
	}
	var hdr struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || json.Unmarshal(raw, &hdr) != nil {
		return nil, fail(ErrRequest, err, "the request object's header is not base64url JSON")
	}
	if hdr.Typ != RequestObjectType {
		return nil, fail(ErrRequest, nil, "the request object's typ is %.40q, not %s", hdr.Typ, RequestObjectType)
	}
	var payload []byte
	var chain []*x509.Certificate
	switch prefix {
	case PrefixX509SanDNS:
		if hdr.Alg == "none" {
			return nil, fail(ErrRequest, nil, "the request object of an x509_san_dns verifier is not signed")
		}
		payload, chain, err = jose.VerifyX5C(object, s.cfg.VerifierRoots, s.cfg.Now())
		if err != nil {
			return nil, fail(ErrRequest, err, "the request object's signature does not check out: %v", strings.TrimPrefix(err.Error(), jose.ErrInvalid.Error()+": "))
		}
	case PrefixRedirectURI:
		if hdr.Alg != "none" || parts[2] != "" {
			return nil, fail(ErrRequest, nil, "a redirect_uri verifier's request cannot be signed (alg must be none)")
		}
		if payload, err = base64.RawURLEncoding.DecodeString(parts[1]); err != nil {
			return nil, fail(ErrRequest, err, "the request object's payload is not base64url")
		}
	}
	var p requestParams
	if err := json.Unmarshal(payload, &p); err != nil {
		return nil, fail(ErrRequest, err, "the request object's payload is not a JSON object of the request's form")
	}
	return s.checkRequest(clientID, p, walletNonce, chain)
}

// checkRequest holds the parameters to OpenID4VP 1.0 and the client
// identifier's prefix.
func (s *Service) checkRequest(clientID string, p requestParams, walletNonce string, chain []*x509.Certificate) (*request, error) {
	bad := func(format string, args ...any) (*request, error) { return nil, fail(ErrRequest, nil, format, args...) }
	prefix, id, _ := strings.Cut(clientID, ":")
	switch {
	case p.ClientID != clientID:
		return bad("the request object's client_id is not the request's %.200q", clientID)
	case walletNonce != "" && p.WalletNonce != walletNonce:
		return bad("the request object does not carry the wallet_nonce the wallet sent")
	case p.ResponseType != "vp_token":
		return bad("response_type is %.40q, not vp_token", p.ResponseType)
	case p.ResponseMode != ModeDirectPost && p.ResponseMode != ModeDirectPostJWT:
		return bad("response_mode is %.40q; this wallet answers with direct_post or direct_post.jwt", p.ResponseMode)
	case p.RedirectURI != "":
		return bad("redirect_uri must not be present with response_mode %s", p.ResponseMode)
	case p.Nonce == "":
		return bad("the request has no nonce")
	case !urlSafe.MatchString(p.Nonce):
		return bad("the nonce has characters §5.2 does not allow")
	case p.State != "" && !urlSafe.MatchString(p.State):
		return bad("the state has characters §5.2 does not allow")
	case len(p.DCQL) == 0 && p.Scope != "":
		return nil, fail(ErrUnsupported, nil, "the request asks by scope, which this wallet does not map to a query")
	case len(p.DCQL) == 0:
		return bad("the request has no dcql_query")
	case p.Scope != "":
		return bad("the request has both dcql_query and scope")
	case len(p.TransactionData) > 0:
		return nil, fail(ErrUnsupported, nil, "the request carries transaction_data, which this wallet does not support")
	}
	if prefix == PrefixRedirectURI && p.ResponseURI == "" {
		p.ResponseURI = id // §5.9.3: the client identifier is the response URI
	}
	if err := checkURL(p.ResponseURI, s.cfg.AllowHTTP); err != nil {
		return bad("response_uri is not an https URL")
	}
	ru, _ := url.Parse(p.ResponseURI)
	if _, err := parseQuery(p.DCQL); err != nil {
		return nil, err
	}
	r := &request{ResponseMode: p.ResponseMode, Nonce: p.Nonce, State: p.State, DCQL: p.DCQL, Purpose: p.Purpose,
		Verifier: Verifier{ClientID: clientID, Prefix: prefix, ResponseURI: p.ResponseURI}}
	md := p.ClientMetadata
	if md == nil {
		md = &clientMetadata{}
	}
	r.Verifier.Name, r.Verifier.LogoURI = sanitize(md.ClientName), md.LogoURI
	switch prefix {
	case PrefixX509SanDNS:
		if len(chain) == 0 || !slices.Contains(chain[0].DNSNames, id) {
			return bad("the verifier's certificate does not name %.200q among its DNS names", id)
		}
		if !strings.EqualFold(ru.Hostname(), id) {
			return bad("response_uri is not on the verifier's host %.200q", id)
		}
		r.Verifier.Verified = true
		if o := chain[0].Subject.Organization; len(o) > 0 {
			r.Verifier.Name = sanitize(o[0])
		}
	case PrefixRedirectURI:
		if p.ResponseURI != id {
			return bad("response_uri is not the verifier's client identifier, as the redirect_uri prefix requires")
		}
	}
	if r.ResponseMode == ModeDirectPostJWT {
		if err := r.chooseEncryption(md); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// chooseEncryption picks the verifier's key and enc for direct_post.jwt
// (§8.3): an ECDH-ES P-256 key of client_metadata.jwks not for
// signatures, and an enc both sides take (A128GCM by default).
func (r *request) chooseEncryption(md *clientMetadata) error {
	enc := "A128GCM"
	if len(md.EncValues) > 0 {
		i := slices.IndexFunc(md.EncValues, func(e string) bool { return slices.Contains(jose.EncAlgs, e) })
		if i < 0 {
			return fail(ErrUnsupported, nil, "the verifier takes none of the content encryptions %v", jose.EncAlgs)
		}
		enc = md.EncValues[i]
	}
	if md.JWKS == nil {
		return fail(ErrRequest, nil, "direct_post.jwt without client_metadata.jwks: no key to encrypt the response to")
	}
	for _, k := range md.JWKS.Keys {
		var f struct {
			Kty, Crv, Alg, Use, Kid string
		}
		if json.Unmarshal(k, &f) != nil || f.Kty != "EC" || f.Crv != "P-256" || f.Alg != "ECDH-ES" || (f.Use != "" && f.Use != "enc") {
			continue
		}
		if f.Kid == "" {
			return fail(ErrRequest, nil, "a key of client_metadata.jwks has no kid")
		}
		r.EncKey, r.Enc = k, enc
		return nil
	}
	return fail(ErrUnsupported, nil, "client_metadata.jwks holds no ECDH-ES P-256 key to encrypt the response to")
}

// requestLabel seals a kept request.
func requestLabel(id string) string { return "wallet/present/" + id }

// parseQuery reads a request's DCQL query; a fault is ErrRequest saying
// what is wrong with dcql_query.
func parseQuery(b []byte) (*dcql.Query, error) {
	q, err := dcql.Parse(b)
	if errors.Is(err, dcql.ErrInvalid) {
		return nil, fail(ErrRequest, nil, "dcql_query: %s", strings.TrimPrefix(err.Error(), dcql.ErrInvalid.Error()+": "))
	}
	return q, err
}
