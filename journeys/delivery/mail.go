package delivery

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// MailConfig is the SMTP relay email goes through.
type MailConfig struct {
	Host string
	Port int // 587 when 0
	// From is the sender, an address with or without a name:
	// "Cedula <avisos@cedula.gub.uy>".
	From string
	// Username and Password authenticate (AUTH PLAIN) when Username is
	// set; the password is sent only over TLS, or to localhost.
	Username, Password string
	// RequireTLS refuses to send to a relay that does not offer
	// STARTTLS; without it, STARTTLS is used when offered.
	RequireTLS bool
	// TLS configures STARTTLS; nil means the system's roots for Host.
	TLS *tls.Config
	// Timeout bounds one attempt, connection to QUIT; 30 s when 0.
	Timeout time.Duration
	// Domain is the Message-ID's right-hand side and the EHLO name;
	// From's domain when "".
	Domain string
	// Now stamps the Date header; time.Now when nil.
	Now func() time.Time
}

// Mail sends email over SMTP (RFC 5321), one connection per message:
// plain text in UTF-8, quoted-printable, with the delivery's ID in the
// Message-ID so that a message sent twice after a crash is one message
// for the receiving system to drop.
type Mail struct {
	cfg  MailConfig
	from *mail.Address
	addr string
}

var _ Sender = (*Mail)(nil)

// NewMail checks cfg and returns its sender.
func NewMail(cfg MailConfig) (*Mail, error) {
	var problems []error
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		problems = append(problems, errors.New("from is not an address"))
	}
	if cfg.Host == "" || strings.ContainsAny(cfg.Host, "/: ") {
		problems = append(problems, errors.New("host is not a host name or IPv4 address"))
	}
	if cfg.Port == 0 {
		cfg.Port = 587
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		problems = append(problems, errors.New("port is not a port"))
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Domain == "" && from != nil {
		cfg.Domain = from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: mail: %w", ErrInvalid, errors.Join(problems...))
	}
	return &Mail{cfg: cfg, from: from, addr: net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))}, nil
}

// MessageID is the Message-ID of a delivery's email: its idempotency key
// (RFC 5322 §3.6.4).
func (m *Mail) MessageID(key string) string { return "<" + key + "@" + m.cfg.Domain + ">" }

// Send sends o. A 5xx reply to the message's own commands (MAIL, RCPT,
// DATA) is permanent; a 4xx, a network failure or a timeout temporary,
// and so is any reply before them (greeting, STARTTLS, AUTH): the relay's
// or the configuration's trouble, not the message's.
func (m *Mail) Send(ctx context.Context, o Outgoing) error {
	to, err := mail.ParseAddress(o.To)
	if err != nil || to.Address != o.To {
		return Permanent("bad address", nil)
	}
	msg, err := m.compose(o, to)
	if err != nil {
		return Permanent("bad message", err)
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", m.addr)
	if err != nil {
		return smtpFailure("connect", err, false)
	}
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c, err := smtp.NewClient(conn, m.cfg.Host)
	if err != nil {
		conn.Close()
		return smtpFailure("greeting", err, false)
	}
	defer c.Close()
	if err := c.Hello(m.cfg.Domain); err != nil {
		return smtpFailure("hello", err, false)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		tc := m.cfg.TLS
		if tc == nil {
			tc = &tls.Config{ServerName: m.cfg.Host}
		}
		if err := c.StartTLS(tc); err != nil {
			return smtpFailure("starttls", err, false)
		}
	} else if m.cfg.RequireTLS {
		return Temporary("smtp: no starttls", nil)
	}
	if m.cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", m.cfg.Username, m.cfg.Password, m.cfg.Host)); err != nil {
			return smtpFailure("auth", err, false)
		}
	}
	if err := c.Mail(m.from.Address); err != nil {
		return smtpFailure("mail", err, true)
	}
	if err := c.Rcpt(to.Address); err != nil {
		return smtpFailure("rcpt", err, true)
	}
	w, err := c.Data()
	if err != nil {
		return smtpFailure("data", err, true)
	}
	if _, err := w.Write(msg); err != nil {
		return smtpFailure("data", err, true)
	}
	if err := w.Close(); err != nil {
		return smtpFailure("data", err, true)
	}
	// The relay took it; a failed QUIT changes nothing.
	c.Quit()
	return nil
}

// compose writes the message (RFC 5322, RFC 2045): headers, then the
// text as given, quoted-printable.
func (m *Mail) compose(o Outgoing, to *mail.Address) ([]byte, error) {
	var b bytes.Buffer
	h := func(name, value string) { b.WriteString(name + ": " + value + "\r\n") }
	h("From", m.from.String())
	h("To", to.String())
	if s := oneLine(o.Message.Subject); s != "" {
		h("Subject", strings.ReplaceAll(mime.QEncoding.Encode("utf-8", s), "?= =?", "?=\r\n =?"))
	}
	h("Date", m.cfg.Now().Format(time.RFC1123Z))
	h("Message-ID", m.MessageID(o.Key))
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "quoted-printable")
	if o.Message.Lang == "es" || o.Message.Lang == "en" {
		h("Content-Language", o.Message.Lang)
	}
	h("Auto-Submitted", "auto-generated") // RFC 3834: no auto-replies
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(o.Message.Text())); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	b.WriteString("\r\n")
	return b.Bytes(), nil
}

// oneLine is a header value without control characters.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }), " ")
}

// enhanced is an enhanced status code at the start of a reply (RFC 3463).
var enhanced = regexp.MustCompile(`^[245]\.[0-9]{1,3}\.[0-9]{1,3}\b`)

// smtpFailure reads an SMTP client error: a reply's code (and enhanced
// code: never its text, which may quote the address) or a network
// failure. ownCommand: the reply was to the message's own command, where
// 5xx means this message will never go.
func smtpFailure(stage string, err error, ownCommand bool) error {
	var tp *textproto.Error
	if errors.As(err, &tp) {
		reason := fmt.Sprintf("smtp %d", tp.Code)
		if e := enhanced.FindString(tp.Msg); e != "" {
			reason += " " + e
		}
		if ownCommand && tp.Code >= 500 && tp.Code < 600 {
			return Permanent(reason, err)
		}
		return Temporary(reason, err)
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return Temporary("timeout", err)
	}
	return Temporary("smtp "+stage, err)
}
