package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/cedula/cedula/cmd/cedula/app"
	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/internal/config"
	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/internal/db/dbtest"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/scopes"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/oidcop"
	"github.com/cedula/cedula/journeys"
	"github.com/cedula/cedula/journeys/delivery"
)

// The crash test's agency, its purpose and journey.
const (
	crashAgency  = "crash-agency"
	crashPurpose = "crash-outreach"
	crashJourney = "crash-notice"
	// crashCitizens each get one message by email, SMS and push.
	crashCitizens = 300
	// crashKills is how many times the child is killed mid-delivery.
	crashKills = 2
)

// crashJourneyBody is the journey: a message on three channels, then a
// day's wait that keeps the citizen on it, so that an agency pushing
// again (after a push it saw no answer to) does not start it anew.
const crashJourneyBody = `{"purpose":"crash-outreach","trigger":{"event":"registry.changed"},"segment":"dependants > 0",
 "steps":[{"id":"tell","send":{"message":"notice","channels":["email","sms","push"]}},{"id":"hold","wait":"24h"}],
 "messages":{"notice":{"es":{"subject":"Un aviso de prueba","body":"Hola, {{given_name}}: este es un aviso de prueba."},
   "en":{"subject":"A test notice","body":"Hello {{given_name}}: this is a test notice."}}}}`

// TestJourneyDeliverySurvivesKill9 (issue 14): a child `cedula serve`
// delivers a large journey — 300 citizens pushed by their agency
// through PUT /journeys/registry/{sub}, each to be told by email (a real
// SMTP server), SMS and push (an https gateway the child trusts) — and
// is killed with SIGKILL twice while messages are in flight. After the
// last restart every citizen has received exactly one message on each
// channel once the receivers drop what they already took by its key
// (Message-ID, Idempotency-Key), never two different messages on one
// channel; the audit log holds one outbox journeys.deliver entry per
// delivery, naming it, and one journey step entry per citizen. What a
// killed process had sent without recording it is sent again under the
// same key: those resends are counted and reported.
//
// The outbox holds a claimed batch under a five-minute lease: after each
// kill the test moves the end of the dead process's leases to now, as
// five minutes passing would (the unit test journeys/delivery TestCrash
// does the same with a later clock).
func TestJourneyDeliverySurvivesKill9(t *testing.T) {
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			dbURL := ""
			if name == "postgres" {
				dbURL = dbtest.PostgresURL(t) // required under CI=true
			}
			testJourneyDeliveryCrash(t, dbURL)
		})
	}
}

