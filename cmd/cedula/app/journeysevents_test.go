package app_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/cedula/cedula/consent"
)

// TestJourneysOnEvents: journeys begin on events inside Cedula — a
// consent given, a credential received in the wallet — for the citizen
// they concern.
func TestJourneysOnEvents(t *testing.T) {
	e := newIssuerEnv(t)
	ctx := context.Background()
	tok := e.outreach()
	welcome := strings.NewReplacer(`"registry.changed"`, `"consent.given"`, `dependants > 0 && !(\"child-benefit\" in benefits)`, `true`,
		`{{dependants}} hijos a su cargo`, `su consentimiento`, `{{dependants}} children in your care`, `your consent`).Replace(outreachJourney)
	welcome = strings.Replace(welcome, `"ask":true`, `"ask":false`, 1)
	if res, out := e.do(http.MethodPut, "/journeys/welcome", tok, welcome); res.StatusCode != 200 {
		t.Fatalf("define on consent.given: %d %v", res.StatusCode, out)
	}
	issued := strings.Replace(welcome, `"consent.given"`, `"credential.issued"`, 1)
	if res, out := e.do(http.MethodPut, "/journeys/new-credential", tok, issued); res.StatusCode != 200 {
		t.Fatalf("define on credential.issued: %d %v", res.StatusCode, out)
	}
	ana, api := e.walletCitizen("Ana")
	if _, err := e.s.Consent.Give(ctx, consent.Request{Subject: ana, Purpose: outreachPurpose, Method: consent.MethodWeb}); err != nil {
		t.Fatal(err)
	}
	e.stepAll()
	if ms := e.journeyMessages(ana); len(ms) != 1 || ms[0].Why == nil || ms[0].Why.Journey != "welcome" {
		t.Fatalf("after the consent: %+v", ms)
	}
	e.acceptPID(api, ana, "ev-1", nil)
	e.stepAll()
	ms := e.journeyMessages(ana)
	if len(ms) != 2 || ms[1].Why.Journey != "new-credential" {
		t.Errorf("after the credential: %d messages", len(ms))
	}
}
