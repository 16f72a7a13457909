package wallet

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/random"
)

// The authorization code flow (OpenID4VCI 1.0 §3.4, §5, §6): for an offer
// with the authorization_code grant, or with no grant at all, the citizen
// logs in at the issuer's authorization server in the browser.
// BeginAuthorization pushes (PAR, when the server has it) an authorization
// request — PKCE S256, a state, the offer's issuer_state,
// authorization_details of type openid_credential or the configurations'
// scopes, DPoP-bound when the server takes ES256 proofs — and returns the
// URL to open. The server sends the browser back to Config.RedirectURI,
// which the wallet app catches and hands to FinishAuthorization: the state
// is checked, the code redeemed (with the PKCE verifier and the same DPoP
// key) and the credentials received as with a pre-authorized code. In
// between, the pending authorization is kept sealed in the pending store
// for AuthorizationTTL, and taken once.

// AuthorizationTTL is how long an authorization waits for its callback.
const AuthorizationTTL = 15 * time.Minute

// Authorization is an acceptance waiting for the citizen's login at the
// issuer: URL is what the browser opens.
type Authorization struct {
	ID      string
	URL     string
	Expires time.Time
}

// Callback is where the issuer's authorization server sent the browser
// back: the whole redirect URL, or its code and state (and error, when it
// refused).
type Callback struct {
	URL                     string
	Code, State             string
	Error, ErrorDescription string
}

// authorizing is a pending authorization's sealed part.
type authorizing struct {
	Offer       Offer       `json:"offer"`
	AS          *ASMetadata `json:"as"`
	State       string      `json:"state"`
	Verifier    string      `json:"code_verifier"`
	RedirectURI string      `json:"redirect_uri"`
	KeyMode     KeyMode     `json:"key_mode"`
	DPoPKey     []byte      `json:"dpop_key,omitempty"`
	DPoPNonce   string      `json:"dpop_nonce,omitempty"`
}