func testJourneyDeliveryCrash(t *testing.T, dbURL string) {
	start := time.Now()
	ctx := context.Background()
	kek := strings.Repeat("c7", 32)
	t.Setenv("CEDULA_KEK", kek) // the setup below opens the same keystore
	dataDir := t.TempDir()
	port := freePort(t)
	base := fmt.Sprintf("http://localhost:%d", port)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 14))

	// The receivers, slow enough that a kill finds messages taken but
	// not yet answered.
	box := startCrashMailbox(t, 5*time.Millisecond)
	hook := startCrashGateway(t, 5*time.Millisecond)
	certFile := filepath.Join(t.TempDir(), "gateway.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hook.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"CEDULA_KEK=" + kek, "CEDULA_DATA_DIR=" + dataDir,
		"CEDULA_MAIL_RELAY=" + box.addr, "CEDULA_MAIL_FROM=avisos@cedula.example",
		"CEDULA_SMS_GATEWAY=" + hook.srv.URL + "/sms", "CEDULA_PUSH_GATEWAY=" + hook.srv.URL + "/push",
		// The gateway's certificate is the child's only root. (Its
		// loopback address is allowed because the public URL is http://,
		// a developer's server: delivery.GatewayConfig.Dev.)
		"SSL_CERT_FILE=" + certFile}
	dbAt := filepath.Join(dataDir, "cedula.db")
	if dbURL != "" {
		env = append(env, "CEDULA_DB="+dbURL)
		dbAt = dbURL
	}

	key, subs, want := seedCrashCitizens(t, dataDir, dbURL, base, crashCitizens)
	total := 3 * len(subs)
	hc := &http.Client{Timeout: 10 * time.Second}
	serve := func() (*process, *agencyAPI) {
		p := startCedula(t, env, "serve", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--public-url", base)
		waitReady(t, base)
		api, err := newAgencyAPI(ctx, hc, base, crashAgency, key, scopes.Journeys)
		if err != nil {
			t.Fatal(err)
		}
		return p, api
	}
	received := func() int { return box.tally.unique() + hook.sms.unique() + hook.push.unique() }

	pending := map[string]bool{} // subs whose push no answer acknowledged yet
	for _, s := range subs {
		pending[s] = true
	}
	var beforeKill, heldAtKill []int
	for round := range crashKills {
		p, api := serve()
		if round == 0 {
			var out map[string]any
			if err := api.put(ctx, "/journeys/"+crashJourney, []byte(crashJourneyBody), &out); err != nil {
				t.Fatalf("define the journey: %v", err)
			}
		}
		// The agency pushes while the child delivers; the kill comes
		// once a share of the messages — a third, then two thirds, give
		// or take — reached the receivers.
		stopPush := pushRegistry(ctx, api, pending)
		at := total*(round+1)/(crashKills+1) + rng.IntN(total/10) - total/20
		for deadline := time.Now().Add(60 * time.Second); received() < at; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: %d of %d messages received in 60 s, waiting for %d before the kill", round, received(), total, at)
			}
		}
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		p.cmd.Wait()
		stopPush()
		time.Sleep(50 * time.Millisecond) // the receivers finish what was in flight
		beforeKill = append(beforeKill, received())
		heldAtKill = append(heldAtKill, expireLeases(t, dbAt))
		t.Logf("round %d: killed with %d of %d messages received, %d deliveries held under the dead process's lease, %d pushes unanswered",
			round, beforeKill[round], total, heldAtKill[round], len(pending))
	}

	// The last start: the agency pushes again what it saw no answer to,
	// and the outbox finishes. Done when the log holds the outbox's entry
	// of every delivery: each is appended with the delivery's record as
	// sent, after which nothing sends it again.
	_, api := serve()
	if stop := pushRegistry(ctx, api, pending); stop() > 0 {
		t.Fatalf("%d pushes failed after the restart", len(pending))
	}
	entries := &crashLog{}
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		entries.read(t, base)
		if len(entries.sent) >= total {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 90 s: %d of %d deliveries recorded sent in the log; %d messages received", len(entries.sent), total, received())
		}
	}
	entries.read(t, base) // whatever else was numbered meanwhile

	// Every citizen: exactly one message on each channel, by key.
	resends := 0
	for _, ch := range []struct {
		name  string
		tally *crashTally
		addr  func(crashAddrs) string
	}{
		{"email", box.tally, func(a crashAddrs) string { return a.email }},
		{"sms", hook.sms, func(a crashAddrs) string { return a.phone }},
		{"push", hook.push, func(a crashAddrs) string { return a.device }},
	} {
		keys, byTo, clashes, receipts := ch.tally.snapshot()
		resends += receipts - len(keys)
		if clashes > 0 {
			t.Errorf("%s: %d keys came to two different addresses", ch.name, clashes)
		}
		if len(keys) != len(subs) {
			t.Errorf("%s: %d unique keys received, want %d", ch.name, len(keys), len(subs))
		}
		missing, twice := 0, 0
		for _, a := range want {
			switch n := len(byTo[ch.addr(a)]); {
			case n == 0:
				missing++
			case n > 1:
				twice++
			}
		}
		if missing > 0 || twice > 0 || len(byTo) != len(want) {
			t.Errorf("%s: %d citizens got nothing, %d got two different messages, %d addresses written to (want %d)",
				ch.name, missing, twice, len(byTo), len(want))
		}
		// The log names each delivery the receivers took, once.
		for k := range keys {
			if entries.sent[k] != 1 {
				t.Errorf("%s: delivery received with %d outbox entries in the log, want 1", ch.name, entries.sent[k])
				break
			}
		}
	}
	for _, n := range entries.sent {
		if n != 1 {
			t.Errorf("the outbox's journeys.deliver entry of one delivery is in the log %d times", n)
			break
		}
	}
	if len(entries.sent) != total || entries.steps != len(subs) {
		t.Errorf("the log: %d outbox journeys.deliver entries (want %d, one a delivery), %d of the journey's step (want %d, one a citizen)",
			len(entries.sent), total, entries.steps, len(subs))
	}
	if beforeKill[0] == 0 || beforeKill[0] >= total {
		t.Errorf("the first kill came with %d of %d messages received, want some but not all: the kill proved nothing", beforeKill[0], total)
	}
	if beforeKill[crashKills-1] >= total {
		t.Errorf("the last kill came with every message received: it proved nothing")
	}
	t.Logf("%d citizens, %d deliveries; received before each kill %v, held under the dead lease %v; then %d resends dropped by key; %s",
		len(subs), total, beforeKill, heldAtKill, resends, time.Since(start).Round(100*time.Millisecond))
}

// crashAddrs are a test citizen's fictional addresses.
type crashAddrs struct{ email, phone, device string }

