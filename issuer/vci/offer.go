package vci

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"slices"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/random"
	"github.com/cedula/cedula/issuer"
)

// TxCodeLength is the length of the numeric transaction codes (§4.1.1
// tx_code length).
const TxCodeLength = 6

// MaxTxCodeTries is how many wrong transaction codes kill an offer
// (§13.6: the code is short, so guesses must be few).
const MaxTxCodeTries = 5

// NewOffer is a created offer with what the agency passes on: the offer
// URI (for a QR code or a same-device link) and, separately and out of
// band, the transaction code.
type NewOffer struct {
	Credential Credential
	// URI is openid-credential-offer://?credential_offer_uri=…; URL the
	// offer by reference itself; ByValue the offer in the URI itself
	// (openid-credential-offer://?credential_offer=…), for a wallet that
	// cannot reach the issuer before it has scanned it.
	URI, URL, ByValue string
	TxCode            string
}

// OfferScheme is the URI scheme of credential offers (§4.1).
const OfferScheme = "openid-credential-offer://"

// CreateOffer offers citizenID a credential of typeID on behalf of the
// agency clientID, after the ledger allowed it, with a fresh
// pre-authorized code and transaction code.
func (s *Service) CreateOffer(ctx context.Context, clientID, citizenID, typeID string) (NewOffer, error) {
	t, ok := s.types[typeID]
	if !ok {
		return NewOffer{}, fmt.Errorf("%w: %q", ErrUnknownType, typeID)
	}
	if !slices.Contains(t.Issuers, clientID) {
		e := s.entry(ctx, ActionOffer, agency(clientID), citizenID, t, audit.Denied)
		if _, err := s.cfg.Audit.Append(ctx, e); err != nil {
			return NewOffer{}, err
		}
		return NewOffer{}, fmt.Errorf("%w: %s", ErrNotIssuer, typeID)
	}
	decision, err := s.decide(ctx, clientID, citizenID, t, ActionOffer, agency(clientID))
	if err != nil {
		return NewOffer{}, err
	}
	now := s.Now()
	c := Credential{ID: random.Token(16), ClientID: clientID, CitizenID: citizenID, TypeID: typeID, State: StateOffered,
		Created: now, OfferID: random.Token(24), TxCodeLength: TxCodeLength, OfferExpires: now.Add(s.cfg.OfferTTL).Truncate(time.Second)}
	code := s.preAuthorizedCode(c.OfferID)
	c.CodeHash = codeHash(code)
	tx := txCode()
	c.TxCodeHash = s.txCodeHash(c.OfferID, tx)
	if err := s.cfg.Store.CreateCredential(ctx, c, decision, s.entry(ctx, ActionOffer, agency(clientID), citizenID, t, audit.Allowed)); err != nil {
		return NewOffer{}, err
	}
	u := s.cfg.OfferURL(c.OfferID)
	doc, err := json.Marshal(s.offerDoc(c))
	if err != nil {
		return NewOffer{}, err
	}
	return NewOffer{Credential: c, URL: u, URI: OfferURI(u), ByValue: OfferScheme + "?credential_offer=" + url.QueryEscape(string(doc)), TxCode: tx}, nil
}

// OfferURI is the credential offer URI of an offer by reference at u.
func OfferURI(u string) string { return OfferScheme + "?credential_offer_uri=" + url.QueryEscape(u) }

// preAuthorizedCode is the offer's code: a MAC of its ID, so that the
// store keeps only the code's hash and the offer can still be served.
func (s *Service) preAuthorizedCode(offerID string) string {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte("pre-authorized_code\x00" + offerID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func codeHash(code string) []byte {
	h := sha256.Sum256([]byte("cedula pre-authorized_code\x00" + code))
	return h[:]
}

func (s *Service) txCodeHash(offerID, tx string) []byte {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte("tx_code\x00" + offerID + "\x00" + tx))
	return m.Sum(nil)
}

// txCode returns a random numeric code of TxCodeLength digits.
func txCode() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		panic(err)
	}
	return fmt.Sprintf("%06d", n.Int64())
}

// Offer is a credential offer (§4.1.1) as served by reference.
type Offer struct {
	CredentialIssuer string   `json:"credential_issuer"`
	ConfigurationIDs []string `json:"credential_configuration_ids"`
	Grants           struct {
		// AuthorizationCode lets the wallet take the offer through the
		// citizen's login instead (§4.1.1): its issuer_state names the offer.
		AuthorizationCode *struct {
			IssuerState string `json:"issuer_state"`
		} `json:"authorization_code,omitempty"`
		PreAuthorized struct {
			Code   string `json:"pre-authorized_code"`
			TxCode TxCode `json:"tx_code"`
		} `json:"urn:ietf:params:oauth:grant-type:pre-authorized_code"`
	} `json:"grants"`
}

// TxCode describes the transaction code the wallet asks the citizen for.
type TxCode struct {
	InputMode   string `json:"input_mode"`
	Length      int    `json:"length"`
	Description string `json:"description"`
}

