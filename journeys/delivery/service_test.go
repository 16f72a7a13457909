package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/internal/db/dbtest"
	"github.com/cedula/cedula/journeys/delivery"
)

const text = "Su certificado vence el 30 de abril. Renuévelo en línea.\n\nCódigo de verificación: ABCD-EFGH-JKMN."

func message() delivery.Message {
	return delivery.Message{Lang: "es", Subject: "Su certificado vence pronto — renovación", Body: text}
}

func request(key, citizen string, chans ...delivery.Channel) delivery.Request {
	return delivery.Request{Key: key, CitizenID: citizen, Channels: chans, Message: message(),
		Agency: "dnic", Purpose: "ServiceProvision", LegalBasis: "public-task"}
}

// TestOutcomes: each channel's answers lead to sent, retried (5 s
// doubling, or the gateway's Retry-After) or dead; the payload is
// dropped once it is sent (a dead letter keeps it); each outcome appends its entry, naming
// the citizen by pseudonym and nothing of the address.
func TestOutcomes(t *testing.T) {
	cases := []struct {
		name        string
		ch          delivery.Channel
		contacts    delivery.Contacts
		script      []int // the gateway's answers before a 200
		maxAttempts int
		status      delivery.Status
		waits       []time.Duration
		reason      string
		actions     []string
	}{
		{name: "email sent", ch: delivery.Email, contacts: delivery.Contacts{Email: "ana@example.org"},
			status: delivery.StatusSent, actions: []string{delivery.ActionSent}},
		{name: "email 451 then sent", ch: delivery.Email, contacts: delivery.Contacts{Email: "busy@example.org"},
			status: delivery.StatusSent, waits: []time.Duration{5 * time.Second}, actions: []string{delivery.ActionRetry, delivery.ActionSent}},
		{name: "email 550 dead", ch: delivery.Email, contacts: delivery.Contacts{Email: "bounce@example.org"},
			status: delivery.StatusDead, reason: "smtp 550 5.1.1", actions: []string{delivery.ActionDead}},
		{name: "sms sent", ch: delivery.SMS, contacts: delivery.Contacts{Phone: "+59899000001"},
			status: delivery.StatusSent, actions: []string{delivery.ActionSent}},
		{name: "sms 503 then sent", ch: delivery.SMS, contacts: delivery.Contacts{Phone: "+59899000002"}, script: []int{503},
			status: delivery.StatusSent, waits: []time.Duration{5 * time.Second}, actions: []string{delivery.ActionRetry, delivery.ActionSent}},
		{name: "sms 500 twice, 5 s then 10 s", ch: delivery.SMS, contacts: delivery.Contacts{Phone: "+59899000003"}, script: []int{500, 500},
			status: delivery.StatusSent, waits: []time.Duration{5 * time.Second, 10 * time.Second},
			actions: []string{delivery.ActionRetry, delivery.ActionRetry, delivery.ActionSent}},
		{name: "sms 408 retried", ch: delivery.SMS, contacts: delivery.Contacts{Phone: "+59899000004"}, script: []int{408},
			status: delivery.StatusSent, waits: []time.Duration{5 * time.Second}, actions: []string{delivery.ActionRetry, delivery.ActionSent}},
		{name: "sms 429 waits its Retry-After", ch: delivery.SMS, contacts: delivery.Contacts{Phone: "+59899000005"}, script: []int{429},
			status: delivery.StatusSent, waits: []time.Duration{30 * time.Second}, actions: []string{delivery.ActionRetry, delivery.ActionSent}},
		{name: "sms 404 dead", ch: delivery.SMS, contacts: delivery.Contacts{Phone: "+59899000006"}, script: []int{404},
			status: delivery.StatusDead, reason: "http 404", actions: []string{delivery.ActionDead}},
		{name: "sms 503 until dead after 3 attempts", ch: delivery.SMS, contacts: delivery.Contacts{Phone: "+59899000007"},
			script: []int{503, 503, 503, 503}, maxAttempts: 3, status: delivery.StatusDead, reason: "http 503",
			waits: []time.Duration{5 * time.Second, 10 * time.Second}, actions: []string{delivery.ActionRetry, delivery.ActionRetry, delivery.ActionDead}},
		{name: "push timeout then sent", ch: delivery.Push, contacts: delivery.Contacts{Push: "device-token-1"}, script: []int{0},
			status: delivery.StatusSent, waits: []time.Duration{5 * time.Second}, actions: []string{delivery.ActionRetry, delivery.ActionSent}},
		{name: "inbox", ch: delivery.Inbox, status: delivery.StatusSent, actions: []string{delivery.ActionSent}},
	}
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		e := newEnv(t, d, envOptions{timeout: time.Second})
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				svc := e.svc
				if tc.maxAttempts != 0 {
					svc = e.service(t, e.clock.Now, envOptions{maxAttempts: tc.maxAttempts, timeout: time.Second})
				}
				citizen := fmt.Sprintf("citizen-%d", i)
				chans := []delivery.Channel{tc.ch}
				if tc.ch == delivery.Inbox {
					chans = nil
				}
				p := delivery.DefaultPrefs()
				p.Channels, p.Contacts = chans, tc.contacts
				if err := svc.SetPrefs(ctx, citizen, p); err != nil {
					t.Fatal(err)
				}
				e.hook.mu.Lock()
				e.hook.script[tc.contacts.To(tc.ch)] = tc.script
				e.hook.mu.Unlock()
				ids, err := svc.Enqueue(ctx, request("case:"+tc.name, citizen, tc.ch))
				if err != nil || len(ids) != 1 {
					t.Fatalf("Enqueue: got %v, %v; want one ID", ids, err)
				}
				id := ids[0]
				var waits []time.Duration
				var got delivery.Delivery
				for range 10 {
					e.drain(t, svc)
					if got, err = e.store.Delivery(ctx, id); err != nil {
						t.Fatal(err)
					}
					if got.Status != delivery.StatusPending {
						break
					}
					waits = append(waits, got.NextAt.Sub(e.clock.Now()))
					e.clock.Set(got.NextAt)
				}
				if got.Status != tc.status || got.Reason != tc.reason || !slices.Equal(waits, tc.waits) {
					t.Errorf("got %s (%q) after waits %v, want %s (%q) after %v", got.Status, got.Reason, waits, tc.status, tc.reason, tc.waits)
				}
				if want := len(tc.actions); got.Attempts != want {
					t.Errorf("got %d attempts, want %d", got.Attempts, want)
				}
				if tc.status == delivery.StatusSent && got.Payload != nil {
					t.Errorf("got a payload of %d bytes after the delivery was sent, want it dropped", len(got.Payload))
				}
				if tc.status == delivery.StatusDead && got.Payload == nil {
					t.Errorf("a dead letter lost its payload; want it kept to be sent again")
				}
				var actions []string
				for _, en := range e.log.got {
					if en.RequestID != id {
						continue
					}
					actions = append(actions, en.Action)
					if en.Subject != pseudonyms.Of(citizen) || strings.Contains(fmt.Sprintf("%+v", en), "example.org") ||
						strings.Contains(fmt.Sprintf("%+v", en), "+598") || strings.Contains(fmt.Sprintf("%+v", en), "certificado") {
						t.Errorf("got entry %+v, want the citizen's pseudonym and no address or text", en)
					}
				}
				if !slices.Equal(actions, tc.actions) {
					t.Errorf("got entries %v, want %v", actions, tc.actions)
				}
				want := 0
				if tc.status == delivery.StatusSent {
					want = 1
				}
				if n := e.received(tc.ch, id); n != want {
					t.Errorf("got %d receipts of %s, want %d", n, id, want)
				}
			})
		}

	}, migrations...)
}

