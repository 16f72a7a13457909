package app_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/consent/consentapi"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/issuer/pages"
)

func (e *env) cookieGet(path, cookie string) (int, []byte) {
	e.t.Helper()
	return e.pageGet(path, cookie, "")
}

// pageGet gets path with the session cookie (none when "") and an
// Accept-Language (none when "").
func (e *env) pageGet(path, cookie, lang string) (int, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.url+path, nil)
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: pages.SessionCookie, Value: cookie})
	}
	if lang != "" {
		req.Header.Set("Accept-Language", lang)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// TestConsentReceipts: after each change the citizen gets a receipt that
// verifies with the published keys and names the audit entry of the
// change, which is in the log (its inclusion proof against the signed
// checkpoint holds); a changed byte breaks it.
func TestConsentReceipts(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	putPurpose(t, e.s, "tax-reminders", "tax", consent.Consent, "contact")
	ana := e.citizen("Ana")
	cookie := e.session(ana)
	status, jwks := e.cookieGet("/consent/receipt-keys", "")
	if status != 200 {
		t.Fatalf("receipt keys: %d %s", status, jwks)
	}
	if status, body := e.cookieGet("/account/consents/receipt?purpose=tax-reminders", cookie); status != 404 {
		t.Errorf("receipt before any change: %d %s, want 404", status, body)
	}
	for _, step := range []struct {
		change func(context.Context, consent.Request) (consent.Record, error)
		state  string
		action string
	}{
		{e.s.Consent.Give, "given", "consent.give"},
		{e.s.Consent.Withdraw, "withdrawn", "consent.withdraw"},
	} {
		if _, err := step.change(ctx, consent.Request{Subject: ana, Purpose: "tax-reminders", Method: consent.MethodWeb}); err != nil {
			t.Fatal(err)
		}
		status, body := e.cookieGet("/account/consents/receipt?purpose=tax-reminders", cookie)
		var out struct{ Receipt string }
		if status != 200 || json.Unmarshal(body, &out) != nil || out.Receipt == "" {
			t.Fatalf("receipt: %d %s", status, body)
		}
		payload, err := jose.Verify([]byte(out.Receipt), jwks, keys.ES256)
		if err != nil {
			t.Fatalf("receipt does not verify with the published keys: %v", err)
		}
		var c consentapi.ReceiptClaims
		if err := json.Unmarshal(payload, &c); err != nil {
			t.Fatal(err)
		}
		if c.State != step.state || c.Subject != e.s.AuditSubject(ana) || c.PurposeID != "tax-reminders" || c.Version != "KI-CR-v1.1.0" ||
			len(c.Services) != 1 || c.Services[0].Purposes[0].PIICategory[0] != "contact" || strings.Contains(string(payload), ana) {
			t.Errorf("receipt claims %s, want state %s about Ana's pseudonym, without her ID", payload, step.state)
		}
		// The entry it names is in the log.
		if _, err := e.s.Checkpointer.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		_, page, _ := e.myAudit(cookie, "?limit=200")
		found := false
		for _, en := range page.Entries {
			if en.Index != c.AuditIndex {
				continue
			}
			found = true
			leaf := base64.StdEncoding.EncodeToString(en.LeafHash[:])
			if en.Action != step.action || leaf != c.AuditLeafHash {
				t.Errorf("entry %d: %s %s, want %s %s", en.Index, en.Action, leaf, step.action, c.AuditLeafHash)
			}
			if err := audit.CheckInclusion(en.Proof, en.Index, page.Size, en.LeafHash, page.Root); err != nil {
				t.Errorf("entry %d of the receipt: inclusion proof: %v", en.Index, err)
			}
		}
		if !found {
			t.Errorf("the receipt's audit entry %d is not in Ana's view", c.AuditIndex)
		}
		// One changed character of the payload: no longer a receipt.
		parts := strings.Split(out.Receipt, ".")
		raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
		forged := strings.Replace(string(raw), step.state, "renewed", 1)
		parts[1] = base64.RawURLEncoding.EncodeToString([]byte(forged))
		if _, err := jose.Verify([]byte(strings.Join(parts, ".")), jwks, keys.ES256); err == nil {
			t.Error("a receipt with a changed state still verifies")
		}
	}
	for _, tc := range []struct {
		path, cookie string
		status       int
	}{
		{"/account/consents/receipt?purpose=tax-reminders", "", 401},
		{"/account/consents/receipt?purpose=Not%20an%20ID", cookie, 400},
		{"/account/consents/receipt?purpose=other", cookie, 404},
	} {
		if status, body := e.cookieGet(tc.path, tc.cookie); status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.path, status, body, tc.status)
		}
	}
}