// Offer returns the offer of offerID while it may be redeemed.
func (s *Service) Offer(ctx context.Context, offerID string) (Offer, Credential, error) {
	c, err := s.cfg.Store.CredentialByOffer(ctx, offerID)
	if err != nil {
		return Offer{}, Credential{}, err
	}
	if c.State != StateOffered || !s.Now().Before(c.OfferExpires) || c.Tries >= MaxTxCodeTries {
		return Offer{}, Credential{}, fmt.Errorf("offer: %w", ErrNotFound)
	}
	return s.offerDoc(c), c, nil
}

// offerDoc is the credential offer of issuance c.
func (s *Service) offerDoc(c Credential) Offer {
	var o Offer
	o.CredentialIssuer = s.cfg.Issuer
	o.ConfigurationIDs = []string{c.TypeID}
	o.Grants.PreAuthorized.Code = s.preAuthorizedCode(c.OfferID)
	o.Grants.AuthorizationCode = &struct {
		IssuerState string `json:"issuer_state"`
	}{IssuerState: c.OfferID}
	o.Grants.PreAuthorized.TxCode = TxCode{InputMode: "numeric", Length: c.TxCodeLength,
		Description: "Código de 6 cifras que le envió la agencia / The 6-digit code the agency sent you"}
	return o
}

// AuthorizationDetail is one RFC 9396 authorization_details object of
// type openid_credential (§5.1.1, §6.2).
type AuthorizationDetail struct {
	Type                      string   `json:"type"`
	CredentialConfigurationID string   `json:"credential_configuration_id"`
	CredentialIdentifiers     []string `json:"credential_identifiers,omitempty"`
	Locations                 []string `json:"locations,omitempty"`
}

// MaxAuthorizationDetails bounds the authorization_details parameter.
const MaxAuthorizationDetails = 8 << 10

// ParseAuthorizationDetails reads an authorization_details parameter:
// a JSON array of objects of type openid_credential naming a known
// configuration; locations, when present, must name this issuer.
func (s *Service) ParseAuthorizationDetails(v string) ([]AuthorizationDetail, error) {
	if len(v) > MaxAuthorizationDetails {
		return nil, errors.New("authorization_details is too large")
	}
	var raw []json.RawMessage
	if err := json.Unmarshal([]byte(v), &raw); err != nil || len(raw) == 0 {
		return nil, errors.New("authorization_details must be a non-empty JSON array")
	}
	var out []AuthorizationDetail
	for _, r := range raw {
		var d AuthorizationDetail
		if err := json.Unmarshal(r, &d); err != nil {
			return nil, errors.New("authorization_details holds something other than an object")
		}
		if d.Type != DetailsType {
			return nil, fmt.Errorf("authorization_details type %.40q is not supported", d.Type)
		}
		if _, ok := s.types[d.CredentialConfigurationID]; !ok {
			return nil, fmt.Errorf("credential_configuration_id %.40q is unknown", d.CredentialConfigurationID)
		}
		if len(d.Locations) > 0 && !slices.Contains(d.Locations, s.cfg.Issuer) {
			return nil, errors.New("authorization_details locations do not name this credential issuer")
		}
		d.CredentialIdentifiers, d.Locations = nil, nil
		out = append(out, d)
	}
	return out, nil
}

// Token scopes that carry what an access token of the issuer may do: the
// configuration it may issue, and whether it was granted through
// authorization_details (then the wallet names the credential by the
// identifier the token response gave).
const (
	scopeConfiguration = "vci:"
	scopeIdentifier    = "vci-id:"
	familyPrefix       = "vci:"
)

