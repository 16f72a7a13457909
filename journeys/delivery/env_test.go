package delivery_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/cedula/cedula/audit"
	auditsql "github.com/cedula/cedula/audit/sqlstore"
	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/keys/localkeys"
	"github.com/cedula/cedula/journeys/delivery"
	"github.com/cedula/cedula/journeys/delivery/sqlstore"
)

// migrations are the outbox's and the audit log's (whose subject keys
// the Shredder keeps).
var migrations = [][]db.Migration{sqlstore.Migrations, auditsql.Migrations}

// recorder keeps what the store appends, checking each entry as the log
// would.
type recorder struct {
	mu  sync.Mutex
	got []audit.Entry
}

func (r *recorder) AppendTx(_ context.Context, _ *sql.Tx, es ...audit.Entry) error {
	for _, e := range es {
		if err := e.Validate(); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, es...)
	return nil
}

func (r *recorder) actions() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.got {
		out = append(out, e.Action)
	}
	return out
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// montevideo is the default zone; noon there is outside quiet hours.
var montevideo, _ = time.LoadLocation(delivery.DefaultZone)

// shredder is a real Shredder: data keys in the database, wrapped by a
// local keystore at path.
func shredder(t testing.TB, d *db.DB, path string) *audit.Shredder {
	t.Helper()
	sh, err := newShredder(d, path)
	if err != nil {
		t.Fatal(err)
	}
	return sh
}

func newShredder(d *db.DB, path string) (*audit.Shredder, error) {
	km, err := localkeys.Open(path, localkeys.WithKEK(make([]byte, localkeys.KEKSize)))
	if err != nil {
		return nil, err
	}
	w, err := keys.WrapperOf(km)
	if err != nil {
		return nil, err
	}
	return audit.NewShredder(audit.ShredderConfig{Keys: auditsql.NewSubjectKeys(d), Wrapper: w})
}

// quiet is the outbox's logger in tests.
var quiet = slog.New(slog.DiscardHandler)

var pseudonyms = audit.NewPseudonyms([]byte("a test secret of thirty-two bytes!"))

// env is an outbox on a database, with a real SMTP server, a gateway
// receiver and an inbox.
type env struct {
	d      *db.DB
	store  *sqlstore.Store
	svc    *delivery.Service
	sealer *audit.Shredder
	log    *recorder
	clock  *clock
	mail   *mailServer
	hook   *hookServer
	inbox  *poster
}

type envOptions struct {
	maxAttempts int
	timeout     time.Duration
	keystore    string
	allowed     func(context.Context, delivery.Delivery) (bool, error)
}

func newEnv(t testing.TB, d *db.DB, o envOptions) *env {
	t.Helper()
	if o.timeout == 0 {
		o.timeout = 2 * time.Second
	}
	if o.keystore == "" {
		o.keystore = t.TempDir() + "/keystore.json"
	}
	e := &env{d: d, log: &recorder{}, clock: &clock{t: time.Date(2026, 3, 10, 12, 0, 0, 0, montevideo)},
		mail: startMail(t, nil), hook: startHook(t), inbox: &poster{posts: map[string]int{}}}
	e.store = sqlstore.New(d, e.log)
	e.sealer = shredder(t, d, o.keystore)
	e.svc = e.service(t, e.clock.Now, o)
	return e
}

