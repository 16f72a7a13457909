package verifier

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/keys/dek"
	"github.com/cedula/cedula/internal/netguard"
	"github.com/cedula/cedula/internal/random"
)

// An agency that registers a webhook is told each of its requests'
// outcomes there (verified, failed, declined, expired), besides reading
// them by polling. A notice is written with the outcome, in its
// transaction (an outbox: a crash loses none), sealed like results, and
// delivered by a worker that claims due notices with a lease (one replica
// sends each) and retries with backoff until the agency answers 2xx, for
// a day at most, to public addresses only (unless the server itself is on
// http, a developer's). The body is a JWS (application/jwt) signed with the
// verifier's key, whose keys are published (VerificationKeys), so the
// agency can tell the notice came from Cedula; the same notice keeps its
// jti across retries, for the agency to drop duplicates.

// NoticeType is the typ of the webhook's JWS.
const NoticeType = "verification-result+jwt"

// Webhook delivery's pace.
const (
	// WebhookTimeout bounds one delivery.
	WebhookTimeout = 10 * time.Second
	// WebhookGiveUp is how long a notice is retried.
	WebhookGiveUp = 24 * time.Hour
	// webhookLease is how long a claimed notice is another replica's.
	webhookLease = time.Minute
	// maxWebhookURL bounds a registered URL.
	maxWebhookURL = 2048
)

// Notice is what a webhook receives of a request (its payload's
// "request"): as the agency API shows it, without the links.
type Notice struct {
	ID       string     `json:"id"`
	Status   Status     `json:"status"`
	Purpose  string     `json:"purpose"`
	Created  time.Time  `json:"created_at"`
	Answered *time.Time `json:"answered_at,omitempty"`
	Failure  *Failure   `json:"failure,omitempty"`
	Result   *Result    `json:"result,omitempty"`
}

// Delivery is a notice waiting to go.
type Delivery struct {
	ID        string
	ClientID  string
	URL       string
	Sealed    []byte // the Notice, sealed
	Attempts  int
	Created   time.Time
	RequestID string
}

// Webhooks keeps agencies' webhooks and the outbox of notices; the
// verifier's store implements it.
type Webhooks interface {
	// SetWebhook registers (url non-empty) or removes an agency's webhook.
	SetWebhook(ctx context.Context, clientID, url string) error
	// Webhook returns an agency's webhook URL, "" for none.
	Webhook(ctx context.Context, clientID string) (string, error)
	// ClaimDeliveries leases up to n notices due at now until until,
	// counting an attempt of each.
	ClaimDeliveries(ctx context.Context, now, until time.Time, n int) ([]Delivery, error)
	// Delivered ends a notice that went; Retry sets its next attempt;
	// GiveUp ends one that will not go.
	Delivered(ctx context.Context, id string, at time.Time) error
	Retry(ctx context.Context, id string, next time.Time) error
	GiveUp(ctx context.Context, id string, at time.Time) error
}

// SetWebhook registers where an agency is told its requests' outcomes
// (https; http on a server that is itself on http, for development);
// url "" removes it.
func (s *Service) SetWebhook(ctx context.Context, clientID, raw string) error {
	if raw != "" {
		u, err := url.Parse(raw)
		allowed := err == nil && (u.Scheme == "https" || u.Scheme == "http" && strings.HasPrefix(s.cfg.BaseURL, "http://"))
		if !allowed || u.Host == "" || u.User != nil || u.Fragment != "" || len(raw) > maxWebhookURL {
			return invalid("the webhook must be an absolute https URL without user info or fragment, of at most %d bytes", maxWebhookURL)
		}
	}
	return s.cfg.Store.SetWebhook(ctx, clientID, raw)
}

// Webhook returns an agency's webhook URL, "" for none.
func (s *Service) Webhook(ctx context.Context, clientID string) (string, error) {
	return s.cfg.Store.Webhook(ctx, clientID)
}

// notice seals what a webhook will be told of r (with res, when
// verified) for the outbox.
func (s *Service) notice(r Request, st Status, f *Failure, res *Result, at time.Time) ([]byte, error) {
	n := Notice{ID: r.ID, Status: st, Purpose: r.Purpose, Created: r.Created.UTC(), Failure: f, Result: res}
	if !at.IsZero() {
		t := at.UTC()
		n.Answered = &t
	}
	b, err := json.Marshal(n)
	if err != nil {
		return nil, err
	}
	return dek.Seal(s.sealKey, b, []byte("notice/"+r.ID))
}

