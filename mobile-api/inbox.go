package mobileapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/wallet/inbox"
)

// Inbox is the citizens' inbox (*inbox.Service). Every method acts on
// citizenID's own messages only: another's id is inbox.ErrNotFound.
type Inbox interface {
	Messages(ctx context.Context, citizenID string, before int64, limit int, unread bool) ([]inbox.Message, error)
	Message(ctx context.Context, citizenID, id string) (inbox.Message, error)
	MarkRead(ctx context.Context, citizenID, id string) (inbox.Message, error)
	Acknowledge(ctx context.Context, citizenID, id string) (inbox.Message, error)
	// After returns the citizen's messages numbered above after, oldest
	// first, up to limit.
	After(ctx context.Context, citizenID string, after int64, limit int) ([]inbox.Message, error)
	// Subscribe streams the citizen's messages posted from now on.
	Subscribe(citizenID string) *inbox.Subscription
}

// noMessage is the answer for an id that names none of the citizen's
// messages.
func noMessage(err error) error {
	if errors.Is(err, inbox.ErrNotFound) {
		return httpapi.NotFound("you have no message of that id").WithCause(err)
	}
	return err
}

// Journeys is the journeys room as the inbox needs it.
type Journeys interface {
	// Genuine says whether a message's seal verifies with its sender
	// agency's key for exactly this text.
	Genuine(ctx context.Context, agency, code, text string) bool
	// Respond records the citizen's answer to a message that asked, named
	// by its ref; ErrNoQuestion-wrapping when nothing waits for it.
	Respond(ctx context.Context, citizenID, ref, answer string) error
}

// ErrNoQuestion is what Journeys.Respond returns for a message nothing
// waits an answer to (the app maps its own error to it).
var ErrNoQuestion = errors.New("mobileapi: no journey waits for an answer to this message")

// genuine returns the check of a message's sender for a request.
func (a *API) genuine(ctx context.Context) func(s *inbox.Sender, text string) bool {
	return func(s *inbox.Sender, text string) bool {
		return a.cfg.Journeys != nil && a.cfg.Journeys.Genuine(ctx, s.Agency, s.Code, text)
	}
}

// inboxMessage is m as the API shows it, its texts in lang; genuine
// checks an agency's message's seal.
func inboxMessage(m inbox.Message, lang string, genuine func(*inbox.Sender, string) bool) InboxMessage {
	out := InboxMessage{Id: m.ID, EventId: strconv.FormatInt(m.Seq, 10), Kind: string(m.Kind), Title: text(m.Title, lang),
		CreatedAt: m.At.UTC()}
	b := text(m.Body, lang)
	if b != "" {
		out.Body = &b
	}
	if s := m.Sender; s != nil {
		out.Sender = &struct {
			Agency   string `json:"agency"`
			Code     string `json:"code"`
			Name     string `json:"name"`
			Verified bool   `json:"verified"`
		}{Agency: s.Agency, Code: s.Code, Name: s.Name, Verified: genuine(s, b)}
	}
	if w := m.Why; w != nil {
		out.Why = &struct {
			Alert         *string `json:"alert,omitempty"`
			ConsentRecord *string `json:"consent_record,omitempty"`
			Journey       *string `json:"journey,omitempty"`
			LegalBasis    string  `json:"legal_basis"`
			Purpose       string  `json:"purpose"`
			Rule          *string `json:"rule,omitempty"`
		}{Alert: opt(w.Alert), ConsentRecord: opt(w.ConsentRecord), Journey: opt(w.Journey), LegalBasis: w.LegalBasis, Purpose: w.Purpose, Rule: opt(w.Rule)}
	}
	if m.Ask {
		out.Ask = &m.Ask
	}
	if m.CredentialID != "" {
		out.CredentialId = &m.CredentialID
	}
	if m.Purpose != "" {
		out.Purpose = &m.Purpose
	}
	if !m.ReadAt.IsZero() {
		t := m.ReadAt.UTC()
		out.ReadAt = &t
	}
	if !m.AckedAt.IsZero() {
		t := m.AckedAt.UTC()
		out.AckedAt = &t
	}
	return out
}

