package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cedula/cedula/cmd/cedula/app"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"

	"github.com/chromedp/chromedp"

	"github.com/cedula/cedula/internal/browsertest"
	"github.com/cedula/cedula/internal/config"
	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/internal/db/dbtest"
	"github.com/cedula/cedula/internal/rptest"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/pages"
	"github.com/cedula/cedula/issuer/sqlstore"
)

// TestMain lets the test binary act as the cedula command, so that tests
// can start real `cedula serve` processes without building anything.
func TestMain(m *testing.M) {
	if os.Getenv("CEDULA_TEST_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// process is a `cedula …` child process.
type process struct {
	cmd *exec.Cmd
	out *bytes.Buffer
}

func startCedula(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	// Each process its own free admin port: several run at once.
	cmd.Env = append(append(os.Environ(), "CEDULA_TEST_RUN_MAIN=1", "CEDULA_ADMIN_LISTEN=127.0.0.1:0"), env...)
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, out: out}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("cedula %s output:\n%s", strings.Join(args, " "), out)
		}
	})
	return p
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitReady(t *testing.T, url string) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		res, err := http.Get(url + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
	}
	t.Fatalf("%s never became ready", url)
}

// TestTwoReplicasOnePostgres runs two `cedula serve` processes on one
// PostgreSQL database (sharing the data folder for the local keystore and
// the server secret, as replicas share Vault and CEDULA_SECRET). An agency
// starts a login on replica A; the citizen logs in with a passkey and
// consents on replica B; A issues the code, and the agency's go-oidc client
// verifies the ID token and reads userinfo.
func TestTwoReplicasOnePostgres(t *testing.T) {
	dbURL := dbtest.PostgresURL(t)
	ctx := browsertest.Start(t, 3*time.Minute)
	portA, portB := freePort(t), freePort(t)
	a, b := fmt.Sprintf("http://localhost:%d", portA), fmt.Sprintf("http://localhost:%d", portB)
	dataDir := t.TempDir()
	// The agency's purpose, in the registry both replicas load: the
	// consent is given on B and decided on by A when A serves userinfo.
	purposes := filepath.Join(t.TempDir(), "purposes.yaml")
	if err := os.WriteFile(purposes, []byte(`- id: replica-sign-in
  name: {es: Iniciar sesión, en: Sign in}
  description: {es: Nombre y correo para el trámite., en: Name and email for the service.}
  controller: replica-agency
  legal_basis: consent
  categories: [profile, email]
  dpv: dpv:ServiceProvision
  notice_version: "1"
  notice_url: https://agency.example.gov/privacy
`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"CEDULA_KEK=" + strings.Repeat("ef", 32), "CEDULA_PASSKEY_ORIGINS=" + b, "CEDULA_DB=" + dbURL, "CEDULA_DATA_DIR=" + dataDir,
		"CEDULA_PURPOSES=" + purposes}
	startCedula(t, env, "serve", "--listen", fmt.Sprintf("127.0.0.1:%d", portA), "--public-url", a)
	waitReady(t, a)
	// B has the same issuer identifier: it is the same provider.
	startCedula(t, env, "serve", "--listen", fmt.Sprintf("127.0.0.1:%d", portB), "--public-url", a)
	waitReady(t, b)

	d, err := db.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	st := sqlstore.New(d)
	defer st.Close()
	rp := rptest.New(t, a, "replica-agency", "purpose:replica-sign-in")
	bg := context.Background()
	if err := st.PutClient(bg, issuer.Client{ID: "replica-agency", Name: "Agencia", RedirectURIs: []string{rp.URL + "/cb"},
		GrantTypes: []string{issuer.GrantAuthorizationCode}, AuthMethod: issuer.AuthNone, SubjectType: issuer.SubjectPairwise}); err != nil {
		t.Fatal(err)
	}
	ana := issuer.Citizen{ID: issuer.NewCitizenID(), GivenName: "Ana", FamilyName: "García", Email: "ana@example.org", Created: time.Now()}
	if err := st.CreateCitizen(bg, ana); err != nil {
		t.Fatal(err)
	}
	link, _, err := pages.Enrol(bg, st, ana.ID, "test", time.Hour, b)
	if err != nil {
		t.Fatal(err)
	}

	tab := browsertest.Tab{T: t, Ctx: ctx}
	run := tab.Do
	waitURL := func(prefix string) string {
		t.Helper()
		tab.WaitTrue(fmt.Sprintf(`location.href.startsWith(%q) && document.readyState === "complete"`, prefix))
		return tab.Eval(`location.href`)
	}

	// Enrol on B.
	run("enrol on B", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("form.ceremony")))
	auth, err := browsertest.AddAuthenticator(ctx)
	if err != nil {
		t.Fatal(err)
	}
	run("create the passkey", chromedp.Click(chromedp.CSS("form.ceremony button[type=submit]")), chromedp.WaitVisible(chromedp.ID("recovery-codes")))
	if err := browsertest.SetPresence(ctx, auth, false); err != nil {
		t.Fatal(err)
	}
	run("sign out", chromedp.Click(chromedp.CSS("#recovery-codes a[data-continue]")), chromedp.WaitVisible(chromedp.CSS("form.logout button")),
		chromedp.Click(chromedp.CSS("form.logout button")))
	waitURL(b + "/login")

	// The agency starts the login on A.
	run("agency", chromedp.Navigate(rp.URL+"/start"))
	atA := waitURL(a + "/login?authRequestID=")
	id := strings.TrimPrefix(atA, a+"/login?authRequestID=")

	// The citizen finishes it on B. A's login page is left first: its
	// pending conditional (autofill) request would otherwise take the
	// authenticator's presence as soon as it comes back, and log in on A.
	run("leave A", chromedp.Navigate("about:blank"))
	if err := browsertest.SetPresence(ctx, auth, true); err != nil {
		t.Fatal(err)
	}
	run("log in on B", chromedp.Navigate(b+"/login?authRequestID="+id))
	waitURL(b + "/consent")
	run("consent on B", chromedp.Click(chromedp.CSS(`button[value="approve"]`)), chromedp.WaitVisible(chromedp.ID("rp-done")))
	res := rp.Result(t)
	if res.IDToken.Issuer != a || res.Claims["given_name"] != "Ana" {
		t.Errorf("agency got iss %q and claims %v; want iss %s and Ana's claims", res.IDToken.Issuer, res.Claims, a)
	}
}

