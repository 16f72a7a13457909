// Package verifierapi serves the verifier (package verifier) on the edge:
// the agencies' verification API (openapi/verification.yaml) and the
// wallet's OpenID4VP 1.0 endpoints — the request object by reference
// (GET, and POST with wallet metadata and a wallet_nonce, §5.10) and the
// response endpoint of direct_post and direct_post.jwt (§8.2).
package verifierapi

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"time"

	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/qr"
	"github.com/cedula/cedula/internal/scopes"
	"github.com/cedula/cedula/verifier"
)

// Paths of the wallet's endpoints.
const (
	RequestPath  = "/vp/requests/"
	ResponsePath = "/vp/responses/"
)

// MaxResponse bounds a wallet's answer (its form, or the JWE).
const MaxResponse = 1 << 20

// Config is what the API is built from; every field is required.
type Config struct {
	Service *verifier.Service
	Guard   httpapi.Guard
	// Keys publishes the verifier's keys (the ring verifier.Ring).
	Keys keys.Manager
	// BaseURL is the server's public URL.
	BaseURL string
}

// API serves the verifier.
type API struct{ cfg Config }

// New checks cfg.
func New(cfg Config) (*API, error) {
	if err := httpapi.CheckConfig("verifierapi", map[string]bool{"Service": cfg.Service != nil, "Guard": cfg.Guard.Auth != nil, "BaseURL": cfg.BaseURL != "",
		"Keys": cfg.Keys != nil}); err != nil {
		return nil, err
	}
	return &API{cfg: cfg}, nil
}

// Mount adds the routes.
func (a *API) Mount(e *httpapi.Echo) {
	e.GET(RequestPath+":id", a.requestObject)
	e.POST(RequestPath+":id", a.requestObject)
	e.POST(ResponsePath+":id", a.response)
	g := a.cfg.Guard.Scope(scopes.Verification)
	e.POST("/verification/requests", a.create, g)
	e.GET("/verification/requests/:id", a.get, g)
	e.DELETE("/verification/requests/:id", a.cancel, g)
	e.GET("/verification/requests/:id/qr.png", a.qrPNG, g)
	e.GET("/verification/requests/:id/qr.svg", a.qrSVG, g)
	e.GET("/verification/webhook", a.getWebhook, g)
	e.PUT("/verification/webhook", a.putWebhook, g)
	e.DELETE("/verification/webhook", a.deleteWebhook, g)
	e.GET("/verification/keys", httpapi.KeySet(a.cfg.Keys, verifier.Ring))
}

// webhook is the body of PUT /verification/webhook and its reads.
type webhook struct {
	URL string `json:"url"`
}

func (a *API) getWebhook(c httpapi.Context) error {
	u, err := a.cfg.Service.Webhook(c.Request().Context(), httpapi.CallerOf(c).ClientID)
	if err != nil {
		return err
	}
	if u == "" {
		return httpapi.NotFound("this agency has no webhook")
	}
	return httpapi.JSON(c, http.StatusOK, webhook{URL: u})
}

func (a *API) putWebhook(c httpapi.Context) error {
	var in webhook
	if err := httpapi.Bind(c, &in); err != nil {
		return err
	}
	if in.URL == "" {
		return httpapi.BadRequest("url is required")
	}
	if err := a.cfg.Service.SetWebhook(c.Request().Context(), httpapi.CallerOf(c).ClientID, in.URL); err != nil {
		return err
	}
	return httpapi.JSON(c, http.StatusOK, in)
}

