package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/internal/scopes"
	"github.com/cedula/cedula/issuer/demo"
	"github.com/cedula/cedula/mobile-api/mobileclient"
)

// sseEvent is one Server-Sent Event of the inbox stream.
type sseEvent struct {
	ID, Type string
	Msg      mobileclient.InboxMessage
}

// openStream opens the citizen's inbox stream through the generated
// client (DPoP proof and all) and delivers its events; the channel closes
// when the stream ends. lastID, when not empty, resumes after it.
func openStream(t *testing.T, api *mobileclient.ClientWithResponses, lang, lastID string) (<-chan sseEvent, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := mobileclient.AcceptLanguage(lang)
	p := &mobileclient.StreamInboxParams{AcceptLanguage: &l}
	if lastID != "" {
		p.LastEventID = &lastID
	}
	res, err := api.StreamInbox(ctx, p)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		t.Fatalf("stream: %d %v", res.StatusCode, res.Header)
	}
	ch := make(chan sseEvent, 64)
	go func() {
		defer close(ch)
		for ev := range mobileclient.Events(res.Body) {
			out := sseEvent{ID: ev.ID, Type: ev.Type}
			if json.Unmarshal([]byte(ev.Data), &out.Msg) == nil {
				ch <- out
			}
		}
	}()
	return ch, cancel
}

// awaitEvent returns the next event, which must be of kind.
func awaitEvent(t *testing.T, ch <-chan sseEvent, kind string) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatalf("the stream ended before a %s", kind)
		}
		if ev.Msg.Kind != kind || ev.Type != "message" || ev.ID != ev.Msg.EventId {
			t.Fatalf("event %+v, want a %s message", ev, kind)
		}
		return ev
	case <-time.After(15 * time.Second):
		t.Fatalf("no %s event came", kind)
	}
	return sseEvent{}
}

// TestMobileInbox, over HTTP with the generated client: Ana's app holds
// her inbox stream open while she accepts our issuer's PID (credential
// received), the agency suspends it, reinstates it and revokes it — each
// change reaches the stream at once, in her language, naming the
// credential; a stream resumed with Last-Event-ID gets what it missed;
// the inbox lists them all, and a message is read and acknowledged. A
// consent the ledger marks awaiting renewal (its notice changed) is a
// message too. Beto's stream gets none of it. On both databases and both
// key backends.
func TestMobileInbox(t *testing.T) {
	t.Run("sqlite+local", func(t *testing.T) { mobileInbox(t, newIssuerEnv(t)) })
	// The wallet's and the inbox's rows sealed under data keys wrapped in
	// Vault's transit engine, on PostgreSQL.
	t.Run("postgres+vault", func(t *testing.T) { mobileInbox(t, newIssuerEnvWith(t, postgresVault(t))) })
}

