package mobileapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"

	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/internal/ratelimit"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/oidcop"
	"github.com/cedula/cedula/openapi"
	"github.com/cedula/cedula/wallet"
)

// Wallet is what the API asks of the citizen's wallet (package wallet).
// Every method acts on citizenID's own objects only: another citizen's id
// is wallet.ErrNotFound. lang (es or en) picks the display texts. Errors
// are *wallet.Error of the wallet's sentinels (Classify) or failures.
type Wallet interface {
	// Credentials lists every credential the citizen holds, in no order.
	Credentials(ctx context.Context, citizenID, lang string) ([]wallet.Credential, error)
	// Credential returns one of them.
	Credential(ctx context.Context, citizenID, id, lang string) (wallet.Credential, error)
	// DeleteCredential deletes one, with its holder key.
	DeleteCredential(ctx context.Context, citizenID, id string) error
	// PreviewOffer resolves an offer and says what accepting it would
	// give; it stores nothing.
	PreviewOffer(ctx context.Context, citizenID, offer, lang string) (wallet.OfferPreview, error)
	// AcceptOffer runs the offer's issuance and stores the credentials it
	// gives, which it returns with those the issuer deferred;
	// wallet.ErrNeedsAuthorization for an offer that needs the citizen's
	// login at the issuer.
	AcceptOffer(ctx context.Context, citizenID string, a wallet.Accept, lang string) (wallet.Received, error)
	// BeginDeviceAccept redeems an offer for keys the phone holds and
	// returns what the phone must sign; FinishDeviceAccept takes the
	// signatures and stores the credentials.
	BeginDeviceAccept(ctx context.Context, citizenID string, a wallet.Accept, deviceKeys []json.RawMessage) (wallet.Pending, error)
	FinishDeviceAccept(ctx context.Context, citizenID, pendingID string, signatures []string, lang string) (wallet.Received, error)
	// BeginAuthorization starts the citizen's login at the issuer for an
	// offer and returns the URL to open; FinishAuthorization takes the
	// browser's return and receives the credentials (or, with the
	// phone's keys, Received.Pending).
	BeginAuthorization(ctx context.Context, citizenID string, a wallet.Accept, deviceKeys []json.RawMessage) (wallet.Authorization, error)
	FinishAuthorization(ctx context.Context, citizenID, id string, cb wallet.Callback, lang string) (wallet.Received, error)
	// DeferredIssuances lists the issuances issuers deferred;
	// CollectDeferred asks the issuer for one once its interval has
	// passed.
	DeferredIssuances(ctx context.Context, citizenID, lang string) ([]wallet.Deferred, error)
	CollectDeferred(ctx context.Context, citizenID, id, lang string) (wallet.Received, error)
	// ResolvePresentation reads and checks a scanned OpenID4VP request,
	// matches it to the citizen's credentials and keeps it (sealed) for
	// an answer; nothing reaches the verifier.
	ResolvePresentation(ctx context.Context, citizenID, link, lang string) (wallet.PresentationRequest, error)
	// Present answers a resolved request with the approved credentials
	// and claims: sent, or (with the phone's keys) Presented.Pending.
	// An approval that does not answer the request (wallet.ErrApproval)
	// leaves the request open; otherwise a request is answered once.
	Present(ctx context.Context, citizenID string, a wallet.Approval) (wallet.Presented, error)
	// FinishPresent sends a pending presentation with the phone's
	// signatures, one per signing input; a wrong one voids it.
	FinishPresent(ctx context.Context, citizenID, pendingID string, signatures []string) (wallet.Presented, error)
	// DeclinePresentation sends the verifier access_denied.
	DeclinePresentation(ctx context.Context, citizenID, requestID string) (wallet.Presented, error)
	// Presentations is the citizen's presentation history, newest first.
	Presentations(ctx context.Context, citizenID string) ([]wallet.Presentation, error)
}

// Tokens authenticates access tokens: *oidcop.Provider. scope, when not
// empty, is a scope the token must carry; a DPoP-bound token must come
// with a valid proof for the request's method and URL.
type Tokens interface {
	Authenticate(r *http.Request, scope string) (issuer.AccessToken, *oidcop.ResourceError)
}

