// Package browsertest drives Debian's Chromium, headless, for tests of the
// pages: a fresh profile per test, a CDP virtual authenticator that holds
// passkeys (WebAuthn L3 §11 automation), and axe-core for accessibility.
//
// The browser's path comes from CEDULA_TEST_CHROMIUM and axe-core from
// CEDULA_TEST_NODE_DIR (.ci/test.sh sets both). Outside CI a test without
// them is skipped; with CI=true it fails (testenv.Require).
package browsertest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/cedula/cedula/internal/testenv"
)

// Start launches a headless Chromium with a fresh user-data-dir and
// returns the context of its first tab; the browser is closed when the
// test ends, and timeout bounds its whole life. extra adds flags, such as
// chromedp.Flag("accept-lang", "es-CL,es").
func Start(t *testing.T, timeout time.Duration, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path := testenv.Require(t, testenv.Chromium, "Chromium")
	// Flags that work as root in a sandboxed container (see the CI notes).
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "profile")),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.WindowSize(1280, 900),
	}
	opts = append(opts, extra...)
	ctx, cancelTimeout := context.WithTimeout(context.Background(), timeout)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	tctx, cancelTab := chromedp.NewContext(actx, chromedp.WithErrorf(func(format string, args ...any) {
		t.Logf("chromium: "+format, args...)
	}))
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		cancelTimeout()
	})
	if err := chromedp.Do(tctx); err != nil { // starts the browser
		t.Fatalf("start chromium at %s: %v", path, err)
	}
	return tctx
}

// WaitPath waits until the tab shows a loaded page at path (a location
// pathname), across navigations, for at most timeout.
func WaitPath(ctx context.Context, path string, timeout time.Duration) error {
	return WaitTrue(ctx, fmt.Sprintf(`location.pathname === %q && document.readyState === "complete"`, path), timeout)
}

