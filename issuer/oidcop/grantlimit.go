package oidcop

import (
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// failureLimit bounds the failed requests of an extra grant from one
// address: the pre-authorized code and its short transaction code must
// not be guessed at speed. Failures spend tokens of the address's
// bucket; an address with none left is refused (429) until it refills.
// Kept per process, like the pages' limits.
type failureLimit struct {
	mu      sync.Mutex
	buckets map[string]*rate.Limiter
	every   rate.Limit
	burst   int
	sweep   time.Time
}

// grantFailures allows 20 failed grant requests a minute per address.
func newFailureLimit() *failureLimit {
	return &failureLimit{buckets: map[string]*rate.Limiter{}, every: rate.Every(3 * time.Second), burst: 20}
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (l *failureLimit) bucket(ip string, now time.Time) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.sweep) > time.Minute {
		for k, b := range l.buckets {
			if b.TokensAt(now) >= float64(l.burst) {
				delete(l.buckets, k)
			}
		}
		l.sweep = now
	}
	b, ok := l.buckets[ip]
	if !ok {
		b = rate.NewLimiter(l.every, l.burst)
		l.buckets[ip] = b
	}
	return b
}

// blocked reports whether ip has spent its failures, and when to retry.
func (l *failureLimit) blocked(ip string, now time.Time) (bool, time.Duration) {
	b := l.bucket(ip, now)
	if b.TokensAt(now) >= 1 {
		return false, 0
	}
	return true, time.Duration(float64(time.Second) / float64(l.every))
}

// failed spends one of ip's failures.
func (l *failureLimit) failed(ip string, now time.Time) { l.bucket(ip, now).AllowN(now, 1) }
