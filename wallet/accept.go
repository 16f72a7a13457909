package wallet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/wallet/inbox"
)

// FormatSDJWT is the one credential format this wallet holds.
const FormatSDJWT = "dc+sd-jwt"

// ProofType is the JWT key proof's typ (OpenID4VCI 1.0 Appendix F.1).
const ProofType = "openid4vci-proof+jwt"

// resolved is an offer with its issuer's metadata.
type resolved struct {
	offer Offer
	md    *IssuerMetadata
}

// resolve reads an offer (fetching it when it is by reference) and its
// issuer's metadata, and checks that the wallet can hold what it offers.
func (s *Service) resolve(ctx context.Context, link string) (*resolved, error) {
	l, err := ParseOfferLink(link, s.cfg.AllowHTTP)
	if err != nil {
		return nil, err
	}
	var o Offer
	if l.Value != nil {
		o = *l.Value
	} else {
		var raw json.RawMessage
		if err := s.getJSON(ctx, l.URI, &raw); err != nil {
			return nil, fail(ErrIssuer, err, "the offer could not be fetched from its credential_offer_uri")
		}
		if o, err = ParseOffer(raw, s.cfg.AllowHTTP); err != nil {
			return nil, err
		}
	}
	md, err := s.issuerMetadata(ctx, o.CredentialIssuer)
	if err != nil {
		return nil, err
	}
	for _, id := range o.CredentialConfigurationIDs {
		c, ok := md.Configurations[id]
		switch {
		case !ok:
			return nil, fail(ErrIssuer, nil, "the issuer's metadata does not describe the offered configuration %q", id)
		case c.Format != FormatSDJWT:
			return nil, fail(ErrUnsupported, nil, "the offered configuration %q is in format %q; this wallet holds %s", id, c.Format, FormatSDJWT)
		case c.ProofTypes != nil && !slices.Contains(c.ProofTypes["jwt"].Algs, string(keys.ES256)):
			return nil, fail(ErrUnsupported, nil, "the offered configuration %q takes no ES256 jwt key proof", id)
		}
	}
	return &resolved{offer: o, md: md}, nil
}

// PreviewOffer says what an offer would give, without accepting it.
func (s *Service) PreviewOffer(ctx context.Context, citizenID, link, lang string) (OfferPreview, error) {
	r, err := s.resolve(ctx, link)
	if err != nil {
		return OfferPreview{}, err
	}
	p := OfferPreview{Issuer: r.offer.CredentialIssuer, IssuerDisplay: pick(r.md.Display, lang),
		PreAuthorized: r.offer.Grants.PreAuthorized != nil, AuthorizationCode: r.offer.Grants.AuthorizationCode != nil}
	p.IssuerName = p.IssuerDisplay.Name
	if g := r.offer.Grants.PreAuthorized; g != nil && g.TxCode != nil {
		p.TxCode = &TxCode{InputMode: g.TxCode.InputMode, Length: g.TxCode.Length, Description: g.TxCode.Description}
	}
	for _, id := range r.offer.CredentialConfigurationIDs {
		c := r.md.Configurations[id]
		p.Credentials = append(p.Credentials, OfferedCredential{ConfigurationID: id, Format: c.Format, VCT: c.VCT,
			Display: pick(c.Metadata.Display, lang), Claims: claimInfo(c.Metadata.Claims, lang)})
	}
	return p, nil
}

// AcceptOffer redeems an offer and stores what the issuer gives: for
// each offered configuration, up to Copies credentials (within the
// issuer's batch size), each bound to a holder key of its own. What the
// issuer defers is kept for polling (Received.Deferred). An offer without
// a pre-authorized code needs the citizen's login at the issuer:
// ErrNeedsAuthorization, and BeginAuthorization takes it from there.
func (s *Service) AcceptOffer(ctx context.Context, citizenID string, a Accept, lang string) (Received, error) {
	if a.KeyMode == "" {
		a.KeyMode = KeySealed
	}
	if a.KeyMode != KeySealed {
		return Received{}, fail(ErrOffer, nil, "key mode %q: device-bound keys are accepted in two steps (BeginDeviceAccept)", a.KeyMode)
	}
	r, err := s.resolve(ctx, a.Offer)
	if err != nil {
		return Received{}, err
	}
	sess, err := s.redeemOffer(ctx, r, a)
	if err != nil {
		return Received{}, err
	}
	return s.receiveAll(ctx, citizenID, r, sess, lang)
}