func (a *API) deleteWebhook(c httpapi.Context) error {
	if err := a.cfg.Service.SetWebhook(c.Request().Context(), httpapi.CallerOf(c).ClientID, ""); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// Classify maps the verifier's errors to problems.
func Classify(err error) *httpapi.Error {
	var ie *verifier.InvalidError
	switch {
	case errors.As(err, &ie):
		return &httpapi.Error{Status: http.StatusBadRequest, Slug: "invalid-presentation-request", Title: "Invalid presentation request", Detail: ie.Detail}
	case errors.Is(err, verifier.ErrNotYourPurpose):
		return &httpapi.Error{Status: http.StatusForbidden, Slug: "not-your-purpose", Title: "Forbidden",
			Detail: "the purpose is not one of this agency's registered purposes"}
	case errors.Is(err, verifier.ErrNotRegistered):
		return &httpapi.Error{Status: http.StatusForbidden, Slug: "beyond-purpose", Title: "Forbidden", Detail: publicDetail(err)}
	case errors.Is(err, verifier.ErrNotFound):
		return httpapi.NotFound("no such presentation request of this agency")
	case errors.Is(err, verifier.ErrClosed):
		return httpapi.Conflict("the request is answered, cancelled or expired")
	}
	return nil
}

// publicDetail is a verifier error's message without its package prefix.
func publicDetail(err error) string {
	msg := err.Error()
	const prefix = "verifier: not registered for the purpose: "
	if len(msg) > len(prefix) && msg[:len(prefix)] == prefix {
		return msg[len(prefix):]
	}
	return msg
}

// createRequest is the body of POST /verification/requests.
type createRequest struct {
	DCQL         json.RawMessage `json:"dcql_query"`
	Purpose      string          `json:"purpose"`
	ResponseMode string          `json:"response_mode"`
}

// requestView is a request as the agency reads it.
type requestView struct {
	ID           string            `json:"id"`
	Status       verifier.Status   `json:"status"`
	Purpose      string            `json:"purpose"`
	ResponseMode string            `json:"response_mode"`
	Created      time.Time         `json:"created_at"`
	Expires      time.Time         `json:"expires_at"`
	Answered     *time.Time        `json:"answered_at,omitempty"`
	RequestURI   string            `json:"request_uri,omitempty"`
	Link         string            `json:"link,omitempty"`
	QRPNG        string            `json:"qr_png,omitempty"`
	QRSVG        string            `json:"qr_svg,omitempty"`
	Failure      *verifier.Failure `json:"failure,omitempty"`
	Result       *verifier.Result  `json:"result,omitempty"`
}

func (a *API) view(c httpapi.Context, v verifier.View) requestView {
	out := requestView{ID: v.ID, Status: v.Status, Purpose: v.Purpose, ResponseMode: v.ResponseMode, Created: v.Created.UTC(),
		Expires: v.Expires.UTC(), Failure: v.Failure, Result: v.Opened}
	if !v.Answered.IsZero() {
		t := v.Answered.UTC()
		out.Answered = &t
	}
	if v.Status == verifier.StatusPending || v.Status == verifier.StatusFetched {
		s := a.cfg.Service
		base := a.cfg.BaseURL + "/verification/requests/" + url.PathEscape(v.ID)
		out.RequestURI, out.Link, out.QRPNG, out.QRSVG = s.RequestURI(v.ID), s.Link(v.ID), base+"/qr.png", base+"/qr.svg"
	}
	return out
}

func (a *API) create(c httpapi.Context) error {
	var in createRequest
	if err := httpapi.Bind(c, &in); err != nil {
		return err
	}
	if len(in.DCQL) == 0 || in.Purpose == "" {
		return httpapi.BadRequest("dcql_query and purpose are required")
	}
	r, err := a.cfg.Service.Create(c.Request().Context(), httpapi.CallerOf(c).ClientID,
		verifier.Create{DCQL: in.DCQL, Purpose: in.Purpose, ResponseMode: in.ResponseMode})
	if err != nil {
		return err
	}
	noStore(c)
	return httpapi.JSON(c, http.StatusCreated, a.view(c, verifier.View{Request: r}))
}

func (a *API) get(c httpapi.Context) error {
	v, err := a.cfg.Service.Get(c.Request().Context(), httpapi.CallerOf(c).ClientID, c.Param("id"))
	if err != nil {
		return err
	}
	noStore(c)
	return httpapi.JSON(c, http.StatusOK, a.view(c, v))
}

func (a *API) cancel(c httpapi.Context) error {
	if err := a.cfg.Service.Cancel(c.Request().Context(), httpapi.CallerOf(c).ClientID, c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// link is the link of an agency's open request.
func (a *API) link(c httpapi.Context) (string, error) {
	v, err := a.cfg.Service.Get(c.Request().Context(), httpapi.CallerOf(c).ClientID, c.Param("id"))
	if err != nil {
		return "", err
	}
	if v.Status != verifier.StatusPending && v.Status != verifier.StatusFetched {
		return "", verifier.ErrClosed
	}
	return a.cfg.Service.Link(v.ID), nil
}

func (a *API) qrPNG(c httpapi.Context) error {
	link, err := a.link(c)
	if err != nil {
		return err
	}
	png, err := qr.PNG(link, 320)
	if err != nil {
		return err
	}
	noStore(c)
	return c.Blob(http.StatusOK, "image/png", png)
}

func (a *API) qrSVG(c httpapi.Context) error {
	link, err := a.link(c)
	if err != nil {
		return err
	}
	svg, err := qr.SVG(link, "Código QR de la solicitud de presentación / Presentation request QR code")
	if err != nil {
		return err
	}
	noStore(c)
	return c.Blob(http.StatusOK, "image/svg+xml", []byte(svg))
}

func noStore(c httpapi.Context) {
	c.Response().Header().Set("Cache-Control", "no-store")
}

// form reads an application/x-www-form-urlencoded body of at most
// MaxResponse bytes.
func form(c httpapi.Context) (url.Values, error) {
	mt, _, _ := mime.ParseMediaType(c.Request().Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		return nil, &httpapi.OAuthError{Status: http.StatusBadRequest, Code: "invalid_request",
			Description: "the body must be application/x-www-form-urlencoded"}
	}
	b, err := io.ReadAll(io.LimitReader(c.Request().Body, MaxResponse+1))
	if err != nil {
		return nil, &httpapi.OAuthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "the body could not be read"}
	}
	if len(b) > MaxResponse {
		return nil, &httpapi.OAuthError{Status: http.StatusRequestEntityTooLarge, Code: "invalid_request", Description: "the body is too large"}
	}
	v, err := url.ParseQuery(string(b))
	if err != nil {
		return nil, &httpapi.OAuthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "the body is not a valid form"}
	}
	for k, vs := range v {
		if len(vs) > 1 {
			return nil, &httpapi.OAuthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: k + " is sent more than once"}
		}
	}
	return v, nil
}