// seedCrashCitizens opens the server in this process on the child's
// data and database and registers the agency (its key returned), its
// purpose, and n citizens who consented to it, with delivery
// preferences naming email, SMS and push (no quiet hours) and a pairwise
// sub the agency knows them by. It starts no journey: the child does.
func seedCrashCitizens(t *testing.T, dataDir, dbURL, base string, n int) (*jose.ClientKey, []string, []crashAddrs) {
	t.Helper()
	ctx := context.Background()
	cfg := config.Default()
	cfg.DataDir, cfg.DB, cfg.PublicURL = dataDir, dbURL, base
	s, err := app.New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	key, err := jose.NewClientKey(keys.ES256)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := key.PublicJWKS()
	client := issuer.Client{ID: crashAgency, Name: "Crash test agency", GrantTypes: []string{issuer.GrantClientCredentials},
		AuthMethod: issuer.AuthPrivateKeyJWT, JWKS: jwks, SubjectType: issuer.SubjectPairwise, Scopes: []string{scopes.Journeys}}
	if err := s.Store.PutClient(ctx, client); err != nil {
		t.Fatal(err)
	}
	if client, err = s.Store.Client(ctx, crashAgency); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Consent.PutPurpose(ctx, consent.Purpose{ID: crashPurpose,
		Name:        consent.Text{ES: "Avisos de prueba", EN: "Test notices"},
		Description: consent.Text{ES: "Le enviamos avisos de prueba.", EN: "We send you test notices."},
		Controller:  crashAgency, LegalBasis: consent.Consent, Categories: []string{"identity", "household"},
		DPV: "dpv:PersonalisedBenefits", NoticeVersion: "1", NoticeURL: "https://crash.example/privacy"}); err != nil {
		t.Fatal(err)
	}
	subs := make([]string, n)
	addrs := make([]crashAddrs, n)
	for i := range n {
		c := issuer.Citizen{ID: issuer.NewCitizenID(), GivenName: "Prueba", FamilyName: fmt.Sprintf("Crash %d", i),
			Birthdate: "1980-01-02", Locale: "es", Created: time.Now()}
		if err := s.Store.CreateCitizen(ctx, c); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Consent.Give(ctx, consent.Request{Subject: c.ID, Purpose: crashPurpose, Method: consent.MethodWeb}); err != nil {
			t.Fatal(err)
		}
		addrs[i] = crashAddrs{email: fmt.Sprintf("c%04d@crash.example", i), phone: fmt.Sprintf("+59899%06d", i), device: fmt.Sprintf("device-%04d", i)}
		if err := s.Delivery.SetPrefs(ctx, c.ID, delivery.Prefs{Channels: []delivery.Channel{delivery.Email, delivery.SMS, delivery.Push},
			Lang: "es", Zone: delivery.DefaultZone, Contacts: delivery.Contacts{Email: addrs[i].email, Phone: addrs[i].phone, Push: addrs[i].device}}); err != nil {
			t.Fatal(err)
		}
		sub, err := s.Provider.Subject(ctx, crashAgency, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Store.PutSubject(ctx, oidcop.SubjectSector(client), sub, c.ID); err != nil {
			t.Fatal(err)
		}
		subs[i] = sub
	}
	return key, subs, addrs
}

// pushRegistry has the agency push every pending sub (PUT
// /journeys/registry/{sub}), four at a time, deleting those answered
// from pending, until done or the server goes away; the function it
// returns waits for the pushes and returns how many stay pending.
func pushRegistry(ctx context.Context, api *agencyAPI, pending map[string]bool) func() int {
	var mu sync.Mutex
	todo := make(chan string, len(pending))
	for s := range pending {
		todo <- s
	}
	close(todo)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for sub := range todo {
				var out struct {
					Entered int `json:"entered"`
				}
				if err := api.put(ctx, "/journeys/registry/"+sub, []byte(`{"attributes":{"dependants":1}}`), &out); err != nil {
					return // the server went away: the rest stay pending
				}
				mu.Lock()
				delete(pending, sub)
				mu.Unlock()
			}
		})
	}
	return func() int {
		wg.Wait()
		return len(pending)
	}
}

// put sends body with the token to path with PUT and decodes a 2xx
// answer into out.
func (a *agencyAPI) put(ctx context.Context, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, a.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	return doJSON(a.hc, req, 0, out)
}