// Citizens reads the citizen registry; issuer.ErrNotFound for an unknown
// id.
type Citizens interface {
	Citizen(ctx context.Context, id string) (issuer.Citizen, error)
}

// Sealer encrypts data under a subject's own key (the citizen's data key,
// which erasure destroys), so that what is stored for them is unreadable
// without it; label says what the data is. Open reverses Seal for the
// same subject and label and fails for any other or for altered bytes.
type Sealer interface {
	Seal(ctx context.Context, subject, label string, data []byte) ([]byte, error)
	Open(ctx context.Context, subject, label string, sealed []byte) ([]byte, error)
}

// Labels of what the API seals.
const (
	labelIdempotency = "mobile/idempotency"
	labelDevice      = "mobile/device"
)

// Config is what the API is built from; every field but Rate, BodyLimit,
// Logger and Now is required.
type Config struct {
	Wallet   Wallet
	Tokens   Tokens
	Citizens Citizens
	// Idempotency keeps the answers of creating POSTs by Idempotency-Key
	// (mobile-api/sqlstore); Sealer seals them, and the devices' push
	// tokens, under the citizen's key.
	Idempotency IdempotencyStore
	Sealer      Sealer
	// Ledger is the consent ledger (*consent.Service); Receipts signs its
	// receipts (*consentapi.API).
	Ledger   Ledger
	Receipts Receipts
	// Activity is the citizen's view of the audit log (*auditapi.Views),
	// which names the citizen by Pseudonym; Agencies names agencies.
	Activity  Activity
	Pseudonym func(citizenID string) string
	Agencies  Agencies
	// Passkeys are the citizen's passkeys (the issuer's Store).
	Passkeys Passkeys
	// Devices keeps the devices registered for push (mobile-api/sqlstore).
	Devices DeviceStore
	// Inbox is the citizens' inbox (*inbox.Service).
	Inbox Inbox
	// Journeys checks agencies' messages and takes citizens' answers;
	// nil shows every sender unverified and answers nothing.
	Journeys Journeys
	// Alerts are the public alerts the stream carries (nil: none);
	// Locations keeps the points citizens share for targeted alerts.
	Alerts    Alerts
	Locations Locations
	// Preferences keeps how messages reach each citizen.
	Preferences PreferenceStore
	// TokenLive, when set, says whether an access token (by ID) is still
	// good — not revoked, not expired: an inbox stream asks it at every
	// heartbeat and ends when the app's token was revoked.
	TokenLive func(ctx context.Context, tokenID string) (bool, error)
	// StreamHeartbeat is how often a stream sends a comment and checks
	// its token; 0 means 20 s.
	StreamHeartbeat time.Duration
	// MaxStreams is how many inbox streams a citizen may hold open at
	// once (on this replica); 0 means DefaultStreams.
	MaxStreams int
	// Rate is each citizen's request rate; zero means DefaultRate.
	Rate ratelimit.Rate
	// BodyLimit bounds a request body; 0 means DefaultBodyLimit.
	BodyLimit int64
	// Logger logs refusals' causes and failures to keep an answer; nil
	// means slog.Default(). Tokens, claims and offers are never logged.
	Logger *slog.Logger
	// Now is the clock (rate limits, idempotency records); nil means
	// time.Now.
	Now func() time.Time
}

// DefaultRate is a citizen's default rate: an app refreshing its screens
// stays far below it.
var DefaultRate = ratelimit.Rate{N: 120, Per: time.Minute}

// DefaultStreams is a citizen's default number of open inbox streams: a
// phone, a tablet and a few more.
const DefaultStreams = 10

// DefaultBodyLimit bounds request bodies (an offer by value fits easily).
const DefaultBodyLimit = 64 << 10

// API serves openapi/mobile.yaml.
type API struct {
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	limit  *ratelimit.Limiter
	doc    *openapi3.T
	file   openapi.Doc // the document as served
	base   string
	routes map[string]route // "METHOD /mobile/v1/credentials/:id" → its operation

	streamsMu sync.Mutex
	streams   map[string]int // citizen → open inbox streams
}

