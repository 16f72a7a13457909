package delivery_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/internal/db/dbtest"
	"github.com/cedula/cedula/journeys/delivery"
	"github.com/cedula/cedula/journeys/delivery/sqlstore"
)

// The crash test's worker runs in a child process: the test binary again,
// with these variables set.
const (
	crashWorker   = "CEDULA_DELIVERY_CRASH_WORKER" // the database's URL
	crashKeystore = "CEDULA_DELIVERY_CRASH_KEYSTORE"
	crashMail     = "CEDULA_DELIVERY_CRASH_SMTP_PORT"
	crashHook     = "CEDULA_DELIVERY_CRASH_HOOK"
)

// crashLease is the child's lease: the second worker takes what the
// child held once it has passed.
const crashLease = 3 * time.Second

func TestMain(m *testing.M) {
	if url := os.Getenv(crashWorker); url != "" {
		if err := runCrashWorker(url); err != nil {
			fmt.Fprintln(os.Stderr, "crash worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runCrashWorker drains the outbox at url until it is killed.
func runCrashWorker(url string) error {
	ctx := context.Background()
	d, err := db.Open(ctx, url)
	if err != nil {
		return err
	}
	port, err := strconv.Atoi(os.Getenv(crashMail))
	if err != nil {
		return err
	}
	e := &env{d: d, log: &recorder{}, mail: &mailServer{port: port}, inbox: &poster{posts: map[string]int{}}}
	e.store = sqlstore.New(d, e.log)
	if e.sealer, err = newShredder(d, os.Getenv(crashKeystore)); err != nil {
		return err
	}
	svc, err := crashService(e, os.Getenv(crashHook), time.Now)
	if err != nil {
		return err
	}
	for {
		n, err := svc.Deliver(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
	}
}

// crashService is an outbox with the crash test's lease and receivers.
func crashService(e *env, hook string, now func() time.Time) (*delivery.Service, error) {
	m, err := delivery.NewMail(delivery.MailConfig{Host: "127.0.0.1", Port: e.mail.port, From: "avisos@cedula.example", Timeout: 5 * time.Second})
	if err != nil {
		return nil, err
	}
	sms, err := delivery.NewGateway(delivery.GatewayConfig{URL: hook + "/sms", Timeout: 5 * time.Second, Dev: true})
	if err != nil {
		return nil, err
	}
	return delivery.New(delivery.Config{Store: e.store, Sealer: e.sealer, Pseudonym: pseudonyms.Of, Lease: crashLease, Now: now, Logger: quiet,
		Senders: map[delivery.Channel]delivery.Sender{delivery.Email: m, delivery.SMS: sms, delivery.Inbox: delivery.InboxSender{Poster: e.inbox}}})
}

// TestCrash: a worker killed (SIGKILL) in the middle of a large outbox
// loses nothing: a second worker, once the first one's leases expired,
// sends the rest, and what the first had sent without recording it is
// sent again under the same key — every delivery reached its receiver,
// and counting unique Message-IDs and Idempotency-Keys, exactly once.
func TestCrash(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("the crash test runs a worker process over 500 deliveries")
	}
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			url := t.TempDir() + "/cedula.db"
			if name == "postgres" {
				url = dbtest.PostgresURL(t)
			}
			testCrash(t, url)
		})
	}
}

func testCrash(t *testing.T, url string) {
	ctx := context.Background()
	d := openMigrated(t, url)
	keystore := t.TempDir() + "/keystore.json"
	e := newEnv(t, d, envOptions{keystore: keystore})
	e.clock.Set(time.Now())
	const n = 500
	ids := e.fill(t, n, "crash")
	// Slow receivers, so that the kill finds messages taken but not yet
	// answered.
	e.mail.mu.Lock()
	e.mail.delay = 20 * time.Millisecond
	e.mail.mu.Unlock()
	e.hook.mu.Lock()
	e.hook.delay = 20 * time.Millisecond
	e.hook.mu.Unlock()
	unique := func() (int, int) {
		u, all := 0, 0
		for _, m := range []map[string]int{e.mail.ids(), e.hook.keys()} {
			for _, c := range m {
				u++
				all += c
			}
		}
		return u, all
	}

	var out bytes.Buffer
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashWorker+"="+url, crashKeystore+"="+keystore, crashMail+"="+strconv.Itoa(e.mail.port), crashHook+"="+e.hook.URL)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(2 * time.Minute)
wait:
	for {
		select {
		case err := <-exited:
			t.Fatalf("the worker ended before it was killed (%v): %s", err, out.String())
		case <-deadline:
			cmd.Process.Kill()
			t.Fatalf("the worker sent too little in 2 minutes: %s", out.String())
		case <-time.After(time.Millisecond):
			if u, _ := unique(); u >= n/3 {
				break wait
			}
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited
	time.Sleep(50 * time.Millisecond) // the receivers finish what was in flight
	beforeU, beforeAll := unique()
	var sentRows, leased int
	if err := d.QueryRowContext(ctx, `SELECT count(*) FROM journeys_deliveries WHERE status = 'sent'`).Scan(&sentRows); err != nil {
		t.Fatal(err)
	}
	if err := d.QueryRowContext(ctx, `SELECT count(*) FROM journeys_deliveries WHERE status = 'pending' AND lease <> ''`).Scan(&leased); err != nil {
		t.Fatal(err)
	}

	// The second worker, after the child's leases expired.
	later := func() time.Time { return time.Now().Add(crashLease + time.Second) }
	svc, err := crashService(e, e.hook.URL, later)
	if err != nil {
		t.Fatal(err)
	}
	e.mail.mu.Lock()
	e.mail.delay = 0
	e.mail.mu.Unlock()
	e.hook.mu.Lock()
	e.hook.delay = 0
	e.hook.mu.Unlock()
	e.drain(t, svc)

	afterU, afterAll := unique()
	t.Logf("killed after %d of %d received (%d recorded sent, %d held under a lease); then %d unique of %d receipts: %d sent twice",
		beforeU, n, sentRows, leased, afterU, afterAll, afterAll-afterU)
	if beforeU >= n {
		t.Errorf("got every delivery received before the kill, want the kill mid-way")
	}
	if afterU != n {
		t.Errorf("got %d unique keys at the receivers, want %d", afterU, n)
	}
	if beforeAll != beforeU {
		t.Errorf("got %d receipts of %d keys before the kill, want none twice (one worker)", beforeAll, beforeU)
	}
	for id, ch := range ids {
		got, err := e.store.Delivery(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if r := e.received(ch, id); got.Status != delivery.StatusSent || r < 1 || got.Payload != nil {
			t.Errorf("%s: got %s, %d receipts, payload %d bytes; want sent, at least one, dropped", id, got.Status, r, len(got.Payload))
		}
	}
}
