package wallet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/statuslist"
)

// statusCache reads issuers' status lists (Token Status List, JWT form)
// and keeps each for its ttl, so that listing a wallet does not fetch a
// list per credential.
type statusCache struct {
	s     *Service
	mu    sync.Mutex
	lists map[string]cachedList
}

type cachedList struct {
	list    *statuslist.List
	fetched time.Time
	until   time.Time
}

// Status list bounds: how long a list is kept without a ttl of its own,
// the longest a ttl is believed, and how old a reading may be to stand
// in when the issuer cannot be reached.
const (
	defaultStatusTTL = 5 * time.Minute
	maxStatusTTL     = time.Hour
	staleStatus      = 24 * time.Hour
)

func newStatusCache(s *Service) *statusCache {
	return &statusCache{s: s, lists: map[string]cachedList{}}
}

// status returns a credential's status and when it was read: from the
// list as cached, or, with fresh, as the issuer serves it now (the cached
// reading standing in when the issuer cannot be reached).
func (c *statusCache) status(ctx context.Context, iss string, ref statuslist.Reference, fresh bool) (Status, time.Time) {
	now := c.s.cfg.Now()
	c.mu.Lock()
	l, ok := c.lists[ref.URI]
	c.mu.Unlock()
	if fresh || !ok || !now.Before(l.until) {
		fresh, ttl, err := c.fetch(ctx, iss, ref.URI)
		switch {
		case err == nil:
			l = cachedList{list: fresh, fetched: now, until: now.Add(ttl)}
			c.mu.Lock()
			c.lists[ref.URI] = l
			c.mu.Unlock()
		case !ok || now.Sub(l.fetched) > staleStatus:
			return StatusUnknown, time.Time{}
		}
	}
	v, err := l.list.Get(ref.Index)
	if err != nil {
		return StatusUnknown, l.fetched
	}
	switch v {
	case statuslist.Valid:
		return StatusValid, l.fetched
	case statuslist.Invalid:
		return StatusRevoked, l.fetched
	case statuslist.Suspended:
		return StatusSuspended, l.fetched
	}
	return StatusUnknown, l.fetched
}

// fetch reads and verifies a Status List Token: typ statuslist+jwt, signed
// by the credential's issuer, sub the list's URI.
func (c *statusCache) fetch(ctx context.Context, iss, uri string) (*statuslist.List, time.Duration, error) {
	if err := checkURL(uri, c.s.cfg.AllowHTTP); err != nil {
		return nil, 0, errors.New("the status list's URI is not an https URL")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/statuslist+jwt")
	res, err := c.s.cfg.HTTP.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("the status list answered %d", res.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, maxDocument))
	if err != nil {
		return nil, 0, err
	}
	hdr, err := jose.Header(b)
	if err != nil {
		return nil, 0, err
	}
	if typ, _ := hdr["typ"].(string); typ != statuslist.TokenType {
		return nil, 0, fmt.Errorf("the status list's typ is %q", typ)
	}
	jwks, err := c.s.issuerJWKS(ctx, iss)
	if err != nil {
		return nil, 0, err
	}
	payload, err := jose.Verify(b, jwks, keys.ES256, keys.EdDSA)
	if err != nil {
		return nil, 0, err
	}
	var t statuslist.Token
	if err := json.Unmarshal(payload, &t); err != nil || t.Sub != uri {
		return nil, 0, errors.New("the status list token is not for its URI")
	}
	if t.Expiry != 0 && !c.s.cfg.Now().Before(time.Unix(t.Expiry, 0)) {
		return nil, 0, errors.New("the status list token has expired")
	}
	l, err := statuslist.Decode(t.StatusList.Bits, t.StatusList.Lst)
	if err != nil {
		return nil, 0, err
	}
	ttl := defaultStatusTTL
	if t.TTL > 0 {
		ttl = min(time.Duration(t.TTL)*time.Second, maxStatusTTL)
	}
	return l, ttl, nil
}
