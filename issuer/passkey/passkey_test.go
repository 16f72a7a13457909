package passkey_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cedula/cedula/internal/db/dbtest"
	"github.com/cedula/cedula/internal/testutil"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/passkey"
	"github.com/cedula/cedula/issuer/passkey/passkeytest"
	"github.com/cedula/cedula/issuer/sqlstore"
)

const (
	testRPID   = "id.example.gob"
	testOrigin = "https://id.example.gob"
)

type fixture struct {
	svc   *passkey.Service
	store *sqlstore.Store
	auth  *passkeytest.Authenticator
	logs  *testutil.Buffer
	clock *testutil.Clock
}

func newFixture(t testing.TB, mod func(*passkey.Config)) *fixture {
	t.Helper()
	// A real store: SQLite in t.TempDir(). The clock starts at the real
	// time (stored times have microsecond precision).
	f := &fixture{
		store: sqlstore.New(dbtest.SQLite(t, sqlstore.Migrations)),
		auth:  passkeytest.New(testOrigin),
		logs:  &testutil.Buffer{},
		clock: testutil.NewClock(time.Now().UTC().Truncate(time.Microsecond)),
	}
	cfg := passkey.Config{
		RPID:          testRPID,
		RPDisplayName: "Cedula",
		Origins:       []string{testOrigin},
		Logger:        slog.New(slog.NewJSONHandler(f.logs, nil)),
		Now:           f.clock.Now,
	}
	if mod != nil {
		mod(&cfg)
	}
	svc, err := passkey.New(cfg, f.store)
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	return f
}

