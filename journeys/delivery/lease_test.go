package delivery_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/internal/db/dbtest"
	"github.com/cedula/cedula/journeys/delivery"
	"github.com/cedula/cedula/journeys/delivery/sqlstore"
)

// TestLease: a claimed delivery is no other claim's until its lease
// expires; then another worker takes it, and the first one's outcome is
// refused.
func TestLease(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		e := newEnv(t, d, envOptions{})
		ids, err := e.svc.Enqueue(ctx, request("lease", "ana"))
		if err != nil {
			t.Fatal(err)
		}
		now := e.clock.Now()
		steps := []struct {
			name     string
			at       time.Duration
			lease    string
			attempts int // of the claimed delivery; 0: none claimed
		}{
			{"first claim", 0, "A", 1},
			{"during A's lease", 30 * time.Second, "B", 0},
			{"after A's lease", 61 * time.Second, "B", 2},
			{"during B's lease", 90 * time.Second, "C", 0},
		}
		for _, st := range steps {
			ds, err := e.store.Claim(ctx, now.Add(st.at), now.Add(st.at+time.Minute), st.lease, 10)
			if err != nil {
				t.Fatal(err)
			}
			got := 0
			if len(ds) == 1 && ds[0].ID == ids[0] {
				got = ds[0].Attempts
			}
			if len(ds) > 1 || got != st.attempts {
				t.Errorf("%s: got %d deliveries (attempts %d), want attempts %d", st.name, len(ds), got, st.attempts)
			}
		}
		if err := e.store.Sent(ctx, ids[0], "A", now); !errors.Is(err, delivery.ErrLeaseLost) {
			t.Errorf("A's outcome: got %v, want ErrLeaseLost", err)
		}
		if err := e.store.Sent(ctx, ids[0], "B", now); err != nil {
			t.Errorf("B's outcome: got %v, want nil", err)
		}
		if err := e.store.Retry(ctx, ids[0], "B", now, "late"); !errors.Is(err, delivery.ErrLeaseLost) {
			t.Errorf("an outcome after the end: got %v, want ErrLeaseLost", err)
		}
	}, migrations...)
}

// TestTwoWorkers: two workers, each with its own connection pool, drain
// one outbox at once; each delivery reaches its receiver exactly once.
func TestTwoWorkers(t *testing.T) {
	open := map[string]func(t *testing.T) (*db.DB, *db.DB){
		"postgres": func(t *testing.T) (*db.DB, *db.DB) {
			u := dbtest.PostgresURL(t)
			return openMigrated(t, u), openMigrated(t, u)
		},
		"sqlite": func(t *testing.T) (*db.DB, *db.DB) {
			path := t.TempDir() + "/cedula.db"
			return openMigrated(t, path), openMigrated(t, path)
		},
	}
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			d1, d2 := open[name](t)
			keystore := t.TempDir() + "/keystore.json"
			e := newEnv(t, d1, envOptions{keystore: keystore})
			// The second worker: its own pool, store, sealer and log, the
			// same receivers.
			e2 := &env{d: d2, log: &recorder{}, clock: e.clock, mail: e.mail, hook: e.hook, inbox: e.inbox}
			e2.store = sqlstore.New(d2, e2.log)
			e2.sealer = shredder(t, d2, keystore)
			e2.svc = e2.service(t, e.clock.Now, envOptions{})
			const n = 200
			all := e.fill(t, n, "two")
			var wg sync.WaitGroup
			for _, w := range []*env{e, e2} {
				wg.Go(func() { w.drain(t, w.svc) })
			}
			wg.Wait()
			for id, ch := range all {
				if got := e.received(ch, id); got != 1 {
					t.Errorf("%s: got %d receipts, want 1", id, got)
				}
			}
			sent := func(r *recorder) int {
				n := 0
				for _, a := range r.actions() {
					if a == delivery.ActionSent {
						n++
					}
				}
				return n
			}
			if a, b := sent(e.log), sent(e2.log); a+b != n {
				t.Errorf("got %d + %d sent entries, want %d in all", a, b, n)
			} else {
				t.Logf("worker 1 sent %d, worker 2 sent %d", a, b)
			}
		})
	}
}

