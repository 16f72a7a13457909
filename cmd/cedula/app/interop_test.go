package app_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/internal/testenv"
	"github.com/cedula/cedula/issuer"
)

// TestOpenIDClientInterop runs npm's openid-client (testdata/
// openid_client.mjs) against a whole server: discovery, a pushed
// prompt=none request with PKCE and nonce whose response openid-client
// accepts only with the right iss (RFC 9207), the ID token's sid, userinfo,
// refresh, a replayed code revoking what it issued (RFC 6749 §4.1.2),
// DPoP-bound tokens, and login_required without a session.
func TestOpenIDClientInterop(t *testing.T) {
	node := needNode(t)
	e := newEnv(t)
	ctx := context.Background()
	const agency, redirect = "tax-app", "http://127.0.0.1:9/cb"
	secret, digest := issuer.NewClientSecret()
	if err := e.s.Store.PutClient(ctx, issuer.Client{ID: agency, Name: "Impuestos", RedirectURIs: []string{redirect},
		GrantTypes: []string{issuer.GrantAuthorizationCode, issuer.GrantRefreshToken}, AuthMethod: issuer.AuthClientSecretBasic,
		SecretHash: digest, SubjectType: issuer.SubjectPairwise}); err != nil {
		t.Fatal(err)
	}
	ana := e.citizen("Ana")
	sub := e.loggedInAt(agency, ana)
	cookie := e.session(ana)
	h := sha256.Sum256([]byte(cookie))
	sess, err := e.s.Store.Session(ctx, h[:], time.Now())
	if err != nil {
		t.Fatal(err)
	}
	out := node.run(t, "openid_client.mjs", "ISSUER="+e.url, "CLIENT_ID="+agency, "CLIENT_SECRET="+secret,
		"REDIRECT="+redirect, "COOKIE=cedula_session="+cookie)
	for key, want := range map[string]any{
		"iss_supported":                   true,
		"iss_in_response":                 e.url,
		"sub":                             sub,
		"sid":                             sess.SID,
		"userinfo_sub":                    sub,
		"refreshed_sid":                   sess.SID,
		"replay":                          "invalid_grant",
		"userinfo_after_replay":           "challenge:bearer invalid_token",
		"refreshed_userinfo_after_replay": "challenge:bearer invalid_token",
		"refresh_after_replay":            "invalid_grant",
		"dpop_token_type":                 "dpop",
		"dpop_userinfo_sub":               sub,
		"dpop_as_bearer":                  "challenge:dpop invalid_token",
		"no_session":                      "login_required",
	} {
		got := out[key]
		if s, ok := got.(string); ok {
			got = strings.ToLower(s)
			if w, ok := want.(string); ok {
				want = strings.ToLower(w)
			}
		}
		if got != want {
			t.Errorf("%s: got %v, want %v", key, out[key], want)
		}
	}
}

// nodeRunner runs the interop scripts of testdata with node and the npm
// packages .ci installs.
type nodeRunner struct{ node, dir string }

// needNode finds node and the npm packages: a test without them skips,
// or fails in CI.
func needNode(t *testing.T) nodeRunner {
	t.Helper()
	dir := testenv.Require(t, testenv.Node, "npm packages for the interop tests")
	node, err := exec.LookPath("node")
	if err != nil {
		if testenv.InCI() {
			t.Fatal("node is not installed")
		}
		t.Skip("node is not installed")
	}
	return nodeRunner{node: node, dir: dir}
}

// run runs testdata/script with env and returns the one JSON object it
// prints, failing the test when the script reports an error.
func (n nodeRunner) run(t *testing.T, script string, env ...string) map[string]any {
	t.Helper()
	path, _ := filepath.Abs(filepath.Join("testdata", script))
	cmd := exec.CommandContext(t.Context(), n.node, path)
	cmd.Env = append(append(os.Environ(), "NODE_DIR="+n.dir), env...)
	outb, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", script, err, outb)
	}
	var out map[string]any
	if err := json.Unmarshal(outb, &out); err != nil {
		t.Fatalf("node printed %q: %v", outb, err)
	}
	t.Logf("%s saw %s", script, outb)
	if out["error"] != nil {
		t.Fatalf("%s failed: %v", script, out["error"])
	}
	return out
}
