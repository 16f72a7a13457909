// Package rightsapi serves the citizen's rights (package rights) on the
// one edge, its contract in openapi/:
//
//	POST /admin/erasures        erase a citizen (cedula:admin; admin.yaml)
//	GET /account/export         the citizen's signed export of everything held (session; account.yaml)
//	GET /account/export-keys    the exports' verification keys (public)
package rightsapi

import (
	"errors"
	"net/http"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/scopes"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/rights"
)

// API serves the rights.
type API struct {
	rights *rights.Service
	guard  httpapi.Guard
	keys   keys.Manager
	issuer string
}

// New returns the API; issuerURL is the public URL.
func New(r *rights.Service, g httpapi.Guard, km keys.Manager, issuerURL string) *API {
	return &API{rights: r, guard: g, keys: km, issuer: issuerURL}
}

// Mount adds the routes.
func (a *API) Mount(e *httpapi.Echo) {
	e.POST("/admin/erasures", a.erase, a.guard.Scope(scopes.Admin))
	e.GET("/account/export", a.export, a.guard.Session("log in to Cedula to download your data"))
	e.GET("/account/export-keys", httpapi.KeySet(a.keys, rights.ExportRing))
}

// erase crypto-shreds a citizen (GDPR Art. 17): the admin names the
// citizen by internal ID.
func (a *API) erase(c httpapi.Context) error {
	var in struct {
		CitizenID string `json:"citizen_id"`
	}
	if err := httpapi.Bind(c, &in); err != nil {
		return err
	}
	if in.CitizenID == "" {
		return &httpapi.Error{Status: http.StatusBadRequest, Slug: "invalid-erasure", Title: "Invalid erasure", Detail: "citizen_id is required"}
	}
	out, err := a.rights.Erase(c.Request().Context(), in.CitizenID, audit.Actor{Kind: audit.ActorClient, ID: httpapi.CallerOf(c).ClientID})
	if errors.Is(err, issuer.ErrNotFound) {
		return &httpapi.Error{Status: http.StatusNotFound, Slug: "unknown-citizen", Title: "Unknown citizen", Detail: "no citizen has that id"}
	} else if err != nil {
		return err
	}
	return httpapi.JSON(c, http.StatusCreated, out)
}

// export serves the logged-in citizen the export as JSON and, in
// "signature", a JWS whose payload is the same export.
func (a *API) export(c httpapi.Context) error {
	x, sig, err := a.rights.Export(c.Request().Context(), httpapi.CallerOf(c).CitizenID)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Content-Disposition", `attachment; filename="cedula-my-data.json"`)
	return httpapi.JSON(c, http.StatusOK, map[string]any{"export": x, "signature": sig, "keys": a.issuer + "/account/export-keys"})
}