// received is how many times a receiver took the delivery id.
func (e *env) received(ch delivery.Channel, id string) int {
	switch ch {
	case delivery.Email:
		return e.mail.count("<" + id + "@cedula.example>")
	case delivery.Inbox:
		return e.inbox.count(id)
	}
	return e.hook.count(id)
}

// TestContent: what each receiver gets is the message as given — outside
// the wallet followed by why, in the wallet with its meta — with the
// delivery's ID as its idempotency key.
func TestContent(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		e := newEnv(t, d, envOptions{})
		p := delivery.DefaultPrefs()
		p.Channels = []delivery.Channel{delivery.Email, delivery.SMS, delivery.Push}
		p.Contacts = delivery.Contacts{Email: "ana@example.org", Phone: "+59899123456", Push: "tok-1"}
		if err := e.svc.SetPrefs(ctx, "ana", p); err != nil {
			t.Fatal(err)
		}
		m := message()
		m.Meta = []byte(`{"sender":{"agency":"dnic"}}`)
		m.Why = "Recibe este mensaje por «Renovación de documentos», de DNIC."
		r := request("content", "ana", delivery.Email, delivery.SMS, delivery.Push, delivery.Inbox)
		r.Message = m
		ids, err := e.svc.Enqueue(ctx, r)
		if err != nil || len(ids) != 4 {
			t.Fatalf("Enqueue: got %v, %v; want four IDs", ids, err)
		}
		e.drain(t, e.svc)
		msgID := "<" + ids[0] + "@cedula.example>"
		e.mail.mu.Lock()
		em, body := e.mail.last[msgID], e.mail.bodies[msgID]
		e.mail.mu.Unlock()
		if em == nil {
			t.Fatalf("got no email with Message-ID %s", msgID)
		}
		checks := []struct{ what, got, want string }{
			{"email Subject", subjectOf(em), m.Subject},
			{"email body", strings.ReplaceAll(body, "\r\n", "\n"), text + "\n\n" + m.Why + "\n"},
			{"email To", em.Header.Get("To"), "<ana@example.org>"},
			{"email Content-Type", em.Header.Get("Content-Type"), "text/plain; charset=utf-8"},
			{"email Content-Transfer-Encoding", em.Header.Get("Content-Transfer-Encoding"), "quoted-printable"},
			{"sms path", e.hook.bodies[ids[1]]["path"], "/sms"},
			{"sms to", e.hook.bodies[ids[1]]["to"], "+59899123456"},
			{"sms text", e.hook.bodies[ids[1]]["text"], text + "\n\n" + m.Why},
			{"sms title", e.hook.bodies[ids[1]]["title"], ""},
			{"push to", e.hook.bodies[ids[2]]["to"], "tok-1"},
			{"push title", e.hook.bodies[ids[2]]["title"], m.Subject},
			{"push text", e.hook.bodies[ids[2]]["text"], text + "\n\n" + m.Why},
			{"inbox body", e.inbox.last[ids[3]].Body, text},
			{"inbox meta", string(e.inbox.last[ids[3]].Meta), string(m.Meta)},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("%s: got %q, want %q", c.what, c.got, c.want)
			}
		}
	}, migrations...)
}