// TestAuditTwoReplicasOnePostgres: two `cedula serve` processes on one
// PostgreSQL database receive audit appends at the same time. The log ends
// with no gap and no duplicate index, every acknowledged entry where it was
// acknowledged, and one tree that `cedula audit verify` accepts through
// either replica, consistent with checkpoints taken from both.
func TestAuditTwoReplicasOnePostgres(t *testing.T) {
	dbURL := dbtest.PostgresURL(t)
	portA, portB := freePort(t), freePort(t)
	a, b := fmt.Sprintf("http://localhost:%d", portA), fmt.Sprintf("http://localhost:%d", portB)
	dataDir := t.TempDir()
	env := []string{"CEDULA_KEK=" + strings.Repeat("9a", 32), "CEDULA_DB=" + dbURL, "CEDULA_DATA_DIR=" + dataDir}
	startCedula(t, env, "serve", "--listen", fmt.Sprintf("127.0.0.1:%d", portA), "--public-url", a)
	waitReady(t, a)
	startCedula(t, env, "serve", "--listen", fmt.Sprintf("127.0.0.1:%d", portB), "--public-url", a)
	waitReady(t, b)

	key, err := jose.NewClientKey(keys.ES256)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := key.PublicJWKS()
	d, err := db.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	st := sqlstore.New(d)
	err = st.PutClient(context.Background(), issuer.Client{ID: "recorder", Name: "recorder", GrantTypes: []string{issuer.GrantClientCredentials},
		AuthMethod: issuer.AuthPrivateKeyJWT, JWKS: jwks, SubjectType: issuer.SubjectPairwise, Scopes: []string{app.AuditWriteScope}})
	st.Close()
	d.Close()
	if err != nil {
		t.Fatal(err)
	}
	// Both replicas share the issuer identifier, so a token from one works on the other.
	token := clientToken(t, a, key)

	var mu sync.Mutex
	acked := map[int64]string{}
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		replica := []string{a, b}[g%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 60; n++ {
				action := fmt.Sprintf("replica.g%d.n%d", g, n)
				i, err := postAudit(context.Background(), replica, token, action)
				if err != nil {
					t.Errorf("append through %s: %v", replica, err)
					return
				}
				mu.Lock()
				if prev, dup := acked[i]; dup {
					t.Errorf("index %d acknowledged twice: %s and %s", i, prev, action)
				}
				acked[i] = action
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(acked) != 16*60 {
		t.Fatalf("acknowledged %d appends, want %d", len(acked), 16*60)
	}
	checkAcked(t, a, acked)
	// Checkpoints cover the whole log on both replicas, then verify through
	// each, consistent with the other's checkpoint.
	var saved []string
	for _, r := range []string{a, b} {
		for deadline := time.Now().Add(10 * time.Second); checkpointSize(fetch(t, r+"/audit/checkpoint")) < int64(len(acked)); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: no checkpoint of the whole log after 10 s", r)
			}
		}
		f := filepath.Join(t.TempDir(), "checkpoint")
		os.WriteFile(f, []byte(fetch(t, r+"/audit/checkpoint")), 0o600)
		saved = append(saved, f)
	}
	pinned := pinnedKeyFile(t, config.Config{DataDir: dataDir, Keys: "local", PublicURL: a}, strings.Repeat("9a", 32))
	for i, r := range []string{a, b} {
		var out strings.Builder
		if err := runAudit(context.Background(), []string{"verify", "--url", r + "/audit", "--key-file", pinned, "--checkpoint", saved[1-i]}, &out); err != nil {
			t.Errorf("verify through %s against the other replica's checkpoint: %v\n%s", r, err, out.String())
		}
	}
}