// WaitTrue waits until the JavaScript expression js is true in the tab,
// across navigations, for at most timeout.
func WaitTrue(ctx context.Context, js string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		if err == nil && ok {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// Errors while a navigation replaces the page are expected.
		if time.Now().After(deadline) {
			at, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`))
			return fmt.Errorf("browsertest: waited %v for %s; the tab is at %s", timeout, js, at)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// AddAuthenticator enables the WebAuthn domain and adds a virtual
// authenticator like a phone's or a laptop's: CTAP 2.1, internal
// transport, resident keys, user verification that succeeds, presence
// simulated. It returns the authenticator's ID.
func AddAuthenticator(ctx context.Context) (webauthn.AuthenticatorID, error) {
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		return "", fmt.Errorf("browsertest: WebAuthn.enable: %w", err)
	}
	res, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol:                    webauthn.AuthenticatorProtocolCtap2,
			Ctap2version:                webauthn.Ctap2versionCtap21,
			Transport:                   webauthn.AuthenticatorTransportInternal,
			HasResidentKey:              true,
			HasUserVerification:         true,
			IsUserVerified:              true,
			AutomaticPresenceSimulation: true,
		},
	})
	if err != nil {
		return "", fmt.Errorf("browsertest: WebAuthn.addVirtualAuthenticator: %w", err)
	}
	return res.AuthenticatorID, nil
}

// RemoveAuthenticator removes a virtual authenticator with its passkeys,
// as when a device is lost.
func RemoveAuthenticator(ctx context.Context, id webauthn.AuthenticatorID) error {
	if _, err := chromedp.Call(ctx, webauthn.RemoveVirtualAuthenticator, webauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: id}); err != nil {
		return fmt.Errorf("browsertest: WebAuthn.removeVirtualAuthenticator: %w", err)
	}
	return nil
}

// Credentials lists the credentials the virtual authenticator holds.
func Credentials(ctx context.Context, id webauthn.AuthenticatorID) ([]*webauthn.Credential, error) {
	res, err := chromedp.Call(ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
	if err != nil {
		return nil, fmt.Errorf("browsertest: WebAuthn.getCredentials: %w", err)
	}
	return res.Credentials, nil
}

// SetUserVerified makes the authenticator's user verification succeed or
// fail.
func SetUserVerified(ctx context.Context, id webauthn.AuthenticatorID, ok bool) error {
	_, err := chromedp.Call(ctx, webauthn.SetUserVerified, webauthn.SetUserVerifiedParams{AuthenticatorID: id, IsUserVerified: ok})
	return err
}

// SetPresence turns the authenticator's simulated user presence on or
// off. Off, every request waits for a touch that never comes; this holds
// back a conditional (autofill) request, which a virtual authenticator
// otherwise answers at once with the first passkey it has.
func SetPresence(ctx context.Context, id webauthn.AuthenticatorID, on bool) error {
	_, err := chromedp.Call(ctx, webauthn.SetAutomaticPresenceSimulation, webauthn.SetAutomaticPresenceSimulationParams{AuthenticatorID: id, Enabled: on})
	return err
}

// AllowClipboard lets the pages of origin read and write the clipboard
// without asking, so that a test can read what a page copied (Clipboard).
func AllowClipboard(ctx context.Context, origin string) error {
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		if _, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: name}, Setting: browser.PermissionSettingGranted, Origin: origin,
		}); err != nil {
			return fmt.Errorf("browsertest: Browser.setPermission %s: %w", name, err)
		}
	}
	return nil
}

// Clipboard returns the text on the clipboard, read by the page the tab
// shows (which AllowClipboard must allow).
func Clipboard(ctx context.Context) (string, error) {
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
	if err != nil {
		return "", fmt.Errorf("browsertest: read the clipboard: %w", err)
	}
	return s, nil
}

// DownloadTo saves the browser's downloads in dir, each under the name the
// page gives it.
func DownloadTo(ctx context.Context, dir string) error {
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir,
	}); err != nil {
		return fmt.Errorf("browsertest: Browser.setDownloadBehavior: %w", err)
	}
	return nil
}

// WaitFile waits up to timeout for a download to finish at path and
// returns its content, which must not be empty. Chromium may write it
// under another name (.crdownload) and rename it, or create it empty and
// write it in place: it is done when no partial download is left and two
// polls read the same, non-empty content.
func WaitFile(path string, timeout time.Duration) ([]byte, error) {
	deadline := time.Now().Add(timeout)
	var last []byte
	for {
		// Chromium may create the file before it writes it: a download
		// is done when the file holds something, the same two polls
		// running, and no partial download is left beside it.
		b, err := os.ReadFile(path)
		partial, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*.crdownload"))
		if err == nil && len(b) > 0 && len(partial) == 0 && last != nil && bytes.Equal(b, last) {
			return b, nil
		}
		if err == nil {
			last = b
		}
		if time.Now().After(deadline) {
			names, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*"))
			return nil, fmt.Errorf("browsertest: waited %v for %s; the folder holds %v", timeout, path, names)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// AxeSource returns the source of axe-core (axe.min.js) from the npm
// packages in CEDULA_TEST_NODE_DIR.
func AxeSource(t *testing.T) string {
	t.Helper()
	dir := testenv.Require(t, testenv.Node, "npm packages (axe-core)")
	b, err := os.ReadFile(filepath.Join(dir, "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		t.Fatalf("read axe-core: %v (run npm ci in .ci/node)", err)
	}
	return string(b)
}

// Violation is one accessibility rule that a page breaks, as axe-core
// reports it.
type Violation struct {
	ID          string   `json:"id"`
	Impact      string   `json:"impact"`
	Description string   `json:"description"`
	Help        string   `json:"help"`
	HelpURL     string   `json:"helpUrl"`
	Tags        []string `json:"tags"`
	Nodes       []struct {
		Target         []any  `json:"target"`
		HTML           string `json:"html"`
		FailureSummary string `json:"failureSummary"`
	} `json:"nodes"`
}

func (v Violation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %s — %s", v.ID, v.Impact, v.Help, v.HelpURL)
	for _, n := range v.Nodes {
		fmt.Fprintf(&b, "\n    %v %s\n      %s", n.Target, n.HTML, strings.ReplaceAll(n.FailureSummary, "\n", "\n      "))
	}
	return b.String()
}

// axeOptions are the options of every axe.run: all the rules that are not
// experimental, and label-content-name-mismatch (WCAG 2.2 SC 2.5.3 Label
// in Name) whichever way the axe-core version tags it — it is
// experimental, and off by default, in some.
const axeOptions = `{resultTypes: ["violations"], rules: {"label-content-name-mismatch": {enabled: true}}}`

// Axe runs axe-core on the page the tab shows, with every rule that is
// not experimental (WCAG 2.0–2.2 A and AA, and best practices) and Label
// in Name, and returns the violations. source is axe.min.js (AxeSource).
func Axe(ctx context.Context, source string) ([]Violation, error) {
	// DevTools evaluation is not subject to the page's CSP, so the page
	// keeps its own policy while axe is injected.
	loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof window.axe === "object"`))
	if err != nil {
		return nil, fmt.Errorf("browsertest: axe: %w", err)
	}
	if !loaded {
		if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](source+"\n;undefined")); err != nil {
			return nil, fmt.Errorf("browsertest: inject axe-core: %w", err)
		}
	}
	v, err := chromedp.Run(ctx, chromedp.Evaluate[[]Violation](
		`axe.run(document, `+axeOptions+`).then(r => r.violations)`, chromedp.EvalAwaitPromise))
	if err != nil {
		return nil, fmt.Errorf("browsertest: axe.run: %w", err)
	}
	return v, nil
}

// CheckAxe fails the test for every axe-core violation on the page the tab
// shows; page names it in the messages.
func CheckAxe(t *testing.T, ctx context.Context, source, page string) {
	t.Helper()
	vs, err := Axe(ctx, source)
	if err != nil {
		t.Fatalf("%s: %v", page, err)
	}
	for _, v := range vs {
		t.Errorf("%s: accessibility violation: %s", page, v)
	}
}

// Tab wraps a browser tab for a test: each method fails the test with what
// it was doing when the browser does not cooperate.
type Tab struct {
	T   *testing.T
	Ctx context.Context
}

// Do runs actions, described by what.
func (b Tab) Do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.T.Helper()
	if err := chromedp.Do(b.Ctx, actions...); err != nil {
		b.T.Fatalf("%s: %v", what, err)
	}
}

// Eval evaluates js, which must give a string.
func (b Tab) Eval(js string) string {
	b.T.Helper()
	v, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.T.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// WaitPath waits up to 30 s for a loaded page at path.
func (b Tab) WaitPath(path string) {
	b.T.Helper()
	if err := WaitPath(b.Ctx, path, 30*time.Second); err != nil {
		b.T.Fatal(err)
	}
}

// WaitTrue waits up to 30 s for js to be true.
func (b Tab) WaitTrue(js string) {
	b.T.Helper()
	if err := WaitTrue(b.Ctx, js, 30*time.Second); err != nil {
		b.T.Fatal(err)
	}
}