// TestEnqueue: the channels a request goes to, from the citizen's
// preferences; a request enqueued twice stores and audits once; nothing
// of the payload is stored in the clear.
func TestEnqueue(t *testing.T) {
	both := delivery.Contacts{Email: "ana@example.org", Phone: "+59899123456"}
	cases := []struct {
		name     string
		prefs    *delivery.Prefs
		asked    []delivery.Channel
		channels []delivery.Channel
	}{
		{name: "no preferences: inbox", channels: []delivery.Channel{delivery.Inbox}},
		{name: "preferred: the first", prefs: &delivery.Prefs{Channels: []delivery.Channel{delivery.SMS, delivery.Email}, Lang: "es", Contacts: both},
			channels: []delivery.Channel{delivery.SMS}},
		{name: "preferred: email only", prefs: &delivery.Prefs{Channels: []delivery.Channel{delivery.Email}, Lang: "en", Contacts: both},
			channels: []delivery.Channel{delivery.Email}},
		{name: "asked for two it has", prefs: &delivery.Prefs{Lang: "es", Contacts: both}, asked: []delivery.Channel{delivery.Email, delivery.SMS},
			channels: []delivery.Channel{delivery.Email, delivery.SMS}},
		{name: "asked twice for one", prefs: &delivery.Prefs{Lang: "es", Contacts: both}, asked: []delivery.Channel{delivery.SMS, delivery.SMS},
			channels: []delivery.Channel{delivery.SMS}},
		{name: "asked for one it lacks: inbox", prefs: &delivery.Prefs{Lang: "es", Contacts: both}, asked: []delivery.Channel{delivery.Push},
			channels: []delivery.Channel{delivery.Inbox}},
		{name: "asked for one it lacks and one it has", prefs: &delivery.Prefs{Lang: "es", Contacts: both},
			asked: []delivery.Channel{delivery.Push, delivery.Email}, channels: []delivery.Channel{delivery.Email}},
	}
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		e := newEnv(t, d, envOptions{})
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				citizen := fmt.Sprintf("citizen-%d", i)
				if tc.prefs != nil {
					if err := e.svc.SetPrefs(ctx, citizen, *tc.prefs); err != nil {
						t.Fatal(err)
					}
				}
				mark := audit.Entry{Time: e.clock.Now(), Actor: audit.Actor{Kind: audit.ActorClient, ID: "dnic"}, Action: "journeys.test_step",
					Outcome: audit.Allowed, RequestID: citizen}
				r := request("journey:j1:"+citizen+":0:s1", citizen, tc.asked...)
				first, err := e.svc.Enqueue(ctx, r, mark)
				if err != nil {
					t.Fatal(err)
				}
				again, err := e.svc.Enqueue(ctx, r, mark)
				if err != nil || !slices.Equal(again, first) {
					t.Errorf("enqueued again: got %v, %v; want %v", again, err, first)
				}
				var chans []delivery.Channel
				for _, id := range first {
					got, err := e.store.Delivery(ctx, id)
					if err != nil {
						t.Fatal(err)
					}
					chans = append(chans, got.Channel)
					for _, clear := range []string{"ana@example.org", "+59899123456", "certificado", "renovación"} {
						if strings.Contains(string(got.Payload), clear) {
							t.Errorf("got %q in the clear in the stored payload", clear)
						}
					}
				}
				if !slices.Equal(chans, tc.channels) {
					t.Errorf("got channels %v, want %v", chans, tc.channels)
				}
				var rows, marks int
				if err := d.QueryRowContext(ctx, `SELECT count(*) FROM journeys_deliveries WHERE citizen_id = $1`, citizen).Scan(&rows); err != nil {
					t.Fatal(err)
				}
				for _, en := range e.log.got {
					if en.RequestID == citizen {
						marks++
					}
				}
				if rows != len(tc.channels) || marks != 1 {
					t.Errorf("got %d rows and %d caller's entries, want %d and 1", rows, marks, len(tc.channels))
				}
			})
		}
	}, migrations...)
}