// service is an outbox on e's store, senders and sealer.
func (e *env) service(t testing.TB, now func() time.Time, o envOptions) *delivery.Service {
	t.Helper()
	m, err := delivery.NewMail(delivery.MailConfig{Host: "127.0.0.1", Port: e.mail.port, From: "Cedula <avisos@cedula.example>",
		Timeout: o.timeout, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	sms, err := delivery.NewGateway(delivery.GatewayConfig{URL: e.hook.URL + "/sms", Timeout: o.timeout, Dev: true})
	if err != nil {
		t.Fatal(err)
	}
	push, err := delivery.NewGateway(delivery.GatewayConfig{URL: e.hook.URL + "/push", Timeout: o.timeout, Dev: true})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := delivery.New(delivery.Config{Store: e.store, Sealer: e.sealer, Pseudonym: pseudonyms.Of, MaxAttempts: o.maxAttempts, Now: now, Logger: quiet, Allowed: o.allowed,
		Senders: map[delivery.Channel]delivery.Sender{delivery.Email: m, delivery.SMS: sms, delivery.Push: push,
			delivery.Inbox: delivery.InboxSender{Poster: e.inbox}}})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// drain runs Deliver until nothing is due now.
func (e *env) drain(t testing.TB, svc *delivery.Service) {
	t.Helper()
	for range 1000 {
		n, err := svc.Deliver(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	t.Fatal("the outbox never emptied")
}

// fill enqueues n urgent deliveries (whatever the hour in Montevideo)
// to n citizens, by email and SMS in turn, and returns their channels by
// ID.
func (e *env) fill(t testing.TB, n int, key string) map[string]delivery.Channel {
	t.Helper()
	ctx := context.Background()
	out := map[string]delivery.Channel{}
	for i := range n {
		citizen := fmt.Sprintf("c%03d", i)
		ch := []delivery.Channel{delivery.Email, delivery.SMS}[i%2]
		p := delivery.DefaultPrefs()
		p.Contacts = delivery.Contacts{Email: citizen + "@example.org", Phone: fmt.Sprintf("+598990%05d", i)}
		if err := e.svc.SetPrefs(ctx, citizen, p); err != nil {
			t.Fatal(err)
		}
		r := request(key+":"+citizen, citizen, ch)
		r.Urgent = true
		ids, err := e.svc.Enqueue(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		out[ids[0]] = ch
	}
	return out
}

// mailServer is a real SMTP server (emersion/go-smtp) on 127.0.0.1 that
// counts messages by Message-ID. A recipient whose local part is
// "bounce" is refused (550 5.1.1); "busy" is deferred (451) the first
// time each.
type mailServer struct {
	port int
	tls  bool // STARTTLS offered, AUTH PLAIN required

	mu       sync.Mutex
	byID     map[string]int
	last     map[string]*mail.Message
	bodies   map[string]string
	deferred map[string]bool
	overTLS  int
	delay    time.Duration // after taking a message, before answering
}

func startMail(t testing.TB, cert *tls.Certificate) *mailServer {
	t.Helper()
	m := &mailServer{byID: map[string]int{}, last: map[string]*mail.Message{}, bodies: map[string]string{}, deferred: map[string]bool{}}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &mailSession{m: m, c: c}, nil }))
	srv.Domain = "mx.test"
	srv.ErrorLog = discard{}
	if cert != nil {
		m.tls = true
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.port = l.Addr().(*net.TCPAddr).Port
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return m
}

type discard struct{}

func (discard) Printf(string, ...any) {}
func (discard) Println(...any)        {}

func (m *mailServer) count(id string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.byID[id]
}

// ids are the Message-IDs taken, with how many times each.
func (m *mailServer) ids() map[string]int { return snapshot(&m.mu, m.byID) }

// snapshot copies a receiver's counts under its lock.
func snapshot(mu *sync.Mutex, counts map[string]int) map[string]int {
	mu.Lock()
	defer mu.Unlock()
	return maps.Clone(counts)
}

type mailSession struct {
	m    *mailServer
	c    *smtp.Conn
	auth bool
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "cedula" || pass != "secret" {
			return errors.New("bad credentials")
		}
		s.auth = true
		return nil
	}), nil
}

func (s *mailSession) Mail(string, *smtp.MailOptions) error {
	if s.m.tls && !s.auth {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "authentication required"}
	}
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	switch {
	case strings.HasPrefix(to, "bounce@"):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user " + to}
	case strings.HasPrefix(to, "busy@") && !s.m.deferred[to]:
		s.m.deferred[to] = true
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
	}
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	msg, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		return err
	}
	_, isTLS := s.c.TLSConnectionState()
	id := msg.Header.Get("Message-ID")
	s.m.mu.Lock()
	s.m.byID[id]++
	s.m.last[id], s.m.bodies[id] = msg, string(body)
	if isTLS {
		s.m.overTLS++
	}
	delay := s.m.delay
	s.m.mu.Unlock()
	time.Sleep(delay)
	return nil
}

func (s *mailSession) Reset()        {}
func (s *mailSession) Logout() error { return nil }

// subjectOf decodes a message's Subject.
func subjectOf(m *mail.Message) string {
	s, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	return s
}

// hookServer is an SMS and push gateway that counts requests by
// Idempotency-Key. script gives, by "to", the answers before a 200; an
// answer of 0 is a hang past the client's timeout.
type hookServer struct {
	*httptest.Server
	mu     sync.Mutex
	byKey  map[string]int
	bodies map[string]map[string]string
	script map[string][]int
	hang   chan struct{}
	delay  time.Duration // after taking a request, before answering
}

func startHook(t testing.TB) *hookServer {
	h := &hookServer{byKey: map[string]int{}, bodies: map[string]map[string]string{}, script: map[string][]int{}, hang: make(chan struct{})}
	h.Server = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(func() { close(h.hang); h.Close() })
	return h
}

func (h *hookServer) serve(w http.ResponseWriter, r *http.Request) {
	var body map[string]string
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	h.mu.Lock()
	answer := http.StatusOK
	if s := h.script[body["to"]]; len(s) > 0 {
		answer, h.script[body["to"]] = s[0], s[1:]
	}
	if answer == http.StatusOK {
		h.byKey[key]++
		body["path"] = r.URL.Path
		h.bodies[key] = body
	}
	delay := h.delay
	h.mu.Unlock()
	time.Sleep(delay)
	switch answer {
	case 0:
		select {
		case <-h.hang:
		case <-r.Context().Done():
		}
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(answer)
	default:
		w.WriteHeader(answer)
	}
}

func (h *hookServer) count(key string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.byKey[key]
}

// keys are the Idempotency-Keys taken, with how many times each.
func (h *hookServer) keys() map[string]int { return snapshot(&h.mu, h.byKey) }

// poster is the app's inbox, idempotent on key.
type poster struct {
	mu    sync.Mutex
	posts map[string]int
	last  map[string]delivery.Message
}

func (p *poster) Post(_ context.Context, citizenID string, m delivery.Message, key string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.posts[key]++
	if p.last == nil {
		p.last = map[string]delivery.Message{}
	}
	p.last[key] = m
	return "msg-" + key, nil
}

func (p *poster) count(key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.posts[key]
}

// selfSigned is a certificate for 127.0.0.1 and the pool that trusts it.
func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mx.test"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}, pool
}
