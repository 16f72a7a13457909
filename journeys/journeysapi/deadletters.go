package journeysapi

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/journeys/delivery"
)

// The dead letters of an agency's messages: deliveries the outbox gave up
// after their attempts (a channel down for hours, an address that bounces).
// The agency's operators list them — what, on which channel, why, never to
// whom — and, once the channel works, send one again or give it up.

// deadLetter is a dead letter as the API shows it: nothing of the citizen
// or the message.
type deadLetter struct {
	ID         string    `json:"id"`
	Channel    string    `json:"channel"`
	Purpose    string    `json:"purpose"`
	LegalBasis string    `json:"legal_basis"`
	Urgent     bool      `json:"urgent"`
	Attempts   int       `json:"attempts"`
	Reason     string    `json:"reason"`
	Created    time.Time `json:"created"`
	Died       time.Time `json:"died"`
}

// deadLetters lists a page of the caller's dead letters, the latest first.
func (a *API) deadLetters(c httpapi.Context) error {
	q := c.QueryParams()
	if len(q["limit"]) > 1 || len(q["cursor"]) > 1 {
		return httpapi.BadRequest("limit and cursor are given once")
	}
	limit := 100
	if q.Has("limit") {
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil || n < 1 || n > 500 {
			return httpapi.BadRequest("limit is a number from 1 to 500")
		}
		limit = n
	}
	before, err := readCursor(q.Get("cursor"))
	if err != nil {
		return err
	}
	ds, next, err := a.cfg.Outbox.DeadLetters(c.Request().Context(), httpapi.CallerOf(c).ClientID, before, limit)
	if err != nil {
		return err
	}
	out := struct {
		DeadLetters []deadLetter `json:"dead_letters"`
		Next        string       `json:"next_cursor,omitempty"`
	}{DeadLetters: []deadLetter{}}
	for _, d := range ds {
		out.DeadLetters = append(out.DeadLetters, deadLetter{ID: d.ID, Channel: string(d.Channel), Purpose: d.Purpose, LegalBasis: d.LegalBasis,
			Urgent: d.Urgent, Attempts: d.Attempts, Reason: d.Reason, Created: d.Created, Died: d.Done})
	}
	if next.ID != "" {
		out.Next = base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(next.Done.UnixMicro(), 10) + "." + next.ID))
	}
	return httpapi.JSON(c, http.StatusOK, out)
}

// readCursor reads a next_cursor of deadLetters ("" for the first page).
func readCursor(s string) (delivery.Cursor, error) {
	if s == "" {
		return delivery.Cursor{}, nil
	}
	bad := httpapi.BadRequest("cursor is not one this API gave")
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) > 200 {
		return delivery.Cursor{}, bad
	}
	micros, id, ok := strings.Cut(string(b), ".")
	n, err := strconv.ParseInt(micros, 10, 64)
	if !ok || err != nil || !printable(id) {
		return delivery.Cursor{}, bad
	}
	return delivery.Cursor{Done: time.UnixMicro(n).UTC(), ID: id}, nil
}

// printable reports whether s is a non-empty run of printable ASCII, as
// the outbox's ids are: a NUL or bytes that are not UTF-8 would reach the
// database (PostgreSQL refuses them with an error, not a row).
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return s != ""
}

// requeue sends a dead letter again.
func (a *API) requeue(c httpapi.Context) error {
	if err := a.cfg.Outbox.Requeue(c.Request().Context(), httpapi.CallerOf(c).ClientID, c.Param("delivery")); err != nil {
		return err
	}
	return httpapi.JSON(c, http.StatusAccepted, map[string]string{"id": c.Param("delivery"), "status": string(delivery.StatusPending)})
}

// discard gives a dead letter up.
func (a *API) discard(c httpapi.Context) error {
	if err := a.cfg.Outbox.Discard(c.Request().Context(), httpapi.CallerOf(c).ClientID, c.Param("delivery")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