// TestPrefs: preferences round-trip with their contacts sealed at rest;
// invalid ones are refused, naming each problem and quoting no address.
func TestPrefs(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		e := newEnv(t, d, envOptions{})
		want := delivery.Prefs{Channels: []delivery.Channel{delivery.Push, delivery.Email}, Lang: "en",
			Quiet: delivery.Quiet{From: 23 * 60, To: 7*60 + 30}, Zone: "Europe/Madrid",
			Contacts: delivery.Contacts{Email: "ana@example.org", Phone: "+59899123456", Push: "tok-1"}}
		if err := e.svc.SetPrefs(ctx, "ana", want); err != nil {
			t.Fatal(err)
		}
		got, err := e.svc.Prefs(ctx, "ana")
		if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("got %+v, %v; want %+v", got, err, want)
		}
		var sealed []byte
		if err := d.QueryRowContext(ctx, `SELECT contacts FROM journeys_delivery_prefs WHERE citizen_id = 'ana'`).Scan(&sealed); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(sealed), "example.org") || strings.Contains(string(sealed), "+598") {
			t.Error("got contacts in the clear in the table, want them sealed")
		}
		if got, err := e.svc.Prefs(ctx, "nobody"); err != nil || fmt.Sprint(got) != fmt.Sprint(delivery.DefaultPrefs()) {
			t.Errorf("got %+v, %v for a citizen without preferences, want the defaults", got, err)
		}

		bad := []struct {
			name string
			p    delivery.Prefs
			want string
		}{
			{"unknown channel", delivery.Prefs{Channels: []delivery.Channel{"fax"}, Lang: "es"}, "not email, sms, push or inbox"},
			{"preferred without address", delivery.Prefs{Channels: []delivery.Channel{delivery.SMS}, Lang: "es"}, "has no address"},
			{"twice", delivery.Prefs{Channels: []delivery.Channel{delivery.Inbox, delivery.Inbox}, Lang: "es"}, "listed twice"},
			{"language", delivery.Prefs{Lang: "fr"}, "es or en"},
			{"zone", delivery.Prefs{Lang: "es", Zone: "Mars/Olympus"}, "IANA"},
			{"quiet hours", delivery.Prefs{Lang: "es", Quiet: delivery.Quiet{From: 25 * 60}}, "quiet hours"},
			{"email", delivery.Prefs{Lang: "es", Contacts: delivery.Contacts{Email: "Ana <ana@example.org>"}}, "plain address"},
			{"phone", delivery.Prefs{Lang: "es", Contacts: delivery.Contacts{Phone: "099 123 456"}}, "E.164"},
		}
		for _, tc := range bad {
			err := e.svc.SetPrefs(ctx, "bea", tc.p)
			if !errors.Is(err, delivery.ErrInvalid) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "example.org") {
				t.Errorf("%s: got %v, want ErrInvalid saying %q", tc.name, err, tc.want)
			}
		}
	}, migrations...)
}

