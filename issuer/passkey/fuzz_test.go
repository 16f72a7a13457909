package passkey_test

import (
	"context"
	"testing"
)

// FuzzFinishLogin feeds arbitrary bytes to FinishLogin as the assertion
// body of a real, pending ceremony: it must never panic and must always
// fail, since nothing but the authenticator's key can sign the challenge.
func FuzzFinishLogin(f *testing.F) {
	fx := newFixture(f, nil)
	c := fx.citizen(f, "cit-0001")
	p := fx.register(f, c)
	// Seeds: a well-formed assertion for an earlier ceremony (wrong
	// challenge now), and a few shapes the parser must reject.
	l, err := fx.svc.BeginLogin(context.Background())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(fx.auth.get(f, l.Options, p.ID, gesture{counter: 1}))
	for _, s := range []string{``, `{}`, `null`, `{"id":"AA","rawId":"AA","type":"public-key","response":{}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ctx := context.Background()
		l, err := fx.svc.BeginLogin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := fx.svc.FinishLogin(ctx, l.ID, body); err == nil {
			t.Fatalf("FinishLogin(%q): got nil error, want one", body)
		}
	})
}

// FuzzParseCredential feeds arbitrary bytes to VerifyRegistration as the
// attestation body of a real, pending ceremony: it must never panic and
// must always fail.
func FuzzParseCredential(f *testing.F) {
	fx := newFixture(f, nil)
	c := fx.citizen(f, "cit-0001")
	reg, err := fx.svc.BeginRegistration(context.Background(), c)
	if err != nil {
		f.Fatal(err)
	}
	seed, _ := fx.auth.create(f, reg.Options, gesture{})
	f.Add(seed)
	for _, s := range []string{``, `{}`, `[]`, `{"id":"AA","rawId":"AA","type":"public-key","response":{"clientDataJSON":"e30","attestationObject":"oA"}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ctx := context.Background()
		reg, err := fx.svc.BeginRegistration(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fx.svc.VerifyRegistration(ctx, reg.ID, c, body, "x"); err == nil {
			t.Fatalf("VerifyRegistration(%q): got nil error, want one", body)
		}
	})
}
