package pages_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/pages"
	"github.com/cedula/cedula/issuer/passkey/passkeytest"
)

// sessionOf returns the login session the browser holds.
func (e *env) sessionOf(b *browser) issuer.Session {
	e.t.Helper()
	v := b.cookie("cedula_session")
	h := sha256.Sum256([]byte(v))
	s, err := e.store.Session(context.Background(), h[:], e.clock.Now())
	if err != nil {
		e.t.Fatalf("the browser's session: %v", err)
	}
	return s
}

// loggedInTo records that the browser's session logged the citizen in to
// clientID, as completing an agency's request does.
func (e *env) loggedInTo(b *browser, clientID string) issuer.Session {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.store.Client(ctx, clientID); err != nil {
		c := issuer.Client{ID: clientID, Name: clientID, RedirectURIs: []string{"https://" + clientID + ".example/cb"},
			GrantTypes: []string{issuer.GrantAuthorizationCode}, AuthMethod: issuer.AuthNone, SubjectType: issuer.SubjectPairwise}
		if err := e.store.PutClient(ctx, c); err != nil {
			e.t.Fatal(err)
		}
	}
	s := e.sessionOf(b)
	id := fmt.Sprintf("ar-%s-%d", clientID, time.Now().UnixNano())
	if err := e.store.CreateAuthRequest(ctx, issuer.AuthRequest{ID: id, ClientID: clientID, Created: time.Now()}); err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.CompleteAuthRequest(ctx, id, issuer.Completion{CitizenID: s.CitizenID, Subject: "sub", SessionID: s.SID, AMR: s.AMR, AuthTime: s.AuthTime}); err != nil {
		e.t.Fatal(err)
	}
	return s
}

// logouts claims the queued back-channel logouts as "client sid" strings.
func (e *env) logouts() []string {
	e.t.Helper()
	ls, err := e.store.ClaimLogouts(context.Background(), time.Now(), time.Hour, 100)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, l := range ls {
		out = append(out, l.ClientID+" "+l.SID)
	}
	slices.Sort(out)
	return out
}

func (e *env) wantLogouts(what string, want ...string) {
	e.t.Helper()
	if got := e.logouts(); !slices.Equal(got, want) {
		e.t.Errorf("%s: got logouts %q, want %q", what, got, want)
	}
}

// TestSessionEndsTellAgencies: signing out, a recovery that removes the
// other passkeys and a login of someone else in the same browser all end
// the session, which queues a back-channel logout for every agency it
// logged in to; a re-authentication of the same citizen does not.
func TestSessionEndsTellAgencies(t *testing.T) {
	e := newEnv(t, nil)
	ana, beto := e.citizen("Ana"), e.citizen("Beto")
	b := e.browser()
	codes, cred := b.enrolPasskey(e.enrol(ana), "Teléfono")
	first := e.loggedInTo(b, "tax")
	if first.SID == "" {
		t.Fatal("the session has no SID")
	}

	// Re-authentication (prompt=login): new cookie, same SID, nobody told.
	oldCookie := b.cookie("cedula_session")
	if r := b.login(cred, passkeytest.Gesture{}, ""); r.status != http.StatusOK {
		t.Fatalf("login again: %d %s", r.status, r.body)
	}
	if b.cookie("cedula_session") == oldCookie {
		t.Fatal("login again kept the old cookie, want a new one")
	}
	if got := e.sessionOf(b).SID; got != first.SID {
		t.Errorf("SID after re-authentication: got %q, want %q", got, first.SID)
	}
	e.wantLogouts("after re-authentication")

	// Signing out.
	b.get("/account")
	if r := b.postForm("/logout", nil); r.status != http.StatusSeeOther {
		t.Fatalf("sign out: %d", r.status)
	}
	e.wantLogouts("after signing out", "tax "+first.SID)

	// Another citizen logs in in the same browser: Ana's session ends.
	if r := b.login(cred, passkeytest.Gesture{}, ""); r.status != http.StatusOK {
		t.Fatalf("log in: %d %s", r.status, r.body)
	}
	second := e.loggedInTo(b, "health")
	betoBrowser := e.browser()
	_, betoCred := betoBrowser.enrolPasskey(e.enrol(beto), "Beto")
	if r := b.login(betoCred, passkeytest.Gesture{}, ""); r.status != http.StatusOK {
		t.Fatalf("Beto logs in: %d %s", r.status, r.body)
	}
	if e.sessionOf(b).SID == second.SID {
		t.Error("Beto's session carries Ana's SID")
	}
	e.wantLogouts("after another citizen logged in", "health "+second.SID)

	// Recovery that removes the other passkeys ends every session.
	other := e.browser()
	other.get("/login")
	if r := other.login(cred, passkeytest.Gesture{}, ""); r.status != http.StatusOK {
		t.Fatalf("log in: %d %s", r.status, r.body)
	}
	third := e.loggedInTo(other, "tax")
	rec := e.browser()
	rec.get("/recover")
	wantRedirect(t, rec.postForm("/recover", map[string][]string{"code": {codes[0]}}), "/recover/passkey")
	rec.get("/recover/passkey")
	opts := options(t, rec.postJSON("/recover/begin", `{}`))
	newCred, _ := e.auth.Create(t, opts, passkeytest.Gesture{})
	finishOK(t, rec.postJSON("/recover/finish", map[string]any{"credential": json.RawMessage(newCred), "name": "Nuevo", "removeOthers": true}))
	e.wantLogouts("after recovery removing the other passkeys", "tax "+third.SID)
}