// TestQuietHours: a delivery that is not urgent waits for the end of the
// citizen's quiet hours, in their zone; an urgent one goes at once; a
// retry that falls in them waits too, without counting an attempt.
func TestQuietHours(t *testing.T) {
	day := func(h, m int) time.Time { return time.Date(2026, 3, 10, h, m, 0, 0, montevideo) }
	cases := []struct {
		name   string
		at     time.Time
		urgent bool
		quiet  delivery.Quiet
		due    time.Time
		inbox  bool
	}{
		{name: "23:00 in the inbox: at once (it is silent)", at: day(23, 0), inbox: true, due: day(23, 0)},
		{name: "noon: at once", at: day(12, 0), due: day(12, 0)},
		{name: "23:00: next morning", at: day(23, 0), due: day(24+8, 0)},
		{name: "07:59: this morning", at: day(7, 59), due: day(8, 0)},
		{name: "08:00: at once", at: day(8, 0), due: day(8, 0)},
		{name: "23:00 urgent: at once", at: day(23, 0), urgent: true, due: day(23, 0)},
		{name: "13:30 in a siesta", at: day(13, 30), quiet: delivery.Quiet{From: 13 * 60, To: 16 * 60}, due: day(16, 0)},
		{name: "23:00 without quiet hours", at: day(23, 0), quiet: delivery.Quiet{From: 0, To: 0}, due: day(23, 0)},
	}
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		e := newEnv(t, d, envOptions{})
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				citizen := fmt.Sprintf("citizen-%d", i)
				p := delivery.DefaultPrefs()
				if tc.quiet != (delivery.Quiet{}) || strings.Contains(tc.name, "without") {
					p.Quiet = tc.quiet
				}
				p.Contacts.Phone = "+5989900010" + fmt.Sprint(i)
				if err := e.svc.SetPrefs(ctx, citizen, p); err != nil {
					t.Fatal(err)
				}
				e.clock.Set(tc.at)
				r := request("quiet:"+tc.name, citizen, delivery.SMS)
				if tc.inbox {
					r = request("quiet:"+tc.name, citizen, delivery.Inbox)
				}
				r.Urgent = tc.urgent
				ids, err := e.svc.Enqueue(ctx, r)
				if err != nil {
					t.Fatal(err)
				}
				e.drain(t, e.svc)
				got, _ := e.store.Delivery(ctx, ids[0])
				sentNow := got.Status == delivery.StatusSent
				if wantNow := tc.due.Equal(tc.at); sentNow != wantNow || !sentNow && !got.NextAt.Equal(tc.due) {
					t.Errorf("got %s due %s, want due %s", got.Status, got.NextAt.In(montevideo), tc.due)
				}
				e.clock.Set(tc.due)
				e.drain(t, e.svc)
				if got, _ := e.store.Delivery(ctx, ids[0]); got.Status != delivery.StatusSent || !tc.inbox && e.hook.count(ids[0]) != 1 {
					t.Errorf("at %s: got %s and %d receipts, want sent once", tc.due, got.Status, e.hook.count(ids[0]))
				}
			})
		}
		t.Run("a retry in quiet hours", func(t *testing.T) {
			p := delivery.DefaultPrefs()
			p.Contacts.Phone = "+59899000999"
			if err := e.svc.SetPrefs(ctx, "late", p); err != nil {
				t.Fatal(err)
			}
			e.hook.mu.Lock()
			e.hook.script[p.Contacts.Phone] = []int{503}
			e.hook.mu.Unlock()
			e.clock.Set(day(21, 59).Add(58 * time.Second))
			ids, err := e.svc.Enqueue(ctx, request("late", "late", delivery.SMS))
			if err != nil {
				t.Fatal(err)
			}
			e.drain(t, e.svc)
			got, _ := e.store.Delivery(ctx, ids[0])
			e.clock.Set(got.NextAt)
			e.drain(t, e.svc)
			if got, _ = e.store.Delivery(ctx, ids[0]); got.Status != delivery.StatusPending || got.Attempts != 1 || !got.NextAt.Equal(day(24+8, 0)) {
				t.Errorf("got %s after %d attempts, due %s; want pending after 1, due 08:00", got.Status, got.Attempts, got.NextAt.In(montevideo))
			}
			e.clock.Set(day(24+8, 0))
			e.drain(t, e.svc)
			if got, _ = e.store.Delivery(ctx, ids[0]); got.Status != delivery.StatusSent || got.Attempts != 2 {
				t.Errorf("got %s after %d attempts, want sent after 2", got.Status, got.Attempts)
			}
		})
	}, migrations...)
}