// receiveAll receives every offered configuration with sealed keys.
func (s *Service) receiveAll(ctx context.Context, citizenID string, r *resolved, sess *session, lang string) (Received, error) {
	var out Received
	for _, id := range r.offer.CredentialConfigurationIDs {
		if err := s.receive(ctx, citizenID, r, sess, id, lang, &out); err != nil {
			return out, err
		}
	}
	return out, nil
}

// authorizationServer picks the authorization server of a grant
// (OpenID4VCI 1.0 §4.1.1): the one the grant names, which must be the
// issuer's, else the issuer's only one, else the issuer itself.
func authorizationServer(r *resolved, named string) (string, error) {
	if named == "" {
		switch len(r.md.AuthorizationServers) {
		case 0:
			return r.offer.CredentialIssuer, nil
		case 1:
			return r.md.AuthorizationServers[0], nil
		default:
			return "", fail(ErrOffer, nil, "the issuer has several authorization servers and the offer names none")
		}
	}
	if len(r.md.AuthorizationServers) > 0 && !slices.Contains(r.md.AuthorizationServers, named) {
		return "", fail(ErrOffer, nil, "the offer's authorization_server is not one of the issuer's")
	}
	return named, nil
}

// redeemOffer takes the offer's pre-authorized code grant to the right
// authorization server with the citizen's transaction code.
func (s *Service) redeemOffer(ctx context.Context, r *resolved, a Accept) (*session, error) {
	g, txCode := r.offer.Grants.PreAuthorized, a.TxCode
	switch {
	case a.Grant != "" && a.Grant != GrantPreAuthorized && a.Grant != GrantAuthorizationCode:
		return nil, fail(ErrOffer, nil, "grant %q is not one the wallet knows", a.Grant)
	case g == nil && a.Grant == GrantPreAuthorized:
		return nil, fail(ErrOffer, nil, "this offer has no pre-authorized code")
	case g == nil || a.Grant == GrantAuthorizationCode:
		return nil, fail(ErrNeedsAuthorization, nil, "this offer needs your login at the issuer: open the authorization URL in the browser")
	}
	if err := checkTxCode(g.TxCode, txCode); err != nil {
		return nil, err
	}
	as, err := authorizationServer(r, g.AuthorizationServer)
	if err != nil {
		return nil, err
	}
	asm, err := s.asMetadata(ctx, as)
	if err != nil {
		return nil, err
	}
	return s.redeem(ctx, asm, g, txCode)
}

// checkTxCode holds the citizen's transaction code to the offer's form.
func checkTxCode(want *OfferTxCode, got string) error {
	switch {
	case want == nil && got != "":
		return fail(ErrOffer, nil, "this offer takes no transaction code")
	case want == nil:
		return nil
	case got == "":
		return fail(ErrOffer, nil, "this offer needs the transaction code the issuer sent you")
	case want.Length > 0 && len([]rune(got)) != want.Length:
		return fail(ErrOffer, nil, "the transaction code must have %d characters", want.Length)
	case want.InputMode == "numeric" && strings.Trim(got, "0123456789") != "":
		return fail(ErrOffer, nil, "the transaction code must be digits only")
	}
	return nil
}

// session is an access token at the issuer.
type session struct {
	token, tokenType string
	expires          time.Time
	dpop             *jose.ClientKey // nil for a bearer token
	dpopNonce        string
	identifiers      map[string][]string // configuration → credential_identifiers
	// refresh and tokenEndpoint renew the token (RFC 6749 §6) when a
	// deferred credential outlives it (OpenID4VCI 1.0 §13.5).
	refresh, tokenEndpoint string
}

// redeem exchanges the pre-authorized code for an access token, DPoP-bound
// when the server supports ES256 proofs.
func (s *Service) redeem(ctx context.Context, asm *ASMetadata, g *PreAuthorizedGrant, txCode string) (*session, error) {
	sess := &session{}
	if slices.Contains(asm.DPoPAlgs, string(keys.ES256)) {
		k, err := jose.NewClientKey(keys.ES256)
		if err != nil {
			return nil, err
		}
		sess.dpop = k
	}
	form := url.Values{"grant_type": {GrantPreAuthorized}, "pre-authorized_code": {g.Code}}
	if txCode != "" {
		form.Set("tx_code", txCode)
	}
	if err := s.token(ctx, asm.TokenEndpoint, form, sess); err != nil {
		return nil, err
	}
	return sess, nil
}

