package app_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/internal/scopes"
	"github.com/cedula/cedula/journeys"
	"github.com/cedula/cedula/wallet/inbox"
)

const (
	outreachAgency  = "social-security"
	outreachPurpose = "child-benefit-outreach"
)

// outreach registers the agency with its outreach purpose (consent; the
// identity, household and benefits categories) and returns its token.
func (e *env) outreach() string {
	e.t.Helper()
	ctx := context.Background()
	e.agency(outreachAgency, scopes.Journeys)
	if _, err := e.s.Consent.PutPurpose(ctx, consent.Purpose{ID: outreachPurpose,
		Name:        consent.Text{ES: "Avisarle de la ayuda por hijos", EN: "Telling you about the child benefit"},
		Description: consent.Text{ES: "Le avisamos si puede pedir la ayuda por hijos.", EN: "We tell you if you may claim the child benefit."},
		Controller:  outreachAgency, LegalBasis: consent.Consent, Categories: []string{"identity", "household", "benefits"},
		DPV: "dpv:PersonalisedBenefits", NoticeVersion: "1", NoticeURL: "https://bps.example/privacy"}); err != nil {
		e.t.Fatal(err)
	}
	return e.token(outreachAgency, scopes.Journeys)
}

// consenting is a new citizen who consented to the outreach, and the sub
// the agency knows them by.
func (e *env) consenting(name string) (string, string) {
	e.t.Helper()
	id := e.citizen(name)
	if _, err := e.s.Consent.Give(context.Background(), consent.Request{Subject: id, Purpose: outreachPurpose, Method: consent.MethodWeb}); err != nil {
		e.t.Fatal(err)
	}
	return id, e.loggedInAt(outreachAgency, id)
}

// journeyMessages are the citizen's journey messages, oldest first.
func (e *env) journeyMessages(citizenID string) []inbox.Message {
	e.t.Helper()
	page, err := e.s.Inbox.Messages(context.Background(), citizenID, 0, 100, false)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []inbox.Message
	for i := len(page) - 1; i >= 0; i-- {
		if page[i].Kind == inbox.JourneyMessage {
			out = append(out, page[i])
		}
	}
	return out
}