// wake asks the delivery worker to look now.
func (s *Service) wake() {
	select {
	case s.deliver <- struct{}{}:
	default:
	}
}

// RunDeliveries delivers notices until ctx ends: at once when this
// replica wrote one, and every poll for other replicas' and retries.
func (s *Service) RunDeliveries(ctx context.Context, poll time.Duration, log *slog.Logger) {
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		for {
			n, err := s.DeliverDue(ctx)
			if err != nil && ctx.Err() == nil {
				log.WarnContext(ctx, "verifier: webhook deliveries", "err", err)
			}
			if n == 0 || err != nil {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.deliver:
		}
	}
}

// DeliverDue claims and sends the notices due now; it returns how many it
// tried.
func (s *Service) DeliverDue(ctx context.Context) (int, error) {
	now := s.cfg.Now()
	ds, err := s.cfg.Store.ClaimDeliveries(ctx, now, now.Add(webhookLease), 16)
	if err != nil {
		return 0, err
	}
	for _, d := range ds {
		if err := s.send(ctx, d); err != nil {
			return len(ds), err
		}
	}
	return len(ds), nil
}

// send tries one delivery and records how it went.
func (s *Service) send(ctx context.Context, d Delivery) error {
	now := s.cfg.Now()
	plain, err := dek.Open(s.sealKey, d.Sealed, []byte("notice/"+d.RequestID))
	if err != nil {
		return fmt.Errorf("verifier: notice %s: %w", d.ID, err)
	}
	body, err := s.signNotice(ctx, d, plain, now)
	if err != nil {
		return err
	}
	if s.post(ctx, d.URL, body) {
		return s.cfg.Store.Delivered(ctx, d.ID, now)
	}
	if now.Sub(d.Created) >= WebhookGiveUp {
		return s.cfg.Store.GiveUp(ctx, d.ID, now)
	}
	return s.cfg.Store.Retry(ctx, d.ID, now.Add(backoff(d.Attempts, s.cfg.WebhookRetry)))
}

// backoff is the wait after attempt n (1, 2, …): base doubled each time,
// at most an hour.
func backoff(n int, base time.Duration) time.Duration {
	if base <= 0 {
		base = 5 * time.Second
	}
	d := base
	for i := 1; i < n && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// signNotice is the JWS a webhook receives.
func (s *Service) signNotice(ctx context.Context, d Delivery, notice []byte, now time.Time) ([]byte, error) {
	key, err := s.cfg.Keys.Active(ctx, Ring, keys.ES256)
	if err != nil {
		return nil, fmt.Errorf("verifier: signing key: %w", err)
	}
	claims := map[string]any{"iss": s.cfg.BaseURL, "aud": d.ClientID, "iat": now.Unix(), "jti": d.ID, "request": json.RawMessage(notice)}
	jws, err := jose.SignJSON(ctx, key, claims, map[string]any{"typ": NoticeType})
	if err != nil {
		return nil, err
	}
	return []byte(jws), nil
}

// post sends a notice; true when the agency answered 2xx.
func (s *Service) post(ctx context.Context, u string, body []byte) bool {
	ctx, cancel := context.WithTimeout(ctx, WebhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/jwt")
	res, err := s.webhookClient.Do(req)
	if err != nil {
		return false
	}
	defer res.Body.Close()
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	return res.StatusCode >= 200 && res.StatusCode < 300
}

// webhookClient is the webhooks' client: a notice goes where it was
// registered, not where a redirect points, and — unless anywhere (a
// developer's server on http) — to a public address only, so that an
// agency's webhook cannot make the service reach inside its network.
func webhookClient(anywhere bool) *http.Client {
	return &http.Client{Timeout: WebhookTimeout, Transport: netguard.Transport(anywhere),
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return errors.New("verifier: webhooks are not redirected")
		}}
}

// newDeliveryID names a notice.
func newDeliveryID() string { return "vn-" + random.Token(18) }