// BeginAuthorization starts the authorization code flow for an offer;
// deviceKeys are the phone's keys with KeyDevice (as for
// BeginDeviceAccept), nil with sealed keys.
func (s *Service) BeginAuthorization(ctx context.Context, citizenID string, a Accept, deviceKeys []json.RawMessage) (Authorization, error) {
	ps, ok := s.cfg.Store.(PendingStore)
	if !ok || s.cfg.ClientID == "" || s.cfg.RedirectURI == "" {
		return Authorization{}, fail(ErrUnsupported, nil, "this wallet does not log in at issuers (authorization code)")
	}
	if a.KeyMode == "" {
		a.KeyMode = KeySealed
	}
	r, err := s.resolve(ctx, a.Offer)
	if err != nil {
		return Authorization{}, err
	}
	switch {
	case a.KeyMode == KeyDevice:
		if err := checkDeviceKeys(r, deviceKeys); err != nil {
			return Authorization{}, err
		}
	case a.KeyMode != KeySealed:
		return Authorization{}, fail(ErrOffer, nil, "key mode %q is not one the wallet knows", a.KeyMode)
	case len(deviceKeys) > 0:
		return Authorization{}, fail(ErrOffer, nil, "device keys are for key mode device only")
	}
	if a.TxCode != "" {
		return Authorization{}, fail(ErrOffer, nil, "a transaction code is for the pre-authorized code, not a login at the issuer")
	}
	g := r.offer.Grants.AuthorizationCode
	if g == nil && r.offer.Grants.PreAuthorized != nil || a.Grant == GrantPreAuthorized {
		return Authorization{}, fail(ErrOffer, nil, "this offer is redeemed with its pre-authorized code, without a login at the issuer")
	}
	named := ""
	if g != nil {
		named = g.AuthorizationServer
	}
	as, err := authorizationServer(r, named)
	if err != nil {
		return Authorization{}, err
	}
	asm, err := s.asMetadata(ctx, as)
	if err != nil {
		return Authorization{}, err
	}
	switch {
	case checkURL(asm.AuthorizationEndpoint, s.cfg.AllowHTTP) != nil:
		return Authorization{}, fail(ErrIssuer, nil, "the authorization server has no https authorization_endpoint")
	// §4.1.1: an offer without grants goes by the server's metadata
	// (RFC 8414 §2: authorization_code is among the defaults).
	case g == nil && len(asm.GrantTypes) > 0 && !slices.Contains(asm.GrantTypes, "authorization_code"):
		return Authorization{}, fail(ErrUnsupported, nil, "the offer names no grant and the issuer's authorization server takes no authorization code")
	case len(asm.CodeChallengeMethods) > 0 && !slices.Contains(asm.CodeChallengeMethods, "S256"):
		return Authorization{}, fail(ErrUnsupported, nil, "the issuer's authorization server does not take PKCE with S256")
	case asm.RequirePAR && checkURL(asm.PAREndpoint, s.cfg.AllowHTTP) != nil:
		return Authorization{}, fail(ErrIssuer, nil, "the authorization server requires pushed requests but has no https endpoint for them")
	}

	st := &authorizing{Offer: r.offer, AS: asm, State: random.Token(16), Verifier: random.Token(32), RedirectURI: s.cfg.RedirectURI,
		KeyMode: a.KeyMode}
	sess := &session{}
	if slices.Contains(asm.DPoPAlgs, string(keys.ES256)) {
		if sess.dpop, err = jose.NewClientKey(keys.ES256); err != nil {
			return Authorization{}, err
		}
		if st.DPoPKey, err = sess.dpop.PrivateJWK(); err != nil {
			return Authorization{}, err
		}
	}
	h := sha256.Sum256([]byte(st.Verifier))
	params := url.Values{"response_type": {"code"}, "client_id": {s.cfg.ClientID}, "redirect_uri": {st.RedirectURI},
		"state": {st.State}, "code_challenge": {base64.RawURLEncoding.EncodeToString(h[:])}, "code_challenge_method": {"S256"}}
	if g != nil && g.IssuerState != "" {
		params.Set("issuer_state", g.IssuerState) // §4.1.1: MUST be sent back
	}
	if err := askFor(params, r, asm); err != nil {
		return Authorization{}, err
	}

	target, err := url.Parse(asm.AuthorizationEndpoint)
	if err != nil {
		return Authorization{}, fail(ErrIssuer, err, "the authorization endpoint is not a URL")
	}
	q := target.Query()
	if asm.PAREndpoint != "" && checkURL(asm.PAREndpoint, s.cfg.AllowHTTP) == nil {
		// §5.1.4, RFC 9126: the request goes by the back channel; its DPoP
		// proof binds the code to the wallet's key (RFC 9449 §10.1).
		requestURI, err := s.push(ctx, asm.PAREndpoint, params, sess)
		if err != nil {
			return Authorization{}, err
		}
		q.Set("client_id", s.cfg.ClientID)
		q.Set("request_uri", requestURI)
	} else {
		if sess.dpop != nil {
			jkt, err := sess.dpop.Thumbprint()
			if err != nil {
				return Authorization{}, err
			}
			params.Set("dpop_jkt", jkt) // RFC 9449 §10
		}
		for k, vs := range params {
			q[k] = vs
		}
	}
	target.RawQuery = q.Encode()
	st.DPoPNonce = sess.dpopNonce

	out := Authorization{ID: pendingAuthPrefix + random.Token(16), URL: target.String(), Expires: s.cfg.Now().Add(AuthorizationTTL)}
	p := &pending{Issuer: r.offer.CredentialIssuer, Metadata: r.md, DeviceKeys: deviceKeys, Authorization: st}
	if err := s.putPending(ctx, ps, citizenID, out.ID, out.Expires, p); err != nil {
		return Authorization{}, err
	}
	return out, nil
}

// askFor adds what the request asks for (§5.1): authorization_details of
// type openid_credential when the server takes them (or says nothing of
// the scopes), else the configurations' scopes.
func askFor(params url.Values, r *resolved, asm *ASMetadata) error {
	scopes := make([]string, 0, len(r.offer.CredentialConfigurationIDs))
	for _, id := range r.offer.CredentialConfigurationIDs {
		if sc := r.md.Configurations[id].Scope; sc != "" {
			scopes = append(scopes, sc)
		}
	}
	byScope := !slices.Contains(asm.DetailsTypes, "openid_credential") && len(scopes) == len(r.offer.CredentialConfigurationIDs)
	if byScope {
		params.Set("scope", strings.Join(scopes, " "))
		if len(r.md.AuthorizationServers) > 0 {
			params.Set("resource", r.offer.CredentialIssuer) // §5.1.2, RFC 8707
		}
		return nil
	}
	type detail struct {
		Type      string   `json:"type"`
		Config    string   `json:"credential_configuration_id"`
		Locations []string `json:"locations,omitempty"`
	}
	var ds []detail
	for _, id := range r.offer.CredentialConfigurationIDs {
		d := detail{Type: "openid_credential", Config: id}
		if len(r.md.AuthorizationServers) > 0 {
			d.Locations = []string{r.offer.CredentialIssuer} // §5.1.1
		}
		ds = append(ds, d)
	}
	b, err := json.Marshal(ds)
	if err != nil {
		return err
	}
	params.Set("authorization_details", string(b))
	return nil
}