// route is one operation of the document, found by its echo route.
type route struct {
	path string // as the document writes it: /credentials/{id}
	item *openapi3.PathItem
	op   *openapi3.Operation
}

var _ StrictServerInterface = (*API)(nil)

// New checks cfg and loads the document.
func New(cfg Config) (*API, error) {
	if err := httpapi.CheckConfig("mobileapi", map[string]bool{"Wallet": cfg.Wallet != nil, "Tokens": cfg.Tokens != nil,
		"Citizens": cfg.Citizens != nil, "Idempotency": cfg.Idempotency != nil, "Sealer": cfg.Sealer != nil,
		"Ledger": cfg.Ledger != nil, "Receipts": cfg.Receipts != nil, "Activity": cfg.Activity != nil, "Pseudonym": cfg.Pseudonym != nil,
		"Agencies": cfg.Agencies != nil, "Passkeys": cfg.Passkeys != nil, "Devices": cfg.Devices != nil,
		"Inbox": cfg.Inbox != nil, "Locations": cfg.Locations != nil, "Preferences": cfg.Preferences != nil}); err != nil {
		return nil, err
	}
	if cfg.Rate.N <= 0 || cfg.Rate.Per <= 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.BodyLimit <= 0 {
		cfg.BodyLimit = DefaultBodyLimit
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.StreamHeartbeat <= 0 {
		cfg.StreamHeartbeat = 20 * time.Second
	}
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = DefaultStreams
	}
	doc, err := document()
	if err != nil {
		return nil, err
	}
	a := &API{cfg: cfg, log: cfg.Logger, now: cfg.Now, limit: ratelimit.New(cfg.Rate, cfg.Now), doc: doc.T, file: doc, base: doc.Base(),
		routes: map[string]route{}, streams: map[string]int{}}
	for p, item := range doc.T.Paths.Map() {
		for method, op := range item.Operations() {
			a.routes[method+" "+a.base+echoPath(p)] = route{path: p, item: item, op: op}
		}
	}
	return a, nil
}

// document is openapi/mobile.yaml.
func document() (openapi.Doc, error) {
	ds, err := openapi.Docs()
	if err != nil {
		return openapi.Doc{}, err
	}
	for _, d := range ds {
		if d.Name == "mobile" {
			return d, nil
		}
	}
	return openapi.Doc{}, errors.New("mobileapi: openapi has no mobile document")
}

// Mount adds the document's operations under its base path, each behind
// the API's middleware: authentication, the citizen's rate limit, the
// body limit and request validation, and for the POSTs that create
// idempotency.
func (a *API) Mount(e *httpapi.Echo) {
	common := []echo.MiddlewareFunc{a.authenticate, a.rateLimit, a.validate}
	mws := map[string][]echo.MiddlewareFunc{}
	for _, r := range a.routes {
		mws[r.op.OperationID] = common
	}
	mws["streamInbox"] = append(append([]echo.MiddlewareFunc{}, common...), a.streamLimit)
	for _, op := range []string{"acceptOffer", "completeOffer", "completeOfferAuthorization", "collectDeferredIssuance", "giveConsent", "registerDevice", "approvePresentation", "completePresentation"} {
		mws[op] = append(append([]echo.MiddlewareFunc{}, common...), a.idempotent)
	}
	RegisterHandlersWithOptions(e, NewStrictHandler(a, []StrictMiddlewareFunc{classified}),
		RegisterHandlersOptions{BaseURL: a.base, OperationMiddlewares: mws})
	// The contract itself, beside the API, for the app's developers: the
	// document (JSON, YAML) and its human-readable page.
	e.GET(a.base+"/openapi.json", func(c httpapi.Context) error { return c.Blob(http.StatusOK, "application/json", a.file.JSON) })
	e.GET(a.base+"/openapi.yaml", func(c httpapi.Context) error { return c.Blob(http.StatusOK, "application/yaml", a.file.YAML) })
	e.GET(a.base+"/docs", func(c httpapi.Context) error {
		return c.Redirect(http.StatusFound, openapi.Prefix+"#"+a.file.Name)
	})
}