// requestObject serves a request object (§5.10): GET, or POST with the
// wallet's metadata and wallet_nonce.
func (a *API) requestObject(c httpapi.Context) error {
	var nonce string
	var md []byte
	if c.Request().Method == http.MethodPost {
		f, err := form(c)
		if err != nil {
			return err
		}
		nonce, md = f.Get("wallet_nonce"), []byte(f.Get("wallet_metadata"))
	}
	obj, err := a.cfg.Service.RequestObject(c.Request().Context(), c.Param("id"), nonce, md)
	var ie *verifier.InvalidError
	switch {
	case errors.Is(err, verifier.ErrNotFound), errors.Is(err, verifier.ErrClosed):
		return &httpapi.OAuthError{Status: http.StatusNotFound, Code: "invalid_request_uri", Description: "no open request is at this request_uri"}
	case errors.Is(err, verifier.ErrWalletUnsupported):
		return &httpapi.OAuthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: publicDetail(err)}
	case errors.As(err, &ie):
		return &httpapi.OAuthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: ie.Detail}
	case err != nil:
		return err
	}
	noStore(c)
	return c.Blob(http.StatusOK, "application/oauth-authz-req+jwt", []byte(obj))
}

// response takes a wallet's answer (§8.2): 200 with an empty object when
// taken, an OAuth error otherwise.
func (a *API) response(c httpapi.Context) error {
	f, err := form(c)
	if err != nil {
		return err
	}
	err = a.cfg.Service.Respond(c.Request().Context(), c.Param("id"), f)
	var we *verifier.WalletError
	if errors.As(err, &we) {
		return &httpapi.OAuthError{Status: http.StatusBadRequest, Code: we.Code, Description: we.Description}
	} else if err != nil {
		return err
	}
	noStore(c)
	return c.JSON(http.StatusOK, map[string]any{})
}
