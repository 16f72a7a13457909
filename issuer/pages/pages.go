package pages

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/internal/ratelimit"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/passkey"
	"github.com/cedula/cedula/web"
)

// AuthFlow is what the pages need from the OIDC layer (issuer/oidcop),
// which implements it. Methods return an error wrapping issuer.ErrNotFound
// or issuer.ErrExpired for an unknown or stale request.
type AuthFlow interface {
	// AuthRequestInfo describes a pending request for the consent page.
	AuthRequestInfo(ctx context.Context, authRequestID string) (AuthRequestInfo, error)
	// Complete records the logged-in citizen (in login session sid) and
	// their consent and returns where to send the browser next. again are
	// the purpose scopes whose consent the citizen, having withdrawn or
	// refused it before, chose to give again (CitizenView.Declined).
	Complete(ctx context.Context, authRequestID, citizenID, sid string, amr []string, authTime time.Time, again []string) (redirect string, err error)
	// ForCitizen says, in lang, what of the request concerns the
	// logged-in citizen in particular.
	ForCitizen(ctx context.Context, authRequestID, citizenID, lang string) (CitizenView, error)
	// Deny returns the client redirect carrying error=access_denied.
	Deny(ctx context.Context, authRequestID string) (redirect string, err error)
	// Fail ends the request with an OIDC error code (ErrLoginRequired,
	// ErrConsentRequired, …) and returns the client redirect carrying it.
	Fail(ctx context.Context, authRequestID, code string) (redirect string, err error)
	// NeedsConsent reports whether the citizen must see the consent
	// screen for the request (a first login to the agency, or a purpose
	// without consent in force).
	NeedsConsent(ctx context.Context, authRequestID, citizenID string) (bool, error)
}

// Error codes of Fail for prompt=none (OIDC Core §3.1.2.6).
const (
	ErrLoginRequired   = "login_required"
	ErrConsentRequired = "consent_required"
)

// AuthRequestInfo describes a pending authorization request.
type AuthRequestInfo struct {
	ClientID   string
	ClientName string   // the agency's name, shown to the citizen
	Scopes     []string // requested scopes
	Claims     []string // user claims the scopes release (OIDC Core §5.4)
	// Purposes are the purposes of the consent registry that the request
	// names; none when the agency stated none.
	Purposes []Purpose
	// UILocales are the request's ui_locales (OIDC Core §3.1.2.1), a
	// language hint weaker than the citizen's own switch.
	UILocales []string
	// ForceLogin is set for prompt=login (OIDC Core §3.1.2.1): an
	// existing session must not be reused.
	ForceLogin bool
	// MaxAge is the request's max_age; 0 for none. A session older than
	// this must not be reused.
	MaxAge time.Duration
	// PromptNone is prompt=none: no page may be shown (silent).
	PromptNone bool
	// HintCitizenID is the citizen the request's id_token_hint names
	// ("" without a hint; a value matching nobody when it names nobody).
	HintCitizenID string
	// Credentials are the credentials the request asks to put into the
	// client's wallet (OpenID4VCI), and CredentialScopes the scopes that
	// ask for them (never shown as they are written).
	Credentials      []CredentialAsk
	CredentialScopes []string
}

// CitizenView is what of a request concerns the citizen in particular.
type CitizenView struct {
	// Declined are the purpose scopes whose consent the citizen withdrew
	// or refused before: allowing the request does not give it again
	// unless they tick it apart.
	Declined []string
	// Verified are the checked claims the agency asks for (OpenID
	// Connect for Identity Assurance), each from a credential in the
	// citizen's wallet.
	Verified []VerifiedAsk
}

// VerifiedAsk is one credential's claims an agency asks to receive
// checked, in the page's language.
type VerifiedAsk struct {
	Credential string   // the credential type's name
	Claims     []string // the claims' labels
	// Held: the citizen's wallet holds a credential that answers (else
	// the agency will get no verified claims from it).
	Held bool
}

// CredentialAsk is a credential a wallet asks for, its name and
// description by language.
type CredentialAsk struct {
	Name, Description map[string]string
}

// Purpose is a purpose of the consent registry that an authorization
// request names: what the citizen's "allow" consents to.
type Purpose struct {
	// Scope is the request's scope that names the purpose; the consent
	// screen shows the purpose instead.
	Scope string
	// Name and Description by language (es, en).
	Name, Description map[string]string
}

