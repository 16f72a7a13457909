package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/cedula/cedula/internal/netguard"
)

// GatewayConfig is an SMS or push gateway's webhook.
type GatewayConfig struct {
	URL string // https; http only with Dev
	// Token, when set, is sent as a bearer token.
	Token string
	// Timeout bounds one attempt; 10 s when 0.
	Timeout time.Duration
	// Dev allows http and loopback or private addresses: a developer's
	// gateway. Without it the gateway must be at a public address
	// (netguard), checked on every connection.
	Dev bool
}

// Gateway sends SMS or push notifications by POSTing JSON to a gateway:
// {"to": phone, "text": body} for SMS, {"to": device token, "title":
// subject, "text": body} for push, with the delivery's ID in the
// Idempotency-Key header (draft-ietf-httpapi-idempotency-key-header), on
// which the gateway drops a request it has already taken. 2xx is sent;
// 408, 429, 5xx and timeouts are tried again (after Retry-After when
// given); any other answer is permanent.
type Gateway struct {
	cfg    GatewayConfig
	client *http.Client
}

var _ Sender = (*Gateway)(nil)

// NewGateway checks cfg and returns its sender.
func NewGateway(cfg GatewayConfig) (*Gateway, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" || !(u.Scheme == "https" || u.Scheme == "http" && cfg.Dev) {
		return nil, fmt.Errorf("%w: gateway: the URL must be an absolute https URL without user info or fragment (http only for development)", ErrInvalid)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	return &Gateway{cfg: cfg, client: &http.Client{
		Timeout:   cfg.Timeout,
		Transport: netguard.Transport(cfg.Dev),
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a 3xx is an answer, and not a 2xx
		},
	}}, nil
}

// gatewayBody is what a gateway receives.
type gatewayBody struct {
	To    string `json:"to"`
	Title string `json:"title,omitempty"`
	Text  string `json:"text"`
}

// Send posts o to the gateway.
func (g *Gateway) Send(ctx context.Context, o Outgoing) error {
	if o.To == "" {
		return Permanent("no address", nil)
	}
	body := gatewayBody{To: o.To, Text: o.Message.Text()}
	if o.Channel == Push {
		body.Title = oneLine(o.Message.Subject)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return Permanent("bad message", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.cfg.URL, bytes.NewReader(b))
	if err != nil {
		return Permanent("bad request", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", o.Key)
	if g.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+g.cfg.Token)
	}
	res, err := g.client.Do(req)
	if err != nil {
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
			return Temporary("timeout", err)
		}
		if errors.Is(err, netguard.ErrAddress) {
			return Temporary("address refused", err)
		}
		return Temporary("network", err)
	}
	defer res.Body.Close()
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	code := res.StatusCode
	reason := "http " + strconv.Itoa(code)
	switch {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		return &Failure{Reason: reason, After: retryAfter(res.Header.Get("Retry-After"))}
	}
	return Permanent(reason, nil)
}

// retryAfter reads a Retry-After header in seconds (RFC 9110 §10.2.3);
// a date or nothing is 0.
func retryAfter(v string) time.Duration {
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0
	}
	return min(time.Duration(n)*time.Second, 24*time.Hour)
}
