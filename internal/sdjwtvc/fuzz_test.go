package sdjwtvc

import (
	"context"
	"errors"
	"testing"
	"time"
)

// FuzzVerify feeds Verify arbitrary presentations against a resolver that
// holds the issuer's keys already: it must not panic, must refuse with a
// Failure, and whatever it accepts must be the issuer's credential with
// user claims only.
func FuzzVerify(f *testing.F) {
	fx := newFixture(f)
	r := fx.resolver()
	if _, err := r.IssuerKeys(context.Background(), fx.is.iss); err != nil {
		f.Fatal(err)
	}
	valid := fx.present(fx.issue(nil), nil, nil)
	f.Add(valid)
	f.Add(fx.issue(nil))
	f.Add(fx.present(fx.resign(fx.issue(nil), fx.key, nil, func(p map[string]any) { p["nbf"] = start.Add(time.Hour).Unix() }), nil, nil))
	f.Add(fx.present(fx.issue(nil)+disclosure(f, "c2FsdA", "", "x")+"~", nil, nil))
	f.Add("~")
	f.Add("a.b.c~~")
	f.Add("eyJhbGciOiJub25lIn0.e30.~WyJzIiwibiIsMV0~")
	o := fx.options()
	o.CheckTypeMetadata = true
	f.Fuzz(func(t *testing.T, pres string) {
		c, err := r.Verify(context.Background(), pres, o)
		if err != nil {
			var fl *Failure
			if !errors.As(err, &fl) || fl.Reason == "" || fl.Detail == "" {
				t.Fatalf("Verify: got %v, want a Failure with a reason and a detail", err)
			}
			return
		}
		if c.Issuer != fx.is.iss || c.HolderJKT == "" {
			t.Fatalf("Verify accepted a credential of %q bound to %q", c.Issuer, c.HolderJKT)
		}
		for _, name := range registered {
			if _, ok := c.Claims[name]; ok {
				t.Fatalf("Claims holds the registered claim %q", name)
			}
		}
	})
}
