package app_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/mobile-api/mobileclient"
)

// TestJourneyMessageInTheApp, over the mobile API with the generated
// client: an agency's journey message reaches the citizen's app with a
// verified sender, why they got it and the question; the citizen answers
// yes, which ends the journey's wait and takes the branch for yes; a
// message that asks nothing, or that nothing waits for any more, cannot
// be answered.
func TestJourneyMessageInTheApp(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tok := e.outreach()
	journey := strings.Replace(outreachJourney,
		`{"id":"later","wait":"1h"},{"id":"remind","send":{"message":"offer"}}`,
		`{"id":"later","wait":"72h"},{"id":"choose","branch":{"yes":"thanks"}},{"id":"remind","send":{"message":"offer"}},{"id":"end","stop":true},{"id":"thanks","send":{"message":"thanks"}}`, 1)
	journey = strings.Replace(journey, `"messages":{`, `"messages":{"thanks":{"es":{"subject":"Gracias","body":"Gracias, {{given_name}}: le esperamos en su oficina."},"en":{"subject":"Thank you","body":"Thank you, {{given_name}}: we expect you at your office."}},`, 1)
	if res, out := e.do(http.MethodPut, "/journeys/child-benefit", tok, journey); res.StatusCode != 200 {
		t.Fatalf("define: %d %v", res.StatusCode, out)
	}
	ana, api := e.walletCitizen("Ana")
	if _, err := e.s.Consent.Give(ctx, consent.Request{Subject: ana, Purpose: outreachPurpose, Method: consent.MethodMobile}); err != nil {
		t.Fatal(err)
	}
	if res, out := e.do(http.MethodPut, "/journeys/registry/"+e.loggedInAt(outreachAgency, ana), tok, `{"attributes":{"dependants":1,"benefits":[]}}`); res.StatusCode != 200 || out["entered"] != 1.0 {
		t.Fatalf("push: %d %v", res.StatusCode, out)
	}
	e.stepAll()
	en := mobileclient.AcceptLanguage("es")
	list, err := api.ListInboxWithResponse(ctx, &mobileclient.ListInboxParams{AcceptLanguage: &en})
	if err != nil || list.JSON200 == nil || len(list.JSON200.Items) != 1 {
		t.Fatalf("inbox: %v %s", err, list.Body)
	}
	m := list.JSON200.Items[0]
	if m.Kind != "journey_message" || m.Sender == nil || !m.Sender.Verified || m.Sender.Agency != outreachAgency || len(m.Sender.Code) != 14 ||
		m.Why == nil || m.Why.Purpose != outreachPurpose || m.Why.Journey == nil || *m.Why.Journey != "child-benefit" || m.Why.Rule == nil ||
		m.Ask == nil || !*m.Ask || m.Body == nil || !strings.Contains(*m.Body, m.Sender.Code) {
		t.Fatalf("the message in the app: %s", list.Body)
	}

	// Ana answers yes: the wait ends, the branch for yes sends thanks.
	r, err := api.RespondInboxMessageWithResponse(ctx, m.Id, nil, mobileclient.RespondInboxMessageJSONRequestBody{Answer: "yes"})
	if err != nil || r.JSON200 == nil || r.JSON200.AckedAt == nil {
		t.Fatalf("respond: %v %s", err, r.Body)
	}
	e.stepAll()
	list, _ = api.ListInboxWithResponse(ctx, &mobileclient.ListInboxParams{AcceptLanguage: &en})
	if len(list.JSON200.Items) != 2 || !strings.HasPrefix(*list.JSON200.Items[0].Body, "Gracias, Ana") || list.JSON200.Items[0].Ask != nil {
		t.Errorf("after answering yes: %s", list.Body)
	}
	es, _ := e.s.Journeys.Enrolments(ctx, ana)
	if len(es) != 1 || es[0].Status != "done" {
		t.Errorf("the journey after thanks: %+v", es)
	}
	// A message that asks nothing, or nothing waits for, cannot be answered.
	if r, _ := api.RespondInboxMessageWithResponse(ctx, list.JSON200.Items[0].Id, nil, mobileclient.RespondInboxMessageJSONRequestBody{Answer: "no"}); r.StatusCode() != http.StatusNotFound {
		t.Errorf("answering thanks: %d", r.StatusCode())
	}
	if r, _ := api.RespondInboxMessageWithResponse(ctx, m.Id, nil, mobileclient.RespondInboxMessageJSONRequestBody{Answer: "no"}); r.StatusCode() != http.StatusNotFound {
		t.Errorf("answering again after the journey ended: %d", r.StatusCode())
	}
}