func mobileInbox(t *testing.T, e *env) {
	ctx := context.Background()
	ana, api := e.walletCitizen("Ana")
	_, beto := e.walletCitizen("Beto")
	events, stop := openStream(t, api, "en", "")
	defer stop()
	betoEvents, stopBeto := openStream(t, beto, "es", "")
	defer stopBeto()

	cred := e.acceptPID(api, ana, "inbox-1", nil)
	got := awaitEvent(t, events, "credential_received")
	if got.Msg.CredentialId == nil || *got.Msg.CredentialId != cred.Id || !strings.Contains(got.Msg.Title, "New credential") {
		t.Fatalf("received: %+v, want the new credential %s named in English", got.Msg, cred.Id)
	}

	agency := e.token(demo.MachineID, scopes.Issuance)
	var credID string
	list, _, err := e.s.Issuer.Credentials(ctx, demo.MachineID, "", 10)
	if err != nil || len(list) != 1 {
		t.Fatalf("the agency's issuances: %v %v", list, err)
	}
	credID = list[0].ID
	var ids []string
	for _, step := range []struct{ status, kind string }{
		{"suspended", "credential_suspended"}, {"valid", "credential_reinstated"}, {"invalid", "credential_revoked"},
	} {
		if res, out := e.do(http.MethodPut, "/issuance/credentials/"+credID+"/status", agency, `{"status":"`+step.status+`"}`); res.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %v", step.status, res.StatusCode, out)
		}
		ev := awaitEvent(t, events, step.kind)
		if ev.Msg.CredentialId == nil || *ev.Msg.CredentialId != cred.Id || ev.Msg.Body == nil {
			t.Fatalf("%s: %+v", step.kind, ev.Msg)
		}
		ids = append(ids, ev.ID)
	}
	st, err := api.GetCredentialWithResponse(ctx, cred.Id, nil)
	if err != nil || st.JSON200 == nil || string(st.JSON200.Status) != "revoked" {
		t.Errorf("after the revocation: %v %s", err, st.Body)
	}

	// Resumed after the suspension: the two later ones, in Spanish.
	again, stopAgain := openStream(t, api, "es", ids[0])
	defer stopAgain()
	if ev := awaitEvent(t, again, "credential_reinstated"); ev.ID != ids[1] || !strings.Contains(ev.Msg.Title, "válida de nuevo") {
		t.Errorf("resumed: %+v, want event %s in Spanish", ev, ids[1])
	}
	if ev := awaitEvent(t, again, "credential_revoked"); ev.ID != ids[2] {
		t.Errorf("resumed: %+v, want event %s", ev, ids[2])
	}

	// A consent the ledger ends without her: a message asks her to renew.
	putPurpose(t, e.s, "tax-reminders", "tax", consent.Consent, "contact")
	if _, err := e.s.Consent.Give(ctx, consent.Request{Subject: ana, Purpose: "tax-reminders", Method: consent.MethodWeb}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Consent.PutPurpose(ctx, consent.Purpose{ID: "tax-reminders", Name: consent.Text{ES: "Avisos de impuestos", EN: "Tax reminders"},
		Description: consent.Text{ES: "d", EN: "d"}, Controller: "tax", LegalBasis: consent.Consent, Categories: []string{"contact"},
		DPV: "dpv:ServiceProvision", NoticeVersion: "2", NoticeURL: "https://example.gov/privacy"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Consent.NoticeChanged(ctx, "tax-reminders"); err != nil {
		t.Fatal(err)
	}
	renew := awaitEvent(t, events, "consent_renewal")
	if renew.Msg.Purpose == nil || *renew.Msg.Purpose != "tax-reminders" || renew.Msg.Title != "Renew your consent: Tax reminders" {
		t.Errorf("renewal: %+v", renew.Msg)
	}

	en := mobileclient.AcceptLanguage("en")
	inbox, err := api.ListInboxWithResponse(ctx, &mobileclient.ListInboxParams{AcceptLanguage: &en})
	if err != nil || inbox.JSON200 == nil || len(inbox.JSON200.Items) != 5 {
		t.Fatalf("inbox: %v %s", err, inbox.Body)
	}
	var kinds []string
	for _, m := range inbox.JSON200.Items {
		kinds = append(kinds, m.Kind)
	}
	if strings.Join(kinds, ",") != "consent_renewal,credential_revoked,credential_reinstated,credential_suspended,credential_received" {
		t.Errorf("inbox kinds, newest first: %v", kinds)
	}
	first := inbox.JSON200.Items[4]
	if r, err := api.ReadInboxMessageWithResponse(ctx, first.Id, nil); err != nil || r.JSON200 == nil || r.JSON200.ReadAt == nil {
		t.Errorf("read: %v %s", err, r.Body)
	}
	if a, err := api.AckInboxMessageWithResponse(ctx, first.Id, nil); err != nil || a.JSON200 == nil || a.JSON200.AckedAt == nil {
		t.Errorf("ack: %v %s", err, a.Body)
	}
	unread := true
	if u, err := api.ListInboxWithResponse(ctx, &mobileclient.ListInboxParams{Unread: &unread}); err != nil || u.JSON200 == nil || len(u.JSON200.Items) != 4 {
		t.Errorf("unread after one read: %v %s", err, u.Body)
	}
	if g, _ := beto.GetInboxMessageWithResponse(ctx, first.Id, nil); g.StatusCode() != http.StatusNotFound {
		t.Errorf("Beto reading Ana's message: %d, want 404", g.StatusCode())
	}
	select {
	case ev := <-betoEvents:
		t.Errorf("Beto's stream got %+v", ev)
	default:
	}
}
