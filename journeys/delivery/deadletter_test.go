package delivery_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/internal/db/dbtest"
	"github.com/cedula/cedula/journeys/delivery"
)

// deadLetter enqueues an SMS to citizen that the gateway refuses (404)
// and delivers it: a dead letter.
func (e *env) deadLetter(t *testing.T, svc *delivery.Service, citizen, phone string) string {
	t.Helper()
	ctx := context.Background()
	p := delivery.DefaultPrefs()
	p.Channels, p.Contacts = []delivery.Channel{delivery.SMS}, delivery.Contacts{Phone: phone}
	if err := svc.SetPrefs(ctx, citizen, p); err != nil {
		t.Fatal(err)
	}
	e.hook.mu.Lock()
	e.hook.script[phone] = []int{404}
	e.hook.mu.Unlock()
	r := request("dead:"+citizen, citizen, delivery.SMS)
	r.Urgent = true
	ids, err := svc.Enqueue(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	e.drain(t, svc)
	if d, err := e.store.Delivery(ctx, ids[0]); err != nil || d.Status != delivery.StatusDead {
		t.Fatalf("got %s, %v; want a dead letter", d.Status, err)
	}
	return ids[0]
}

// TestDeadLetters: an agency lists its dead letters (the latest first,
// by pages; never another agency's), sends one again once its channel
// works — delivered once, with its attempts counted afresh — or gives one
// up, which drops its message; a letter that is not dead cannot be sent
// again; each change is audited under the citizen's pseudonym.
func TestDeadLetters(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		e := newEnv(t, d, envOptions{timeout: time.Second})
		var ids []string
		for _, phone := range []string{"+59899100001", "+59899100002", "+59899100003", "+59899100004", "+59899100005"} {
			ids = append(ids, e.deadLetter(t, e.svc, "dl-citizen-"+phone[len(phone)-1:], phone))
			e.clock.Set(e.clock.Now().Add(time.Minute))
		}
		// Pages of two, the latest first.
		var listed []string
		var cur delivery.Cursor
		for page := 0; ; page++ {
			ds, next, err := e.svc.DeadLetters(ctx, "dnic", cur, 2)
			if err != nil {
				t.Fatal(err)
			}
			for _, dl := range ds {
				listed = append(listed, dl.ID)
				if dl.Reason != "http 404" || dl.Channel != delivery.SMS || dl.Attempts != 1 {
					t.Errorf("got dead letter %s %s %q after %d attempts, want sms, http 404, 1", dl.ID, dl.Channel, dl.Reason, dl.Attempts)
				}
			}
			if next.ID == "" {
				break
			}
			if page > 3 {
				t.Fatal("the pages never end")
			}
			cur = next
		}
		want := slices.Clone(ids)
		slices.Reverse(want)
		if !slices.Equal(listed, want) {
			t.Errorf("listed %v, want the five latest first %v", listed, want)
		}
		if ds, _, err := e.svc.DeadLetters(ctx, "other-agency", delivery.Cursor{}, 10); err != nil || len(ds) != 0 {
			t.Errorf("another agency got %d dead letters, %v; want none", len(ds), err)
		}

		// Another agency cannot touch them.
		if err := e.svc.Requeue(ctx, "other-agency", ids[0]); !errors.Is(err, delivery.ErrNotFound) {
			t.Errorf("another agency's requeue: got %v, want ErrNotFound", err)
		}
		if err := e.svc.Discard(ctx, "other-agency", ids[0]); !errors.Is(err, delivery.ErrNotFound) {
			t.Errorf("another agency's discard: got %v, want ErrNotFound", err)
		}
		if err := e.svc.Requeue(ctx, "dnic", "dl-nope"); !errors.Is(err, delivery.ErrNotFound) {
			t.Errorf("requeue of an unknown delivery: got %v, want ErrNotFound", err)
		}

		// The gateway works again: the first is sent once.
		e.hook.mu.Lock()
		e.hook.script["+59899100001"] = nil
		e.hook.mu.Unlock()
		if err := e.svc.Requeue(ctx, "dnic", ids[0]); err != nil {
			t.Fatal(err)
		}
		e.drain(t, e.svc)
		got, err := e.store.Delivery(ctx, ids[0])
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != delivery.StatusSent || got.Attempts != 1 || got.Payload != nil || e.hook.count(ids[0]) != 1 {
			t.Errorf("after the requeue: %s after %d attempts, payload %d bytes, received %d times; want sent once, after 1 attempt, payload dropped",
				got.Status, got.Attempts, len(got.Payload), e.hook.count(ids[0]))
		}
		if err := e.svc.Requeue(ctx, "dnic", ids[0]); !errors.Is(err, delivery.ErrConflict) {
			t.Errorf("requeue of a sent delivery: got %v, want ErrConflict", err)
		}

		// The second is given up: its message goes, and it is no longer
		// listed nor sent again.
		if err := e.svc.Discard(ctx, "dnic", ids[1]); err != nil {
			t.Fatal(err)
		}
		if got, _ := e.store.Delivery(ctx, ids[1]); got.Status != delivery.StatusDiscarded || got.Payload != nil {
			t.Errorf("after the discard: %s with %d bytes of payload, want discarded, none", got.Status, len(got.Payload))
		}
		if err := e.svc.Requeue(ctx, "dnic", ids[1]); !errors.Is(err, delivery.ErrConflict) {
			t.Errorf("requeue of a discarded delivery: got %v, want ErrConflict", err)
		}
		if ds, _, _ := e.svc.DeadLetters(ctx, "dnic", delivery.Cursor{}, 10); len(ds) != 3 {
			t.Errorf("got %d dead letters after one was sent and one discarded, want 3", len(ds))
		}

		// The audit log: the agency's changes, each naming the citizen
		// by pseudonym and the delivery.
		var changes []string
		for _, en := range e.log.got {
			if en.Action == delivery.ActionRequeue || en.Action == delivery.ActionDiscard {
				changes = append(changes, en.Action+" "+en.RequestID)
				if en.Actor != (audit.Actor{Kind: audit.ActorClient, ID: "dnic"}) || en.Subject != pseudonyms.Of("dl-citizen-"+map[string]string{ids[0]: "1", ids[1]: "2"}[en.RequestID]) {
					t.Errorf("got entry %+v, want the agency as actor and the citizen's pseudonym", en)
				}
			}
		}
		if want := []string{delivery.ActionRequeue + " " + ids[0], delivery.ActionDiscard + " " + ids[1]}; !slices.Equal(changes, want) {
			t.Errorf("got entries %v, want %v", changes, want)
		}

		// Purged with the rest, after Keep.
		e.clock.Set(e.clock.Now().Add(delivery.Keep + time.Hour))
		if n, err := e.svc.Purge(ctx); err != nil || n != 5 {
			t.Errorf("Purge: got %d, %v; want the 5 settled deliveries", n, err)
		}
	}, migrations...)
}

