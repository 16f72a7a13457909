package vciapi

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/vci"
)

// offerRequest is the body of POST /issuance/offers.
type offerRequest struct {
	Subject         string `json:"subject"`
	ConfigurationID string `json:"credential_configuration_id"`
}

// offerResponse is a created offer.
type offerResponse struct {
	ID                 string    `json:"id"`
	CredentialID       string    `json:"credential_id"`
	CredentialOfferURI string    `json:"credential_offer_uri"`
	CredentialOfferURL string    `json:"credential_offer_url"`
	ByValue            string    `json:"credential_offer_by_value"`
	TxCode             string    `json:"tx_code"`
	ExpiresAt          time.Time `json:"expires_at"`
	QRPNG              string    `json:"qr_png"`
	QRSVG              string    `json:"qr_svg"`
	Page               string    `json:"page"`
}

// credentialView is an issuance as the agency sees it.
type credentialView struct {
	ID              string     `json:"id"`
	ConfigurationID string     `json:"credential_configuration_id"`
	Subject         string     `json:"subject,omitempty"`
	State           string     `json:"state"`
	Status          string     `json:"status"`
	Count           int        `json:"count"`
	Notification    string     `json:"notification,omitempty"`
	Created         time.Time  `json:"created"`
	Issued          *time.Time `json:"issued,omitempty"`
	Expires         *time.Time `json:"expires,omitempty"`
}

func view(c vci.Credential, sub string) credentialView {
	v := credentialView{ID: c.ID, ConfigurationID: c.TypeID, Subject: sub, State: string(c.State), Status: vci.StatusName(c.Status),
		Count: c.Count, Notification: c.Event, Created: c.Created}
	if !c.Issued.IsZero() {
		v.Issued = &c.Issued
	}
	if !c.Expires.IsZero() {
		v.Expires = &c.Expires
	}
	return v
}

func (a *API) createOffer(c httpapi.Context) error {
	var req offerRequest
	if err := httpapi.Bind(c, &req); err != nil {
		return err
	}
	if req.Subject == "" || req.ConfigurationID == "" {
		return httpapi.BadRequest("subject and credential_configuration_id are required")
	}
	ctx := c.Request().Context()
	caller := httpapi.CallerOf(c)
	citizen, err := a.cfg.Subjects.SubjectCitizen(ctx, caller.ClientID, req.Subject)
	if errors.Is(err, issuer.ErrNotFound) {
		return vci.ErrUnknownSubject
	}
	if err != nil {
		return err
	}
	o, err := a.cfg.Service.CreateOffer(ctx, caller.ClientID, citizen, req.ConfigurationID)
	if err != nil {
		return err
	}
	base := a.cfg.BaseURL + OfferPath + o.Credential.OfferID
	return httpapi.JSON(c, http.StatusCreated, offerResponse{ID: o.Credential.OfferID, CredentialID: o.Credential.ID,
		CredentialOfferURI: o.URI, CredentialOfferURL: o.URL, ByValue: o.ByValue, TxCode: o.TxCode, ExpiresAt: o.Credential.OfferExpires,
		QRPNG: base + "/qr.png", QRSVG: base + "/qr.svg", Page: a.cfg.BaseURL + PagePath + o.Credential.OfferID})
}

func (a *API) list(c httpapi.Context) error {
	limit := 50
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return httpapi.BadRequest("limit must be a number from 1 to 500")
		}
		limit = n
	}
	cursor := c.QueryParam("cursor")
	if len(cursor) > 200 {
		return httpapi.BadRequest("the cursor is not one this API gave")
	}
	caller := httpapi.CallerOf(c)
	cs, next, err := a.cfg.Service.Credentials(c.Request().Context(), caller.ClientID, cursor, limit)
	if err != nil {
		return err
	}
	out := struct {
		Credentials []credentialView `json:"credentials"`
		NextCursor  string           `json:"next_cursor,omitempty"`
	}{Credentials: []credentialView{}, NextCursor: next}
	for _, cr := range cs {
		out.Credentials = append(out.Credentials, view(cr, a.subject(c, cr)))
	}
	return httpapi.JSON(c, http.StatusOK, out)
}

// subject is the sub the calling agency knows the issuance's citizen by.
func (a *API) subject(c httpapi.Context, cr vci.Credential) string {
	if cr.CitizenID == "" {
		return "" // erased
	}
	sub, _ := a.cfg.Service.SubjectOf(c.Request().Context(), cr.ClientID, cr.CitizenID)
	return sub
}

func (a *API) get(c httpapi.Context) error {
	cr, err := a.cfg.Service.Get(c.Request().Context(), httpapi.CallerOf(c).ClientID, c.Param("id"))
	if err != nil {
		return err
	}
	return httpapi.JSON(c, http.StatusOK, view(cr, a.subject(c, cr)))
}

func (a *API) setStatus(c httpapi.Context) error {
	var req struct {
		Status string `json:"status"`
	}
	if err := httpapi.Bind(c, &req); err != nil {
		return err
	}
	cr, err := a.cfg.Service.SetStatus(c.Request().Context(), httpapi.CallerOf(c).ClientID, c.Param("id"), req.Status)
	if err != nil {
		return err
	}
	return httpapi.JSON(c, http.StatusOK, view(cr, a.subject(c, cr)))
}

func (a *API) approval(c httpapi.Context) error {
	var req struct {
		Approve *bool `json:"approve"`
	}
	if err := httpapi.Bind(c, &req); err != nil {
		return err
	}
	if req.Approve == nil {
		return httpapi.BadRequest("approve (true or false) is required")
	}
	cr, err := a.cfg.Service.Decide(c.Request().Context(), httpapi.CallerOf(c).ClientID, c.Param("id"), *req.Approve)
	if err != nil {
		return err
	}
	return httpapi.JSON(c, http.StatusOK, view(cr, a.subject(c, cr)))
}
