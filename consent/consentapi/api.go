package consentapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/scopes"
)

// Errors the wiring's adapters return.
var (
	// ErrUnknownSubject: no citizen is known to the client by that sub, or
	// no citizen has that ID.
	ErrUnknownSubject = errors.New("consentapi: unknown citizen")
)

// Subjects tells which citizen a client knows by a pairwise sub.
type Subjects interface {
	SubjectCitizen(ctx context.Context, clientID, sub string) (citizenID string, err error)
}

// Citizens tells whether a citizen exists (ErrUnknownSubject when not).
type Citizens interface {
	CitizenExists(ctx context.Context, citizenID string) error
}

// Log is what the API needs of the audit log: appending a DPO's read of a
// citizen's history (with its reason sealed under the citizen's key), and
// finding the entry of a consent change for its receipt.
type Log interface {
	Append(ctx context.Context, entries ...audit.Entry) (int64, error)
	Seal(ctx context.Context, subject string, data []byte) ([]byte, error)
	// EntryOf returns the index and leaf hash of the entry that recorded
	// consent change record (consent.AuditRecord) about subject.
	EntryOf(ctx context.Context, subject, record string) (int64, audit.Hash, error)
}

// Config is what the API is built from; every field is required.
type Config struct {
	Ledger   *consent.Service
	Guard    httpapi.Guard
	Subjects Subjects
	Citizens Citizens
	Log      Log
	// Pseudonym is the citizen's audit pseudonym.
	Pseudonym func(citizenID string) string
	// ClientName is an agency's name for people ("" when unknown).
	ClientName func(ctx context.Context, clientID string) string
	// Keys sign receipts (ReceiptRing).
	Keys keys.Manager
	// Issuer is the public URL; AuditLog the log's origin line.
	Issuer, AuditLog string
}

// API serves the consent ledger.
type API struct{ cfg Config }

// New checks cfg and returns the API.
func New(cfg Config) (*API, error) {
	if err := httpapi.CheckConfig("consentapi", map[string]bool{"Ledger": cfg.Ledger != nil, "Guard": cfg.Guard.Auth != nil, "Subjects": cfg.Subjects != nil,
		"Citizens": cfg.Citizens != nil, "Guard.Sessions": cfg.Guard.Sessions != nil, "Log": cfg.Log != nil, "Pseudonym": cfg.Pseudonym != nil,
		"ClientName": cfg.ClientName != nil, "Keys": cfg.Keys != nil, "Issuer": cfg.Issuer != ""}); err != nil {
		return nil, err
	}
	return &API{cfg: cfg}, nil
}

// Mount adds the routes.
func (a *API) Mount(e *httpapi.Echo) {
	g := a.cfg.Guard
	e.POST("/consent/decide", a.decide, g.Scope(scopes.Consent))
	e.GET("/admin/purposes", a.listPurposes, g.Scope(scopes.Admin))
	e.POST("/admin/purposes", a.putPurpose, g.Scope(scopes.Admin))
	e.GET("/dpo/consents/counts", a.counts, g.Scope(scopes.DPO))
	e.GET("/dpo/consents/timeline", a.timeline, g.Scope(scopes.DPO))
	e.GET("/dpo/consents/history", a.history, g.Scope(scopes.DPO))
	e.GET("/dpo/ropa", a.ropa, g.Scope(scopes.DPO))
	e.GET("/account/consents/receipt", a.receipt, g.Session("log in to Cedula to get your consent receipts"))
	e.GET("/consent/receipt-keys", httpapi.KeySet(a.cfg.Keys, ReceiptRing))
}

// Classify maps the consent room's errors to their public form: the
// problems of an *consent.InvalidError as they were written for the
// caller, and fixed texts for the rest.
func Classify(err error) *httpapi.Error {
	var ie *consent.InvalidError
	switch {
	case errors.As(err, &ie):
		return &httpapi.Error{Status: http.StatusBadRequest, Slug: "invalid-request", Title: "Invalid request", Detail: ie.Public()}
	case errors.Is(err, consent.ErrInvalid):
		return &httpapi.Error{Status: http.StatusBadRequest, Slug: "invalid-request", Title: "Invalid request",
			Detail: "the request breaks a rule of the consent ledger"}
	case errors.Is(err, ErrUnknownSubject):
		return &httpapi.Error{Status: http.StatusNotFound, Slug: "unknown-citizen", Title: "Unknown citizen",
			Detail: "no citizen is known by that identifier"}
	case errors.Is(err, consent.ErrNotFound):
		return httpapi.NotFound("no such consent record or purpose")
	case errors.Is(err, consent.ErrNotConsentBased), errors.Is(err, consent.ErrNotObjectable), errors.Is(err, consent.ErrTransition):
		return httpapi.Conflict("the change does not apply to the consent record as it stands")
	case errors.Is(err, consent.ErrConflict):
		return httpapi.Conflict("another change to the same record came first; read it again and retry")
	}
	return nil
}

// titled gives an *consent.InvalidError its own title (e.g. "Invalid
// purpose"); other errors pass.
func titled(title string, err error) error {
	var ie *consent.InvalidError
	if errors.As(err, &ie) {
		return &httpapi.Error{Status: http.StatusBadRequest, Slug: "invalid-request", Title: title, Detail: ie.Public(), Cause: err}
	}
	return err
}
