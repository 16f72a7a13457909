package wallet

import (
	"encoding/json"
	"net/url"
	"strings"
	"unicode/utf8"
)

// The grants of an offer.
const (
	GrantPreAuthorized     = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
	GrantAuthorizationCode = "authorization_code"
)

// Offer is a credential offer (OpenID4VCI 1.0 §4.1.1).
type Offer struct {
	CredentialIssuer           string      `json:"credential_issuer"`
	CredentialConfigurationIDs []string    `json:"credential_configuration_ids"`
	Grants                     OfferGrants `json:"grants,omitzero"`
}

// OfferGrants are the grants an offer allows.
type OfferGrants struct {
	AuthorizationCode *AuthorizationCodeGrant `json:"authorization_code,omitempty"`
	PreAuthorized     *PreAuthorizedGrant     `json:"urn:ietf:params:oauth:grant-type:pre-authorized_code,omitempty"`
}

// AuthorizationCodeGrant is the offer's authorization_code grant.
type AuthorizationCodeGrant struct {
	IssuerState         string `json:"issuer_state,omitempty"`
	AuthorizationServer string `json:"authorization_server,omitempty"`
}

// PreAuthorizedGrant is the offer's pre-authorized code grant.
type PreAuthorizedGrant struct {
	Code                string       `json:"pre-authorized_code"`
	TxCode              *OfferTxCode `json:"tx_code,omitempty"`
	AuthorizationServer string       `json:"authorization_server,omitempty"`
}

// OfferTxCode is the offer's description of its transaction code.
type OfferTxCode struct {
	InputMode   string `json:"input_mode,omitempty"`
	Length      int    `json:"length,omitempty"`
	Description string `json:"description,omitempty"`
}

// OfferLink is a scanned or followed offer: the offer itself (by value) or
// where to fetch it (by reference), never both.
type OfferLink struct {
	Value *Offer
	URI   string
}

// MaxOfferLink bounds a scanned offer (a QR code holds under 3 KiB; an
// offer by value with many configurations a little more).
const MaxOfferLink = 16 << 10

// ParseOfferLink reads what a citizen scanned or followed: a URI of any
// scheme (openid-credential-offer:// is the standard one; an https link
// with the same query works too) carrying exactly one of credential_offer
// (the offer, JSON) and credential_offer_uri (an https URL to fetch it
// from). With allowHTTP, an http:// offer URI is accepted (tests on
// loopback).
func ParseOfferLink(s string, allowHTTP bool) (OfferLink, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return OfferLink{}, fail(ErrOffer, nil, "the offer is empty")
	}
	if len(s) > MaxOfferLink {
		return OfferLink{}, fail(ErrOffer, nil, "the offer is longer than %d bytes", MaxOfferLink)
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return OfferLink{}, fail(ErrOffer, err, "the offer is not a URI")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return OfferLink{}, fail(ErrOffer, err, "the offer's query does not parse")
	}
	value, ref := q["credential_offer"], q["credential_offer_uri"]
	switch {
	case len(value)+len(ref) == 0:
		return OfferLink{}, fail(ErrOffer, nil, "the URI carries neither credential_offer nor credential_offer_uri")
	case len(value) > 0 && len(ref) > 0:
		return OfferLink{}, fail(ErrOffer, nil, "the URI carries both credential_offer and credential_offer_uri")
	case len(value)+len(ref) > 1:
		return OfferLink{}, fail(ErrOffer, nil, "the URI repeats its credential offer parameter")
	case len(ref) == 1:
		if err := checkURL(ref[0], allowHTTP); err != nil {
			return OfferLink{}, fail(ErrOffer, err, "credential_offer_uri is not an https URL")
		}
		return OfferLink{URI: ref[0]}, nil
	}
	o, err := ParseOffer([]byte(value[0]), allowHTTP)
	if err != nil {
		return OfferLink{}, err
	}
	return OfferLink{Value: &o}, nil
}

// ParseOffer reads and checks a credential offer object.
func ParseOffer(b []byte, allowHTTP bool) (Offer, error) {
	var o Offer
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&o); err != nil || dec.More() {
		return Offer{}, fail(ErrOffer, err, "the credential offer is not a JSON object of the offer's form")
	}
	if err := checkURL(o.CredentialIssuer, allowHTTP); err != nil {
		return Offer{}, fail(ErrOffer, err, "credential_issuer is not an https URL")
	}
	if len(o.CredentialConfigurationIDs) == 0 {
		return Offer{}, fail(ErrOffer, nil, "credential_configuration_ids is missing or empty")
	}
	seen := map[string]bool{}
	for _, id := range o.CredentialConfigurationIDs {
		if id == "" || seen[id] {
			return Offer{}, fail(ErrOffer, nil, "credential_configuration_ids holds an empty or repeated identifier")
		}
		seen[id] = true
	}
	if g := o.Grants.PreAuthorized; g != nil {
		if g.Code == "" {
			return Offer{}, fail(ErrOffer, nil, "the pre-authorized code grant has no pre-authorized_code")
		}
		if t := g.TxCode; t != nil {
			if t.InputMode == "" {
				t.InputMode = "numeric"
			}
			if t.InputMode != "numeric" && t.InputMode != "text" {
				return Offer{}, fail(ErrOffer, nil, "tx_code.input_mode must be numeric or text")
			}
			if t.Length < 0 || t.Length > 64 {
				return Offer{}, fail(ErrOffer, nil, "tx_code.length is out of range")
			}
			if utf8.RuneCountInString(t.Description) > 300 {
				return Offer{}, fail(ErrOffer, nil, "tx_code.description is longer than 300 characters")
			}
		}
		if g.AuthorizationServer != "" {
			if err := checkURL(g.AuthorizationServer, allowHTTP); err != nil {
				return Offer{}, fail(ErrOffer, err, "the grant's authorization_server is not an https URL")
			}
		}
	}
	if g := o.Grants.AuthorizationCode; g != nil && g.AuthorizationServer != "" {
		if err := checkURL(g.AuthorizationServer, allowHTTP); err != nil {
			return Offer{}, fail(ErrOffer, err, "the grant's authorization_server is not an https URL")
		}
	}
	return o, nil
}

// checkURL accepts an absolute https URL without fragment or user info
// (http too with allowHTTP).
func checkURL(s string, allowHTTP bool) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return err
	case u.Scheme != "https" && !(allowHTTP && u.Scheme == "http"):
		return errNotHTTPS
	case u.Host == "" || u.User != nil || u.Fragment != "" || u.Opaque != "":
		return errNotHTTPS
	}
	return nil
}

var errNotHTTPS = &Error{Kind: ErrOffer, Detail: "not an absolute https URL"}
