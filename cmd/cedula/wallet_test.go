package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/cmd/cedula/app"
	"github.com/cedula/cedula/cmd/cedula/app/apptest"
	"github.com/cedula/cedula/internal/config"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/demo"
	"github.com/cedula/cedula/issuer/oidcop"
	"github.com/cedula/cedula/issuer/pages"
	"github.com/cedula/cedula/wallet/wallettest"
)

// TestWalletCLI: `cedula wallet` drives a real server as the phone does —
// login prints an address; the browser (here a client with the citizen's
// session cookie) comes back to the command's loopback listener; then me,
// accept an offer with its transaction code, list, present, follow the
// inbox, delete, logout.
func TestWalletCLI(t *testing.T) {
	ca := wallettest.NewCA(t)
	anchors := filepath.Join(t.TempDir(), "verifiers.pem")
	if err := os.WriteFile(anchors, ca.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.DataDir, cfg.Demo, cfg.VerifierTrustAnchors = t.TempDir(), true, anchors
	t.Setenv("CEDULA_KEK", strings.Repeat("5e", 32))
	s, base := apptest.Start(t, cfg)
	ctx := t.Context()
	if err := app.SeedDemo(ctx, s, io.Discard); err != nil {
		t.Fatal(err)
	}
	c := issuer.Citizen{ID: issuer.NewCitizenID(), GivenName: "Ana", FamilyName: "Test", Birthdate: "1980-01-02", Created: time.Now()}
	if err := s.Store.CreateCitizen(ctx, c); err != nil {
		t.Fatal(err)
	}
	cookie := loginSession(t, s, c.ID)
	state := filepath.Join(t.TempDir(), "wallet.json")
	ln, err := net.Listen("tcp", "127.0.0.1:0") // a free port for the callback
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	// The wallet app takes the test's loopback port as a redirect URI.
	wc, err := s.Store.Client(ctx, app.WalletClientID)
	if err != nil {
		t.Fatal(err)
	}
	wc.RedirectURIs = append(wc.RedirectURIs, fmt.Sprintf("http://127.0.0.1:%d/callback", port))
	if err := s.Store.PutClient(ctx, wc); err != nil {
		t.Fatal(err)
	}
	s.Provider.ForgetClient(app.WalletClientID)
	wallet := func(args ...string) (string, error) {
		var out strings.Builder
		err := run(ctx, append([]string{"wallet", "--state", state, "--lang", "en"}, args...), &out, &out)
		return out.String(), err
	}

	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, []string{"wallet", "--state", state, "login", "--url", base, "--port", fmt.Sprint(port)}, pw, pw)
		pw.Close()
		done <- err
	}()
	var login string
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); strings.HasPrefix(l, base+"/authorize?") {
			login = l
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if login == "" {
		t.Fatalf("login printed no address: %v", <-done)
	}
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(base)
	jar.SetCookies(u, []*http.Cookie{{Name: pages.SessionCookie, Value: cookie}})
	browser := &http.Client{Jar: jar}
	res, err := browser.Get(login)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	// The consent page: the citizen allows the app.
	field := func(name string) string {
		m := regexp.MustCompile(`name="` + name + `" value="([^"]+)"`).FindSubmatch(page)
		if m == nil {
			t.Fatalf("the page has no %s: %s", name, page)
		}
		return string(m[1])
	}
	res, err = browser.PostForm(base+"/consent", url.Values{"csrf_token": {field("csrf_token")}, "authRequestID": {field("authRequestID")},
		"decision": {"approve"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "You may close this window") {
		t.Fatalf("the browser's end of the login: %d %s", res.StatusCode, body)
	}
	if err := <-done; err != nil {
		t.Fatalf("login: %v", err)
	}

	if out, err := wallet("me"); err != nil || !strings.Contains(out, "Ana Test") {
		t.Fatalf("me: %v\n%s", err, out)
	}
	offer, err := s.Issuer.CreateOffer(ctx, demo.MachineID, c.ID, "pid")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := wallet("accept", offer.URI); err == nil || !strings.Contains(err.Error(), "--tx-code") {
		t.Errorf("accept without the code: %v\n%s", err, out)
	}
	out, err := wallet("accept", offer.URI, "--tx-code", offer.TxCode)
	if err != nil || !strings.Contains(out, "Received:") || !strings.Contains(out, `"given_name": "Ana"`) {
		t.Fatalf("accept: %v\n%s", err, out)
	}
	// An offer taken by logging in at the issuer: the browser, with the
	// citizen's session, goes through the consent page and comes back to
	// the app's redirect URI, which the citizen gives to "authorized".
	byLogin, err := s.Issuer.CreateOffer(ctx, demo.MachineID, c.ID, "pid")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := wallet("accept", byLogin.URI); err == nil || !strings.Contains(err.Error(), "--login") {
		t.Errorf("accept without a code: %v\n%s", err, out)
	}
	out, err = wallet("accept", byLogin.URI, "--login")
	authURL := regexp.MustCompile(`(?m)^\s+(` + regexp.QuoteMeta(base) + `/authorize\?\S+)$`).FindStringSubmatch(out)
	pendingID := regexp.MustCompile(`cedula wallet authorized (\S+) `).FindStringSubmatch(out)
	if err != nil || authURL == nil || pendingID == nil {
		t.Fatalf("accept --login: %v\n%s", err, out)
	}
	toApp := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
			return http.ErrUseLastResponse // the app's own scheme: the phone would open the app
		}
		return nil
	}}
	if res, err = toApp.Get(authURL[1]); err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode == http.StatusOK {
		if res, err = toApp.PostForm(base+"/consent", url.Values{"csrf_token": {field("csrf_token")}, "authRequestID": {field("authRequestID")},
			"decision": {"approve"}}); err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	back := res.Header.Get("Location")
	if !strings.HasPrefix(back, config.Default().WalletRedirectURIs[0]+"?") {
		t.Fatalf("the browser ended at %d %q, want the app's redirect URI", res.StatusCode, back)
	}
	if out, err := wallet("authorized", pendingID[1], back); err != nil || !strings.Contains(out, "Received:") {
		t.Fatalf("authorized: %v\n%s", err, out)
	}
	if out, err := wallet("deferred"); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("deferred: %v\n%s", err, out)
	}
	list, err := wallet("credentials")
	if err != nil || strings.Count(list, "[valid]") != 2 {
		t.Fatalf("credentials: %v\n%s", err, list)
	}
	// A verifier certified by a CA the server trusts asks for the PID.
	v := wallettest.NewVerifier(t, ca)
	out, err = wallet("present", v.Link(""), "--approve")
	if err != nil || !strings.Contains(out, "verified") || !strings.Contains(out, "Presented.") {
		t.Fatalf("present: %v\n%s", err, out)
	}
	if names, _ := v.Received(t, v.Token(t)); !slices.Contains(names, "given_name") {
		t.Errorf("the verifier received %v, want given_name among them", names)
	}
	// The citizen chooses what goes: of the verifier's two claim sets
	// (given and family name; given name alone), the second.
	v.Params["dcql_query"] = map[string]any{"credentials": []any{map[string]any{"id": "pid", "format": "dc+sd-jwt",
		"claims":     []any{map[string]any{"id": "gn", "path": []any{"given_name"}}, map[string]any{"id": "fn", "path": []any{"family_name"}}},
		"claim_sets": []any{[]any{"gn", "fn"}, []any{"gn"}}}}}
	if out, err := wallet("present", v.Link(""), "--approve", "--claim-set", "pid=nope"); err == nil {
		t.Errorf("a claim set that is not a number: presented\n%s", out)
	}
	out, err = wallet("present", v.Link(""), "--approve", "--claim-set", "pid=1")
	if err != nil || !strings.Contains(out, "claim set 1: gn") || !strings.Contains(out, "Presented.") {
		t.Fatalf("present --claim-set: %v\n%s", err, out)
	}
	if names, _ := v.Received(t, v.Token(t)); !slices.Equal(names, []string{"given_name"}) {
		t.Errorf("with claim set 1 the verifier received %v, want given_name alone", names)
	}
	if out, err := wallet("present", v.Link(""), "--decline"); err != nil || !strings.Contains(out, "Declined.") {
		t.Errorf("decline: %v\n%s", err, out)
	}
	if posted, _ := v.Posted(); posted.Get("error") != "access_denied" {
		t.Errorf("after a decline the verifier got %v", posted)
	}
	// The inbox: both credentials arrived; --follow prints the agency's
	// suspension as it comes.
	if out, err := wallet("inbox", "--unread", "--read"); err != nil || strings.Count(out, "credential_received") != 2 ||
		!strings.Contains(out, "New credential: ") || !strings.Contains(out, "[new]") {
		t.Errorf("inbox: %v\n%s", err, out)
	}
	if out, err := wallet("inbox", "--unread"); err != nil || !strings.Contains(out, "no messages") {
		t.Errorf("inbox --unread after --read: %v\n%s", err, out)
	}
	fctx, stop := context.WithCancel(ctx)
	fr, fw := io.Pipe()
	followed := make(chan error, 1)
	go func() {
		err := run(fctx, []string{"wallet", "--state", state, "--lang", "en", "inbox", "--follow"}, fw, fw)
		fw.Close()
		followed <- err
	}()
	lines := bufio.NewScanner(fr)
	for seen := 0; seen < 2 && lines.Scan(); {
		if strings.Contains(lines.Text(), "credential_received") {
			seen++
		}
	}
	// The stream resumes after the last message listed: the suspension
	// comes whether or not it is open yet.
	if _, err := s.Issuer.SetStatus(ctx, demo.MachineID, offer.Credential.ID, "suspended"); err != nil {
		t.Fatal(err)
	}
	timeout := time.AfterFunc(15*time.Second, stop)
	got := ""
	for lines.Scan() {
		if got = lines.Text(); strings.Contains(got, "credential_") {
			break
		}
	}
	timeout.Stop()
	stop()
	go io.Copy(io.Discard, fr)
	if err := <-followed; err != nil {
		t.Errorf("inbox --follow, interrupted: %v", err)
	}
	if !strings.Contains(got, "credential_suspended") || !strings.Contains(got, "Credential suspended: ") || !strings.Contains(got, "[new]") {
		t.Errorf("inbox --follow printed %q, want the suspension", got)
	}

	id := strings.Fields(list)[0]
	if out, err := wallet("delete", id); err != nil || !strings.Contains(out, "Deleted.") {
		t.Errorf("delete: %v\n%s", err, out)
	}
	if out, err := wallet("delete", id); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("delete twice: %v\n%s", err, out)
	}
	if _, err := wallet("logout"); err != nil {
		t.Fatal(err)
	}
	if _, err := wallet("me"); err == nil || !strings.Contains(err.Error(), "not logged in") {
		t.Errorf("me after logout: %v", err)
	}
}

// loginSession records, as a passkey login would, a session for the
// citizen and their sub at the wallet app (so the app's login shows no
// consent page), and returns the session cookie's value.
func loginSession(t *testing.T, s *app.Server, citizenID string) string {
	t.Helper()
	ctx := t.Context()
	wc, err := s.Store.Client(ctx, app.WalletClientID)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := s.Provider.Subject(ctx, app.WalletClientID, citizenID)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Store.PutSubject(ctx, oidcop.SubjectSector(wc), sub, citizenID); err != nil {
		t.Fatal(err)
	}
	secret := fmt.Sprintf("s%x", sha256.Sum256([]byte(citizenID+time.Now().String())))[:43]
	h := sha256.Sum256([]byte(secret))
	now := time.Now().UTC()
	if err := s.Store.CreateSession(context.Background(), issuer.Session{IDHash: h[:], SID: "sid-" + secret[:16], CitizenID: citizenID,
		AMR: []string{"hwk", "user", "mfa"}, AuthTime: now, Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	return secret
}