func openMigrated(t *testing.T, url string) *db.DB {
	t.Helper()
	d, err := db.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := d.Migrate(context.Background(), migrations...); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestMailTLS: a relay that offers STARTTLS gets the message over TLS
// after AUTH PLAIN; RequireTLS refuses a relay that does not offer it;
// a relay that is not there is a temporary failure.
func TestMailTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	secure, plain := startMail(t, &cert), startMail(t, nil)
	cases := []struct {
		name    string
		cfg     delivery.MailConfig
		reason  string // "" for sent
		overTLS int
	}{
		{"STARTTLS and AUTH", delivery.MailConfig{Port: secure.port, Username: "cedula", Password: "secret",
			TLS: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}, "", 1},
		{"STARTTLS, wrong password", delivery.MailConfig{Port: secure.port, Username: "cedula", Password: "wrong",
			TLS: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}, "smtp 454 4.7.0", 0},
		{"STARTTLS, untrusted certificate", delivery.MailConfig{Port: secure.port}, "smtp starttls", 0},
		{"plain relay", delivery.MailConfig{Port: plain.port}, "", 0},
		{"plain relay, TLS required", delivery.MailConfig{Port: plain.port, RequireTLS: true}, "smtp: no starttls", 0},
		{"no relay", delivery.MailConfig{Port: 1}, "smtp connect", 0},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Host, tc.cfg.From, tc.cfg.Timeout = "127.0.0.1", "avisos@cedula.example", 5*time.Second
			m, err := delivery.NewMail(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			key := fmt.Sprintf("dl-tls-%d", i)
			err = m.Send(context.Background(), delivery.Outgoing{Key: key, Channel: delivery.Email, To: "ana@example.org", Message: message()})
			var f *delivery.Failure
			switch {
			case tc.reason == "" && err != nil:
				t.Errorf("got %v, want sent", err)
			case tc.reason != "" && (!errors.As(err, &f) || f.Reason != tc.reason || f.Permanent):
				t.Errorf("got %v, want a temporary failure %q", err, tc.reason)
			}
			srv := secure
			if tc.cfg.Port == plain.port {
				srv = plain
			}
			srv.mu.Lock()
			overTLS := srv.overTLS
			srv.mu.Unlock()
			if tc.reason == "" && (srv.count(m.MessageID(key)) != 1 || overTLS != tc.overTLS) {
				t.Errorf("got %d messages (%d over TLS), want 1 (%d)", srv.count(m.MessageID(key)), overTLS, tc.overTLS)
			}
		})
	}
}

// TestGatewayURL: a gateway is https, or http for development only;
// without Dev a loopback gateway is refused on connection (netguard).
func TestGatewayURL(t *testing.T) {
	cases := []struct {
		url string
		dev bool
		ok  bool
	}{
		{"https://sms.example/send", false, true},
		{"http://sms.example/send", false, false},
		{"http://127.0.0.1:8025/send", true, true},
		{"https://user:pw@sms.example/send", false, false},
		{"https://sms.example/send#x", false, false},
		{"/send", false, false},
	}
	for _, tc := range cases {
		_, err := delivery.NewGateway(delivery.GatewayConfig{URL: tc.url, Dev: tc.dev})
		if (err == nil) != tc.ok {
			t.Errorf("%s (dev %v): got %v, want ok %v", tc.url, tc.dev, err, tc.ok)
		}
	}
	h := startHook(t)
	g, err := delivery.NewGateway(delivery.GatewayConfig{URL: "https" + h.URL[len("http"):]})
	if err != nil {
		t.Fatal(err)
	}
	err = g.Send(context.Background(), delivery.Outgoing{Key: "dl-x", Channel: delivery.SMS, To: "+59899000000", Message: message()})
	var f *delivery.Failure
	if !errors.As(err, &f) || f.Reason != "address refused" {
		t.Errorf("a loopback gateway in production: got %v, want a refusal", err)
	}
}