// TestQuietUntil: quiet hours across midnight, within a day, at a
// month's end, and none.
func TestQuietUntil(t *testing.T) {
	night := delivery.Quiet{From: 22 * 60, To: 8 * 60}
	at := func(mo time.Month, d, h, m int) time.Time { return time.Date(2026, mo, d, h, m, 0, 0, montevideo) }
	cases := []struct {
		name  string
		q     delivery.Quiet
		t     time.Time
		quiet bool
		end   time.Time
	}{
		{"before", night, at(3, 10, 21, 59), false, time.Time{}},
		{"from", night, at(3, 10, 22, 0), true, at(3, 11, 8, 0)},
		{"after midnight", night, at(3, 11, 3, 0), true, at(3, 11, 8, 0)},
		{"to", night, at(3, 11, 8, 0), false, time.Time{}},
		{"month's end", night, at(3, 31, 23, 0), true, at(4, 1, 8, 0)},
		{"within a day", delivery.Quiet{From: 60, To: 120}, at(3, 10, 1, 30), true, at(3, 10, 2, 0)},
		{"none", delivery.Quiet{From: 60, To: 60}, at(3, 10, 1, 0), false, time.Time{}},
		{"UTC instant, Montevideo hours", night, time.Date(2026, 3, 11, 2, 0, 0, 0, time.UTC), true, at(3, 11, 8, 0)},
	}
	for _, tc := range cases {
		end, quiet := tc.q.Until(tc.t, montevideo)
		if quiet != tc.quiet || !end.Equal(tc.end) {
			t.Errorf("%s: got %v until %s, want %v until %s", tc.name, quiet, end, tc.quiet, tc.end)
		}
	}
}

// TestErased: a citizen erased while a delivery waited: it cannot be
// opened any more, and is dead without anything sent.
func TestErased(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		e := newEnv(t, d, envOptions{})
		p := delivery.DefaultPrefs()
		p.Contacts.Phone = "+59899000777"
		if err := e.svc.SetPrefs(ctx, "gone", p); err != nil {
			t.Fatal(err)
		}
		ids, err := e.svc.Enqueue(ctx, request("gone", "gone", delivery.SMS))
		if err != nil {
			t.Fatal(err)
		}
		if err := e.sealer.Erase(ctx, pseudonyms.Of("gone")); err != nil {
			t.Fatal(err)
		}
		e.drain(t, e.svc)
		got, _ := e.store.Delivery(ctx, ids[0])
		if got.Status != delivery.StatusDead || got.Reason != "payload unreadable" || e.hook.count(ids[0]) != 0 {
			t.Errorf("got %s (%q), %d receipts; want dead (payload unreadable), none", got.Status, got.Reason, e.hook.count(ids[0]))
		}
	}, migrations...)
}

// TestRun: the worker loop sends what this process enqueues at once,
// without waiting for its poll, and stops with its context.
func TestRun(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, envOptions{})
		ctx, cancel := context.WithCancel(context.Background())
		stopped := make(chan struct{})
		go func() { e.svc.Run(ctx, time.Hour); close(stopped) }()
		ids, err := e.svc.Enqueue(ctx, request("run", "ana"))
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for e.inbox.count(ids[0]) == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		<-stopped
		if got := e.inbox.count(ids[0]); got != 1 {
			t.Errorf("got %d posts, want 1 without waiting for the poll", got)
		}
	}, migrations...)
}
