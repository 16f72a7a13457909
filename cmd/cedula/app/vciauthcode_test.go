package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cedula/cedula/internal/browsertest"
	"github.com/cedula/cedula/internal/scopes"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/demo"
	"github.com/cedula/cedula/issuer/pages"
)

// TestOpenID4VCIAuthCodeInChromium runs a wallet nobody on the project
// wrote — npm's @openid4vc/openid4vci and @openid4vc/oauth2, with
// @sd-jwt/sd-jwt-vc verifying (testdata/openid4vci_authcode.mjs) — through
// the authorization code flow of an agency's offer, the citizen's part in
// headless Chromium: the wallet pushes its request (PAR, PKCE, DPoP,
// issuer_state, authorization_details), the citizen signs in with her
// passkey and approves on the consent page, Chromium lands on the wallet's
// redirect URI, and the wallet redeems the code for a DPoP-bound token and
// one credential by its identifier, which it verifies. The agency then
// sees its offer issued: issuer_state tied the flow to it.
func TestOpenID4VCIAuthCodeInChromium(t *testing.T) {
	node := needNode(t)
	ctx := browsertest.Start(t, 3*time.Minute)
	axe := browsertest.AxeSource(t)
	e := newIssuerEnv(t)
	bg := context.Background()

	// The wallet: a public client whose redirect URI is a page Chromium
	// can land on.
	const walletID, walletName = "wallet-app", "Cartera de prueba"
	landing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!doctype html><html lang="en"><title>Wallet</title><main><p id="wallet-done">done</p></main></html>`)
	}))
	t.Cleanup(landing.Close)
	redirect := landing.URL + "/cb"
	if err := e.s.Store.PutClient(bg, issuer.Client{ID: walletID, Name: walletName, RedirectURIs: []string{redirect},
		GrantTypes: []string{issuer.GrantAuthorizationCode}, AuthMethod: issuer.AuthNone, SubjectType: issuer.SubjectPairwise,
		Scopes: []string{"pid"}}); err != nil {
		t.Fatal(err)
	}

	// The citizen, and the agency's offer for her.
	ines := issuer.Citizen{ID: issuer.NewCitizenID(), GivenName: "Inés", FamilyName: "Rojas Vidal", Birthdate: "1987-09-30",
		Email: "ines@example.org", Locale: "es", Created: time.Now()}
	if err := e.s.Store.CreateCitizen(bg, ines); err != nil {
		t.Fatal(err)
	}
	link, _, err := pages.Enrol(bg, e.s.Store, ines.ID, "test", time.Hour, e.url)
	if err != nil {
		t.Fatal(err)
	}
	agencyToken := e.token(demo.MachineID, scopes.Issuance)
	status, offer := e.offer(agencyToken, e.loggedInAt(demo.MachineID, ines.ID), "pid")
	if status != http.StatusCreated {
		t.Fatalf("offer: got %d %v, want 201", status, offer)
	}

	// Inés enrols a passkey, then signs out: the wallet's request goes
	// through the passkey login.
	tab := browsertest.Tab{T: t, Ctx: ctx}
	tab.Do("open the enrolment link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("form.ceremony")))
	phone, err := browsertest.AddAuthenticator(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tab.Do("create the passkey", chromedp.SetValue(chromedp.ID("passkey-name"), "Teléfono"),
		chromedp.Click(chromedp.CSS("form.ceremony button[type=submit]")), chromedp.WaitVisible(chromedp.ID("recovery-codes")))
	tab.Do("continue", chromedp.Click(chromedp.CSS("#recovery-codes a[data-continue]")))
	tab.WaitPath("/account")
	presence := func(on bool) {
		t.Helper()
		if err := browsertest.SetPresence(ctx, phone, on); err != nil {
			t.Fatal(err)
		}
	}
	presence(false)
	tab.Do("sign out", chromedp.Click(chromedp.CSS("form.logout button")))
	tab.WaitPath("/login")

	// The wallet's authorization request, opened in Chromium: the passkey
	// login (autofill), then the consent page naming the wallet.
	w := node.start(t, "openid4vci_authcode.mjs", "ISSUER="+e.url, "CLIENT_ID="+walletID, "REDIRECT="+redirect,
		"OFFER_URI="+offer["credential_offer_uri"].(string))
	authURL, _ := w.line()["authorization_url"].(string)
	if !strings.HasPrefix(authURL, e.url+"/authorize?") {
		t.Fatalf("authorization_url: got %q, want the server's /authorize", authURL)
	}
	tab.Do("open the wallet's authorization request", chromedp.Navigate(authURL))
	tab.WaitPath("/login")
	presence(true)
	tab.Do("reload: the pending autofill request started without a user present", chromedp.Reload())
	tab.WaitPath("/consent")
	// The page names the wallet and the credential it asks for, in the
	// page's language — never the scopes that carry the request.
	credName := map[string]string{"es": "Identificación personal", "en": "Person identification"}[tab.Eval(`document.documentElement.lang`)]
	if body := tab.Eval(`document.querySelector("main").innerText`); !strings.Contains(body, walletName) || credName == "" ||
		!strings.Contains(body, credName) || strings.Contains(body, "openid_credential") || strings.Contains(body, "vci-state") {
		t.Errorf("consent page: got %q, want the wallet %q and the credential %q named, and no scope", body, walletName, credName)
	}
	browsertest.CheckAxe(t, ctx, axe, "consent for a wallet")
	tab.Do("approve", chromedp.Click(chromedp.CSS(`button[value="approve"]`)))
	tab.WaitTrue(fmt.Sprintf(`location.origin === %q && document.getElementById("wallet-done") !== null`, landing.URL))

	// The wallet takes it from the redirect.
	w.send(tab.Eval(`location.href`))
	out := w.line()
	for key, want := range map[string]any{
		"token_type": "DPoP", "authorization_details": true, "credentials": 1.0, "verified": 1.0,
		"vct": e.url + "/vct/pid/1", "given_name": ines.GivenName,
	} {
		if out[key] != want {
			t.Errorf("%s: got %v, want %v", key, out[key], want)
		}
	}
	credID := offer["credential_id"].(string)
	if res, got := e.do(http.MethodGet, "/issuance/credentials/"+credID, agencyToken, ""); res.StatusCode != http.StatusOK ||
		got["state"] != "issued" || got["count"] != 1.0 {
		t.Errorf("the agency's issuance %s: got %d %v, want state issued with count 1", credID, res.StatusCode, got)
	}
}

// nodeSession is a script of testdata that talks with the test: it prints
// lines of JSON and reads lines from its stdin.
type nodeSession struct {
	t      *testing.T
	script string
	in     io.WriteCloser
	lines  chan string
	err    error        // how the script ended, once lines is closed
	stderr bytes.Buffer // read once lines is closed
}

// start starts testdata/script with env; it is killed when the test ends.
func (n nodeRunner) start(t *testing.T, script string, env ...string) *nodeSession {
	t.Helper()
	path, _ := filepath.Abs(filepath.Join("testdata", script))
	cmd := exec.CommandContext(t.Context(), n.node, path)
	cmd.Env = append(append(os.Environ(), "NODE_DIR="+n.dir), env...)
	s := &nodeSession{t: t, script: script, lines: make(chan string, 4)}
	cmd.Stderr = &s.stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("node %s: %v", script, err)
	}
	s.in = in
	t.Cleanup(func() { in.Close() })
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		s.err = cmd.Wait()
		close(s.lines)
	}()
	return s
}

// line waits for the script's next line and decodes it, failing the test
// when it is an error.
func (s *nodeSession) line() map[string]any {
	s.t.Helper()
	select {
	case l, ok := <-s.lines:
		if !ok {
			s.t.Fatalf("node %s ended (%v) without a line; stderr:\n%s", s.script, s.err, s.stderr.String())
		}
		var out map[string]any
		if err := json.Unmarshal([]byte(l), &out); err != nil {
			s.t.Fatalf("node %s printed %q: %v", s.script, l, err)
		}
		s.t.Logf("%s saw %s", s.script, l)
		if out["error"] != nil {
			s.t.Fatalf("%s failed: %v", s.script, out["error"])
		}
		return out
	case <-time.After(time.Minute):
		s.t.Fatalf("node %s printed nothing for a minute", s.script)
	}
	return nil
}

// send writes line to the script's stdin.
func (s *nodeSession) send(line string) {
	s.t.Helper()
	if _, err := io.WriteString(s.in, line+"\n"); err != nil {
		s.t.Fatalf("node %s: write stdin: %v", s.script, err)
	}
}
