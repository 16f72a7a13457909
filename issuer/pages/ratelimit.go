package pages

import (
	"errors"
	"time"

	"github.com/cedula/cedula/internal/ratelimit"
)

// Rate allows N attempts per Per, in a burst or spread out (a token
// bucket of N tokens refilled at N per Per).
type Rate = ratelimit.Rate

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
	LoginPerIP:        Rate{N: 120, Per: time.Minute},
	LoginPerCitizen:   Rate{N: 10, Per: time.Minute},
	EnrolPerIP:        Rate{N: 30, Per: time.Minute},
	EnrolPerCitizen:   Rate{N: 10, Per: time.Minute},
	RecoverPerIP:      Rate{N: 10, Per: 10 * time.Minute},
	RecoverPerCitizen: Rate{N: 5, Per: 10 * time.Minute},
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
	loginIP, loginCitizen, enrolIP, enrolCitizen, recoverIP, recoverCitizen *ratelimit.Limiter
}

func newLimiters(l Limits, now func() time.Time) *limiters {
	return &limiters{
		loginIP:        ratelimit.New(l.LoginPerIP, now),
		loginCitizen:   ratelimit.New(l.LoginPerCitizen, now),
		enrolIP:        ratelimit.New(l.EnrolPerIP, now),
		enrolCitizen:   ratelimit.New(l.EnrolPerCitizen, now),
		recoverIP:      ratelimit.New(l.RecoverPerIP, now),
		recoverCitizen: ratelimit.New(l.RecoverPerCitizen, now),
	}
}
