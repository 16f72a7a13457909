package pages

import (
	"errors"
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

// Limits are the rate limits on attempts. They are kept in the process:
// with several replicas each enforces its own, which bounds the total at
// replicas × limit.
type Limits struct {
	LoginPerIP        Rate // login begin and finish, per client IP
	LoginPerCitizen   Rate // login finish, per user handle presented
	EnrolPerIP        Rate // enrolment page, begin and finish, per client IP
	EnrolPerCitizen   Rate // enrolment finish, per citizen
	RecoverPerIP      Rate // recovery code attempts, per client IP
	RecoverPerCitizen Rate // recovery ceremonies, per citizen
}

// DefaultLimits are the limits for zero fields of Limits. Per-IP limits
// are generous because many citizens can share one address (carrier-grade
// NAT, a registrar's office); per-citizen limits are the tight ones.
var DefaultLimits = Limits{
	LoginPerIP:        Rate{120, time.Minute},
	LoginPerCitizen:   Rate{10, time.Minute},
	EnrolPerIP:        Rate{30, time.Minute},
	EnrolPerCitizen:   Rate{10, time.Minute},
	RecoverPerIP:      Rate{10, 10 * time.Minute},
	RecoverPerCitizen: Rate{5, 10 * time.Minute},
}

func (l *Limits) fields() []*Rate {
	return []*Rate{&l.LoginPerIP, &l.LoginPerCitizen, &l.EnrolPerIP, &l.EnrolPerCitizen, &l.RecoverPerIP, &l.RecoverPerCitizen}
}

func (l Limits) validate() error {
	for _, r := range l.fields() {
		if r.N < 0 || r.Per < 0 || (r.N > 0) != (r.Per > 0) {
			return errors.New("each rate limit needs both a positive count and a positive period")
		}
	}
	return nil
}

func (l Limits) withDefaults() Limits {
	def := DefaultLimits
	d := def.fields()
	for i, r := range l.fields() {
		if r.N == 0 {
			*r = *d[i]
		}
	}
	return l
}

// retryAfterSeconds is the Retry-After sent with a 429 (RFC 9110 §10.2.3).
const retryAfterSeconds = 60

type limiters struct {
	loginIP, loginCitizen, enrolIP, enrolCitizen, recoverIP, recoverCitizen *limiter
}

func newLimiters(l Limits, now func() time.Time) *limiters {
	return &limiters{
		loginIP:        newLimiter(l.LoginPerIP, now),
		loginCitizen:   newLimiter(l.LoginPerCitizen, now),
		enrolIP:        newLimiter(l.EnrolPerIP, now),
		enrolCitizen:   newLimiter(l.EnrolPerCitizen, now),
		recoverIP:      newLimiter(l.RecoverPerIP, now),
		recoverCitizen: newLimiter(l.RecoverPerCitizen, now),
	}
}

// limiter holds one token bucket per key.
type limiter struct {
	mu      sync.Mutex
	limit   rate.Limit
	burst   int
	now     func() time.Time
	buckets map[string]*rate.Limiter
}

// maxBuckets bounds the memory a flood of keys can take: past it, full
// (idle) buckets are dropped, which forgets nothing that limits anyone.
const maxBuckets = 100_000

func newLimiter(r Rate, now func() time.Time) *limiter {
	return &limiter{limit: rate.Limit(float64(r.N) / r.Per.Seconds()), burst: r.N, now: now, buckets: map[string]*rate.Limiter{}}
}

// allow takes a token from key's bucket and reports whether there was one.
func (l *limiter) allow(key string) bool {
	if len(key) > 200 {
		key = key[:200]
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
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
	return b.AllowN(now, 1)
}

// remoteIP is the default client identity: the peer's address, with IPv6
// addresses grouped by /64 (one subscriber's prefix).
func remoteIP(r *http.Request) string {
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