// TestPromptNone: OIDC Core §3.1.2.1 — no page is shown; the request
// completes silently or fails with login_required or consent_required
// (§3.1.2.6). Before the fix the login page was shown.
func TestPromptNone(t *testing.T) {
	e := newEnv(t, nil)
	ana := e.citizen("Ana")
	b := e.browser()
	_, _ = b.enrolPasskey(e.enrol(ana), "Teléfono")
	sess := e.sessionOf(b)
	for _, tc := range []struct {
		name    string
		info    pages.AuthRequestInfo
		consent bool
		browser *browser
		advance time.Duration
		want    string // the error code, or "" for a completion
	}{
		{"no session", pages.AuthRequestInfo{ClientID: "tax", PromptNone: true}, false, e.browser(), 0, pages.ErrLoginRequired},
		{"session, nothing to consent", pages.AuthRequestInfo{ClientID: "tax", PromptNone: true}, false, b, 0, ""},
		{"consent needed", pages.AuthRequestInfo{ClientID: "tax", PromptNone: true}, true, b, 0, pages.ErrConsentRequired},
		{"session older than max_age", pages.AuthRequestInfo{ClientID: "tax", PromptNone: true, MaxAge: time.Minute}, false, b, 2 * time.Minute, pages.ErrLoginRequired},
		{"hint names someone else", pages.AuthRequestInfo{ClientID: "tax", PromptNone: true, HintCitizenID: "someone-else"}, false, b, 0, pages.ErrLoginRequired},
		{"hint names the citizen", pages.AuthRequestInfo{ClientID: "tax", PromptNone: true, HintCitizenID: ana.ID}, false, b, 0, ""},
	} {
		for _, path := range []string{"/login", "/consent"} {
			t.Run(tc.name+" at "+path, func(t *testing.T) {
				id := fmt.Sprintf("pn-%d", time.Now().UnixNano())
				e.flow.add(id, tc.info)
				if tc.consent {
					e.flow.consent[id] = true
				}
				e.clock.Add(tc.advance)
				defer e.clock.Add(-tc.advance)
				r := tc.browser.get(path + "?authRequestID=" + id)
				if r.status != http.StatusSeeOther {
					t.Fatalf("got %d (%s), want a redirect and no page", r.status, r.header.Get("Content-Type"))
				}
				e.flow.mu.Lock()
				failed, done := e.flow.failed[id], e.flow.completed[id]
				e.flow.mu.Unlock()
				switch {
				case tc.want != "" && failed != tc.want:
					t.Errorf("got error %q (completed: %v), want %q", failed, done.citizenID != "", tc.want)
				case tc.want == "" && (done.citizenID != ana.ID || done.sid != sess.SID):
					t.Errorf("got completion %+v (error %q), want one for Ana in session %s", done, failed, sess.SID)
				}
			})
		}
	}
}
