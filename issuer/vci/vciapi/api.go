// Package vciapi serves the credential issuer (package vci) on the edge:
// the wallet's endpoints of OpenID4VCI 1.0 (metadata, offers by
// reference, nonce, credential, deferred credential, notification), the
// issuer's keys and type metadata, the status lists, and the agencies'
// issuance API (openapi/issuance.yaml).
package vciapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/scopes"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/oidcop"
	"github.com/cedula/cedula/issuer/vci"
)

// Paths of the wallet's endpoints.
const (
	CredentialPath   = "/vci/credential"
	NoncePath        = "/vci/nonce"
	DeferredPath     = "/vci/deferred"
	NotificationPath = "/vci/notification"
	OfferPath        = "/vci/offers/"
	StatusPath       = "/vci/status/"
	// MetadataPath is the credential issuer metadata (§12.2.2); the
	// JWT VC issuer metadata (SD-JWT VC §5) is at IssuerMetadataPath.
	MetadataPath       = "/.well-known/openid-credential-issuer"
	IssuerMetadataPath = "/.well-known/jwt-vc-issuer"
	// TypePath prefixes the vct URLs the types' metadata is served at.
	TypePath = "/vct/"
)

// Tokens authenticates the access tokens the wallet presents.
type Tokens interface {
	Authenticate(r *http.Request, scope string) (issuer.AccessToken, *oidcop.ResourceError)
}

// Subjects tells which citizen an agency knows by a pairwise sub.
type Subjects interface {
	SubjectCitizen(ctx context.Context, clientID, sub string) (string, error)
}

// Config is what the API is built from; every field is required.
type Config struct {
	Service  *vci.Service
	Tokens   Tokens
	Guard    httpapi.Guard
	Subjects Subjects
	// BaseURL is the public URL (the issuer identifier).
	BaseURL string
}

// API serves the issuer.
type API struct{ cfg Config }

// New checks cfg.
func New(cfg Config) (*API, error) {
	if err := httpapi.CheckConfig("vciapi", map[string]bool{"Service": cfg.Service != nil, "Tokens": cfg.Tokens != nil,
		"Guard": cfg.Guard.Auth != nil, "Subjects": cfg.Subjects != nil, "BaseURL": cfg.BaseURL != ""}); err != nil {
		return nil, err
	}
	return &API{cfg: cfg}, nil
}

// Mount adds the routes.
func (a *API) Mount(e *httpapi.Echo) {
	get := []string{http.MethodGet, http.MethodHead}
	e.Match(get, MetadataPath, a.metadata)
	e.Match(get, IssuerMetadataPath, a.issuerMetadata)
	e.Match(get, TypePath+"*", a.typeMetadata)
	e.Match(get, OfferPath+":id", a.offer)
	e.Match(get, OfferPath+":id/qr.png", a.qrPNG)
	e.Match(get, OfferPath+":id/qr.svg", a.qrSVG)
	e.Match(get, StatusPath+":list", a.statusList)
	e.POST(NoncePath, a.nonce)
	e.POST(CredentialPath, a.credential)
	e.POST(DeferredPath, a.deferred)
	e.POST(NotificationPath, a.notification)
	g := a.cfg.Guard
	e.POST("/issuance/offers", a.createOffer, g.Scope(scopes.Issuance))
	e.GET("/issuance/credentials", a.list, g.Scope(scopes.Issuance))
	e.GET("/issuance/credentials/:id", a.get, g.Scope(scopes.Issuance))
	e.PUT("/issuance/credentials/:id/status", a.setStatus, g.Scope(scopes.Issuance))
	e.POST("/issuance/credentials/:id/approval", a.approval, g.Scope(scopes.Issuance))
}

