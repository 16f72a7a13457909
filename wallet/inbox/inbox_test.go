package inbox_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/internal/db/dbtest"
	"github.com/cedula/cedula/wallet/inbox"
	"github.com/cedula/cedula/wallet/inbox/sqlstore"
)

// sealer binds data to subject and label and hides nothing: enough to see
// that the inbox seals and opens with the right ones (audit.Shredder's own
// tests cover the encryption).
type sealer struct {
	mu     sync.Mutex
	erased map[string]bool
}

func (s *sealer) SealData(_ context.Context, subject, label string, data []byte) ([]byte, error) {
	return append([]byte(subject+"|"+label+"|"), reverse(data)...), nil
}

func (s *sealer) OpenData(_ context.Context, subject, label string, sealed []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := []byte(subject + "|" + label + "|")
	if s.erased[subject] || !bytes.HasPrefix(sealed, p) {
		return nil, errors.New("cannot open")
	}
	return reverse(sealed[len(p):]), nil
}

func reverse(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		out[len(b)-1-i] = c
	}
	return out
}

func newService(t *testing.T, d *db.DB, se *sealer) *inbox.Service {
	t.Helper()
	s, err := inbox.New(inbox.Config{Store: sqlstore.New(d), Sealer: se, Subject: func(id string) string { return "ps-" + id },
		Poll: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

func note(kind inbox.Kind, title string) inbox.Note {
	return inbox.Note{Kind: kind, Title: map[string]string{"en": title, "es": title + " (es)"}}
}

func TestInbox(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		se := &sealer{}
		s := newService(t, d, se)
		var ids []string
		for i := range 5 {
			n := note(inbox.CredentialReceived, fmt.Sprintf("m%d", i))
			n.CredentialID = fmt.Sprintf("wc-%d", i)
			m, ok, err := s.Post(ctx, "ana", n)
			if err != nil || !ok || m.Seq == 0 || m.ID == "" {
				t.Fatalf("post %d: %+v %v %v", i, m, ok, err)
			}
			ids = append(ids, m.ID)
		}
		if _, ok, err := s.Post(ctx, "beto", note(inbox.ConsentRenewal, "b")); err != nil || !ok {
			t.Fatal(ok, err)
		}
		// One of a kind: the same Dedupe posts once per citizen.
		n := note(inbox.CredentialSuspended, "s")
		n.Dedupe = "suspended:wc-1:1"
		if _, ok, err := s.Post(ctx, "ana", n); err != nil || !ok {
			t.Fatal(ok, err)
		}
		if _, ok, err := s.Post(ctx, "ana", n); err != nil || ok {
			t.Errorf("the same note again: posted %v, %v; want not posted", ok, err)
		}
		if _, ok, err := s.Post(ctx, "beto", n); err != nil || !ok {
			t.Errorf("the same note to another citizen: posted %v, %v; want posted", ok, err)
		}
		if _, _, err := s.Post(ctx, "ana", inbox.Note{Kind: inbox.CredentialReceived}); err == nil {
			t.Error("a note without a title was posted")
		}

		// Newest first, in pages, Ana's only, opened.
		page, err := s.Messages(ctx, "ana", 0, 4, false)
		if err != nil || len(page) != 4 || page[0].Kind != inbox.CredentialSuspended || page[1].Title["en"] != "m4" ||
			page[1].Title["es"] != "m4 (es)" || page[1].CredentialID != "wc-4" {
			t.Fatalf("first page: %+v %v", page, err)
		}
		rest, err := s.Messages(ctx, "ana", page[3].Seq, 4, false)
		if err != nil || len(rest) != 2 || rest[0].Title["en"] != "m1" || rest[1].Title["en"] != "m0" {
			t.Fatalf("second page: %+v %v", rest, err)
		}
		// Read, then acknowledged: each time set once.
		if _, err := s.MarkRead(ctx, "beto", ids[0]); !errors.Is(err, inbox.ErrNotFound) {
			t.Errorf("Beto marks Ana's message: %v, want ErrNotFound", err)
		}
		r1, err := s.MarkRead(ctx, "ana", ids[0])
		if err != nil || r1.ReadAt.IsZero() || !r1.AckedAt.IsZero() {
			t.Fatalf("read: %+v %v", r1, err)
		}
		time.Sleep(2 * time.Millisecond)
		a1, err := s.Acknowledge(ctx, "ana", ids[0])
		if err != nil || !a1.ReadAt.Equal(r1.ReadAt) || a1.AckedAt.IsZero() || !a1.AckedAt.After(r1.ReadAt) {
			t.Fatalf("ack: %+v %v, want read at %v kept", a1, err, r1.ReadAt)
		}
		unread, err := s.Messages(ctx, "ana", 0, 100, true)
		if err != nil || len(unread) != 5 {
			t.Fatalf("unread: %d %v, want 5", len(unread), err)
		}
		for _, m := range unread {
			if m.ID == ids[0] {
				t.Error("the read message is listed as unread")
			}
		}
		if m, err := s.Message(ctx, "ana", ids[2]); err != nil || m.Title["en"] != "m2" {
			t.Errorf("get: %+v %v", m, err)
		}
		if _, err := s.Message(ctx, "beto", ids[2]); !errors.Is(err, inbox.ErrNotFound) {
			t.Errorf("Beto gets Ana's message: %v", err)
		}
		// What a stream resumed after the second message missed.
		after, err := s.After(ctx, "ana", page[4-1].Seq-1, 100)
		if err != nil || len(after) == 0 || after[0].Seq != page[3].Seq {
			t.Fatalf("after: %+v %v", after, err)
		}
		for i := 1; i < len(after); i++ {
			if after[i].Seq <= after[i-1].Seq || after[i].CitizenID != "ana" {
				t.Fatalf("after: out of order or not Ana's: %+v", after)
			}
		}
		// A row whose sealed note was moved from another row is refused.
		if _, err := d.ExecContext(ctx, `UPDATE inbox_messages SET sealed = (SELECT sealed FROM inbox_messages WHERE id = $1) WHERE id = $2`,
			ids[3], ids[4]); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Message(ctx, "ana", ids[4]); err == nil {
			t.Error("a note moved to another row was opened")
		}
	}, sqlstore.Migrations)
}

// TestStreams: streams on two replicas of one database get the messages
// posted on either, their citizen's only, in order; a stream that falls
// behind is dropped; Cancel ends one.
func TestStreams(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		se := &sealer{}
		a, b := newService(t, d, se), newService(t, d, se)
		// A message posted before the streams open is not theirs.
		if _, _, err := a.Post(ctx, "ana", note(inbox.CredentialReceived, "old")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		onA, onB, beto := a.Subscribe("ana"), b.Subscribe("ana"), b.Subscribe("beto")
		defer onA.Cancel()
		defer onB.Cancel()
		defer beto.Cancel()
		if a.Streams() != 1 || b.Streams() != 2 {
			t.Fatalf("streams: %d and %d, want 1 and 2", a.Streams(), b.Streams())
		}
		for i := range 3 {
			by := a
			if i%2 == 1 {
				by = b
			}
			if _, _, err := by.Post(ctx, "ana", note(inbox.CredentialReceived, fmt.Sprintf("n%d", i))); err != nil {
				t.Fatal(err)
			}
		}
		for name, sub := range map[string]*inbox.Subscription{"replica a": onA, "replica b": onB} {
			var last int64
			for i := range 3 {
				select {
				case m := <-sub.C():
					if m.Title["en"] != fmt.Sprintf("n%d", i) || m.Seq <= last || m.CitizenID != "ana" {
						t.Fatalf("%s: message %d is %+v", name, i, m)
					}
					last = m.Seq
				case <-time.After(10 * time.Second):
					t.Fatalf("%s: message %d never came", name, i)
				}
			}
		}
		select {
		case m := <-beto.C():
			t.Fatalf("Beto's stream got %+v", m)
		case <-time.After(100 * time.Millisecond):
		}

		// A stream nobody reads is dropped once its buffer is full; the
		// others go on.
		slow := a.Subscribe("carla")
		fast := a.Subscribe("carla")
		got := make(chan int, 1)
		go func() {
			n := 0
			for {
				select {
				case <-fast.C():
					n++
				case <-fast.Gone():
					got <- -1
					return
				}
				if n == 100 {
					got <- n
					return
				}
			}
		}()
		for i := range 100 {
			if _, _, err := b.Post(ctx, "carla", note(inbox.CredentialReceived, fmt.Sprint(i))); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case <-slow.Gone():
		case <-time.After(10 * time.Second):
			t.Fatal("the slow stream was not dropped")
		}
		if n := <-got; n != 100 {
			t.Fatalf("the reading stream got %d of 100 messages", n)
		}
		fast.Cancel()
		onA.Cancel()
		if a.Streams() != 0 {
			t.Errorf("streams on a after cancels: %d", a.Streams())
		}
		select {
		case <-onA.Gone():
		default:
			t.Error("a cancelled stream is not gone")
		}
	}, sqlstore.Migrations)
}
