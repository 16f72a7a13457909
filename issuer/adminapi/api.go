// Package adminapi is the issuer room's admin API on the one edge
// (internal/httpapi), its contract in openapi/admin.yaml: registrars and
// operators' systems create citizens and enrolment links, end a citizen's
// sessions, and register agencies' clients, with a client_credentials
// token carrying cedula:admin.
//
//	POST /admin/citizens                  create a citizen; the caller learns its own sub for them
//	DELETE /admin/citizens/:id/sessions   end every session of a citizen (lost or stolen device)
//	POST /admin/enrolments                a one-time passkey enrolment link for a citizen
//	GET|POST /admin/clients               list and register clients (never privileged scopes)
//	GET /dpo/privileges[/history]         for DPOs (cedula:dpo): who holds a privileged scope, every change
package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/internal/scopes"
	"github.com/cedula/cedula/issuer"
)

// Provider is what the API needs of the OpenID provider.
type Provider interface {
	// Register makes the citizen known to the client, returning the sub
	// the client knows them by.
	Register(ctx context.Context, clientID, citizenID string) (sub string, err error)
	// EndSessions ends every session of the citizen, telling each agency
	// by back-channel logout, and returns how many ended.
	EndSessions(ctx context.Context, citizenID string) (int, error)
}

// Config is what the API is built from; every field but Logger is
// required.
type Config struct {
	Registrar *issuer.Registrar
	Citizens  issuer.Citizens
	Clients   issuer.Clients
	Provider  Provider
	// Enrol issues a one-time passkey enrolment link for the citizen, on
	// behalf of by; issuer.ErrNotFound for an unknown citizen.
	Enrol func(ctx context.Context, citizenID, by string) (link string, expires time.Time, err error)
	// Log is read for the history of privileged scopes.
	Log interface {
		audit.Searcher
		Flush(ctx context.Context) error
	}
	Guard  httpapi.Guard
	Logger *slog.Logger
}

// API serves the admin routes.
type API struct {
	cfg Config
	log *slog.Logger
}

// New checks cfg and returns the API.
func New(cfg Config) (*API, error) {
	if err := httpapi.CheckConfig("adminapi", map[string]bool{"Registrar": cfg.Registrar != nil, "Citizens": cfg.Citizens != nil, "Clients": cfg.Clients != nil,
		"Provider": cfg.Provider != nil, "Enrol": cfg.Enrol != nil, "Log": cfg.Log != nil, "Guard": cfg.Guard.Auth != nil}); err != nil {
		return nil, err
	}
	a := &API{cfg: cfg, log: cfg.Logger}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	return a, nil
}

// Mount adds the routes.
func (a *API) Mount(e *httpapi.Echo) {
	admin := a.cfg.Guard.Scope(scopes.Admin)
	e.POST("/admin/citizens", a.createCitizen, admin)
	e.DELETE("/admin/citizens/:id/sessions", a.endSessions, admin)
	e.POST("/admin/enrolments", a.enrol, admin)
	e.GET("/admin/clients", a.listClients, admin)
	e.POST("/admin/clients", a.putClient, admin)
	dpo := a.cfg.Guard.Scope(scopes.DPO)
	e.GET("/dpo/privileges", a.privileges, dpo)
	e.GET("/dpo/privileges/history", a.privilegeHistory, dpo)
}

// Classify maps the issuer room's errors to their public form.
func Classify(err error) *httpapi.Error {
	var ie *issuer.InvalidError
	switch {
	case errors.As(err, &ie) && errors.Is(ie.Kind, issuer.ErrInvalidCitizen):
		return &httpapi.Error{Status: http.StatusBadRequest, Slug: "invalid-citizen", Title: "Invalid citizen", Detail: ie.Public()}
	case errors.As(err, &ie):
		return &httpapi.Error{Status: http.StatusBadRequest, Slug: "invalid-client", Title: "Invalid client", Detail: ie.Public()}
	case errors.Is(err, issuer.ErrPrivileged):
		return &httpapi.Error{Status: http.StatusForbidden, Slug: "privileged-scope", Title: "Privileged scope",
			Detail: "this registration would add or remove " + strings.Join(issuer.PrivilegedScopes(), " or ") +
				" compared with the stored client; those are granted and removed by the operator only " +
				"(cedula admin client grant|revoke, or the clients configuration); nothing was stored"}
	}
	return nil
}

// unknownCitizen answers issuer.ErrNotFound of a citizen named by the
// caller; other errors pass.
func unknownCitizen(err error) error {
	if errors.Is(err, issuer.ErrNotFound) {
		return &httpapi.Error{Status: http.StatusNotFound, Slug: "unknown-citizen", Title: "Unknown citizen",
			Detail: "no citizen has that id", Cause: err}
	}
	return err
}

// citizenRequest is the body of POST /admin/citizens.
type citizenRequest struct {
	GivenName  string `json:"given_name"`
	FamilyName string `json:"family_name"`
	Birthdate  string `json:"birthdate"`
	Email      string `json:"email"`
	Locale     string `json:"locale"`
}

// createCitizen creates a citizen; the registrar knows them from now on
// by its own sub.
func (a *API) createCitizen(c httpapi.Context) error {
	var in citizenRequest
	if err := httpapi.Bind(c, &in); err != nil {
		return err
	}
	ctx := c.Request().Context()
	caller := httpapi.CallerOf(c).ClientID
	cz, err := a.cfg.Registrar.CreateCitizen(ctx, issuer.Citizen{GivenName: in.GivenName, FamilyName: in.FamilyName,
		Birthdate: in.Birthdate, Email: in.Email, Locale: in.Locale})
	if err != nil {
		return err
	}
	sub, err := a.cfg.Provider.Register(ctx, caller, cz.ID)
	if err != nil {
		return err
	}
	a.log.InfoContext(ctx, "citizen created", "by", caller, "citizen", cz)
	return httpapi.JSON(c, http.StatusCreated, map[string]string{"id": cz.ID, "sub": sub})
}