// Classify maps the issuer's errors to problems.
func Classify(err error) *httpapi.Error {
	switch {
	case errors.Is(err, vci.ErrUnknownType):
		return &httpapi.Error{Status: http.StatusBadRequest, Slug: "unknown-credential-type", Title: "Unknown credential type",
			Detail: "no credential configuration has that id"}
	case errors.Is(err, vci.ErrNotIssuer):
		return &httpapi.Error{Status: http.StatusForbidden, Slug: "not-an-issuer", Title: "Forbidden",
			Detail: "this agency may not issue credentials of that type"}
	case errors.Is(err, vci.ErrDenied):
		return &httpapi.Error{Status: http.StatusForbidden, Slug: "ledger-denied", Title: "Forbidden",
			Detail: "the consent ledger does not allow this agency to use the citizen's data for the type's purpose"}
	case errors.Is(err, vci.ErrUnknownSubject):
		return &httpapi.Error{Status: http.StatusNotFound, Slug: "unknown-citizen", Title: "Unknown citizen",
			Detail: "no citizen is known to this agency by that sub"}
	case errors.Is(err, vci.ErrSourceTimeout):
		return &httpapi.Error{Status: http.StatusGatewayTimeout, Slug: "source-timeout", Title: "Attribute source timeout",
			Detail: "the agency's records did not answer in time; nothing was issued, try again later"}
	case errors.Is(err, vci.ErrNoRecord):
		return &httpapi.Error{Status: http.StatusNotFound, Slug: "no-record", Title: "No record",
			Detail: "the agency's records hold nothing of this citizen for that credential; nothing was issued"}
	case errors.Is(err, vci.ErrSourceFailed):
		return &httpapi.Error{Status: http.StatusBadGateway, Slug: "source-failed", Title: "Attribute source failed",
			Detail: "the agency's records failed to answer; nothing was issued, try again later"}
	case errors.Is(err, vci.ErrState):
		return httpapi.Conflict("the credential is not in a state that allows this")
	case errors.Is(err, vci.ErrNotFound):
		return httpapi.NotFound("no such credential, offer or status list")
	case errors.Is(err, vci.ErrInvalid):
		return &httpapi.Error{Status: http.StatusBadRequest, Slug: "invalid-request", Title: "Invalid request",
			Detail: strings.TrimPrefix(err.Error(), "vci: invalid request: ")}
	}
	return nil
}

// protocol turns a *vci.Error into the edge's OAuth form.
func protocol(err error) error {
	var ve *vci.Error
	if errors.As(err, &ve) {
		return &httpapi.OAuthError{Status: ve.Status, Code: ve.Code, Description: ve.Description}
	}
	return err
}

// access authenticates the wallet's access token (bearer or DPoP-bound)
// and reads what it allows.
func (a *API) access(c httpapi.Context) (vci.Access, error) {
	at, rerr := a.cfg.Tokens.Authenticate(c.Request(), "")
	if rerr != nil {
		code := rerr.Code
		if code == "" {
			code = "invalid_token"
		}
		return vci.Access{}, &httpapi.OAuthError{Status: rerr.Status, Code: code, Description: rerr.Description, Challenge: rerr.Challenge}
	}
	acc, ok, err := a.cfg.Service.Access(c.Request().Context(), at)
	if err != nil {
		return vci.Access{}, protocol(err)
	}
	if !ok {
		scheme := "Bearer"
		if at.JKT != "" {
			scheme = "DPoP"
		}
		return vci.Access{}, &httpapi.OAuthError{Status: http.StatusUnauthorized, Code: "invalid_token",
			Description: "the access token was not issued for credential issuance", Challenge: scheme + ` error="invalid_token"`}
	}
	return acc, nil
}

// body reads a request body of the wallet's endpoints.
func body(c httpapi.Context) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(c.Request().Body, vci.MaxRequest+1))
	if err != nil {
		return nil, &httpapi.OAuthError{Status: http.StatusBadRequest, Code: vci.CodeInvalidCredentialRequest, Description: "the body could not be read"}
	}
	return b, nil
}

func contentType(c httpapi.Context) string {
	return strings.ToLower(strings.TrimSpace(c.Request().Header.Get("Content-Type")))
}

func noStore(c httpapi.Context) {
	c.Response().Header().Set("Cache-Control", "no-store")
}

func (a *API) endpoints() vci.Endpoints {
	return vci.Endpoints{Credential: a.cfg.BaseURL + CredentialPath, Nonce: a.cfg.BaseURL + NoncePath,
		Deferred: a.cfg.BaseURL + DeferredPath, Notification: a.cfg.BaseURL + NotificationPath}
}