// ledger is a test's answer to Allowed, per citizen, counting the asks.
type ledger struct {
	mu    sync.Mutex
	allow map[string]bool
	err   error
	asked map[string]int
}

func (l *ledger) allowed(_ context.Context, d delivery.Delivery) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.asked[d.CitizenID]++
	if d.PurposeID != "benefit-news" || !slices.Equal(d.Categories, []string{"income", "age"}) {
		return false, errors.New("the delivery lost its purpose or categories")
	}
	return l.allow[d.CitizenID], l.err
}

// TestConsentAtTheTurn: before each attempt the ledger is asked again
// about a delivery's purpose; a citizen who withdrew while it waited is
// not sent it (cancelled, its message dropped, the refusal audited); a
// ledger that does not answer makes it wait, no attempt counted; a
// delivery without a purpose
// is not asked about.
func TestConsentAtTheTurn(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		l := &ledger{allow: map[string]bool{"ana": true, "beto": false}, asked: map[string]int{}}
		e := newEnv(t, d, envOptions{timeout: time.Second, allowed: l.allowed})
		enqueue := func(citizen string, purpose bool) string {
			t.Helper()
			r := request("turn:"+citizen, citizen)
			if purpose {
				r.PurposeID, r.Categories = "benefit-news", []string{"income", "age"}
			}
			ids, err := e.svc.Enqueue(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			return ids[0]
		}
		ana, beto, carla := enqueue("ana", true), enqueue("beto", true), enqueue("carla", false)
		// The ledger does not answer: nothing is sent, the deliveries wait.
		l.mu.Lock()
		l.err = errors.New("ledger down")
		l.mu.Unlock()
		e.drain(t, e.svc)
		for _, id := range []string{ana, beto} {
			got, _ := e.store.Delivery(ctx, id)
			if got.Status != delivery.StatusPending || got.Attempts != 0 || !got.NextAt.After(e.clock.Now()) || e.inbox.count(id) != 0 {
				t.Errorf("with the ledger down: %s after %d attempts, due %v, received %d; want pending, no attempt counted, later, not received",
					got.Status, got.Attempts, got.NextAt, e.inbox.count(id))
			}
		}
		if e.inbox.count(carla) != 1 {
			t.Errorf("a delivery without a purpose was not sent while the ledger was down")
		}
		l.mu.Lock()
		l.err = nil
		l.mu.Unlock()
		e.clock.Set(e.clock.Now().Add(time.Minute))
		e.drain(t, e.svc)
		if got, _ := e.store.Delivery(ctx, ana); got.Status != delivery.StatusSent || e.inbox.count(ana) != 1 {
			t.Errorf("ana (still allowed): %s, received %d; want sent once", got.Status, e.inbox.count(ana))
		}
		got, _ := e.store.Delivery(ctx, beto)
		if got.Status != delivery.StatusCancelled || got.Payload != nil || e.inbox.count(beto) != 0 {
			t.Errorf("beto (withdrew): %s, %d bytes of payload, received %d; want cancelled, dropped, never received", got.Status, len(got.Payload), e.inbox.count(beto))
		}
		if l.asked["carla"] != 0 {
			t.Errorf("the ledger was asked about a delivery without a purpose")
		}
		var cancels int
		for _, en := range e.log.got {
			if en.Action == delivery.ActionCancel {
				cancels++
				if en.RequestID != beto || en.Outcome != audit.Denied || en.Subject != pseudonyms.Of("beto") {
					t.Errorf("got cancel entry %+v, want beto's delivery, denied, by pseudonym", en)
				}
			}
		}
		if cancels != 1 {
			t.Errorf("got %d cancel entries, want 1", cancels)
		}
		if _, err := e.svc.Enqueue(ctx, delivery.Request{Key: "x", CitizenID: "ana", Message: message(), Categories: []string{"income"}}); !errors.Is(err, delivery.ErrInvalid) {
			t.Errorf("categories without a purpose: got %v, want ErrInvalid", err)
		}
	}, migrations...)
}