// text picks lang's text, else Spanish, else English, else any.
func text(by map[string]string, lang string) string {
	for _, l := range []string{lang, "es", "en"} {
		if t, ok := by[l]; ok {
			return t
		}
	}
	for _, t := range by {
		return t
	}
	return ""
}

// ListInbox pages the citizen's messages, newest first.
func (a *API) ListInbox(ctx context.Context, req ListInboxRequestObject) (ListInboxResponseObject, error) {
	who := callerOf(ctx)
	var before int64
	if req.Params.Cursor != nil {
		p, err := decodeCursor(*req.Params.Cursor)
		if err == nil && p.at <= 0 {
			err = errors.New("mobileapi: cursor before the first message")
		}
		if err != nil {
			return nil, badCursor(err)
		}
		before = p.at
	}
	limit := 20
	if req.Params.Limit != nil {
		limit = *req.Params.Limit
	}
	unread := req.Params.Unread != nil && *req.Params.Unread
	// One more than the page: whether there is a next page.
	ms, err := a.cfg.Inbox.Messages(ctx, who.citizenID, before, limit+1, unread)
	if err != nil {
		return nil, err
	}
	page := InboxPage{Items: make([]InboxMessage, 0, min(len(ms), limit))}
	for i, m := range ms {
		if i == limit {
			next := position{at: ms[i-1].Seq, id: ms[i-1].ID}.cursor()
			page.NextCursor = &next
			break
		}
		page.Items = append(page.Items, inboxMessage(m, who.lang, a.genuine(ctx)))
	}
	tag, fresh := etag(page, req.Params.IfNoneMatch)
	if fresh {
		return ListInbox304Response{Headers: NotModifiedResponseHeaders{ETag: &tag}}, nil
	}
	return ListInbox200JSONResponse{Body: page, Headers: ListInbox200ResponseHeaders{ETag: &tag}}, nil
}

// GetInboxMessage returns one of the citizen's messages.
func (a *API) GetInboxMessage(ctx context.Context, req GetInboxMessageRequestObject) (GetInboxMessageResponseObject, error) {
	who := callerOf(ctx)
	m, err := a.cfg.Inbox.Message(ctx, who.citizenID, req.Id)
	if err != nil {
		return nil, noMessage(err)
	}
	body := inboxMessage(m, who.lang, a.genuine(ctx))
	tag, fresh := etag(body, req.Params.IfNoneMatch)
	if fresh {
		return GetInboxMessage304Response{Headers: NotModifiedResponseHeaders{ETag: &tag}}, nil
	}
	return GetInboxMessage200JSONResponse{Body: body, Headers: GetInboxMessage200ResponseHeaders{ETag: &tag}}, nil
}

// ReadInboxMessage marks one of the citizen's messages read.
func (a *API) ReadInboxMessage(ctx context.Context, req ReadInboxMessageRequestObject) (ReadInboxMessageResponseObject, error) {
	who := callerOf(ctx)
	m, err := a.cfg.Inbox.MarkRead(ctx, who.citizenID, req.Id)
	if err != nil {
		return nil, noMessage(err)
	}
	return ReadInboxMessage200JSONResponse(inboxMessage(m, who.lang, a.genuine(ctx))), nil
}

// AckInboxMessage marks one of the citizen's messages acknowledged.
func (a *API) AckInboxMessage(ctx context.Context, req AckInboxMessageRequestObject) (AckInboxMessageResponseObject, error) {
	who := callerOf(ctx)
	m, err := a.cfg.Inbox.Acknowledge(ctx, who.citizenID, req.Id)
	if err != nil {
		return nil, noMessage(err)
	}
	return AckInboxMessage200JSONResponse(inboxMessage(m, who.lang, a.genuine(ctx))), nil
}

