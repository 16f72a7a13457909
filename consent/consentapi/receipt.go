package consentapi

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"time"

	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
)

// ReceiptRing is the key ring (ES256) that signs consent receipts; its
// public keys are served at /consent/receipt-keys.
const ReceiptRing = "consent-receipt"

// ReceiptJWSType is the "typ" of a consent receipt.
const ReceiptJWSType = "consent-receipt+jwt"

// ReceiptClaims is a consent receipt: the fields of the Kantara Initiative
// Consent Receipt v1.1 with those of an ISO/IEC TS 27560 record, and the
// audit log entry of the change, which the holder can prove is in the log
// (an inclusion proof of AuditIndex against a signed checkpoint, e.g. from
// GET /account/audit).
type ReceiptClaims struct {
	Issuer           string           `json:"iss"`
	Subject          string           `json:"sub"` // the citizen's audit pseudonym
	IssuedAt         int64            `json:"iat"`
	ID               string           `json:"jti"` // the record event, "<record>#<seq>"
	Version          string           `json:"version"`
	ConsentTimestamp int64            `json:"consentTimestamp"`
	CollectionMethod string           `json:"collectionMethod"`
	ConsentReceiptID string           `json:"consentReceiptID"`
	Language         string           `json:"language"`
	PIIPrincipalID   string           `json:"piiPrincipalId"`
	PIIControllers   []receiptParty   `json:"piiControllers"`
	PolicyURL        string           `json:"policyUrl"`
	Services         []receiptService `json:"services"`
	Sensitive        bool             `json:"sensitive"`
	SPICat           []string         `json:"spiCat"`
	// ISO/IEC TS 27560 state of the record after the change.
	State          string `json:"state"`
	Event          string `json:"event"`
	LegalBasis     string `json:"legal_basis"`
	PurposeID      string `json:"purpose_id"`
	PurposeVersion int    `json:"purpose_version"`
	NoticeVersion  string `json:"notice_version"`
	Expires        int64  `json:"expires,omitempty"`
	// The audit log entry of the change.
	AuditLog      string `json:"audit_log"`
	AuditIndex    int64  `json:"audit_index"`
	AuditLeafHash string `json:"audit_leaf_hash"`
}

type receiptParty struct {
	Controller string `json:"piiController"`
	ClientID   string `json:"client_id"`
	URL        string `json:"url,omitempty"`
}

type receiptService struct {
	Service  string           `json:"service"`
	Purposes []receiptPurpose `json:"purposes"`
}

type receiptPurpose struct {
	Purpose              string   `json:"purpose"`
	PurposeCategory      []string `json:"purposeCategory"`
	ConsentType          string   `json:"consentType"`
	PIICategory          []string `json:"piiCategory"`
	PrimaryPurpose       bool     `json:"primaryPurpose"`
	Termination          string   `json:"termination"`
	ThirdPartyDisclosure bool     `json:"thirdPartyDisclosure"`
}

// Receipt is a signed consent receipt as Cedula hands it to the citizen
// (the account page's download, the mobile API): the JWS, its claims
// decoded, and where to find the keys that verify it and the checkpoint
// that proves its audit entry.
type Receipt struct {
	JWS        string        `json:"receipt"`
	Claims     ReceiptClaims `json:"claims"`
	Keys       string        `json:"keys"`
	Checkpoint string        `json:"checkpoint"`
}

// Receipt signs the receipt of the latest change of the citizen's record
// for purpose, in lang. A purpose without a record of the citizen's is a
// 404 problem (no-receipt).
func (a *API) Receipt(ctx context.Context, citizenID, purpose, lang string) (Receipt, error) {
	jws, c, err := a.sign(ctx, citizenID, purpose, lang)
	if err != nil {
		return Receipt{}, err
	}
	return Receipt{JWS: jws, Claims: c, Keys: a.cfg.Issuer + "/consent/receipt-keys", Checkpoint: a.cfg.Issuer + "/audit/checkpoint"}, nil
}