// token posts a token request and fills sess with the answer; sess.dpop,
// when set, is the key the token is to be bound to. A server's DPoP
// nonce is followed once.
func (s *Service) token(ctx context.Context, endpoint string, form url.Values, sess *session) error {
	res, err := s.postForm(ctx, endpoint, form, sess, "the token endpoint")
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		var e oauthError
		_ = readJSON(res, &e)
		return refused(e, "the token request was refused")
	}
	var tr struct {
		AccessToken  string `json:"access_token"`
		TokenType    string `json:"token_type"`
		ExpiresIn    int64  `json:"expires_in"`
		RefreshToken string `json:"refresh_token"`
		Details      []struct {
			Type        string   `json:"type"`
			Config      string   `json:"credential_configuration_id"`
			Identifiers []string `json:"credential_identifiers"`
		} `json:"authorization_details"`
	}
	if err := readJSON(res, &tr); err != nil || tr.AccessToken == "" {
		return fail(ErrIssuer, err, "the token endpoint's answer is not a token response")
	}
	if n := res.Header.Get("DPoP-Nonce"); n != "" {
		sess.dpopNonce = n
	}
	sess.token, sess.tokenType, sess.tokenEndpoint = tr.AccessToken, tr.TokenType, endpoint
	if tr.RefreshToken != "" {
		sess.refresh = tr.RefreshToken // else the one held stays (RFC 6749 §6)
	}
	switch {
	case strings.EqualFold(tr.TokenType, "DPoP") && sess.dpop == nil:
		return fail(ErrIssuer, nil, "the token endpoint bound the token to a DPoP key the wallet did not send")
	case !strings.EqualFold(tr.TokenType, "DPoP"):
		sess.dpop = nil
	}
	sess.expires = time.Time{}
	if tr.ExpiresIn > 0 {
		sess.expires = s.cfg.Now().Add(time.Duration(tr.ExpiresIn) * time.Second)
	}
	if len(tr.Details) > 0 || sess.identifiers == nil {
		sess.identifiers = map[string][]string{}
	}
	for _, d := range tr.Details {
		if d.Type == "openid_credential" && d.Config != "" {
			sess.identifiers[d.Config] = d.Identifiers
		}
	}
	return nil
}

// postForm posts a form to an authorization server's endpoint with a DPoP
// proof when sess has a key, following the server's DPoP nonce once
// (RFC 9449 §8). what names the endpoint in errors.
func (s *Service) postForm(ctx context.Context, endpoint string, form url.Values, sess *session, what string) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		if err := s.signDPoP(req, sess, ""); err != nil {
			return nil, err
		}
		res, err := s.cfg.HTTP.Do(req)
		if err != nil {
			return nil, fail(ErrIssuer, err, "%s could not be reached", what)
		}
		n := res.Header.Get("DPoP-Nonce")
		if n == "" || sess.dpop == nil || res.StatusCode != http.StatusBadRequest || attempt > 0 {
			return res, nil
		}
		var e oauthError
		_ = readJSON(res, &e)
		res.Body.Close()
		if e.Error != "use_dpop_nonce" {
			return nil, refused(e, "the request to "+what+" was refused")
		}
		sess.dpopNonce = n
	}
}

// signDPoP adds the DPoP proof (and, with a token, the Authorization
// header) to req.
func (s *Service) signDPoP(req *http.Request, sess *session, token string) error {
	htu := req.URL.Scheme + "://" + req.URL.Host + req.URL.EscapedPath()
	if sess.dpop == nil {
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		return nil
	}
	ath := ""
	if token != "" {
		h := sha256.Sum256([]byte(token))
		ath = base64.RawURLEncoding.EncodeToString(h[:])
		req.Header.Set("Authorization", "DPoP "+token)
	}
	proof, err := sess.dpop.SignDPoPNonce(req.Method, htu, ath, sess.dpopNonce, s.cfg.Now())
	if err != nil {
		return err
	}
	req.Header.Set("DPoP", proof)
	return nil
}

