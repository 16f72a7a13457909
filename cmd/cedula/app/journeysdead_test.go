package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/internal/scopes"
	"github.com/cedula/cedula/journeys/delivery"
)

// TestDeadLettersAndWithdrawal: an email the relay refuses for good is a
// dead letter the agency's operators see through the journeys API (what,
// why — never to whom) and, once the relay takes it, send again: it
// arrives once, sealed. Another agency sees and touches none of it. And a
// message waiting for a retry is not sent to a citizen who withdrew
// meanwhile: the ledger is asked again at its turn, and says no.
func TestDeadLettersAndWithdrawal(t *testing.T) {
	box := startMailbox(t)
	var mu sync.Mutex
	answer := map[string]*smtp.SMTPError{}
	box.refuse = func(to string) error {
		mu.Lock()
		defer mu.Unlock()
		if e := answer[to]; e != nil {
			return e
		}
		return nil
	}
	e, tok := mailedJourney(t, box, nil)
	ctx := context.Background()
	ana := e.byEmail("Ana", "ana@example.org")
	mu.Lock()
	answer["ana@example.org"] = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
	mu.Unlock()
	if res, out := e.do(http.MethodPut, "/journeys/registry/"+e.loggedInAt(outreachAgency, ana), tok, `{"attributes":{"dependants":2,"benefits":[]}}`); res.StatusCode != 200 {
		t.Fatalf("push: %d %v", res.StatusCode, out)
	}
	e.stepAll()
	if n := len(box.mails()); n != 0 {
		t.Fatalf("the relay refused, yet %d mails arrived", n)
	}

	// The operators' view: one dead letter, nothing of the citizen.
	_, res, _ := e.get("/journeys/outbox/dead", tok)
	var page struct {
		DeadLetters []struct {
			ID, Channel, Reason, Purpose string
			Attempts                     int
		} `json:"dead_letters"`
		Next string `json:"next_cursor"`
	}
	if err := json.Unmarshal(res, &page); err != nil {
		t.Fatal(err)
	}
	if len(page.DeadLetters) != 1 || page.Next != "" {
		t.Fatalf("dead letters: %s, want one", res)
	}
	dl := page.DeadLetters[0]
	if dl.Channel != "email" || dl.Reason != "smtp 550 5.1.1" || dl.Purpose != "dpv:PersonalisedBenefits" || dl.Attempts != 1 {
		t.Errorf("dead letter %+v, want email, smtp 550 5.1.1, the purpose's DPV code, 1 attempt", dl)
	}
	for _, personal := range []string{"ana@", "Ana", ana, "Hola"} {
		if strings.Contains(string(res), personal) {
			t.Errorf("the dead letters show %q", personal)
		}
	}

	// Another agency sees none and touches none; a token without the
	// journeys scope is refused; a made-up cursor is a 400.
	e.agency("other-agency", scopes.Journeys, scopes.Alerts)
	other := e.token("other-agency", scopes.Journeys)
	if _, res, _ := e.get("/journeys/outbox/dead", other); !strings.Contains(string(res), `"dead_letters":[]`) {
		t.Errorf("another agency's list: %s", res)
	}
	for _, c := range []struct {
		method, path, token string
		status              int
	}{
		{http.MethodPost, "/journeys/outbox/dead/" + dl.ID + "/retry", other, http.StatusNotFound},
		{http.MethodDelete, "/journeys/outbox/dead/" + dl.ID, other, http.StatusNotFound},
		{http.MethodGet, "/journeys/outbox/dead", e.token("other-agency", scopes.Alerts), http.StatusForbidden},
		{http.MethodGet, "/journeys/outbox/dead?cursor=bm90LW91cnM", tok, http.StatusBadRequest},
		{http.MethodGet, "/journeys/outbox/dead?limit=0", tok, http.StatusBadRequest},
	} {
		if res, out := e.do(c.method, c.path, c.token, ""); res.StatusCode != c.status || res.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s %s: %d %s %v, want %d problem JSON", c.method, c.path, res.StatusCode, res.Header.Get("Content-Type"), out, c.status)
		}
	}

	// The relay takes it now: sent again, it arrives once and checks.
	mu.Lock()
	delete(answer, "ana@example.org")
	mu.Unlock()
	if res, out := e.do(http.MethodPost, "/journeys/outbox/dead/"+dl.ID+"/retry", tok, ""); res.StatusCode != http.StatusAccepted {
		t.Fatalf("retry: %d %v", res.StatusCode, out)
	}
	e.deliverAll()
	ms := box.mails()
	if len(ms) != 1 || ms[0].to != "ana@example.org" {
		t.Fatalf("after the retry: %+v, want one mail to Ana", ms)
	}
	if v, err := e.s.Seals.Check(ctx, "", ms[0].body); err != nil || !v.Genuine {
		t.Errorf("the mail sent again does not check: %+v %v", v, err)
	}
	if res, _ := e.do(http.MethodPost, "/journeys/outbox/dead/"+dl.ID+"/retry", tok, ""); res.StatusCode != http.StatusConflict {
		t.Errorf("a second retry of a sent delivery: %d, want 409", res.StatusCode)
	}
	if n := e.countAbout(ana, delivery.ActionRequeue, outreachAgency, audit.Allowed); n != 1 {
		t.Errorf("got %d requeue entries, want 1", n)
	}

	// Beto's relay is busy (451): the message waits for a retry; he
	// withdraws meanwhile; at its turn the ledger says no — never sent.
	beto := e.byEmail("Beto", "beto@example.org")
	mu.Lock()
	answer["beto@example.org"] = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
	mu.Unlock()
	if res, out := e.do(http.MethodPut, "/journeys/registry/"+e.loggedInAt(outreachAgency, beto), tok, `{"attributes":{"dependants":1,"benefits":[]}}`); res.StatusCode != 200 {
		t.Fatalf("push: %d %v", res.StatusCode, out)
	}
	if _, err := e.s.Journeys.Step(ctx, 100); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Delivery.Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	delete(answer, "beto@example.org")
	mu.Unlock()
	if _, err := e.s.Consent.Withdraw(ctx, consent.Request{Subject: beto, Purpose: outreachPurpose, Method: consent.MethodMobile}); err != nil {
		t.Fatal(err)
	}
	e.deliverAll()
	for _, m := range box.mails() {
		if m.to == "beto@example.org" {
			t.Errorf("a message reached Beto after he withdrew")
		}
	}
	if n := e.countAbout(beto, delivery.ActionCancel, delivery.Actor, audit.Denied); n != 1 {
		t.Errorf("got %d cancel entries, want 1 (Beto's)", n)
	}
}

// countAbout counts the log's entries about citizenID of action by
// actor with outcome.
func (e *env) countAbout(citizenID, action, actor string, outcome audit.Outcome) int {
	e.t.Helper()
	ctx := context.Background()
	if err := e.s.Audit.Flush(ctx); err != nil {
		e.t.Fatal(err)
	}
	recs, _, err := e.s.Audit.EntriesAbout(ctx, e.s.AuditSubject(citizenID), 0, audit.MaxEntries)
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		if en, _ := r.Entry(); en.Action == action && en.Actor.ID == actor && en.Outcome == outcome {
			n++
		}
	}
	return n
}