// sign signs the receipt of the latest change of the citizen's record for
// purpose, in lang.
func (a *API) sign(ctx context.Context, citizenID, purpose, lang string) (string, ReceiptClaims, error) {
	var c ReceiptClaims
	r, err := a.cfg.Ledger.Record(ctx, citizenID, purpose)
	if errors.Is(err, consent.ErrNotFound) || (err == nil && r.Seq == 0) {
		return "", c, &httpapi.Error{Status: http.StatusNotFound, Slug: "no-receipt", Title: "No receipt",
			Detail: "you have no consent record for that purpose"}
	} else if err != nil {
		return "", c, err
	}
	p, err := a.cfg.Ledger.Purpose(ctx, purpose)
	if err != nil {
		return "", c, err
	}
	subject := a.cfg.Pseudonym(citizenID)
	index, leaf, err := a.cfg.Log.EntryOf(ctx, subject, consent.AuditRecord(purpose, r.PurposeVersion, r.Ref()))
	if err != nil {
		return "", c, err
	}
	agency := p.Controller
	if n := a.cfg.ClientName(ctx, p.Controller); n != "" {
		agency = n
	}
	termination := "until withdrawn"
	if !r.Expires.IsZero() {
		termination = r.Expires.UTC().Format(time.RFC3339)
	}
	consentType := "EXPLICIT"
	if p.LegalBasis != consent.Consent {
		consentType = "NOT_CONSENT_BASED" // a record of an objection to a purpose on another basis
	}
	c = ReceiptClaims{
		Issuer: a.cfg.Issuer, Subject: subject, IssuedAt: time.Now().Unix(), ID: r.Ref().String(),
		Version: "KI-CR-v1.1.0", ConsentTimestamp: r.Updated.Unix(), CollectionMethod: string(r.Method),
		ConsentReceiptID: r.Ref().String(), Language: lang, PIIPrincipalID: subject,
		PIIControllers: []receiptParty{{Controller: agency, ClientID: p.Controller, URL: p.NoticeURL}},
		PolicyURL:      p.NoticeURL,
		Services: []receiptService{{Service: p.Name.In(lang), Purposes: []receiptPurpose{{
			Purpose: p.Description.In(lang), PurposeCategory: []string{p.DPV}, ConsentType: consentType,
			PIICategory: r.Categories, PrimaryPurpose: true, Termination: termination}}}},
		SPICat: []string{}, State: string(r.State), Event: lastEvent(r.State), LegalBasis: string(r.LegalBasis),
		PurposeID: p.ID, PurposeVersion: r.PurposeVersion, NoticeVersion: r.NoticeVersion,
		AuditLog: a.cfg.AuditLog, AuditIndex: index, AuditLeafHash: base64.StdEncoding.EncodeToString(leaf[:]),
	}
	if !r.Expires.IsZero() {
		c.Expires = r.Expires.Unix()
	}
	k, err := a.cfg.Keys.Active(ctx, ReceiptRing, keys.ES256)
	if err != nil {
		return "", c, err
	}
	jws, err := jose.SignJSON(ctx, k, c, map[string]any{"typ": ReceiptJWSType})
	return jws, c, err
}

// lastEvent names the event that led to state.
func lastEvent(st consent.State) string {
	switch st {
	case consent.StateGiven:
		return string(consent.Given)
	case consent.StateRenewed:
		return string(consent.Renewed)
	case consent.StateRefused:
		return string(consent.Refused)
	case consent.StateWithdrawn:
		return string(consent.Withdrawn)
	case consent.StateExpired:
		return string(consent.Expired)
	case consent.StateObjected:
		return string(consent.Objected)
	case consent.StateRenewalRequired:
		return string(consent.RenewalRequired)
	}
	return string(st)
}

// receipt serves GET /account/consents/receipt?purpose=ID to the
// logged-in citizen: the signed receipt of their record's latest change.
func (a *API) receipt(c httpapi.Context) error {
	r := c.Request()
	citizenID := httpapi.CallerOf(c).CitizenID
	purpose := c.QueryParam("purpose")
	if !consent.ValidID(purpose) {
		return httpapi.BadRequest("purpose must be a purpose ID")
	}
	rc, err := a.Receipt(r.Context(), citizenID, purpose, httpapi.Lang(c))
	if err != nil {
		return err
	}
	c.Response().Header().Set("Content-Disposition", `attachment; filename="consent-receipt-`+purpose+`.json"`)
	return httpapi.JSON(c, http.StatusOK, rc)
}