// oauthError is an OAuth or OpenID4VCI error response.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// refused turns an issuer's error into the wallet's.
func refused(e oauthError, what string) *Error {
	if e.Error == "" {
		return fail(ErrIssuer, nil, "%s, without an error code", what)
	}
	detail := what + ": " + e.Error
	if d := sanitize(e.Description); d != "" {
		detail += " (" + d + ")"
	}
	return &Error{Kind: ErrRefused, Detail: detail, Code: e.Error}
}

// sanitize keeps an issuer's description printable and short before it
// reaches the citizen.
func sanitize(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return s
}

// fetchNonce gets a c_nonce from the issuer's nonce endpoint.
func (s *Service) fetchNonce(ctx context.Context, md *IssuerMetadata) (string, error) {
	if md.NonceEndpoint == "" {
		return "", nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, md.NonceEndpoint, nil)
	if err != nil {
		return "", err
	}
	res, err := s.cfg.HTTP.Do(req)
	if err != nil {
		return "", fail(ErrIssuer, err, "the nonce endpoint could not be reached")
	}
	defer res.Body.Close()
	var out struct {
		CNonce string `json:"c_nonce"`
	}
	if res.StatusCode != http.StatusOK || readJSON(res, &out) != nil || out.CNonce == "" {
		return "", fail(ErrIssuer, nil, "the nonce endpoint gave no c_nonce")
	}
	return out.CNonce, nil
}

// copies is how many credentials the wallet asks for per configuration.
func (s *Service) copies(md *IssuerMetadata) int {
	if b := md.BatchIssuance; b != nil && b.BatchSize > 1 {
		return min(s.cfg.Copies, b.BatchSize)
	}
	return 1
}

// credentialRequest starts a credential request for a configuration: by
// the credential identifier the token response gave, else by the
// configuration (OpenID4VCI 1.0 §8.2).
func credentialRequest(sess *session, configID string) map[string]any {
	if ids := sess.identifiers[configID]; len(ids) > 0 {
		return map[string]any{"credential_identifier": ids[0]}
	}
	return map[string]any{"credential_configuration_id": configID}
}

// receive asks for one offered configuration's credentials with sealed
// keys, checks them and stores them as one held credential — or, when the
// issuer defers them, keeps the transaction to poll.
func (s *Service) receive(ctx context.Context, citizenID string, r *resolved, sess *session, configID, lang string, out *Received) error {
	n := s.copies(r.md)
	req := credentialRequest(sess, configID)
	var ans credAnswer
	var holders []json.RawMessage
	for attempt := 0; ; attempt++ {
		nonce, err := s.fetchNonce(ctx, r.md)
		if err != nil {
			return err
		}
		holders = holders[:0]
		proofs := make([]string, 0, n)
		for range n {
			k, err := jose.NewClientKey(keys.ES256)
			if err != nil {
				return err
			}
			claims := map[string]any{"aud": r.offer.CredentialIssuer, "iat": s.cfg.Now().Unix()}
			if nonce != "" {
				claims["nonce"] = nonce
			}
			p, err := k.SignKeyProof(ProofType, claims)
			if err != nil {
				return err
			}
			priv, err := k.PrivateJWK()
			if err != nil {
				return err
			}
			holders, proofs = append(holders, priv), append(proofs, p)
		}
		req["proofs"] = map[string]any{"jwt": proofs}
		var retry bool
		dpopNonce := sess.dpopNonce
		ans, retry, err = s.requestCredentials(ctx, r.md, sess, req)
		if retry && sess.dpopNonce != dpopNonce {
			// The issuer asked for a DPoP nonce: the key proofs stand, the
			// DPoP proof is made again — the c_nonce retry stays unspent.
			ans, retry, err = s.requestCredentials(ctx, r.md, sess, req)
		}
		if retry && attempt == 0 {
			continue
		}
		if err != nil {
			return err
		}
		break
	}
	if ans.transactionID != "" {
		d, err := s.deferIssuance(ctx, citizenID, r.offer.CredentialIssuer, r.md, configID, KeySealed, holders, sess, ans, lang)
		if err != nil {
			return err
		}
		out.Deferred = append(out.Deferred, d)
		return nil
	}
	c, err := s.keepIssued(ctx, citizenID, r.offer.CredentialIssuer, r.md, configID, KeySealed, holders, ans, sess, lang)
	if err != nil {
		return err
	}
	out.Credentials = append(out.Credentials, c)
	return nil
}