// endSessions ends every session of a citizen (a lost or stolen device):
// each agency the sessions logged in to is told by back-channel logout;
// the citizen must log in again with a passkey.
func (a *API) endSessions(c httpapi.Context) error {
	ctx := c.Request().Context()
	id := c.Param("id")
	if _, err := a.cfg.Citizens.Citizen(ctx, id); err != nil {
		return unknownCitizen(err)
	}
	n, err := a.cfg.Provider.EndSessions(ctx, id)
	if err != nil {
		return err
	}
	a.log.InfoContext(ctx, "citizen's sessions ended", "by", httpapi.CallerOf(c).ClientID, "sessions", n)
	return httpapi.JSON(c, http.StatusOK, map[string]int{"sessions_ended": n})
}

// enrol issues a passkey enrolment link.
func (a *API) enrol(c httpapi.Context) error {
	var in struct {
		CitizenID string `json:"citizen_id"`
	}
	if err := httpapi.Bind(c, &in); err != nil {
		return err
	}
	if in.CitizenID == "" {
		return httpapi.BadRequest("citizen_id is required")
	}
	link, expires, err := a.cfg.Enrol(c.Request().Context(), in.CitizenID, "client:"+httpapi.CallerOf(c).ClientID)
	if err != nil {
		return unknownCitizen(err)
	}
	return httpapi.JSON(c, http.StatusCreated, map[string]any{"link": link, "expires": expires.UTC().Format(time.RFC3339)})
}

// Client is a client as the API shows and takes it (the names of the
// OAuth dynamic client registration metadata, RFC 7591).
type Client struct {
	ID                     string          `json:"client_id"`
	Name                   string          `json:"client_name"`
	RedirectURIs           []string        `json:"redirect_uris"`
	PostLogoutRedirectURIs []string        `json:"post_logout_redirect_uris,omitempty"`
	GrantTypes             []string        `json:"grant_types"`
	AuthMethod             string          `json:"token_endpoint_auth_method"`
	JWKS                   json.RawMessage `json:"jwks,omitempty"`
	SubjectType            string          `json:"subject_type,omitempty"`
	SectorID               string          `json:"sector_identifier,omitempty"`
	IDTokenAlg             string          `json:"id_token_signed_response_alg,omitempty"`
	BackchannelLogoutURI   string          `json:"backchannel_logout_uri,omitempty"`
	RequirePAR             bool            `json:"require_pushed_authorization_requests,omitempty"`
	Scopes                 []string        `json:"scopes,omitempty"`
	Secret                 string          `json:"client_secret,omitempty"`
}

func clientOut(c issuer.Client) Client {
	return Client{ID: c.ID, Name: c.Name, RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
		GrantTypes: c.GrantTypes, AuthMethod: c.AuthMethod, JWKS: c.JWKS, SubjectType: c.SubjectType, SectorID: c.SectorID,
		IDTokenAlg: c.IDTokenAlg, BackchannelLogoutURI: c.BackchannelLogoutURI, RequirePAR: c.RequirePAR, Scopes: c.Scopes}
}

func (a *API) listClients(c httpapi.Context) error {
	cs, err := a.cfg.Clients.ListClients(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]Client, 0, len(cs))
	for _, cl := range cs {
		out = append(out, clientOut(cl))
	}
	return httpapi.JSON(c, http.StatusOK, out)
}

// putClient registers or replaces a client. For client_secret_basic
// Cedula generates the secret and returns it this once.
func (a *API) putClient(c httpapi.Context) error {
	var in Client
	if err := httpapi.Bind(c, &in); err != nil {
		return err
	}
	if in.Secret != "" {
		return &httpapi.Error{Status: http.StatusBadRequest, Slug: "invalid-client", Title: "Invalid client",
			Detail: "client_secret is generated by Cedula, not sent"}
	}
	cl := issuer.Client{ID: in.ID, Name: in.Name, RedirectURIs: in.RedirectURIs, PostLogoutRedirectURIs: in.PostLogoutRedirectURIs,
		GrantTypes: in.GrantTypes, AuthMethod: in.AuthMethod, JWKS: in.JWKS, SubjectType: in.SubjectType, SectorID: in.SectorID,
		IDTokenAlg: in.IDTokenAlg, BackchannelLogoutURI: in.BackchannelLogoutURI, RequirePAR: in.RequirePAR, Scopes: in.Scopes}
	// Separation of duties: privileged scopes are the operator's to grant
	// and remove, never the admin API's — not even for the caller itself.
	secret, err := a.cfg.Registrar.RegisterClient(c.Request().Context(), cl, issuer.Registration{By: issuer.Delegate, MintSecret: true})
	if err != nil {
		return err
	}
	a.log.InfoContext(c.Request().Context(), "client registered", "by", httpapi.CallerOf(c).ClientID, "client_id", cl.ID)
	stored, err := a.cfg.Clients.Client(c.Request().Context(), cl.ID)
	if err != nil {
		return err
	}
	out := clientOut(stored)
	out.Secret = secret
	return httpapi.JSON(c, http.StatusCreated, out)
}
