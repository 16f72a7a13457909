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
// issuer's batch size), each bound to a holder key of its own.
func (s *Service) AcceptOffer(ctx context.Context, citizenID string, a Accept, lang string) ([]Credential, error) {
	if a.KeyMode == "" {
		a.KeyMode = KeySealed
	}
	if a.KeyMode != KeySealed {
		return nil, fail(ErrOffer, nil, "key mode %q: device-bound keys are accepted in two steps (BeginDeviceAccept)", a.KeyMode)
	}
	r, err := s.resolve(ctx, a.Offer)
	if err != nil {
		return nil, err
	}
	sess, err := s.redeemOffer(ctx, r, a.TxCode)
	if err != nil {
		return nil, err
	}
	var out []Credential
	for _, id := range r.offer.CredentialConfigurationIDs {
		c, err := s.receive(ctx, citizenID, r, sess, id, lang)
		if err != nil {
			return out, err
		}
		out = append(out, c)
	}
	return out, nil
}

// redeemOffer takes the offer's pre-authorized code grant to the right
// authorization server with the citizen's transaction code.
func (s *Service) redeemOffer(ctx context.Context, r *resolved, txCode string) (*session, error) {
	g := r.offer.Grants.PreAuthorized
	if g == nil {
		return nil, fail(ErrUnsupported, nil, "this offer needs a login at the issuer (authorization code), which the wallet does not do yet")
	}
	if err := checkTxCode(g.TxCode, txCode); err != nil {
		return nil, err
	}
	as := g.AuthorizationServer
	if as == "" {
		switch len(r.md.AuthorizationServers) {
		case 0:
			as = r.offer.CredentialIssuer
		case 1:
			as = r.md.AuthorizationServers[0]
		default:
			return nil, fail(ErrOffer, nil, "the issuer has several authorization servers and the offer names none")
		}
	} else if len(r.md.AuthorizationServers) > 0 && !slices.Contains(r.md.AuthorizationServers, as) {
		return nil, fail(ErrOffer, nil, "the offer's authorization_server is not one of the issuer's")
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
	var res *http.Response
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		req, rerr := http.NewRequestWithContext(ctx, http.MethodPost, asm.TokenEndpoint, strings.NewReader(form.Encode()))
		if rerr != nil {
			return nil, rerr
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		if err := s.signDPoP(req, sess, ""); err != nil {
			return nil, err
		}
		if res, err = s.cfg.HTTP.Do(req); err != nil {
			return nil, fail(ErrIssuer, err, "the token endpoint could not be reached")
		}
		if n := res.Header.Get("DPoP-Nonce"); n != "" && sess.dpop != nil && res.StatusCode == http.StatusBadRequest && attempt == 0 {
			var e oauthError
			_ = readJSON(res, &e)
			res.Body.Close()
			if e.Error == "use_dpop_nonce" {
				sess.dpopNonce = n
				continue
			}
			return nil, refused(e, "the token request was refused")
		}
		break
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		var e oauthError
		_ = readJSON(res, &e)
		return nil, refused(e, "the token request was refused")
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
		Details     []struct {
			Type        string   `json:"type"`
			Config      string   `json:"credential_configuration_id"`
			Identifiers []string `json:"credential_identifiers"`
		} `json:"authorization_details"`
	}
	if err := readJSON(res, &tr); err != nil || tr.AccessToken == "" {
		return nil, fail(ErrIssuer, err, "the token endpoint's answer is not a token response")
	}
	if n := res.Header.Get("DPoP-Nonce"); n != "" {
		sess.dpopNonce = n
	}
	sess.token, sess.tokenType = tr.AccessToken, tr.TokenType
	switch {
	case strings.EqualFold(tr.TokenType, "DPoP") && sess.dpop == nil:
		return nil, fail(ErrIssuer, nil, "the token endpoint bound the token to a DPoP key the wallet did not send")
	case !strings.EqualFold(tr.TokenType, "DPoP"):
		sess.dpop = nil
	}
	if tr.ExpiresIn > 0 {
		sess.expires = s.cfg.Now().Add(time.Duration(tr.ExpiresIn) * time.Second)
	}
	sess.identifiers = map[string][]string{}
	for _, d := range tr.Details {
		if d.Type == "openid_credential" && d.Config != "" {
			sess.identifiers[d.Config] = d.Identifiers
		}
	}
	return sess, nil
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

// receive asks for one offered configuration's credentials, checks them
// and stores them as one held credential.
func (s *Service) receive(ctx context.Context, citizenID string, r *resolved, sess *session, configID, lang string) (Credential, error) {
	conf := r.md.Configurations[configID]
	n := 1
	if b := r.md.BatchIssuance; b != nil && b.BatchSize > 1 {
		n = min(s.cfg.Copies, b.BatchSize)
	}
	req := map[string]any{"credential_configuration_id": configID}
	if ids := sess.identifiers[configID]; len(ids) > 0 {
		req = map[string]any{"credential_identifier": ids[0]}
	}
	var creds []string
	var holders []*jose.ClientKey
	var notificationID string
	for attempt := 0; ; attempt++ {
		nonce, err := s.fetchNonce(ctx, r.md)
		if err != nil {
			return Credential{}, err
		}
		holders = holders[:0]
		proofs := make([]string, 0, n)
		for range n {
			k, err := jose.NewClientKey(keys.ES256)
			if err != nil {
				return Credential{}, err
			}
			claims := map[string]any{"aud": r.offer.CredentialIssuer, "iat": s.cfg.Now().Unix()}
			if nonce != "" {
				claims["nonce"] = nonce
			}
			p, err := k.SignKeyProof(ProofType, claims)
			if err != nil {
				return Credential{}, err
			}
			holders, proofs = append(holders, k), append(proofs, p)
		}
		req["proofs"] = map[string]any{"jwt": proofs}
		var retry bool
		dpopNonce := sess.dpopNonce
		creds, notificationID, retry, err = s.requestCredentials(ctx, r.md, sess, req)
		if retry && sess.dpopNonce != dpopNonce {
			// The issuer asked for a DPoP nonce: the key proofs stand, the
			// DPoP proof is made again — the c_nonce retry stays unspent.
			creds, notificationID, retry, err = s.requestCredentials(ctx, r.md, sess, req)
		}
		if retry && attempt == 0 {
			continue
		}
		if err != nil {
			return Credential{}, err
		}
		break
	}
	if len(creds) != len(holders) {
		return Credential{}, fail(ErrIssuer, nil, "the issuer answered %d credentials for %d key proofs", len(creds), len(holders))
	}
	h := &held{Issuer: r.offer.CredentialIssuer, ConfigurationID: configID, Configuration: conf, IssuerDisplay: r.md.Display, KeyMode: KeySealed}
	for i, cred := range creds {
		jkt, err := holders[i].Thumbprint()
		if err != nil {
			return Credential{}, err
		}
		if _, err := s.verifyCredential(ctx, cred, conf.VCT, jkt); err != nil {
			return Credential{}, fail(ErrIssuer, err, "the issuer's credential does not verify: %v", err)
		}
		priv, err := holders[i].PrivateJWK()
		if err != nil {
			return Credential{}, err
		}
		h.Instances = append(h.Instances, instance{Credential: cred, Key: priv})
	}
	return s.store(ctx, citizenID, h, sess, r.md, notificationID, lang)
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

// requestCredentials posts a credential request. retry says the issuer
// asked for a fresh c_nonce (invalid_nonce) or a DPoP nonce, which one
// more request may cure.
func (s *Service) requestCredentials(ctx context.Context, md *IssuerMetadata, sess *session, body map[string]any) (creds []string, notificationID string, retry bool, err error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, "", false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, md.CredentialEndpoint, bytes.NewReader(b))
	if err != nil {
		return nil, "", false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if err := s.signDPoP(req, sess, sess.token); err != nil {
		return nil, "", false, err
	}
	res, err := s.cfg.HTTP.Do(req)
	if err != nil {
		return nil, "", false, fail(ErrIssuer, err, "the credential endpoint could not be reached")
	}
	defer res.Body.Close()
	if n := res.Header.Get("DPoP-Nonce"); n != "" {
		sess.dpopNonce = n
	}
	switch res.StatusCode {
	case http.StatusOK:
	case http.StatusAccepted:
		return nil, "", false, fail(ErrUnsupported, nil, "the issuer deferred this credential, which the wallet does not follow yet")
	case http.StatusUnauthorized:
		if strings.Contains(res.Header.Get("WWW-Authenticate"), "use_dpop_nonce") {
			return nil, "", true, fail(ErrRefused, nil, "the issuer asked twice for a DPoP nonce")
		}
		return nil, "", false, fail(ErrRefused, nil, "the issuer did not accept the wallet's access token")
	default:
		var e oauthError
		_ = readJSON(res, &e)
		return nil, "", e.Error == "invalid_nonce", refused(e, "the credential request was refused")
	}
	var out struct {
		Credentials []struct {
			Credential string `json:"credential"`
		} `json:"credentials"`
		NotificationID string `json:"notification_id"`
	}
	if err := readJSON(res, &out); err != nil || len(out.Credentials) == 0 {
		return nil, "", false, fail(ErrIssuer, err, "the credential endpoint's answer holds no credentials")
	}
	for _, c := range out.Credentials {
		creds = append(creds, c.Credential)
	}
	return creds, out.NotificationID, false, nil
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
