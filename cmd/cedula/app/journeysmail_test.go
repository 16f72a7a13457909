package app_test

import (
	"context"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/internal/config"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/mobile-api/mobileclient"
)

// mailedJourney starts a server whose mail relay is box (cfg changed by
// mutate, when given), with the outreach agency's journey defined (its
// message asks nothing), and returns it with the agency's token.
func mailedJourney(t *testing.T, box *mailbox, mutate func(*config.Config)) (*env, string) {
	t.Helper()
	s, u := startServer(t, func(c *config.Config) {
		c.MailRelay, c.MailFrom = box.addr, "avisos@cedula.example"
		if mutate != nil {
			mutate(c)
		}
	})
	e := &env{t: t, s: s, url: u}
	e.key, _ = jose.NewClientKey(keys.ES256)
	tok := e.outreach()
	if res, out := e.do(http.MethodPut, "/journeys/child-benefit", tok, strings.Replace(outreachJourney, `"ask":true`, `"ask":false`, 1)); res.StatusCode != 200 {
		t.Fatalf("define: %d %v", res.StatusCode, out)
	}
	return e, tok
}

// outreachCitizen is a new citizen logged in to the wallet app who
// consented to the outreach there, with the app's client.
func (e *env) outreachCitizen(name string) (string, *mobileclient.ClientWithResponses) {
	e.t.Helper()
	id, api := e.walletCitizen(name)
	if _, err := e.s.Consent.Give(context.Background(), consent.Request{Subject: id, Purpose: outreachPurpose, Method: consent.MethodMobile}); err != nil {
		e.t.Fatal(err)
	}
	return id, api
}

// byEmail is a new outreach citizen whose app asks to be reached by email
// at email, in Spanish.
func (e *env) byEmail(name, email string) string {
	e.t.Helper()
	id, api := e.outreachCitizen(name)
	if p, err := api.SetPreferencesWithResponse(context.Background(), nil, mobileclient.SetPreferencesJSONRequestBody{Channels: []string{"email"}, Lang: "es",
		Zone: "America/Montevideo", Email: &email}); err != nil || p.JSON200 == nil {
		e.t.Fatalf("set preferences: %v", err)
	}
	return id
}

// mailbox is a real SMTP server (go-smtp) on loopback that keeps what it
// receives.
type mailbox struct {
	mu    sync.Mutex
	addr  string
	got   []receivedMail
	rcpts []string
	// refuse, when set, answers a recipient instead of taking the mail
	// (an *smtp.SMTPError, nil to take it).
	refuse func(to string) error
}

type receivedMail struct {
	id, to, subject, body string
}

func startMailbox(t *testing.T) *mailbox {
	t.Helper()
	m := &mailbox{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &mailboxSession{m: m}, nil }))
	srv.Domain = "mx.test"
	srv.AllowInsecureAuth = true
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.addr = l.Addr().String()
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return m
}

func (m *mailbox) mails() []receivedMail {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]receivedMail(nil), m.got...)
}

type mailboxSession struct {
	m  *mailbox
	to string
}

func (s *mailboxSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *mailboxSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.m.mu.Lock()
	refuse := s.m.refuse
	s.m.mu.Unlock()
	if refuse != nil {
		if err := refuse(to); err != nil {
			return err
		}
	}
	s.to = to
	return nil
}

func (s *mailboxSession) Data(r io.Reader) error {
	msg, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		return err
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	s.m.mu.Lock()
	s.m.got = append(s.m.got, receivedMail{id: msg.Header.Get("Message-ID"), to: s.to, subject: subject, body: string(body)})
	s.m.mu.Unlock()
	return nil
}

func (s *mailboxSession) Reset()        {}
func (s *mailboxSession) Logout() error { return nil }

// TestJourneyByEmail: the citizen tells their app to be reached by
// email; the agency's journey message goes out through the outbox to a
// real SMTP server, sealed (its code checks at /check), saying after it
// why she got it and how to stop it, and not to the inbox as well;
// preferences the app sends wrong are refused.
func TestJourneyByEmail(t *testing.T) {
	box := startMailbox(t)
	e, tok := mailedJourney(t, box, nil)
	ctx := context.Background()
	ana, api := e.outreachCitizen("Ana")
	email := "ana@example.org"
	p, err := api.SetPreferencesWithResponse(ctx, nil, mobileclient.SetPreferencesJSONRequestBody{Channels: []string{"email"}, Lang: "en",
		Zone: "America/Montevideo", Email: &email})
	if err != nil || p.JSON200 == nil || p.JSON200.Email == nil || *p.JSON200.Email != email || p.JSON200.QuietFrom != nil {
		t.Fatalf("set preferences: %v %s", err, p.Body)
	}
	for name, body := range map[string]mobileclient.SetPreferencesJSONRequestBody{
		"an unknown channel": {Channels: []string{"pigeon"}, Lang: "es", Zone: "America/Montevideo"},
		"a bad phone":        {Channels: []string{"sms"}, Lang: "es", Zone: "America/Montevideo", Phone: ptr("099 123")},
		"an unknown zone":    {Channels: []string{}, Lang: "es", Zone: "Mars/Olympus"},
		"half quiet hours":   {Channels: []string{}, Lang: "es", Zone: "America/Montevideo", QuietFrom: ptr("22:00")},
	} {
		if r, _ := api.SetPreferencesWithResponse(ctx, nil, body); r.StatusCode() != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", name, r.StatusCode(), r.Body)
		}
	}
	if g, err := api.GetPreferencesWithResponse(ctx, nil); err != nil || g.JSON200 == nil || len(g.JSON200.Channels) != 1 || g.JSON200.Channels[0] != "email" {
		t.Errorf("get preferences after refusals: %v %s", err, g.Body)
	}
	if res, out := e.do(http.MethodPut, "/journeys/registry/"+e.loggedInAt(outreachAgency, ana), tok, `{"attributes":{"dependants":3,"benefits":[]}}`); res.StatusCode != 200 {
		t.Fatalf("push: %d %v", res.StatusCode, out)
	}
	e.stepAll()
	ms := box.mails()
	if len(ms) != 1 || ms[0].to != email || !strings.Contains(ms[0].body, "Hello Ana: with 3 children") || ms[0].id == "" {
		t.Fatalf("mails: %+v", ms)
	}
	// After the sealed text and its footer, why she got it and how to
	// stop it (the wallet's "why" does not travel by email); the check
	// reads the message up to the footer, so the whole email checks.
	if !strings.Contains(ms[0].body, "You get this message because you agreed to “Telling you about the child benefit”") ||
		!strings.Contains(ms[0].body, "withdraw that consent") || strings.Index(ms[0].body, "You get this") < strings.Index(ms[0].body, "Verification code:") {
		t.Errorf("the email does not say why after its footer: %q", ms[0].body)
	}
	if v, err := e.s.Seals.Check(ctx, "", ms[0].body); err != nil || !v.Genuine || v.TextMatches == nil || !*v.TextMatches {
		t.Errorf("the email does not check as genuine: %+v %v", v, err)
	}
	if got := e.journeyMessages(ana); len(got) != 0 {
		t.Errorf("the message went to the inbox too: %d", len(got))
	}
}

func ptr(s string) *string { return &s }