func (a *API) metadata(c httpapi.Context) error {
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.JSON(http.StatusOK, a.cfg.Service.Metadata(a.endpoints()))
}

func (a *API) issuerMetadata(c httpapi.Context) error {
	b, err := a.cfg.Service.IssuerMetadata(c.Request().Context())
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.JSONBlob(http.StatusOK, b)
}

func (a *API) typeMetadata(c httpapi.Context) error {
	doc, ok := a.cfg.Service.TypeMetadata(a.cfg.BaseURL + c.Request().URL.Path)
	if !ok {
		return httpapi.NotFound("no credential type has that vct")
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=3600")
	return c.JSONBlob(http.StatusOK, doc)
}

func (a *API) offer(c httpapi.Context) error {
	o, _, err := a.cfg.Service.Offer(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	noStore(c)
	return c.JSON(http.StatusOK, o)
}

func (a *API) nonce(c httpapi.Context) error {
	noStore(c)
	return c.JSON(http.StatusOK, map[string]string{"c_nonce": a.cfg.Service.Nonce()})
}

func (a *API) credential(c httpapi.Context) error { return a.issue(c, a.cfg.Service.Credential) }

func (a *API) deferred(c httpapi.Context) error { return a.issue(c, a.cfg.Service.Deferred) }

// issue serves a request of the credential or deferred endpoint: the
// wallet's token, its JSON body, and the answer with credentials (200) or
// a transaction (202).
func (a *API) issue(c httpapi.Context, serve func(context.Context, vci.Access, []byte, bool) (vci.Response, error)) error {
	acc, err := a.access(c)
	if err != nil {
		return err
	}
	b, err := body(c)
	if err != nil {
		return err
	}
	plain, encrypted, err := a.cfg.Service.OpenRequest(contentType(c), b)
	if err != nil {
		return protocol(err)
	}
	resp, err := serve(c.Request().Context(), acc, plain, encrypted)
	if err != nil {
		return protocol(err)
	}
	noStore(c)
	if resp.EncryptTo == nil {
		return c.JSON(resp.Status, resp)
	}
	js, err := json.Marshal(resp)
	if err != nil {
		return err
	}
	jwe, err := jose.EncryptTo(resp.EncryptTo, resp.Enc, js)
	if err != nil {
		return err
	}
	return c.Blob(resp.Status, "application/jwt", []byte(jwe))
}

func (a *API) notification(c httpapi.Context) error {
	acc, err := a.access(c)
	if err != nil {
		return err
	}
	b, err := body(c)
	if err != nil || !strings.HasPrefix(contentType(c), "application/json") {
		return protocol(&vci.Error{Code: vci.CodeInvalidNotification, Description: "the body must be application/json", Status: http.StatusBadRequest})
	}
	if err := a.cfg.Service.Notify(c.Request().Context(), acc, b); err != nil {
		return protocol(err)
	}
	return c.NoContent(http.StatusNoContent)
}

// statusList serves a Status List Token (draft-ietf-oauth-status-list
// §8): application/statuslist+jwt, cacheable for its ttl, with an ETag of
// its version so a verifier's revalidation costs nothing.
func (a *API) statusList(c httpapi.Context) error {
	tok, err := a.cfg.Service.StatusListToken(c.Request().Context(), c.Param("list"))
	if err != nil {
		return err
	}
	h := c.Response().Header()
	etag := `"` + strconv.FormatInt(tok.Version, 10) + `-` + strconv.FormatInt(tok.Expires.Unix(), 36) + `"`
	h.Set("ETag", etag)
	h.Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(a.cfg.Service.ListTTL().Seconds())))
	h.Set("Last-Modified", tok.Updated.UTC().Format(http.TimeFormat))
	if inm := c.Request().Header.Get("If-None-Match"); inm != "" && strings.Contains(inm, etag) {
		return c.NoContent(http.StatusNotModified)
	}
	return c.Blob(http.StatusOK, "application/statuslist+jwt", []byte(tok.JWT))
}
