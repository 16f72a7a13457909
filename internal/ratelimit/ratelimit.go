// Package ratelimit holds per-key token buckets, kept in the process: the
// limits on the citizen pages' attempts and on failed grant requests at
// the token endpoint. With several replicas each enforces its own, which
// bounds the total at replicas × limit.
package ratelimit

import (
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rate allows N attempts per Per, in a burst or spread out (a token
// bucket of N tokens refilled at N per Per).
type Rate struct {
	N   int
	Per time.Duration
}

// Limiter holds one token bucket per key.
type Limiter struct {
	mu      sync.Mutex
	limit   rate.Limit
	burst   int
	now     func() time.Time
	buckets map[string]*rate.Limiter
}

// maxBuckets bounds the memory a flood of keys can take: past it, full
// (idle) buckets are dropped, which forgets nothing that limits anyone.
const maxBuckets = 100_000

// New returns a limiter of r on the clock now (time.Now when nil).
func New(r Rate, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{limit: rate.Limit(float64(r.N) / r.Per.Seconds()), burst: r.N, now: now, buckets: map[string]*rate.Limiter{}}
}

// bucket returns key's bucket, made full when new.
func (l *Limiter) bucket(key string, now time.Time) *rate.Limiter {
	if len(key) > 200 {
		key = key[:200]
	}
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxBuckets {
			for k, v := range l.buckets {
				if v.TokensAt(now) >= float64(l.burst) {
					delete(l.buckets, k)
				}
			}
		}
		b = rate.NewLimiter(l.limit, l.burst)
		l.buckets[key] = b
	}
	return b
}

// Allow takes a token from key's bucket and reports whether there was one.
func (l *Limiter) Allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	return l.bucket(key, now).AllowN(now, 1)
}

// Exhausted reports, without taking one, whether key's bucket is empty —
// for limits that only failures spend (Allow after a failure).
func (l *Limiter) Exhausted(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	return l.bucket(key, now).TokensAt(now) < 1
}

// Refill is how long one token takes to come back.
func (l *Limiter) Refill() time.Duration {
	return time.Duration(float64(time.Second) / float64(l.limit))
}

// RemoteIP is the default client identity: the peer's address, with IPv6
// addresses grouped by /64 (one subscriber's prefix).
func RemoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if ip.To4() == nil {
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return ip.String()
}