// RespondInboxMessage records the citizen's answer to a message that asks,
// and acknowledges it.
func (a *API) RespondInboxMessage(ctx context.Context, req RespondInboxMessageRequestObject) (RespondInboxMessageResponseObject, error) {
	who := callerOf(ctx)
	m, err := a.cfg.Inbox.Message(ctx, who.citizenID, req.Id)
	if err != nil {
		return nil, noMessage(err)
	}
	if !m.Ask || a.cfg.Journeys == nil {
		return nil, httpapi.NotFound("that message asks nothing")
	}
	ref := m.Ref
	if ref == "" {
		ref = m.ID
	}
	if err := a.cfg.Journeys.Respond(ctx, who.citizenID, ref, string(req.Body.Answer)); errors.Is(err, ErrNoQuestion) {
		return nil, httpapi.NotFound("nothing waits for an answer to that message any more").WithCause(err)
	} else if err != nil {
		return nil, err
	}
	if m, err = a.cfg.Inbox.Acknowledge(ctx, who.citizenID, req.Id); err != nil {
		return nil, noMessage(err)
	}
	return RespondInboxMessage200JSONResponse(inboxMessage(m, who.lang, a.genuine(ctx))), nil
}

// A write that blocks longer than streamWrite ends a stream; a resume
// reads streamBacklog messages at once.
const (
	streamWrite   = 30 * time.Second
	streamBacklog = 500
)

// StreamInbox opens the citizen's stream: subscribed first, then the
// messages after Last-Event-ID read, so that none posted meanwhile is
// missed (the stream skips what it sent already).
func (a *API) StreamInbox(ctx context.Context, req StreamInboxRequestObject) (StreamInboxResponseObject, error) {
	who := callerOf(ctx)
	last := req.Params.LastEventID
	if last == nil {
		last = req.Params.LastEventId
	}
	st := &inboxStream{ctx: ctx, in: a.cfg.Inbox, who: who, until: who.expires, beat: a.cfg.StreamHeartbeat, live: a.cfg.TokenLive,
		genuine: a.genuine(ctx)}
	if a.cfg.Alerts != nil {
		// Subscribed before the alerts in force are read, so that none
		// published meanwhile is missed (one may come twice: the app
		// keys alerts by key and status).
		st.alerts, st.stopAlerts = a.cfg.Alerts.Subscribe()
		var err error
		if st.active, err = a.cfg.Alerts.Active(ctx); err != nil {
			st.stopAlerts()
			return nil, err
		}
	}
	if last != nil {
		n, err := strconv.ParseInt(*last, 10, 64)
		if err != nil || n < 0 {
			return nil, httpapi.BadRequest("Last-Event-ID is not an event_id of this stream")
		}
		st.after, st.resume = n, true
	}
	st.sub = a.cfg.Inbox.Subscribe(who.citizenID)
	if st.resume {
		var err error
		if st.backlog, err = a.cfg.Inbox.After(ctx, who.citizenID, st.after, streamBacklog); err != nil {
			st.sub.Cancel()
			if st.stopAlerts != nil {
				st.stopAlerts()
			}
			return nil, err
		}
	}
	return st, nil
}

// streamLimit holds each citizen to Config.MaxStreams open streams: past
// it, 429 with Retry-After. The stream counts until its handler returns.
func (a *API) streamLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := callerOf(c.Request().Context()).citizenID
		if !a.openStream(id) {
			c.Response().Header().Set("Retry-After", "30")
			return &httpapi.Error{Status: http.StatusTooManyRequests, Slug: "too-many-streams", Title: "Too many streams",
				Detail: fmt.Sprintf("this citizen holds %d inbox streams open already; close one first", a.cfg.MaxStreams)}
		}
		defer a.closeStream(id)
		return next(c)
	}
}