// expireLeases ends, as five minutes passing would, the leases of the
// outbox's deliveries a killed process had claimed (status pending, a
// lease held: settling one clears its lease), and returns how many it
// held. Only while no process runs.
func expireLeases(t *testing.T, url string) int {
	t.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	res, err := d.ExecContext(ctx, `UPDATE journeys_deliveries SET next_at = $1 WHERE status = 'pending' AND lease <> ''`, db.Micros(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := res.RowsAffected()
	return int(n)
}

// crashLog reads the audit log as it grows: the outbox's journeys.deliver
// entries by delivery (their request ID), and the journey steps'
// journeys.send.
type crashLog struct {
	next  int64
	sent  map[string]int
	steps int
}

func (l *crashLog) read(t *testing.T, base string) {
	t.Helper()
	if l.sent == nil {
		l.sent = map[string]int{}
	}
	size := checkpointSize(fetch(t, base+"/audit/checkpoint"))
	for l.next < size {
		end := min(l.next+1000, size)
		var page struct {
			Entries []struct {
				Data string `json:"data"`
			} `json:"entries"`
		}
		if err := json.Unmarshal([]byte(fetch(t, fmt.Sprintf("%s/audit/entries?start=%d&end=%d", base, l.next, end))), &page); err != nil {
			t.Fatalf("entries %d–%d: %v", l.next, end, err)
		}
		if int64(len(page.Entries)) != end-l.next {
			t.Fatalf("entries %d–%d: got %d", l.next, end, len(page.Entries))
		}
		for _, e := range page.Entries {
			raw, _ := base64.StdEncoding.DecodeString(e.Data)
			var v struct {
				Action string `json:"action"`
				Actor  struct {
					ID string `json:"id"`
				} `json:"actor"`
				RequestID string `json:"request_id"`
			}
			json.Unmarshal(raw, &v)
			switch {
			case v.Action == delivery.ActionSent && v.Actor.ID == delivery.Actor:
				l.sent[v.RequestID]++
			case v.Action == journeys.ActionSend && v.Actor.ID == crashAgency:
				l.steps++
			}
		}
		l.next = end
	}
}

// crashTally counts what a receiver took on one channel: receipts by
// key, and the keys each address got.
type crashTally struct {
	mu       sync.Mutex
	receipts map[string]int
	to       map[string]string // key → address
	clashes  int               // a key seen again for another address
}

func newCrashTally() *crashTally {
	return &crashTally{receipts: map[string]int{}, to: map[string]string{}}
}

func (c *crashTally) add(key, to string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.receipts[key]++
	if prev, ok := c.to[key]; ok && prev != to {
		c.clashes++
	}
	c.to[key] = to
}

func (c *crashTally) unique() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.receipts)
}

// snapshot returns the keys taken, the keys by address, the clashes and
// the receipts in all.
func (c *crashTally) snapshot() (map[string]bool, map[string]map[string]bool, int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys, byTo, receipts := map[string]bool{}, map[string]map[string]bool{}, 0
	for k, n := range c.receipts {
		keys[k] = true
		receipts += n
		if byTo[c.to[k]] == nil {
			byTo[c.to[k]] = map[string]bool{}
		}
		byTo[c.to[k]][k] = true
	}
	return keys, byTo, c.clashes, receipts
}

// crashMailbox is a real SMTP server (emersion/go-smtp) on loopback that
// counts messages by delivery: the Message-ID's left-hand side, the
// outbox's key.
type crashMailbox struct {
	addr  string
	tally *crashTally
	delay time.Duration // after taking a message, before answering
}

func startCrashMailbox(t *testing.T, delay time.Duration) *crashMailbox {
	t.Helper()
	m := &crashMailbox{tally: newCrashTally(), delay: delay}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &crashMailSession{m: m}, nil }))
	srv.Domain = "mx.test"
	srv.ErrorLog = crashQuiet{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.addr = l.Addr().String()
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return m
}

type crashQuiet struct{}

func (crashQuiet) Printf(string, ...any) {}
func (crashQuiet) Println(...any)        {}

type crashMailSession struct {
	m  *crashMailbox
	to string
}

func (s *crashMailSession) Mail(string, *smtp.MailOptions) error { return nil }

func (s *crashMailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = to
	return nil
}

func (s *crashMailSession) Data(r io.Reader) error {
	msg, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, msg.Body)
	key, _, _ := strings.Cut(strings.TrimPrefix(msg.Header.Get("Message-ID"), "<"), "@")
	s.m.tally.add(key, s.to)
	time.Sleep(s.m.delay)
	return nil
}

func (s *crashMailSession) Reset()        {}
func (s *crashMailSession) Logout() error { return nil }

// crashGateway is an https SMS and push gateway that counts requests by
// Idempotency-Key.
type crashGateway struct {
	srv       *httptest.Server
	sms, push *crashTally
}

func startCrashGateway(t *testing.T, delay time.Duration) *crashGateway {
	t.Helper()
	g := &crashGateway{sms: newCrashTally(), push: newCrashTally()}
	g.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			To string `json:"to"`
		}
		key := r.Header.Get("Idempotency-Key")
		tally := map[string]*crashTally{"/sms": g.sms, "/push": g.push}[r.URL.Path]
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || key == "" || tally == nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		tally.add(key, body.To)
		time.Sleep(delay)
	}))
	// A connection the kill cuts mid-handshake is no news.
	g.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	g.srv.StartTLS()
	t.Cleanup(g.srv.Close)
	return g
}