// classified turns the wallet's errors into their problems (Classify), so
// that the API does not depend on the edge being given its classifier.
func classified(f StrictHandlerFunc, _ string) StrictHandlerFunc {
	return func(c echo.Context, req any) (any, error) {
		resp, err := f(c, req)
		if err != nil {
			if pe := Classify(err); pe != nil {
				return nil, pe.WithCause(err)
			}
		}
		return resp, err
	}
}

// Classify maps the wallet's errors to problems: a malformed offer or
// presentation request 400, the rest of the wallet's refusals 422. The detail of a
// *wallet.Error is written for the citizen and goes out as it is; its
// cause only to the log.
func Classify(err error) *httpapi.Error {
	var we *wallet.Error
	isWallet := errors.As(err, &we)
	// detail is the wallet's, else def; with whose, the remote party's
	// error code is added when the detail does not name it already.
	detail := func(def, whose string) string {
		d := def
		if isWallet && we.Detail != "" {
			d = clip(we.Detail, 300)
		}
		if whose != "" && isWallet && we.Code != "" && !strings.Contains(d, we.Code) {
			d += fmt.Sprintf(" (the %s's error: %s)", whose, errorCode(we.Code))
		}
		return d
	}
	switch {
	case errors.Is(err, wallet.ErrNotFound):
		return httpapi.NotFound("the wallet holds nothing of that id")
	case errors.Is(err, wallet.ErrCallback):
		return &httpapi.Error{Status: http.StatusBadRequest, Slug: "invalid-callback", Title: "Invalid authorization callback",
			Detail: detail("the callback does not answer the pending authorization", "")}
	case errors.Is(err, wallet.ErrNeedsAuthorization):
		return &httpapi.Error{Status: http.StatusUnprocessableEntity, Slug: "authorization-required", Title: "Login at the issuer required",
			Detail: detail("the offer needs the citizen's login at the issuer", "")}
	case errors.Is(err, wallet.ErrOffer):
		return &httpapi.Error{Status: http.StatusBadRequest, Slug: "invalid-offer", Title: "Invalid credential offer",
			Detail: detail("the credential offer cannot be read or used", "")}
	case errors.Is(err, wallet.ErrIssuer):
		return &httpapi.Error{Status: http.StatusUnprocessableEntity, Slug: "issuer-failed", Title: "Issuer failed",
			Detail: detail("the issuer could not be reached or did not answer as OpenID4VCI says", "")}
	case errors.Is(err, wallet.ErrRefused):
		return &httpapi.Error{Status: http.StatusUnprocessableEntity, Slug: "issuer-refused", Title: "Issuer refused",
			Detail: detail("the issuer refused", "issuer")}
	case errors.Is(err, wallet.ErrUnsupported):
		return &httpapi.Error{Status: http.StatusUnprocessableEntity, Slug: "unsupported", Title: "Not supported",
			Detail: detail("the offer or request needs something this wallet does not do", "")}
	case errors.Is(err, wallet.ErrRequest):
		return &httpapi.Error{Status: http.StatusBadRequest, Slug: "invalid-presentation-request", Title: "Invalid presentation request",
			Detail: detail("the presentation request cannot be read, or its verifier's identity does not check out", "")}
	case errors.Is(err, wallet.ErrApproval):
		return &httpapi.Error{Status: http.StatusUnprocessableEntity, Slug: "invalid-approval", Title: "Approval does not answer the request",
			Detail: detail("the approval does not answer the request", "")}
	case errors.Is(err, wallet.ErrVerifier):
		return &httpapi.Error{Status: http.StatusUnprocessableEntity, Slug: "verifier-failed", Title: "Verifier failed",
			Detail: detail("the verifier could not be reached or did not take the response", "verifier")}
	}
	return nil
}

// errorCode keeps an issuer's error code to the characters RFC 6749 §5.2
// allows in one, at most 64 of them.
func errorCode(code string) string {
	code = strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, code)
	return clip(code, 64)
}

// clip cuts s to at most n bytes, on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// echoPath turns a document path ("/credentials/{id}") into an echo
// template ("/credentials/:id").
func echoPath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			segs[i] = ":" + s[1:len(s)-1]
		}
	}
	return strings.Join(segs, "/")
}