// keepIssued checks the credentials an issuer gave for one configuration, each
// against the holder key of its proof — the private JWKs of sealed keys,
// or the phone's public JWKs — and stores them as one held credential.
func (s *Service) keepIssued(ctx context.Context, citizenID, issuer string, md *IssuerMetadata, configID string, mode KeyMode,
	holders []json.RawMessage, ans credAnswer, sess *session, lang string) (Credential, error) {
	if len(ans.creds) != len(holders) {
		return Credential{}, fail(ErrIssuer, nil, "the issuer answered %d credentials for %d key proofs", len(ans.creds), len(holders))
	}
	conf := md.Configurations[configID]
	h := &held{Issuer: issuer, ConfigurationID: configID, Configuration: conf, IssuerDisplay: md.Display, KeyMode: mode}
	for i, cred := range ans.creds {
		inst := instance{Credential: cred}
		var jkt string
		if mode == KeySealed {
			k, err := jose.ParseClientKey(holders[i])
			if err != nil {
				return Credential{}, err
			}
			if jkt, err = k.Thumbprint(); err != nil {
				return Credential{}, err
			}
			inst.Key = holders[i]
		} else {
			jkt, _ = jose.Thumbprint(holders[i])
			inst.DeviceKey = holders[i]
		}
		if _, err := s.verifyCredential(ctx, cred, conf.VCT, jkt); err != nil {
			return Credential{}, fail(ErrIssuer, err, "the issuer's credential does not verify: %v", err)
		}
		h.Instances = append(h.Instances, inst)
	}
	return s.store(ctx, citizenID, h, sess, md, ans.notificationID, lang)
}

// store keeps a received credential, audited, and tells the issuer.
func (s *Service) store(ctx context.Context, citizenID string, h *held, sess *session, md *IssuerMetadata, notificationID, lang string) (Credential, error) {
	if md.NotificationEndpoint != "" && notificationID != "" {
		h.Notification = &notification{Endpoint: md.NotificationEndpoint, ID: notificationID, Token: sess.token, TokenType: sess.tokenType,
			Expires: sess.expires}
		if sess.dpop != nil {
			key, err := sess.dpop.PrivateJWK()
			if err != nil {
				return Credential{}, err
			}
			h.Notification.DPoPKey = key
		}
	}
	rec := Record{ID: newID(), CitizenID: citizenID, Received: s.cfg.Now().UTC().Truncate(time.Microsecond)}
	sealed, err := s.seal(ctx, citizenID, rec.ID, h)
	if err != nil {
		return Credential{}, err
	}
	rec.Sealed = sealed
	sum, err := summarize(h)
	if err != nil {
		return Credential{}, err
	}
	b, err := json.Marshal(sum)
	if err != nil {
		return Credential{}, err
	}
	if rec.Summary, err = s.cfg.Sealer.SealData(ctx, s.cfg.Subject(citizenID), summaryLabel(rec.ID), b); err != nil {
		return Credential{}, err
	}
	rec.Watch = watchOf(rec.ID, citizenID, sum)
	if err := s.cfg.Store.PutCredential(ctx, rec, s.entry(citizenID, ActionReceive, rec.ID)); err != nil {
		return Credential{}, err
	}
	if h.Notification != nil {
		s.notify(ctx, h.Notification, "credential_accepted")
	}
	if err := s.tell(ctx, citizenID, rec.ID, inbox.CredentialReceived, sum, time.Time{}, "received:"+rec.ID); err != nil {
		// The credential is held; the message is what is missing.
		s.cfg.Logger.WarnContext(ctx, "wallet: the inbox did not take a received credential's message", "err", err)
	}
	return s.view(ctx, rec, lang, false)
}

// credAnswer is a credential endpoint's answer: the credentials, or the
// transaction of a deferred issuance (OpenID4VCI 1.0 §8.3).
type credAnswer struct {
	creds          []string
	notificationID string
	transactionID  string
	interval       int64 // seconds
}

// credentialBody is the body of a credential (or deferred credential)
// response.
type credentialBody struct {
	Credentials []struct {
		Credential string `json:"credential"`
	} `json:"credentials"`
	NotificationID string `json:"notification_id"`
	TransactionID  string `json:"transaction_id"`
	Interval       int64  `json:"interval"`
}

