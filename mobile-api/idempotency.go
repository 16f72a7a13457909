package mobileapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/cedula/cedula/internal/httpapi"
)

// IdempotencyStore keeps, per citizen and Idempotency-Key, the hash of
// the request's body and, once served, the sealed answer, shared by every
// replica (mobile-api/sqlstore). Methods are safe for concurrent use.
type IdempotencyStore interface {
	// Reserve claims (r.CitizenID, r.Key) for a request. A record created
	// before r.Expired, or still pending and created before r.Abandoned,
	// is dropped first. When no record remains, Reserve stores a pending
	// one with r.Hash and returns reserved; else it returns the record
	// (pending when Sealed is nil). Two Reserves of one key never both
	// reserve it.
	Reserve(ctx context.Context, r Reservation) (rec IdempotencyRecord, reserved bool, err error)
	// Complete stores the sealed answer of a pending record; it does
	// nothing to a record that is no longer pending.
	Complete(ctx context.Context, citizenID, key string, sealed []byte) error
	// Release deletes a pending record, so that the key may be used again.
	Release(ctx context.Context, citizenID, key string) error
}

// Reservation is a request for a key (IdempotencyStore.Reserve).
type Reservation struct {
	CitizenID, Key string
	Hash           []byte // SHA-256 of the request's method, path and body
	Now            time.Time
	// Expired: records created before are gone (RecordTTL); Abandoned:
	// pending records created before belong to a request that died.
	Expired, Abandoned time.Time
}

// IdempotencyRecord is a kept request.
type IdempotencyRecord struct {
	Hash    []byte
	Sealed  []byte // nil while the request is being served
	Created time.Time
}

// RecordTTL is how long an answer is kept; PendingTTL how long a request
// may hold its key before another may take it over.
const (
	RecordTTL  = 24 * time.Hour
	PendingTTL = 2 * time.Minute
)

// kept is an answer as sealed: with the key and body hash it answers, so
// that a sealed answer moved to another row of the citizen's is refused.
type kept struct {
	Key         string `json:"key"`
	Hash        []byte `json:"hash"`
	Status      int    `json:"status"`
	ContentType string `json:"content_type"`
	Body        []byte `json:"body"`
}

// idempotent serves the POSTs that create by Idempotency-Key (draft-ietf-httpapi-
// idempotency-key-header): the same citizen, key and body get the kept
// answer again; the same key with another body 422, and 409 while the
// first request is still being served. Only a 201 is kept; any other
// outcome releases the key.
func (a *API) idempotent(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		who := callerOf(ctx)
		key := c.Request().Header.Get("Idempotency-Key")
		body, _ := c.Get(bodyKey).([]byte)
		// The operation and its path are part of what is hashed: one key
		// given to two requests (another purpose's consent, say) is a
		// reuse, not a replay of the first.
		h := sha256.New()
		h.Write([]byte(c.Request().Method + " " + c.Request().URL.Path + "\n"))
		h.Write(body)
		sum := [sha256.Size]byte(h.Sum(nil))
		now := a.now()
		rec, reserved, err := a.cfg.Idempotency.Reserve(ctx, Reservation{CitizenID: who.citizenID, Key: key, Hash: sum[:], Now: now,
			Expired: now.Add(-RecordTTL), Abandoned: now.Add(-PendingTTL)})
		if err != nil {
			return err
		}
		if !reserved {
			switch {
			case !bytes.Equal(rec.Hash, sum[:]):
				return &httpapi.Error{Status: http.StatusUnprocessableEntity, Slug: "idempotency-key-reused", Title: "Idempotency-Key reused",
					Detail: "this Idempotency-Key was used with another request body; make a new key for a new request"}
			case rec.Sealed == nil:
				c.Response().Header().Set("Retry-After", "1")
				return &httpapi.Error{Status: http.StatusConflict, Slug: "idempotency-key-in-use", Title: "Request in progress",
					Detail: "a request with this Idempotency-Key is still being served; try again shortly"}
			}
			return a.replay(c, who.citizenID, key, sum[:], rec.Sealed)
		}
		done := false
		defer func() {
			if !done {
				if err := a.cfg.Idempotency.Release(context.WithoutCancel(ctx), who.citizenID, key); err != nil {
					a.log.ErrorContext(ctx, "mobileapi: release an idempotency key", "err", err)
				}
			}
		}()
		res := c.Response()
		w := &capture{ResponseWriter: res.Writer}
		res.Writer = w
		err = next(c)
		res.Writer = w.ResponseWriter
		if err != nil || res.Status != http.StatusCreated {
			return err
		}
		done = true
		k := kept{Key: key, Hash: sum[:], Status: res.Status, ContentType: res.Header().Get("Content-Type"), Body: w.body.Bytes()}
		if err := a.keep(context.WithoutCancel(ctx), who.citizenID, k); err != nil {
			// The citizen has the answer; a retry serves the offer again,
			// which the issuer refuses as used.
			a.log.ErrorContext(ctx, "mobileapi: keep an idempotent answer", "err", err)
			done = false
		}
		return nil
	}
}

// keep seals k under the citizen's key and stores it.
func (a *API) keep(ctx context.Context, citizenID string, k kept) error {
	plain, err := json.Marshal(k)
	if err != nil {
		return err
	}
	sealed, err := a.cfg.Sealer.Seal(ctx, citizenID, labelIdempotency, plain)
	if err != nil {
		return err
	}
	return a.cfg.Idempotency.Complete(ctx, citizenID, k.Key, sealed)
}

// replay answers with a kept answer.
func (a *API) replay(c echo.Context, citizenID, key string, hash, sealed []byte) error {
	plain, err := a.cfg.Sealer.Open(c.Request().Context(), citizenID, labelIdempotency, sealed)
	if err != nil {
		return err
	}
	var k kept
	if err := json.Unmarshal(plain, &k); err != nil {
		return err
	}
	if k.Key != key || !bytes.Equal(k.Hash, hash) {
		return errors.New("mobileapi: a kept answer is not the one of its key")
	}
	return c.Blob(k.Status, k.ContentType, k.Body)
}

// capture passes a response through and keeps a copy of its body.
type capture struct {
	http.ResponseWriter
	body bytes.Buffer
}

func (w *capture) Write(b []byte) (int, error) {
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}