// push sends a pushed authorization request and returns its request_uri.
func (s *Service) push(ctx context.Context, endpoint string, params url.Values, sess *session) (string, error) {
	res, err := s.postForm(ctx, endpoint, params, sess, "the pushed authorization request endpoint")
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusCreated && res.StatusCode != http.StatusOK {
		var e oauthError
		_ = readJSON(res, &e)
		return "", refused(e, "the authorization request was refused")
	}
	if n := res.Header.Get("DPoP-Nonce"); n != "" {
		sess.dpopNonce = n
	}
	var out struct {
		RequestURI string `json:"request_uri"`
	}
	if err := readJSON(res, &out); err != nil || out.RequestURI == "" {
		return "", fail(ErrIssuer, err, "the pushed authorization request endpoint gave no request_uri")
	}
	return out.RequestURI, nil
}

// FinishAuthorization completes a pending authorization with the
// browser's return: the state must be the one sent, the code is redeemed
// and the credentials received — or, with device-bound keys, what the
// phone must sign comes back in Received.Pending. A pending authorization
// is taken once, whatever the callback holds.
func (s *Service) FinishAuthorization(ctx context.Context, citizenID, id string, cb Callback, lang string) (Received, error) {
	if !strings.HasPrefix(id, pendingAuthPrefix) {
		return Received{}, ErrNotFound // a device acceptance's (FinishDeviceAccept)
	}
	var p pending
	if err := s.takePending(ctx, citizenID, id, &p); err != nil {
		return Received{}, err
	}
	st := p.Authorization
	if st == nil {
		return Received{}, ErrNotFound
	}
	if err := readCallback(&cb, st); err != nil {
		return Received{}, err
	}
	if cb.Error != "" {
		return Received{}, refused(oauthError{Error: cb.Error, Description: cb.ErrorDescription}, "the login at the issuer did not authorize the wallet")
	}
	if subtle.ConstantTimeCompare([]byte(cb.State), []byte(st.State)) != 1 {
		return Received{}, fail(ErrCallback, nil, "the callback's state is not the one of this authorization; it is void, start again")
	}
	if cb.Code == "" {
		return Received{}, fail(ErrCallback, nil, "the callback carries no code")
	}
	sess := &session{dpopNonce: st.DPoPNonce}
	if len(st.DPoPKey) > 0 {
		k, err := jose.ParseClientKey(st.DPoPKey)
		if err != nil {
			return Received{}, err
		}
		sess.dpop = k
	}
	// §6.1, RFC 6749 §4.1.3, RFC 7636 §4.5.
	form := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Code}, "redirect_uri": {st.RedirectURI},
		"code_verifier": {st.Verifier}, "client_id": {s.cfg.ClientID}}
	if err := s.token(ctx, st.AS.TokenEndpoint, form, sess); err != nil {
		return Received{}, err
	}
	r := &resolved{offer: st.Offer, md: p.Metadata}
	if st.KeyMode == KeyDevice {
		pend, err := s.pendDevice(ctx, citizenID, r, sess, p.DeviceKeys)
		if err != nil {
			return Received{}, err
		}
		return Received{Pending: &pend}, nil
	}
	return s.receiveAll(ctx, citizenID, r, sess, lang)
}

// readCallback fills cb from its URL, which must be the redirect URI's
// (RFC 6749 §4.1.2); with a server that names itself in its answers, the
// name must be its own (RFC 9207 §2.4).
func readCallback(cb *Callback, st *authorizing) error {
	if cb.URL != "" {
		u, err := url.Parse(cb.URL)
		want, _ := url.Parse(st.RedirectURI)
		if err != nil || want == nil || u.Scheme != want.Scheme || u.Host != want.Host || u.Path != want.Path || u.Opaque != want.Opaque {
			return fail(ErrCallback, err, "the callback URL is not the wallet's redirect URI")
		}
		q := u.Query()
		cb.Code, cb.State, cb.Error, cb.ErrorDescription = q.Get("code"), q.Get("state"), q.Get("error"), q.Get("error_description")
		if iss := q.Get("iss"); iss != "" || st.AS.IssParameter {
			if iss != st.AS.Issuer {
				return fail(ErrCallback, nil, "the callback names another authorization server (iss)")
			}
		}
	}
	return nil
}