// openStream counts a citizen's new stream, unless they hold MaxStreams.
func (a *API) openStream(citizenID string) bool {
	a.streamsMu.Lock()
	defer a.streamsMu.Unlock()
	if a.streams[citizenID] >= a.cfg.MaxStreams {
		return false
	}
	a.streams[citizenID]++
	return true
}

func (a *API) closeStream(citizenID string) {
	a.streamsMu.Lock()
	defer a.streamsMu.Unlock()
	if a.streams[citizenID]--; a.streams[citizenID] <= 0 {
		delete(a.streams, citizenID)
	}
}

// inboxStream writes the stream (text/event-stream): the backlog, then
// what the subscription brings, until the request ends, the token
// expires, the subscription is dropped or a write fails.
type inboxStream struct {
	ctx     context.Context
	in      Inbox
	who     caller
	until   time.Time
	after   int64
	resume  bool
	sub     *inbox.Subscription
	backlog []inbox.Message
	beat    time.Duration
	live    func(ctx context.Context, tokenID string) (bool, error)
	genuine func(*inbox.Sender, string) bool
	// alerts brings the public alerts published from now on; active are
	// those in force when the stream opened.
	alerts     <-chan json.RawMessage
	stopAlerts func()
	active     []json.RawMessage
}

func (s *inboxStream) VisitStreamInboxResponse(w http.ResponseWriter) error {
	defer s.sub.Cancel()
	rc := http.NewResponseController(w)
	// The server's read deadline was for the request: a stream outlives
	// it, and a read timing out would end the stream's context.
	_ = rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // proxies: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	write := func(b []byte) error {
		_ = rc.SetWriteDeadline(time.Now().Add(streamWrite))
		if _, err := w.Write(b); err != nil {
			return err
		}
		return rc.Flush()
	}
	// The reconnection delay an EventSource waits, and the headers out.
	if err := write([]byte("retry: 3000\n\n")); err != nil {
		return nil
	}
	send := func(m inbox.Message) error {
		if m.Seq <= s.after {
			return nil
		}
		b, err := json.Marshal(inboxMessage(m, s.who.lang, s.genuine))
		if err != nil {
			return err
		}
		s.after = m.Seq
		return write(fmt.Appendf(nil, "id: %d\nevent: message\ndata: %s\n\n", m.Seq, b))
	}
	for s.resume {
		for _, m := range s.backlog {
			if err := send(m); err != nil {
				return nil
			}
		}
		if len(s.backlog) < streamBacklog {
			break
		}
		var err error
		if s.backlog, err = s.in.After(s.ctx, s.who.citizenID, s.after, streamBacklog); err != nil {
			return nil
		}
	}
	if s.stopAlerts != nil {
		defer s.stopAlerts()
	}
	sendAlert := func(b json.RawMessage) error {
		return write(fmt.Appendf(nil, "event: alert\ndata: %s\n\n", b))
	}
	for _, b := range s.active {
		if err := sendAlert(b); err != nil {
			return nil
		}
	}
	beat := time.NewTicker(s.beat)
	defer beat.Stop()
	var expired <-chan time.Time
	if !s.until.IsZero() {
		t := time.NewTimer(time.Until(s.until))
		defer t.Stop()
		expired = t.C
	}
	for {
		select {
		case <-s.ctx.Done():
			return nil
		case <-s.sub.Gone():
			return nil
		case <-expired:
			return nil
		case <-beat.C:
			// A token revoked meanwhile (the citizen logged the app out)
			// ends the stream; a failing check does not.
			if s.live != nil {
				if ok, err := s.live(s.ctx, s.who.tokenID); err == nil && !ok {
					return nil
				}
			}
			if err := write([]byte(": keep-alive\n\n")); err != nil {
				return nil
			}
		case m := <-s.sub.C():
			if err := send(*m); err != nil {
				return nil
			}
		case b, ok := <-s.alerts:
			if !ok {
				return nil // fell behind: the app reconnects and gets those in force
			}
			if err := sendAlert(b); err != nil {
				return nil
			}
		}
	}
}