// Config builds a Handler.
type Config struct {
	Store    issuer.Store     // required
	Passkeys *passkey.Service // required
	Flow     AuthFlow         // required
	// Renderer renders the pages (default web.NewRenderer()).
	Renderer *web.Renderer
	// Logger receives one line per decision worth keeping (a login, a
	// consent decision, a refused ceremony) without personal data,
	// credential IDs, codes or tokens. Default slog.Default().
	Logger *slog.Logger
	// Secure marks cookies Secure; set it whenever the pages are served
	// over https.
	Secure bool
	// BaseURL is the public URL (e.g. https://id.example.gob); it makes
	// the type URIs of problem responses absolute (RFC 9457 §3.1.1).
	BaseURL string
	// SessionTTL is how long a login lasts (default 12 h).
	SessionTTL time.Duration
	// RecoveryTTL is how long a used recovery code lets the citizen
	// register a new passkey (default 15 min).
	RecoveryTTL time.Duration
	// Limits are the rate limits (zero fields take the defaults).
	Limits Limits
	// ClientIP names the client for per-IP rate limits (default: the
	// host of RemoteAddr, IPv6 grouped by /64). Behind a proxy, pass a
	// function that trusts only the proxy's header.
	ClientIP func(*http.Request) string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Consents lists the citizen's consents on the account page and
	// withdraws them in one click; nil shows none.
	Consents Consents
	// Offers serves the pages of credential offers and lists the citizen's
	// credentials on the account page; nil serves no offer pages and lists
	// none.
	Offers Offers
}

// Validate reports every problem with the configuration at once.
func (c Config) Validate() error {
	var probs []string
	if c.Store == nil {
		probs = append(probs, "a store is required")
	}
	if c.Passkeys == nil {
		probs = append(probs, "a passkey service is required")
	}
	if c.Flow == nil {
		probs = append(probs, "an auth flow (the OIDC layer) is required")
	}
	if c.SessionTTL < 0 || c.RecoveryTTL < 0 {
		probs = append(probs, "ttls must not be negative")
	}
	if err := c.Limits.validate(); err != nil {
		probs = append(probs, err.Error())
	}
	if len(probs) > 0 {
		return fmt.Errorf("pages: invalid config: %s", strings.Join(probs, "; "))
	}
	return nil
}

// Handler serves the pages: Mount adds them to the edge (or serve it at
// "/" as the fallback handler).
type Handler struct {
	store    issuer.Store
	passkeys *passkey.Service
	flow     AuthFlow
	render   *web.Renderer
	log      *slog.Logger
	csrf     web.CSRF
	secure   bool
	baseURL  string
	ttl      time.Duration
	recTTL   time.Duration
	limits   *limiters
	clientIP func(*http.Request) string
	consents Consents // nil: the account page lists no consents
	offers   Offers   // nil: no offer pages, no credentials listed
	now      func() time.Time
	mux      *http.ServeMux
}

// prefixes lists the paths the Handler serves; one with a trailing slash
// takes its subtree.
var prefixes = []string{"/login", "/login/", "/consent", "/enrol/", "/account", "/account/", "/recover",
	"/recover/", "/logout", "/lang", "/problems/", "/static/", "/offer/"}

// Mount adds the pages to e, a route per prefix (a subtree as one route:
// the pages' own mux routes within it), beside the JSON APIs that other
// rooms mount below the same prefixes ("/account/audit": the edge prefers
// the exact route).
func (h *Handler) Mount(e *httpapi.Echo) {
	serve := httpapi.WrapHandler(h)
	for _, p := range prefixes {
		if strings.HasSuffix(p, "/") {
			p += "*"
		}
		e.Any(p, serve)
	}
}