func (f *fixture) citizen(t testing.TB, id string) issuer.Citizen {
	t.Helper()
	c := issuer.Citizen{ID: id, GivenName: "Ana", FamilyName: "Pérez", Email: "ana@example.gob", Created: f.clock.Now()}
	if err := f.store.CreateCitizen(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return c
}

// register runs a whole registration and returns the stored passkey.
func (f *fixture) register(t testing.TB, c issuer.Citizen) issuer.Passkey {
	t.Helper()
	ctx := context.Background()
	reg, err := f.svc.BeginRegistration(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := f.auth.Create(t, reg.Options, passkeytest.Gesture{})
	p, err := f.svc.FinishRegistration(ctx, reg.ID, c, body, "Mi teléfono")
	if err != nil {
		t.Fatalf("finish registration: got %v, want nil", err)
	}
	return p
}

func (f *fixture) login(t testing.TB, credID []byte, g passkeytest.Gesture) (issuer.Citizen, issuer.Passkey, error) {
	t.Helper()
	ctx := context.Background()
	l, err := f.svc.BeginLogin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return f.svc.FinishLogin(ctx, l.ID, f.auth.Get(t, l.Options, credID, g))
}

func TestRegistrationOptions(t *testing.T) {
	f := newFixture(t, nil)
	c := f.citizen(t, "cit-0001")
	first := f.register(t, c)

	reg, err := f.svc.BeginRegistration(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	var opts struct {
		PublicKey struct {
			RP   struct{ ID, Name string }
			User struct {
				ID          string `json:"id"`
				Name        string `json:"name"`
				DisplayName string `json:"displayName"`
			}
			AuthenticatorSelection struct {
				ResidentKey      string `json:"residentKey"`
				UserVerification string `json:"userVerification"`
			} `json:"authenticatorSelection"`
			Attestation        string `json:"attestation"`
			ExcludeCredentials []struct {
				ID string `json:"id"`
			} `json:"excludeCredentials"`
		} `json:"publicKey"`
	}
	passkeytest.RoundTrip(t, reg.Options, &opts)
	pk := opts.PublicKey
	checks := []struct{ what, got, want string }{
		{"rp.id", pk.RP.ID, testRPID},
		{"user.id", string(passkeytest.Unb64(t, pk.User.ID)), c.ID},
		{"user.name", pk.User.Name, "ana@example.gob"},
		{"user.displayName", pk.User.DisplayName, "Ana Pérez"},
		{"residentKey", pk.AuthenticatorSelection.ResidentKey, "required"},
		{"userVerification", pk.AuthenticatorSelection.UserVerification, "required"},
		{"attestation", pk.Attestation, "none"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %q, want %q", ch.what, ch.got, ch.want)
		}
	}
	if len(pk.ExcludeCredentials) != 1 || !bytes.Equal(passkeytest.Unb64(t, pk.ExcludeCredentials[0].ID), first.ID) {
		t.Errorf("excludeCredentials: got %v, want the first passkey's ID", pk.ExcludeCredentials)
	}
}

func TestRegisterAndLogin(t *testing.T) {
	f := newFixture(t, nil)
	f.auth.BackupEligible, f.auth.BackedUp = true, false
	c := f.citizen(t, "cit-0001")
	p := f.register(t, c)

	stored, err := f.store.Passkey(context.Background(), p.ID)
	if err != nil {
		t.Fatalf("stored passkey: got %v, want nil", err)
	}
	if stored.CitizenID != c.ID || stored.Name != "Mi teléfono" || !stored.BackupEligible || stored.BackupState {
		t.Errorf("stored passkey: got citizen %q name %q BE %v BS %v, want %q %q true false",
			stored.CitizenID, stored.Name, stored.BackupEligible, stored.BackupState, c.ID, "Mi teléfono")
	}
	if !bytes.Equal(stored.AAGUID, f.auth.AAGUID[:]) {
		t.Errorf("AAGUID: got %x, want %x", stored.AAGUID, f.auth.AAGUID)
	}
	if !stored.Created.Equal(f.clock.Now()) {
		t.Errorf("created: got %v, want %v", stored.Created, f.clock.Now())
	}

	// The passkey was backed up since: BS is recorded at login.
	f.auth.BackedUp = true
	f.clock.Add(time.Hour)
	gotC, gotP, err := f.login(t, p.ID, passkeytest.Gesture{Counter: 7})
	if err != nil {
		t.Fatalf("login: got %v, want nil", err)
	}
	if gotC.ID != c.ID || !bytes.Equal(gotP.ID, p.ID) {
		t.Errorf("login: got citizen %q, want %q", gotC.ID, c.ID)
	}
	after, _ := f.store.Passkey(context.Background(), p.ID)
	if after.SignCount != 7 || !after.BackupState || !after.LastUsed.Equal(f.clock.Now()) {
		t.Errorf("after login: got count %d BS %v last used %v, want 7 true %v", after.SignCount, after.BackupState, after.LastUsed, f.clock.Now())
	}
	if gotP.SignCount != 7 || !gotP.BackupState {
		t.Errorf("returned passkey: got count %d BS %v, want 7 true", gotP.SignCount, gotP.BackupState)
	}
}

func TestLoginZeroCounter(t *testing.T) {
	// Synced passkeys report 0 every time; that is not a regression
	// (WebAuthn L3 §6.1.1).
	f := newFixture(t, nil)
	p := f.register(t, f.citizen(t, "cit-0001"))
	for i := range 3 {
		if _, _, err := f.login(t, p.ID, passkeytest.Gesture{}); err != nil {
			t.Fatalf("login %d with counter 0: got %v, want nil", i, err)
		}
	}
}

func TestCounterRegressionRefused(t *testing.T) {
	f := newFixture(t, nil)
	p := f.register(t, f.citizen(t, "cit-0001"))
	if _, _, err := f.login(t, p.ID, passkeytest.Gesture{Counter: 10}); err != nil {
		t.Fatalf("login with counter 10: got %v, want nil", err)
	}
	for _, n := range []uint32{10, 3, 0} {
		_, _, err := f.login(t, p.ID, passkeytest.Gesture{Counter: n})
		if !errors.Is(err, issuer.ErrCounter) {
			t.Errorf("login with counter %d after 10: got %v, want ErrCounter", n, err)
		}
	}
	stored, _ := f.store.Passkey(context.Background(), p.ID)
	if stored.SignCount != 10 {
		t.Errorf("stored Counter: got %d, want 10", stored.SignCount)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, "signature counter") {
		t.Errorf("logs: got %q, want a warning about the counter", logs)
	}
	for _, secret := range []string{passkeytest.B64(p.ID), hex.EncodeToString(p.ID), "cit-0001", "Ana", "ana@example.gob"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q: got %q, want no credential ID or personal data", secret, logs)
		}
	}
	if _, _, err := f.login(t, p.ID, passkeytest.Gesture{Counter: 11}); err != nil {
		t.Errorf("login with counter 11: got %v, want nil", err)
	}
}

func TestUnknownCredential(t *testing.T) {
	f := newFixture(t, nil)
	ana := f.citizen(t, "cit-0001")
	bob := f.citizen(t, "cit-0002")
	f.register(t, ana)
	bobKey := f.register(t, bob)

	// A credential Cedula never registered, claiming Ana's handle.
	stray := []byte("never-registered-credential-id-0")
	f.auth.SetUserHandle(stray, []byte(ana.ID))
	// Bob's credential, presented with Ana's user handle.
	swapped := append([]byte(nil), bobKey.ID...)
	f.auth.SetUserHandle(swapped, []byte(ana.ID))
	// A credential naming a citizen who does not exist.
	ghost := []byte("credential-of-a-ghost-citizen-00")
	f.auth.SetUserHandle(ghost, []byte("cit-9999"))
	// A credential without a user handle (not discoverable).
	bare := []byte("credential-without-user-handle-0")

	for name, id := range map[string][]byte{"unregistered": stray, "other citizen's": swapped, "unknown handle": ghost, "no handle": bare} {
		t.Run(name, func(t *testing.T) {
			_, _, err := f.login(t, id, passkeytest.Gesture{Counter: 1})
			if !errors.Is(err, passkey.ErrUnknownCredential) {
				t.Errorf("got %v, want ErrUnknownCredential", err)
			}
		})
	}
}

func TestWrongChallenge(t *testing.T) {
	f := newFixture(t, nil)
	c := f.citizen(t, "cit-0001")
	ctx := context.Background()
	other := passkeytest.B64([]byte("a challenge the server never issued"))

	reg, err := f.svc.BeginRegistration(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := f.auth.Create(t, reg.Options, passkeytest.Gesture{Challenge: other})
	if _, err := f.svc.FinishRegistration(ctx, reg.ID, c, body, "x"); !errors.Is(err, passkey.ErrVerification) {
		t.Errorf("registration: got %v, want ErrVerification", err)
	}

	p := f.register(t, c)
	if _, _, err := f.login(t, p.ID, passkeytest.Gesture{Challenge: other, Counter: 1}); !errors.Is(err, passkey.ErrVerification) {
		t.Errorf("login: got %v, want ErrVerification", err)
	}
}

func TestWrongOrigin(t *testing.T) {
	f := newFixture(t, nil)
	p := f.register(t, f.citizen(t, "cit-0001"))
	_, _, err := f.login(t, p.ID, passkeytest.Gesture{Origin: "https://id.example.gob.evil.example", Counter: 1})
	if !errors.Is(err, passkey.ErrVerification) {
		t.Errorf("got %v, want ErrVerification", err)
	}
}

func TestAAGUIDAllowList(t *testing.T) {
	listed := uuid.MustParse("6e2f9c1d-1111-4222-8333-944455556666")
	mine := uuid.UUID{}
	copy(mine[:], []byte("cedula-test-auth"))

	tests := []struct {
		name    string
		allowed []string
		want    error
	}{
		{"no list", nil, nil},
		{"listed", []string{listed.String(), mine.String()}, nil},
		{"not listed", []string{listed.String()}, passkey.ErrAAGUID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(c *passkey.Config) { c.AllowedAAGUIDs = tc.allowed })
			c := f.citizen(t, "cit-0001")
			reg, err := f.svc.BeginRegistration(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := f.auth.Create(t, reg.Options, passkeytest.Gesture{})
			_, err = f.svc.FinishRegistration(context.Background(), reg.ID, c, body, "x")
			if !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}

	t.Run("zero aaguid", func(t *testing.T) {
		f := newFixture(t, func(c *passkey.Config) { c.AllowedAAGUIDs = []string{listed.String()} })
		f.auth.AAGUID = [16]byte{}
		c := f.citizen(t, "cit-0001")
		reg, _ := f.svc.BeginRegistration(context.Background(), c)
		body, _ := f.auth.Create(t, reg.Options, passkeytest.Gesture{})
		if _, err := f.svc.FinishRegistration(context.Background(), reg.ID, c, body, "x"); !errors.Is(err, passkey.ErrAAGUID) {
			t.Errorf("got %v, want ErrAAGUID", err)
		}
	})

	t.Run("login after the list changed", func(t *testing.T) {
		// Registered while any authenticator was allowed, then the
		// list was configured without this one.
		f := newFixture(t, nil)
		p := f.register(t, f.citizen(t, "cit-0001"))
		strict, err := passkey.New(passkey.Config{RPID: testRPID, RPDisplayName: "Cedula", Origins: []string{testOrigin},
			AllowedAAGUIDs: []string{listed.String()}, Now: f.clock.Now}, f.store)
		if err != nil {
			t.Fatal(err)
		}
		f.svc = strict
		if _, _, err := f.login(t, p.ID, passkeytest.Gesture{Counter: 1}); !errors.Is(err, passkey.ErrAAGUID) {
			t.Errorf("got %v, want ErrAAGUID", err)
		}
	})
}

func TestUserVerificationRequired(t *testing.T) {
	f := newFixture(t, nil)
	c := f.citizen(t, "cit-0001")
	ctx := context.Background()

	reg, _ := f.svc.BeginRegistration(ctx, c)
	body, _ := f.auth.Create(t, reg.Options, passkeytest.Gesture{NoUV: true})
	if _, err := f.svc.FinishRegistration(ctx, reg.ID, c, body, "x"); !errors.Is(err, passkey.ErrUserVerification) {
		t.Errorf("registration without UV: got %v, want ErrUserVerification", err)
	}
	if ps, _ := f.store.PasskeysOf(ctx, c.ID); len(ps) != 0 {
		t.Errorf("passkeys after refused registration: got %d, want 0", len(ps))
	}

	p := f.register(t, c)
	if _, _, err := f.login(t, p.ID, passkeytest.Gesture{NoUV: true, Counter: 1}); !errors.Is(err, passkey.ErrUserVerification) {
		t.Errorf("login without UV: got %v, want ErrUserVerification", err)
	}
}

func TestCeremonyMisuse(t *testing.T) {
	ctx := context.Background()

	t.Run("finished twice", func(t *testing.T) {
		f := newFixture(t, nil)
		p := f.register(t, f.citizen(t, "cit-0001"))
		l, _ := f.svc.BeginLogin(ctx)
		body := f.auth.Get(t, l.Options, p.ID, passkeytest.Gesture{Counter: 1})
		if _, _, err := f.svc.FinishLogin(ctx, l.ID, body); err != nil {
			t.Fatalf("first finish: got %v, want nil", err)
		}
		if _, _, err := f.svc.FinishLogin(ctx, l.ID, body); !errors.Is(err, passkey.ErrCeremony) {
			t.Errorf("second finish: got %v, want ErrCeremony", err)
		}
	})
	t.Run("expired", func(t *testing.T) {
		f := newFixture(t, nil)
		p := f.register(t, f.citizen(t, "cit-0001"))
		l, _ := f.svc.BeginLogin(ctx)
		f.clock.Add(6 * time.Minute)
		if _, _, err := f.svc.FinishLogin(ctx, l.ID, f.auth.Get(t, l.Options, p.ID, passkeytest.Gesture{Counter: 1})); !errors.Is(err, passkey.ErrCeremony) {
			t.Errorf("got %v, want ErrCeremony", err)
		}
	})
	t.Run("unknown id", func(t *testing.T) {
		f := newFixture(t, nil)
		for _, id := range []string{"", "nope", strings.Repeat("x", 4000)} {
			if _, _, err := f.svc.FinishLogin(ctx, id, []byte(`{}`)); !errors.Is(err, passkey.ErrCeremony) {
				t.Errorf("id of %d bytes: got %v, want ErrCeremony", len(id), err)
			}
		}
	})
	t.Run("login ceremony used to register", func(t *testing.T) {
		f := newFixture(t, nil)
		c := f.citizen(t, "cit-0001")
		l, _ := f.svc.BeginLogin(ctx)
		reg, _ := f.svc.BeginRegistration(ctx, c)
		body, _ := f.auth.Create(t, reg.Options, passkeytest.Gesture{})
		if _, err := f.svc.FinishRegistration(ctx, l.ID, c, body, "x"); !errors.Is(err, passkey.ErrCeremony) {
			t.Errorf("got %v, want ErrCeremony", err)
		}
	})
	t.Run("another citizen's registration", func(t *testing.T) {
		f := newFixture(t, nil)
		ana, bob := f.citizen(t, "cit-0001"), f.citizen(t, "cit-0002")
		reg, _ := f.svc.BeginRegistration(ctx, ana)
		body, _ := f.auth.Create(t, reg.Options, passkeytest.Gesture{})
		if _, err := f.svc.FinishRegistration(ctx, reg.ID, bob, body, "x"); !errors.Is(err, passkey.ErrCeremony) {
			t.Errorf("got %v, want ErrCeremony", err)
		}
	})
	t.Run("registered twice", func(t *testing.T) {
		// A client that ignores excludeCredentials sends an already
		// registered credential (WebAuthn L3 §7.1 step 26).
		f := newFixture(t, nil)
		c := f.citizen(t, "cit-0001")
		p := f.register(t, c)
		reg, _ := f.svc.BeginRegistration(ctx, c)
		body, _ := f.auth.Create(t, reg.Options, passkeytest.Gesture{Reuse: p.ID})
		if _, err := f.svc.FinishRegistration(ctx, reg.ID, c, body, "x"); !errors.Is(err, issuer.ErrExists) {
			t.Errorf("got %v, want ErrExists", err)
		}
	})
}

func TestMalformed(t *testing.T) {
	f := newFixture(t, nil)
	c := f.citizen(t, "cit-0001")
	ctx := context.Background()
	bodies := []string{``, `null`, `[]`, `{}`, `{"id":"AA","rawId":"AA","type":"public-key"}`, `{"id":"AA","rawId":"AA","type":"public-key","response":{"clientDataJSON":"e30","attestationObject":"oA"}}`, `{"id":` + strings.Repeat(`[`, 5000)}
	for _, b := range bodies {
		l, _ := f.svc.BeginLogin(ctx)
		if _, _, err := f.svc.FinishLogin(ctx, l.ID, []byte(b)); !errors.Is(err, passkey.ErrMalformed) {
			t.Errorf("login body %.40q: got %v, want ErrMalformed", b, err)
		}
		reg, _ := f.svc.BeginRegistration(ctx, c)
		if _, err := f.svc.FinishRegistration(ctx, reg.ID, c, []byte(b), "x"); !errors.Is(err, passkey.ErrMalformed) {
			t.Errorf("registration body %.40q: got %v, want ErrMalformed", b, err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	err := passkey.Config{
		RPID:           "",
		Origins:        []string{"http://id.example.gob", "https://other.example/path"},
		AllowedAAGUIDs: []string{"not-a-uuid"},
		CeremonyTTL:    -time.Second,
	}.Validate()
	if err == nil {
		t.Fatal("got nil, want an error")
	}
	for _, want := range []string{"rp id is required", "display name", "must use https", "scheme://host", "not a UUID", "ttl"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("got %q, want it to mention %q", err, want)
		}
	}
	err = passkey.Config{RPID: "id.example.gob", RPDisplayName: "Cedula", Origins: []string{"https://evil.example"}}.Validate()
	if err == nil || !strings.Contains(err.Error(), "not within rp id") {
		t.Errorf("origin outside RP ID: got %v, want an error", err)
	}
	ok := passkey.Config{RPID: "localhost", RPDisplayName: "Cedula", Origins: []string{"http://localhost:8080"}}
	if err := ok.Validate(); err != nil {
		t.Errorf("localhost config: got %v, want nil", err)
	}
}

func TestBeginLoginOptions(t *testing.T) {
	f := newFixture(t, nil)
	l, err := f.svc.BeginLogin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(l.Options)
	var opts struct {
		PublicKey map[string]any `json:"publicKey"`
	}
	json.Unmarshal(b, &opts)
	if _, ok := opts.PublicKey["allowCredentials"]; ok {
		t.Errorf("allowCredentials: got %v, want none (discoverable login)", opts.PublicKey["allowCredentials"])
	}
	if got := opts.PublicKey["userVerification"]; got != "required" {
		t.Errorf("userVerification: got %v, want required", got)
	}
	if got := opts.PublicKey["rpId"]; got != testRPID {
		t.Errorf("rpId: got %v, want %s", got, testRPID)
	}
	if len(l.ID) < 43 {
		t.Errorf("ceremony ID: got %d characters, want at least 43 (256 bits)", len(l.ID))
	}
}
