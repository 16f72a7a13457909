package oidcop

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/cedula/cedula/issuer"
)

// How long a client's registration is trusted, and what happens as it ages.
//
// A registration read from the store at time f is used until f +
// clientCacheTTL, so a client changed or deleted through another replica
// — a rotated secret or key set included — is seen here at most
// clientCacheTTL after the change commits: an old secret or key works no
// longer than that. A change made through this replica's admin API is
// seen at once (Provider.ForgetClient).
//
// A client in use never waits for the database: a read of a registration
// older than clientRefreshAge still answers from the cache and reloads it
// in the background, once. Concurrent reads of a registration that is not
// cached share one load.
//
// A secret that does not match a registration older than clientRecheckAge
// reloads it once before being refused, so a secret just rotated through
// another replica works here without waiting out the TTL, while wrong
// secrets cost at most one read of the database per client and
// clientRecheckAge.
const (
	clientCacheTTL   = 5 * time.Second
	clientRefreshAge = 4 * time.Second
	clientRecheckAge = time.Second
	// maxCachedClients bounds the cache; beyond it, expired registrations
	// are swept and, if it is still full, a load is not cached.
	maxCachedClients = 10000
)

// clientCache keeps recently read client registrations (see
// clientCacheTTL). Unknown clients are not cached: a registration made
// elsewhere is usable at once.
type clientCache struct {
	mu sync.Mutex
	m  map[string]*cachedClient
	// now is the cache's clock (time.Now when nil); tests move it.
	now func() time.Time
}

// cachedClient is one registration, or a load of it under way.
type cachedClient struct {
	c       issuer.Client
	fetched time.Time // when the load that read c began
	valid   bool      // c has been loaded
	// load is the load under way, nil when none.
	load *clientLoad
}

// clientLoad is one read of a registration from the store, shared by the
// callers that wait for it.
type clientLoad struct {
	done  chan struct{} // closed when c and err are set
	began time.Time
	c     issuer.Client
	err   error
}

func (cc *clientCache) clock() time.Time {
	if cc.now != nil {
		return cc.now()
	}
	return time.Now()
}

// get returns id's registration from the cache, or from read when it is
// not cached or older than clientCacheTTL; a registration older than
// minAge is reloaded first (0: any age will do).
func (cc *clientCache) get(ctx context.Context, id string, read func(context.Context, string) (issuer.Client, error), minAge time.Duration) (issuer.Client, error) {
	for {
		now := cc.clock()
		cc.mu.Lock()
		e := cc.m[id]
		if e != nil && e.valid {
			age := now.Sub(e.fetched)
			fresh := age < clientCacheTTL && (minAge <= 0 || age < minAge)
			if fresh {
				if age >= clientRefreshAge && e.load == nil {
					// Reload in the background; this read answers now,
					// with the copy taken under the lock (the load
					// replaces e.c when it ends).
					c := e.c
					l := e.startLoad(now)
					cc.mu.Unlock()
					go func() {
						ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), clientCacheTTL)
						defer cancel()
						cc.runLoad(ctx, id, l, read)
					}()
					return c, nil
				}
				c := e.c
				cc.mu.Unlock()
				return c, nil
			}
		}
		if e != nil && e.load != nil {
			// Someone is loading it: wait for that load.
			l := e.load
			cc.mu.Unlock()
			select {
			case <-l.done:
			case <-ctx.Done():
				return issuer.Client{}, ctx.Err()
			}
			switch {
			case l.err == nil && minAge > 0 && now.Sub(l.began) >= minAge:
				continue // that load is too old for this caller
			case errors.Is(l.err, context.Canceled) || errors.Is(l.err, context.DeadlineExceeded):
				continue // its caller went away; this one has not
			}
			return l.c, l.err
		}
		if e == nil {
			e = &cachedClient{}
			if !cc.admit(now) {
				cc.mu.Unlock()
				return read(ctx, id)
			}
			cc.m[id] = e
		}
		l := e.startLoad(now)
		cc.mu.Unlock()
		cc.runLoad(ctx, id, l, read)
		return l.c, l.err
	}
}

// startLoad marks e as being loaded from now on; the cache's lock is held.
func (e *cachedClient) startLoad(now time.Time) *clientLoad {
	l := &clientLoad{done: make(chan struct{}), began: now}
	e.load = l
	return l
}

// runLoad reads id, records the outcome in the cache and wakes the waiters.
// A registration is recorded with the time its read began; a client found
// missing leaves the cache; another error leaves what was cached, which
// expires in its time.
func (cc *clientCache) runLoad(ctx context.Context, id string, l *clientLoad, read func(context.Context, string) (issuer.Client, error)) {
	l.c, l.err = read(ctx, id)
	cc.mu.Lock()
	if e := cc.m[id]; e != nil && e.load == l {
		e.load = nil
		switch {
		case l.err == nil:
			e.c, e.fetched, e.valid = l.c, l.began, true
		case !e.valid || errors.Is(l.err, issuer.ErrNotFound):
			delete(cc.m, id)
		}
	}
	cc.mu.Unlock()
	close(l.done)
}

// admit reports whether one more registration may be cached, sweeping
// expired ones when the cache is full; cc.mu is held.
func (cc *clientCache) admit(now time.Time) bool {
	if cc.m == nil {
		cc.m = map[string]*cachedClient{}
	}
	if len(cc.m) < maxCachedClients {
		return true
	}
	for id, e := range cc.m {
		if e.load == nil && (!e.valid || now.Sub(e.fetched) >= clientCacheTTL) {
			delete(cc.m, id)
		}
	}
	return len(cc.m) < maxCachedClients
}

// forget drops id's registration, so that the next read loads it.
func (cc *clientCache) forget(id string) {
	// A load under way may have read the old registration: its waiters
	// get what it read, but with the entry gone it records nothing.
	cc.mu.Lock()
	delete(cc.m, id)
	cc.mu.Unlock()
}

// clientByID returns client id's registration through the cache.
func (s *storage) clientByID(ctx context.Context, id string) (issuer.Client, error) {
	return s.clients.get(ctx, id, s.store.Client, 0)
}

// clientBySecret authenticates client_secret_basic (RFC 6749 §2.3.1): the
// secret's SHA-256 against the registration's digest, in constant time,
// through the cache; a mismatch with a registration older than
// clientRecheckAge is checked again against a fresh read (the secret may
// have been rotated through another replica).
func (s *storage) clientBySecret(ctx context.Context, id, secret string) (issuer.Client, error) {
	c, err := s.clientByID(ctx, id)
	if err == nil && !secretOK(c, secret) {
		c, err = s.clients.get(ctx, id, s.store.Client, clientRecheckAge)
	}
	if err != nil || !secretOK(c, secret) {
		return issuer.Client{}, oidc.ErrInvalidClient().WithDescription("client authentication failed")
	}
	return c, nil
}

func secretOK(c issuer.Client, secret string) bool {
	return c.AuthMethod == issuer.AuthClientSecretBasic && issuer.SecretMatches(c.SecretHash, secret)
}

// ForgetClient drops the cached registration of client id, so that a
// change made through this replica (a new secret, new keys, a deletion)
// applies to the next request here at once; other replicas see it within
// clientCacheTTL.
func (p *Provider) ForgetClient(id string) { p.st.clients.forget(id) }