// stepAll runs every due step and sends what they put in the outbox.
func (e *env) stepAll() {
	e.t.Helper()
	for {
		n, err := e.s.Journeys.Step(context.Background(), 100)
		if err != nil {
			e.t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	e.deliverAll()
}

// deliverAll sends every delivery due, and waits for those the
// server's own worker took meanwhile.
func (e *env) deliverAll() {
	e.t.Helper()
	ctx := context.Background()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		n, err := e.s.Delivery.Deliver(ctx)
		if err != nil {
			e.t.Fatal(err)
		}
		if n > 0 {
			continue
		}
		// Due now, or leased by the server's worker (due again when its
		// five-minute lease ends); not those waiting for quiet hours' end.
		var due int
		if err := e.s.DB.QueryRowContext(ctx, `SELECT count(*) FROM journeys_deliveries WHERE status = 'pending' AND next_at <= $1`,
			time.Now().Add(6*time.Minute).UnixMicro()).Scan(&due); err != nil {
			e.t.Fatal(err)
		}
		if due == 0 {
			return
		}
	}
	e.t.Fatal("deliveries still due after 15 s")
}

const outreachJourney = `{"purpose":"child-benefit-outreach","trigger":{"event":"registry.changed"},
 "segment":"dependants > 0 && !(\"child-benefit\" in benefits)",
 "steps":[{"id":"tell","send":{"message":"offer","ask":true}},{"id":"later","wait":"1h"},{"id":"remind","send":{"message":"offer"}}],
 "messages":{"offer":{"es":{"subject":"Una ayuda para usted","body":"Hola, {{given_name}}: con {{dependants}} hijos a su cargo puede pedir la ayuda por hijos en su oficina."},
   "en":{"subject":"A benefit for you","body":"Hello {{given_name}}: with {{dependants}} children in your care you may claim the child benefit at your office."}}}}`

// TestJourneysFollowTheLedger: an agency defines a journey under its
// consent purpose; two citizens in its segment get its sealed message
// with who sent it and why; one withdraws — their pending reminder stops
// at once — and the next trigger reaches only the other, the log holding
// the ledger's denial for the first. Definitions that read what the
// purpose does not cover, name a missing variable, carry a link or do not
// hold together are refused with the problem named.
func TestJourneysFollowTheLedger(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tok := e.outreach()
	res, out := e.do(http.MethodPut, "/journeys/child-benefit", tok, outreachJourney)
	if res.StatusCode != 200 || fmt.Sprint(out["categories"]) != "[benefits household identity]" {
		t.Fatalf("define: %d %v", res.StatusCode, out)
	}
	ana, anaSub := e.consenting("Ana")
	beto, betoSub := e.consenting("Beto")
	push := func(sub string) int {
		t.Helper()
		res, out := e.do(http.MethodPut, "/journeys/registry/"+sub, tok, `{"attributes":{"dependants":2,"benefits":["school-meals"]}}`)
		if res.StatusCode != 200 {
			t.Fatalf("push: %d %v", res.StatusCode, out)
		}
		return int(out["entered"].(float64))
	}
	if push(anaSub) != 1 || push(betoSub) != 1 {
		t.Fatal("the citizens did not enter the journey")
	}
	// A push of what the catalogue does not hold, or of the wrong type,
	// or about a citizen the agency does not know, is refused.
	for body, status := range map[string]int{`{"attributes":{"shoe_size":44}}`: 400, `{"attributes":{"dependants":"two"}}`: 400,
		`{"attributes":{"benefits":"x"}}`: 400, `{}`: 400} {
		if res, out := e.do(http.MethodPut, "/journeys/registry/"+anaSub, tok, body); res.StatusCode != status {
			t.Errorf("push %s: %d %v, want %d", body, res.StatusCode, out, status)
		}
	}
	if res, _ := e.do(http.MethodPut, "/journeys/registry/nobody-we-know", tok, `{"attributes":{"dependants":1}}`); res.StatusCode != http.StatusNotFound {
		t.Errorf("push about an unknown sub: %d, want 404", res.StatusCode)
	}
	e.stepAll()
	for _, c := range []string{ana, beto} {
		ms := e.journeyMessages(c)
		if len(ms) != 1 {
			t.Fatalf("messages: %d, want 1", len(ms))
		}
		m := ms[0]
		if !strings.Contains(m.Body["es"], "con 2 hijos") || m.Sender == nil || m.Sender.Agency != outreachAgency || m.Why == nil ||
			m.Why.Journey != "child-benefit" || m.Why.Purpose != outreachPurpose || m.Why.LegalBasis != "consent" || m.Why.ConsentRecord == "" || !m.Ask {
			t.Errorf("the message: %+v sender %+v why %+v", m, m.Sender, m.Why)
		}
		if v, err := e.s.Seals.Check(ctx, "", m.Body["es"]); err != nil || !v.Genuine || v.TextMatches == nil || !*v.TextMatches {
			t.Errorf("the message does not check as genuine: %+v %v", v, err)
		}
	}

	// Beto withdraws: his reminder, an hour away, stops now.
	if _, err := e.s.Consent.Withdraw(ctx, consent.Request{Subject: beto, Purpose: outreachPurpose, Method: consent.MethodWeb}); err != nil {
		t.Fatal(err)
	}
	es, _ := e.s.Journeys.Enrolments(ctx, beto)
	if len(es) != 1 || es[0].Status != journeys.StatusWithdrawn {
		t.Errorf("Beto's journey after withdrawal: %+v", es)
	}
	// A second journey of the same purpose: its trigger reaches only Ana
	// (who stays where she is on the first, waiting for the reminder).
	news := strings.Replace(outreachJourney, `{"id":"later","wait":"1h"},{"id":"remind","send":{"message":"offer"}}`, `{"id":"done","stop":true}`, 1)
	if res, out := e.do(http.MethodPut, "/journeys/child-benefit-news", tok, news); res.StatusCode != 200 {
		t.Fatalf("define the second: %d %v", res.StatusCode, out)
	}
	start, _ := e.s.Audit.Size(ctx)
	if push(anaSub) != 1 || push(betoSub) != 0 {
		t.Error("the next trigger: want Ana in and Beto not")
	}
	e.stepAll()
	if len(e.journeyMessages(ana)) != 2 || len(e.journeyMessages(beto)) != 1 {
		t.Errorf("messages after the next trigger: Ana %d, Beto %d, want 2 and 1", len(e.journeyMessages(ana)), len(e.journeyMessages(beto)))
	}
	if err := e.s.Audit.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	recs, _, err := e.s.Audit.EntriesAbout(ctx, e.s.AuditSubject(beto), 0, audit.MaxEntries)
	if err != nil {
		t.Fatal(err)
	}
	denied, pushed := false, false
	for _, r := range recs {
		en, _ := r.Entry()
		if en.Action == journeys.ActionPush && en.Actor.ID == outreachAgency && strings.Join(en.Categories, ",") == "benefits,household" {
			pushed = true
		}
		if r.Index < start {
			continue
		}
		if en.Action == consent.ActionDecide && en.Actor.ID == outreachAgency && en.Outcome == audit.Denied {
			denied = true
		}
	}
	if !denied {
		t.Error("the log holds no denial for Beto's next trigger")
	}
	if !pushed {
		t.Error("the log holds no entry of the agency's push about Beto")
	}

	// Refused definitions, each with the problem named.
	for _, tc := range []struct{ name, body, want string }{
		{"a rule reading an uncovered category", strings.Replace(outreachJourney, `dependants > 0`, `dependants > 0 && income_band == \"low\"`, 1), "income_band"},
		{"a message naming a missing variable", strings.Replace(outreachJourney, `{{dependants}} hijos`, `{{kids}} hijos`, 1), "kids"},
		{"a message naming an uncovered attribute", strings.Replace(outreachJourney, `{{dependants}} hijos`, `{{municipality}}`, 1), "municipality"},
		{"a link", strings.Replace(outreachJourney, `en su oficina`, `en https://ayudas.example/pedir`, 1), "link"},
		{"an English body missing", strings.Replace(outreachJourney, `"en":{"subject":"A benefit for you","body":"Hello {{given_name}}: with {{dependants}} children in your care you may claim the child benefit at your office."}`, `"en":{"subject":"x","body":""}`, 1), "en"},
		{"an unknown event", strings.Replace(outreachJourney, `registry.changed`, `moon.full`, 1), "moon.full"},
		{"a branch with no question", strings.Replace(outreachJourney, `"ask":true`, `"ask":false`, 1) + ``, ""},
		{"another agency's purpose", strings.Replace(outreachJourney, outreachPurpose, "someone-elses", 1), "someone-elses"},
		{"a rule that does not compile", strings.Replace(outreachJourney, `dependants > 0`, `dependants >`, 1), "segment"},
	} {
		if tc.name == "a branch with no question" {
			tc.body = strings.Replace(outreachJourney, `{"id":"later","wait":"1h"}`, `{"id":"choose","branch":{"yes":"tell"}}`, 1)
			tc.body = strings.Replace(tc.body, `"ask":true`, `"ask":false`, 1)
			tc.want = "ask"
		}
		res, out := e.do(http.MethodPut, "/journeys/refused", tok, tc.body)
		if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(fmt.Sprint(out["detail"]), tc.want) {
			t.Errorf("%s: %d %v, want 422 naming %q", tc.name, res.StatusCode, out["detail"], tc.want)
		}
	}
	if res, _ := e.do(http.MethodGet, "/journeys/refused", tok, ""); res.StatusCode != http.StatusNotFound {
		t.Errorf("a refused journey was stored: %d", res.StatusCode)
	}
}
