package mobileapi

import (
	"time"

	"github.com/cedula/cedula/wallet"
)

// The wallet's types in the document's shape.

func credential(c wallet.Credential) Credential {
	out := Credential{Id: c.ID, Issuer: c.Issuer, IssuerName: c.IssuerName, ConfigurationId: c.ConfigurationID,
		Format: c.Format, Vct: c.VCT, Display: display(c.Display), Claims: c.Claims, ClaimInfo: claimInfo(c.ClaimInfo),
		Status: CredentialStatus(c.Status), StatusCheckedAt: optTime(c.StatusCheckedAt), IssuedAt: c.IssuedAt.UTC(),
		ExpiresAt: optTime(c.ExpiresAt), ReceivedAt: c.ReceivedAt.UTC(), KeyMode: KeyMode(c.KeyMode)}
	if out.Claims == nil {
		out.Claims = map[string]any{}
	}
	if !out.Status.Valid() {
		out.Status = CredentialStatusUnknown
	}
	if out.KeyMode == "" {
		out.KeyMode = KeyModeSealed
	}
	return out
}

func preview(p wallet.OfferPreview) OfferPreview {
	out := OfferPreview{Issuer: p.Issuer, IssuerName: p.IssuerName, IssuerDisplay: display(p.IssuerDisplay),
		Credentials: make([]OfferedCredential, 0, len(p.Credentials))}
	out.Grants.PreAuthorized, out.Grants.AuthorizationCode = p.PreAuthorized, p.AuthorizationCode
	for _, c := range p.Credentials {
		out.Credentials = append(out.Credentials, OfferedCredential{ConfigurationId: c.ConfigurationID, Format: c.Format,
			Vct: opt(c.VCT), Display: display(c.Display), Claims: claimInfo(c.Claims)})
	}
	if tc := p.TxCode; tc != nil {
		out.TxCode = &struct {
			Description *string                     `json:"description,omitempty"`
			InputMode   OfferPreviewTxCodeInputMode `json:"input_mode"`
			Length      *int                        `json:"length,omitempty"`
		}{Description: opt(tc.Description), InputMode: OfferPreviewTxCodeInputMode(tc.InputMode)}
		if !out.TxCode.InputMode.Valid() {
			out.TxCode.InputMode = Numeric // OpenID4VCI 1.0 §4.1.1: the default
		}
		if tc.Length > 0 {
			out.TxCode.Length = &tc.Length
		}
	}
	return out
}

func display(d wallet.Display) Display {
	out := Display{Name: d.Name, Description: opt(d.Description), Locale: opt(d.Locale),
		BackgroundColor: opt(d.BackgroundColor), TextColor: opt(d.TextColor)}
	if d.LogoURI != "" {
		out.Logo = &struct {
			AltText *string `json:"alt_text,omitempty"`
			Uri     string  `json:"uri"`
		}{AltText: opt(d.LogoAltText), Uri: d.LogoURI}
	}
	return out
}

func claimInfo(cs []wallet.ClaimInfo) []ClaimInfo {
	out := make([]ClaimInfo, 0, len(cs))
	for _, c := range cs {
		ci := ClaimInfo{Label: opt(c.Label), Path: make([]*any, len(c.Path))}
		for i, p := range c.Path {
			if p != nil {
				ci.Path[i] = &p
			}
		}
		if c.Mandatory {
			ci.Mandatory = &c.Mandatory
		}
		out = append(out, ci)
	}
	return out
}

// opt is s, or nil when empty (an absent field).
func opt(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// optTime is t in UTC, or nil for the zero time.
func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}