// New returns a Handler for cfg.
func New(cfg Config) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h := &Handler{
		store: cfg.Store, passkeys: cfg.Passkeys, flow: cfg.Flow, render: cfg.Renderer, log: cfg.Logger,
		csrf: web.CSRF{Secure: cfg.Secure}, secure: cfg.Secure, baseURL: strings.TrimRight(cfg.BaseURL, "/"),
		ttl: cfg.SessionTTL, recTTL: cfg.RecoveryTTL, clientIP: cfg.ClientIP, now: cfg.Now, consents: cfg.Consents,
		offers: cfg.Offers,
	}
	if h.render == nil {
		r, err := web.NewRenderer()
		if err != nil {
			return nil, err
		}
		h.render = r
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.ttl == 0 {
		h.ttl = 12 * time.Hour
	}
	if h.recTTL == 0 {
		h.recTTL = 15 * time.Minute
	}
	if h.clientIP == nil {
		h.clientIP = ratelimit.RemoteIP
	}
	if h.now == nil {
		h.now = time.Now
	}
	h.limits = newLimiters(cfg.Limits.withDefaults(), h.now)

	m := http.NewServeMux()
	m.HandleFunc("GET /login", h.loginPage)
	m.HandleFunc("POST /login/begin", h.loginBegin)
	m.HandleFunc("POST /login/finish", h.loginFinish)
	m.HandleFunc("POST /logout", h.logout)
	m.HandleFunc("GET /consent", h.consentPage)
	m.HandleFunc("POST /consent", h.consentDecision)
	m.HandleFunc("GET /enrol/{token}", h.enrolPage)
	m.HandleFunc("POST /enrol/{token}/begin", h.enrolBegin)
	m.HandleFunc("POST /enrol/{token}/finish", h.enrolFinish)
	m.HandleFunc("GET /account", h.accountPage)
	m.HandleFunc("POST /account/passkeys/begin", h.addBegin)
	m.HandleFunc("POST /account/passkeys/finish", h.addFinish)
	m.HandleFunc("POST /account/passkeys/rename", h.rename)
	m.HandleFunc("POST /account/passkeys/remove", h.remove)
	m.HandleFunc("POST /account/recovery-codes", h.newCodes)
	m.HandleFunc("POST /account/consents/withdraw", h.withdrawConsent)
	m.HandleFunc("POST /account/consents/renew", h.renewConsent)
	m.HandleFunc("POST /account/consents/object", h.objectToPurpose)
	m.HandleFunc("GET /offer/{id}", h.offerPage)
	m.HandleFunc("GET /recover", h.recoverPage)
	m.HandleFunc("POST /recover", h.recoverCode)
	m.HandleFunc("GET /recover/passkey", h.recoverPasskeyPage)
	m.HandleFunc("POST /recover/begin", h.recoverBegin)
	m.HandleFunc("POST /recover/finish", h.recoverFinish)
	m.HandleFunc("GET /lang", h.switchLang)
	m.HandleFunc("GET /problems/{slug}", h.problemPage)
	m.Handle("GET /static/", web.Static())
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.errorPage(w, r, web.Negotiate(r), probNotFound)
	})
	h.mux = m
	return h, nil
}

// ServeHTTP serves the pages.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Cookies. The session cookie is SameSite=Lax so that following a link
// from an agency keeps the citizen logged in; the short-lived ceremony
// and recovery cookies are only ever sent by Cedula's own pages.
const (
	sessionCookie  = "cedula_session"
	ceremonyCookie = "cedula_ceremony"
	recoveryCookie = "cedula_recovery"
)

func (h *Handler) setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration, same http.SameSite) {
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: h.secure, SameSite: same}
	if maxAge > 0 {
		c.MaxAge = int(maxAge / time.Second)
	} else {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

func (h *Handler) clearCookie(w http.ResponseWriter, name string) {
	h.setCookie(w, name, "", 0, http.SameSiteLaxMode)
}

// ceremonyTTL bounds the ceremony cookie; the ceremony itself expires
// server-side (passkey.Config.CeremonyTTL).
const ceremonyTTL = 10 * time.Minute

func (h *Handler) setCeremony(w http.ResponseWriter, id string) {
	h.setCookie(w, ceremonyCookie, id, ceremonyTTL, http.SameSiteStrictMode)
}

// takeCeremony returns the ceremony ID the browser keeps and clears the
// cookie: a ceremony is finished at most once.
func (h *Handler) takeCeremony(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(ceremonyCookie)
	if err != nil {
		return ""
	}
	h.clearCookie(w, ceremonyCookie)
	return c.Value
}

// localPath reports whether s is a path on this site, safe to redirect to.
func localPath(s string) bool {
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.HasPrefix(s, "/\\") {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return false
		}
	}
	return true
}

// isNotFound reports the errors that mean "no such thing (any more)".
func isNotFound(err error) bool {
	return errors.Is(err, issuer.ErrNotFound) || errors.Is(err, issuer.ErrExpired)
}

// beginRegistration starts a passkey registration for c, keeps the
// ceremony's ID in a cookie and answers with the creation options — the
// first half of enrolment, recovery and adding a passkey alike.
func (h *Handler) beginRegistration(w http.ResponseWriter, r *http.Request, lang string, c issuer.Citizen) {
	reg, err := h.passkeys.BeginRegistration(r.Context(), c)
	if err != nil {
		h.fail(w, r, lang, err)
		return
	}
	h.setCeremony(w, reg.ID)
	writeJSON(w, http.StatusOK, reg.Options)
}