// Exchange redeems a pre-authorized code at the token endpoint (§6.1): the
// form's pre-authorized_code, tx_code and authorization_details. at
// arrives with its ID, expiry and DPoP key set; Exchange fills in whose it
// is and what it may do, and stores it with the redemption. It returns
// the extra members of the token response, or an *Error.
func (s *Service) Exchange(ctx context.Context, form url.Values, at *issuer.AccessToken) (map[string]any, error) {
	code, tx := form.Get("pre-authorized_code"), form.Get("tx_code")
	switch {
	case code == "":
		return nil, protocolError(CodeInvalidRequest, "pre-authorized_code is required")
	case len(code) > 512 || len(tx) > 64:
		return nil, protocolError(CodeInvalidGrant, "the pre-authorized code is not valid")
	case !form.Has("tx_code"):
		return nil, protocolError(CodeInvalidRequest, "tx_code is required: the offer asked for a transaction code")
	}
	var details []AuthorizationDetail
	if v := form.Get("authorization_details"); v != "" {
		var err error
		if details, err = s.ParseAuthorizationDetails(v); err != nil {
			return nil, &Error{Code: "invalid_authorization_details", Description: err.Error(), Status: 400}
		}
	}
	now := s.Now()
	var why *Error
	c, err := s.cfg.Store.Redeem(ctx, codeHash(code), func(c Credential) (issuer.AccessToken, []audit.Entry, error) {
		switch {
		case c.State != StateOffered:
			why = protocolError(CodeInvalidGrant, "the pre-authorized code has been used")
		case !now.Before(c.OfferExpires):
			why = protocolError(CodeInvalidGrant, "the pre-authorized code has expired")
		case c.Tries >= MaxTxCodeTries:
			why = protocolError(CodeInvalidGrant, "too many wrong transaction codes: the offer is void, ask the agency for a new one")
		case !hmac.Equal(s.txCodeHash(c.OfferID, tx), c.TxCodeHash):
			left := MaxTxCodeTries - c.Tries - 1
			why = protocolError(CodeInvalidGrant, fmt.Sprintf("the transaction code is wrong (%d tries left)", left))
			if left == 0 {
				why.Description = "the transaction code is wrong, and the offer is now void: ask the agency for a new one"
			}
			return issuer.AccessToken{}, nil, ErrTxCode
		}
		if why != nil {
			return issuer.AccessToken{}, nil, errRefused
		}
		for _, d := range details {
			if d.CredentialConfigurationID != c.TypeID {
				why = &Error{Code: "invalid_authorization_details", Status: 400,
					Description: "authorization_details asks for a credential the offer does not"}
				return issuer.AccessToken{}, nil, errRefused
			}
		}
		tok := *at
		tok.CitizenID, tok.FamilyID = c.CitizenID, familyPrefix+c.ID
		tok.Audience = []string{s.cfg.Issuer}
		tok.Scopes = []string{scopeConfiguration + c.TypeID}
		if len(details) > 0 {
			tok.Scopes = append(tok.Scopes, scopeIdentifier+c.TypeID)
		}
		e := s.entry(ctx, ActionRedeem, audit.Actor{Kind: audit.ActorCitizen, ID: s.pseudonym(c.CitizenID)}, c.CitizenID, s.types[c.TypeID], audit.Allowed)
		*at = tok
		return tok, []audit.Entry{e}, nil
	})
	switch {
	case why != nil && (errors.Is(err, errRefused) || errors.Is(err, ErrTxCode)):
		return nil, why
	case errors.Is(err, ErrNotFound):
		return nil, protocolError(CodeInvalidGrant, "the pre-authorized code is not valid")
	case err != nil:
		return nil, err
	}
	if len(details) == 0 {
		return nil, nil
	}
	return map[string]any{"authorization_details": []AuthorizationDetail{{Type: DetailsType, CredentialConfigurationID: c.TypeID,
		CredentialIdentifiers: []string{c.TypeID}}}}, nil
}

var errRefused = errors.New("vci: refused")

// MaxOfferURI bounds a credential offer URI (a QR code holds less).
const MaxOfferURI = 16 << 10

// ParseOfferURI reads a credential offer URI as a wallet scans it (§4.1):
// exactly one of credential_offer (the offer by value, returned checked)
// and credential_offer_uri (an http(s) URL to fetch the offer from,
// returned as is).
func ParseOfferURI(uri string) (string, *Offer, error) {
	if len(uri) > MaxOfferURI {
		return "", nil, errors.New("the offer URI is too long")
	}
	u, err := url.Parse(uri)
	if err != nil {
		return "", nil, errors.New("not a URI")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return "", nil, errors.New("the query does not parse")
	}
	byValue, byRef := q["credential_offer"], q["credential_offer_uri"]
	switch {
	case len(byValue)+len(byRef) != 1:
		return "", nil, errors.New("exactly one credential_offer or credential_offer_uri is required")
	case len(byRef) == 1:
		ref, err := url.Parse(byRef[0])
		if err != nil || (ref.Scheme != "https" && ref.Scheme != "http") || ref.Host == "" {
			return "", nil, errors.New("credential_offer_uri is not an http(s) URL")
		}
		return ref.String(), nil, nil
	}
	o, err := ParseOffer([]byte(byValue[0]))
	if err != nil {
		return "", nil, err
	}
	return "", &o, nil
}

// ParseOffer reads a credential offer (§4.1.1): an issuer URL and at least
// one configuration ID, each once.
func ParseOffer(b []byte) (Offer, error) {
	var o Offer
	if err := json.Unmarshal(b, &o); err != nil {
		return Offer{}, errors.New("the credential offer is not a JSON object of its form")
	}
	iss, err := url.Parse(o.CredentialIssuer)
	if err != nil || (iss.Scheme != "https" && iss.Scheme != "http") || iss.Host == "" || iss.RawQuery != "" || iss.Fragment != "" {
		return Offer{}, errors.New("credential_issuer is not an http(s) URL without query or fragment")
	}
	if len(o.ConfigurationIDs) == 0 {
		return Offer{}, errors.New("credential_configuration_ids is empty")
	}
	seen := map[string]bool{}
	for _, id := range o.ConfigurationIDs {
		if id == "" || seen[id] {
			return Offer{}, errors.New("credential_configuration_ids holds an empty or repeated ID")
		}
		seen[id] = true
	}
	return o, nil
}