// answer reads a credential or deferred credential response's body.
func (b credentialBody) answer() (credAnswer, error) {
	switch {
	case b.TransactionID != "" && len(b.Credentials) > 0:
		return credAnswer{}, fail(ErrIssuer, nil, "the issuer answered both credentials and a transaction_id")
	case b.TransactionID != "":
		return credAnswer{transactionID: b.TransactionID, interval: b.Interval}, nil
	case len(b.Credentials) == 0:
		return credAnswer{}, fail(ErrIssuer, nil, "the issuer's answer holds no credentials")
	}
	out := credAnswer{notificationID: b.NotificationID}
	for _, c := range b.Credentials {
		if c.Credential == "" {
			return credAnswer{}, fail(ErrIssuer, nil, "the issuer's answer holds a credential that is not a string")
		}
		out.creds = append(out.creds, c.Credential)
	}
	return out, nil
}

// requestCredentials posts a credential request. retry says the issuer
// asked for a fresh c_nonce (invalid_nonce) or a DPoP nonce, which one
// more request may cure.
func (s *Service) requestCredentials(ctx context.Context, md *IssuerMetadata, sess *session, body map[string]any) (ans credAnswer, retry bool, err error) {
	b, err := json.Marshal(body)
	if err != nil {
		return ans, false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, md.CredentialEndpoint, bytes.NewReader(b))
	if err != nil {
		return ans, false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if err := s.signDPoP(req, sess, sess.token); err != nil {
		return ans, false, err
	}
	res, err := s.cfg.HTTP.Do(req)
	if err != nil {
		return ans, false, fail(ErrIssuer, err, "the credential endpoint could not be reached")
	}
	defer res.Body.Close()
	if n := res.Header.Get("DPoP-Nonce"); n != "" {
		sess.dpopNonce = n
	}
	switch res.StatusCode {
	case http.StatusOK, http.StatusAccepted:
	case http.StatusUnauthorized:
		if strings.Contains(res.Header.Get("WWW-Authenticate"), "use_dpop_nonce") {
			return ans, true, fail(ErrRefused, nil, "the issuer asked twice for a DPoP nonce")
		}
		return ans, false, fail(ErrRefused, nil, "the issuer did not accept the wallet's access token")
	default:
		var e oauthError
		_ = readJSON(res, &e)
		return ans, e.Error == "invalid_nonce", refused(e, "the credential request was refused")
	}
	var out credentialBody
	if err := readJSON(res, &out); err != nil {
		return ans, false, fail(ErrIssuer, err, "the credential endpoint's answer is not JSON")
	}
	// §8.3: 202 with a transaction_id defers the issuance.
	if res.StatusCode == http.StatusAccepted && out.TransactionID == "" {
		return ans, false, fail(ErrIssuer, nil, "the credential endpoint deferred the issuance without a transaction_id")
	}
	if ans, err = out.answer(); err != nil {
		return ans, false, err
	}
	if ans.transactionID != "" && md.DeferredCredentialEndpoint == "" {
		return credAnswer{}, false, fail(ErrIssuer, nil, "the issuer deferred the credential but has no deferred_credential_endpoint")
	}
	return ans, false, nil
}

// notify tells the issuer what became of a credential (OpenID4VCI 1.0
// §11), best effort: a notification the issuer cannot take, or one the
// wallet's token no longer covers, is dropped.
func (s *Service) notify(ctx context.Context, n *notification, event string) {
	if !n.Expires.IsZero() && !s.cfg.Now().Before(n.Expires) {
		return
	}
	sess := &session{token: n.Token, tokenType: n.TokenType}
	if len(n.DPoPKey) > 0 {
		k, err := jose.ParseClientKey(n.DPoPKey)
		if err != nil {
			return
		}
		sess.dpop = k
	}
	b, _ := json.Marshal(map[string]string{"notification_id": n.ID, "event": event})
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for attempt := 0; attempt < 2; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.Endpoint, bytes.NewReader(b))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/json")
		if s.signDPoP(req, sess, sess.token) != nil {
			return
		}
		res, err := s.cfg.HTTP.Do(req)
		if err != nil {
			return
		}
		res.Body.Close()
		nonce := res.Header.Get("DPoP-Nonce")
		if res.StatusCode != http.StatusUnauthorized || nonce == "" {
			return
		}
		sess.dpopNonce = nonce
	}
}
