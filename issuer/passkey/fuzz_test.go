package passkey_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/passkey"
	"github.com/cedula/cedula/issuer/passkey/passkeytest"
)

// fastCeremonies keeps ceremonies in memory over the SQL store, so that a
// fuzz run spends its time in parsing and verification rather than in
// fsync (each iteration begins a ceremony).
type fastCeremonies struct {
	passkey.Store
	mu sync.Mutex
	m  map[string][]byte
}

func (f *fastCeremonies) PutCeremony(_ context.Context, id string, data []byte, _ time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[id] = data
	return nil
}

func (f *fastCeremonies) TakeCeremony(_ context.Context, id string, _ time.Time) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	data, ok := f.m[id]
	delete(f.m, id)
	if !ok {
		return nil, issuer.ErrNotFound
	}
	return data, nil
}

// newFuzzFixture is a fixture whose service keeps ceremonies in memory.
func newFuzzFixture(f *testing.F) *fixture {
	fx := newFixture(f, nil)
	svc, err := passkey.New(passkey.Config{RPID: testRPID, RPDisplayName: "Cedula", Origins: []string{testOrigin}},
		&fastCeremonies{Store: fx.store, m: map[string][]byte{}})
	if err != nil {
		f.Fatal(err)
	}
	fx.svc = svc
	return fx
}

// FuzzFinishLogin feeds arbitrary bytes to FinishLogin as the assertion
// body of a real, pending ceremony: it must never panic and must always
// fail, since nothing but the authenticator's key can sign the challenge.
func FuzzFinishLogin(f *testing.F) {
	fx := newFuzzFixture(f)
	c := fx.citizen(f, "cit-0001")
	p := fx.register(f, c)
	// Seeds: a well-formed assertion for an earlier ceremony (wrong
	// challenge now), and a few shapes the parser must reject.
	l, err := fx.svc.BeginLogin(context.Background())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(fx.auth.Get(f, l.Options, p.ID, passkeytest.Gesture{Counter: 1}))
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
	fx := newFuzzFixture(f)
	c := fx.citizen(f, "cit-0001")
	reg, err := fx.svc.BeginRegistration(context.Background(), c)
	if err != nil {
		f.Fatal(err)
	}
	seed, _ := fx.auth.Create(f, reg.Options, passkeytest.Gesture{})
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
