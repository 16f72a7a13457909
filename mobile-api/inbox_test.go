package mobileapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cedula/cedula/internal/scopes"
	"github.com/cedula/cedula/issuer"
	mobileapi "github.com/cedula/cedula/mobile-api"
	"github.com/cedula/cedula/mobile-api/mobileclient"
	"github.com/cedula/cedula/wallet/inbox"
)

func post(t *testing.T, e *env, citizenID string, kind inbox.Kind, title string) inbox.Message {
	t.Helper()
	m, ok, err := e.inbox.Post(context.Background(), citizenID, inbox.Note{Kind: kind, CredentialID: "a1",
		Title: map[string]string{"en": title, "es": title + " (es)"}, Body: map[string]string{"en": "body of " + title}})
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	return m
}

type inboxMessage struct {
	ID, EventID, Kind, Title, Body, CredentialID, Purpose string
	ReadAt, AckedAt                                       *time.Time
}

func (m *inboxMessage) UnmarshalJSON(b []byte) error {
	var raw struct {
		ID           string     `json:"id"`
		EventID      string     `json:"event_id"`
		Kind         string     `json:"kind"`
		Title        string     `json:"title"`
		Body         string     `json:"body"`
		CredentialID string     `json:"credential_id"`
		Purpose      string     `json:"purpose"`
		ReadAt       *time.Time `json:"read_at"`
		AckedAt      *time.Time `json:"acked_at"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*m = inboxMessage{raw.ID, raw.EventID, raw.Kind, raw.Title, raw.Body, raw.CredentialID, raw.Purpose, raw.ReadAt, raw.AckedAt}
	return nil
}

// TestInbox: the citizen's messages, newest first in pages, in the asked
// language; read and acknowledged once; another citizen's not found.
func TestInbox(t *testing.T) {
	e := newEnv(t)
	var ms []inbox.Message
	for i := range 5 {
		ms = append(ms, post(t, e, "cit-a", inbox.CredentialReceived, fmt.Sprintf("m%d", i)))
	}
	theirs := post(t, e, "cit-b", inbox.CredentialRevoked, "b's")

	var page struct {
		Items      []inboxMessage `json:"items"`
		NextCursor string         `json:"next_cursor"`
	}
	r := e.do("GET", "/mobile/v1/inbox?limit=3", "DPoP tok-a", "", "Accept-Language", "en").want(t, 200)
	if err := json.Unmarshal(r.Body.Bytes(), &page); err != nil || len(page.Items) != 3 || page.NextCursor == "" ||
		page.Items[0].Title != "m4" || page.Items[0].Body != "body of m4" || page.Items[0].Kind != "credential_received" ||
		page.Items[0].CredentialID != "a1" || page.Items[0].EventID != fmt.Sprint(ms[4].Seq) {
		t.Fatalf("first page: %s", r.Body)
	}
	tag := r.Header().Get("ETag")
	e.do("GET", "/mobile/v1/inbox?limit=3", "DPoP tok-a", "", "Accept-Language", "en", "If-None-Match", tag).want(t, 304)
	r = e.do("GET", "/mobile/v1/inbox?limit=3&cursor="+page.NextCursor, "DPoP tok-a", "", "Accept-Language", "es").want(t, 200)
	page.NextCursor = ""
	if err := json.Unmarshal(r.Body.Bytes(), &page); err != nil || len(page.Items) != 2 || page.NextCursor != "" ||
		page.Items[0].Title != "m1 (es)" || page.Items[1].Title != "m0 (es)" || page.Items[1].Body != "body of m0" {
		t.Fatalf("second page (es, the body in English only): %s", r.Body)
	}
	e.do("GET", "/mobile/v1/inbox?cursor=zzz", "DPoP tok-a", "").want(t, 400)

	// Another citizen's message: not found, whatever the operation.
	for _, op := range [][2]string{{"GET", ""}, {"POST", "/read"}, {"POST", "/ack"}} {
		e.do(op[0], "/mobile/v1/inbox/"+theirs.ID+op[1], "DPoP tok-a", "").want(t, 404)
	}
	var m inboxMessage
	r = e.do("POST", "/mobile/v1/inbox/"+ms[1].ID+"/read", "DPoP tok-a", "").want(t, 200)
	if err := json.Unmarshal(r.Body.Bytes(), &m); err != nil || m.ReadAt == nil || m.AckedAt != nil {
		t.Fatalf("read: %s", r.Body)
	}
	first := *m.ReadAt
	r = e.do("POST", "/mobile/v1/inbox/"+ms[1].ID+"/ack", "DPoP tok-a", "").want(t, 200)
	if err := json.Unmarshal(r.Body.Bytes(), &m); err != nil || m.ReadAt == nil || !m.ReadAt.Equal(first) || m.AckedAt == nil {
		t.Fatalf("ack: %s, want it read at %v still", r.Body, first)
	}
	r = e.do("GET", "/mobile/v1/inbox?unread=true&limit=100", "DPoP tok-a", "").want(t, 200)
	if err := json.Unmarshal(r.Body.Bytes(), &page); err != nil || len(page.Items) != 4 {
		t.Fatalf("unread: %s", r.Body)
	}
	for _, it := range page.Items {
		if it.ID == ms[1].ID {
			t.Error("a read message is listed unread")
		}
	}
	r = e.do("GET", "/mobile/v1/inbox", "DPoP tok-b", "").want(t, 200)
	if err := json.Unmarshal(r.Body.Bytes(), &page); err != nil || len(page.Items) != 1 || page.Items[0].ID != theirs.ID {
		t.Fatalf("Beto's inbox: %s", r.Body)
	}
}

// event is one Server-Sent Event.
type event struct {
	id, typ string
	msg     inboxMessage
}

// stream opens GET /inbox/events with tok and header pairs, and returns
// its events as they come; the channel closes when the stream ends.
func stream(t *testing.T, url, tok string, header ...string) (<-chan event, *http.Response, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/mobile/v1/inbox/events", nil)
	req.Header.Set("Authorization", tok)
	req.Header.Set("DPoP", "proof")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ch := make(chan event, 100)
	if res.StatusCode != 200 {
		close(ch)
		return ch, res, cancel
	}
	go func() {
		defer close(ch)
		for ev := range mobileclient.Events(res.Body) {
			out := event{id: ev.ID, typ: ev.Type}
			if err := json.Unmarshal([]byte(ev.Data), &out.msg); err != nil {
				t.Errorf("event data %q: %v", ev.Data, err)
			}
			ch <- out
		}
	}()
	return ch, res, cancel
}

func next(t *testing.T, ch <-chan event) event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("the stream ended")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event came")
	}
	return event{}
}

// TestInboxStream: the stream carries the citizen's new messages (not
// another's), each with its event id; resumed with Last-Event-ID it
// first gives what was missed, once; it ends when the token expires or is
// revoked.
func TestInboxStream(t *testing.T) {
	var revoked atomic.Bool
	e := newEnv(t)
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	post(t, e, "cit-a", inbox.CredentialReceived, "before")

	ch, res, cancel := stream(t, srv.URL, "DPoP tok-a", "Accept-Language", "en")
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("stream headers: %v", res.Header)
	}
	time.Sleep(50 * time.Millisecond)
	post(t, e, "cit-b", inbox.CredentialRevoked, "not Ana's")
	m1 := post(t, e, "cit-a", inbox.CredentialSuspended, "suspended")
	ev := next(t, ch)
	if ev.typ != "message" || ev.id != fmt.Sprint(m1.Seq) || ev.msg.ID != m1.ID || ev.msg.Title != "suspended" || ev.msg.Kind != "credential_suspended" {
		t.Fatalf("first event: %+v, want %s (the one before the stream opened is not sent)", ev, m1.ID)
	}
	cancel()
	for range ch {
	}

	// Missed while away: two messages; resumed from m1 they come first,
	// then the live ones, none twice.
	m2 := post(t, e, "cit-a", inbox.CredentialExpiring, "expiring")
	m3 := post(t, e, "cit-a", inbox.ConsentRenewal, "renewal")
	ch, _, cancel = stream(t, srv.URL, "DPoP tok-a", "Last-Event-ID", ev.id)
	defer cancel()
	for _, want := range []inbox.Message{m2, m3} {
		if got := next(t, ch); got.msg.ID != want.ID || got.msg.Title != want.Title["es"] {
			t.Fatalf("resumed: %+v, want %s in Spanish", got, want.ID)
		}
	}
	m4 := post(t, e, "cit-a", inbox.CredentialValid, "live")
	if got := next(t, ch); got.msg.ID != m4.ID {
		t.Fatalf("live after the backlog: %+v, want %s", got, m4.ID)
	}
	// The query parameter, for clients that cannot set the header.
	req, _ := http.NewRequest("GET", srv.URL+"/mobile/v1/inbox/events?last_event_id="+fmt.Sprint(m3.Seq), nil)
	req.Header.Set("Authorization", "DPoP tok-a")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(res.Body)
	found := false
	for !found && sc.Scan() {
		found = strings.Contains(sc.Text(), m4.ID)
	}
	res.Body.Close()
	if !found {
		t.Errorf("last_event_id=%d did not give %s", m3.Seq, m4.ID)
	}

	// Refused before any stream starts.
	for _, h := range [][]string{{"Last-Event-ID", "abc"}, {"Last-Event-ID", "-1"}} {
		_, res, c := stream(t, srv.URL, "DPoP tok-a", h...)
		c()
		if res.StatusCode != 400 {
			t.Errorf("Last-Event-ID %q: %d, want 400", h[1], res.StatusCode)
		}
	}
	_, res, c := stream(t, srv.URL, "DPoP nope")
	c()
	if res.StatusCode != 401 || !strings.Contains(res.Header.Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("unknown token: %d %v", res.StatusCode, res.Header)
	}

	// A token revoked: the stream ends at the next heartbeat.
	tokens["DPoP tok-revoked"] = issuer.AccessToken{ID: "at-revoked", ClientID: "app", Subject: "sub-a", CitizenID: "cit-a",
		Scopes: []string{scopes.Wallet}, JKT: "jkt-a"}
	defer delete(tokens, "DPoP tok-revoked")
	live := newEnv(t, func(c *mobileapi.Config) {
		c.StreamHeartbeat = 50 * time.Millisecond
		c.TokenLive = func(_ context.Context, id string) (bool, error) { return id != "at-revoked" || !revoked.Load(), nil }
	})
	lsrv := httptest.NewServer(live.h)
	defer lsrv.Close()
	rch, _, c4 := stream(t, lsrv.URL, "DPoP tok-revoked")
	defer c4()
	time.Sleep(200 * time.Millisecond)
	select {
	case <-rch:
		t.Fatal("the stream ended while its token was good")
	default:
	}
	revoked.Store(true)
	select {
	case _, ok := <-rch:
		if ok {
			t.Error("an event on the revoked stream")
		}
	case <-time.After(10 * time.Second):
		t.Error("the stream outlived its token's revocation")
	}

	// A token about to expire: the stream ends when it does.
	tokens["DPoP tok-short"] = issuer.AccessToken{ClientID: "app", Subject: "sub-a", CitizenID: "cit-a", Scopes: []string{scopes.Wallet},
		JKT: "jkt-a", Expiration: time.Now().Add(300 * time.Millisecond)}
	defer delete(tokens, "DPoP tok-short")
	short, _, c3 := stream(t, srv.URL, "DPoP tok-short")
	defer c3()
	select {
	case _, ok := <-short:
		if ok {
			t.Error("an event on the short stream")
		}
	case <-time.After(10 * time.Second):
		t.Error("the stream outlived its token")
	}
}

// TestInboxStreamLimit: a citizen holds at most MaxStreams streams open;
// past it, 429 with Retry-After; a closed stream frees its place; another
// citizen's count is theirs.
func TestInboxStreamLimit(t *testing.T) {
	e := newEnv(t, func(c *mobileapi.Config) { c.MaxStreams = 2 })
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	_, r1, c1 := stream(t, srv.URL, "DPoP tok-a")
	defer c1()
	_, r2, c2 := stream(t, srv.URL, "DPoP tok-a")
	defer c2()
	_, r3, c3 := stream(t, srv.URL, "DPoP tok-a")
	c3()
	if r1.StatusCode != 200 || r2.StatusCode != 200 || r3.StatusCode != http.StatusTooManyRequests || r3.Header.Get("Retry-After") == "" {
		t.Fatalf("three streams: %d, %d, %d (Retry-After %q); want 200, 200, 429 with Retry-After", r1.StatusCode, r2.StatusCode, r3.StatusCode,
			r3.Header.Get("Retry-After"))
	}
	_, rb, cb := stream(t, srv.URL, "DPoP tok-b")
	defer cb()
	if rb.StatusCode != 200 {
		t.Errorf("another citizen's stream: %d", rb.StatusCode)
	}
	c1()
	for i := 0; ; i++ {
		_, r, c := stream(t, srv.URL, "DPoP tok-a")
		c()
		if r.StatusCode == 200 {
			break
		}
		if i == 100 {
			t.Fatalf("after closing one: %d, want its place free", r.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
