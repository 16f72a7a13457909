package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/cedula/cedula/cmd/cedula/app"
	"github.com/cedula/cedula/internal/scopes"
	"github.com/cedula/cedula/internal/testutil"
	"github.com/cedula/cedula/issuer/demo"
	"github.com/cedula/cedula/mobile-api/mobileclient"
	"github.com/cedula/cedula/wallet/wallettest"
)

// TestMobileAuthorizationSweep calls every operation of
// openapi/mobile.yaml (read from the document, so that a new operation
// without a case here fails the test) as citizen Ana with Beto's
// identifiers — his credential, his pending device-bound acceptance, the
// purpose he consented to, his passkey, his device, his resolved
// presentation request, his presentation waiting for his phone's
// signature, his inbox message — and finds nothing of
// his: 404 for his objects, and lists, reads and creations that hold only
// Ana's own. Beto's objects are all still there afterwards.
func TestMobileAuthorizationSweep(t *testing.T) {
	e, ca := newPresentEnv(t)
	ctx := context.Background()
	ana, beto := e.citizen("Ana"), e.citizen("Beto")
	e.loggedInAt(app.WalletClientID, ana)
	betoSub := e.loggedInAt(app.WalletClientID, beto)
	ak, at := e.walletLogin(e.session(ana))
	bk, bt := e.walletLogin(e.session(beto))
	betoAPI := e.mobileClient(bk, bt)

	// Beto's objects.
	agency := e.token(demo.MachineID, scopes.Issuance)
	betoAtAgency := e.loggedInAt(demo.MachineID, beto)
	_, offer := e.offer(agency, betoAtAgency, "pid")
	txCode := offer["tx_code"].(string)
	acc, err := betoAPI.AcceptOfferWithResponse(ctx, &mobileclient.AcceptOfferParams{IdempotencyKey: "b-1"},
		mobileclient.AcceptOfferRequest{Offer: offer["credential_offer_uri"].(string), TxCode: &txCode})
	if err != nil || acc.JSON201 == nil {
		t.Fatalf("Beto accepts: %v %s", err, acc.Body)
	}
	credID := acc.JSON201.Credentials[0].Id
	_, offer2 := e.offer(agency, betoAtAgency, "residence")
	tx2 := offer2["tx_code"].(string)
	var keys []map[string]any
	for range 2 {
		var jwk map[string]any
		json.Unmarshal(testutil.NewPhoneKey(t).JWK(), &jwk)
		keys = append(keys, jwk)
	}
	device := mobileclient.KeyMode("device")
	pend, err := betoAPI.AcceptOfferWithResponse(ctx, &mobileclient.AcceptOfferParams{IdempotencyKey: "b-2"},
		mobileclient.AcceptOfferRequest{Offer: offer2["credential_offer_uri"].(string), TxCode: &tx2, KeyMode: &device, DeviceKeys: &keys})
	if err != nil || pend.JSON202 == nil {
		t.Fatalf("Beto begins a device-bound acceptance: %v %s", err, pend.Body)
	}
	pendingID := pend.JSON202.Id
	if g, err := betoAPI.GiveConsentWithResponse(ctx, demo.PurposeID, &mobileclient.GiveConsentParams{IdempotencyKey: "b-3"}); err != nil || g.StatusCode() != http.StatusCreated {
		t.Fatalf("Beto consents: %v %s", err, g.Body)
	}
	passkeyID := e.passkey(beto, "Beto's phone", time.Now())
	e.passkey(beto, "Beto's laptop", time.Now())
	dev, err := betoAPI.RegisterDeviceWithResponse(ctx, &mobileclient.RegisterDeviceParams{IdempotencyKey: "b-4"},
		mobileclient.DeviceRegistration{Platform: "android", PushToken: "beto-push-token", Name: "Beto's Android"})
	if err != nil || dev.JSON201 == nil {
		t.Fatalf("Beto registers a device: %v %s", err, dev.Body)
	}
	deviceID := dev.JSON201.Id
	// A presentation request Beto resolved, and a presentation of a PID
	// whose key is on his phone, waiting for its signature.
	v := wallettest.NewVerifier(t, ca)
	askForName(v, "")
	delete(v.Params, "purpose")
	req, err := betoAPI.ResolvePresentationWithResponse(ctx, nil, mobileclient.ResolvePresentationRequest{Request: v.Link("")})
	if err != nil || req.JSON200 == nil {
		t.Fatalf("Beto resolves a request: %v %s", err, req.Body)
	}
	requestID := req.JSON200.Id
	devCred := e.acceptPID(betoAPI, beto, "b-5", []testutil.PhoneKey{testutil.NewPhoneKey(t), testutil.NewPhoneKey(t)})
	req2, err := betoAPI.ResolvePresentationWithResponse(ctx, nil, mobileclient.ResolvePresentationRequest{Request: v.Link("")})
	if err != nil || req2.JSON200 == nil {
		t.Fatalf("Beto resolves a request: %v %s", err, req2.Body)
	}
	ap, err := betoAPI.ApprovePresentationWithResponse(ctx, req2.JSON200.Id, &mobileclient.ApprovePresentationParams{IdempotencyKey: "b-6"},
		mobileclient.PresentationApproval{Credentials: map[string][]string{"pid": {devCred.Id}}})
	if err != nil || ap.JSON202 == nil {
		t.Fatalf("Beto approves with his phone's key: %v %s", err, ap.Body)
	}
	presentationID := ap.JSON202.Id
	// A message in his inbox (his credentials arrived).
	box, err := betoAPI.ListInboxWithResponse(ctx, nil)
	if err != nil || box.JSON200 == nil || len(box.JSON200.Items) == 0 {
		t.Fatalf("Beto's inbox: %v %s", err, box.Body)
	}
	messageID := box.JSON200.Items[0].Id
	// An acceptance waiting for Beto's login at the issuer, and an
	// issuance the agency deferred.
	authCode := mobileclient.AuthorizationCode
	_, offer3 := e.offer(agency, betoAtAgency, "pid")
	auth, err := betoAPI.AcceptOfferWithResponse(ctx, &mobileclient.AcceptOfferParams{IdempotencyKey: "b-7"},
		mobileclient.AcceptOfferRequest{Offer: offer3["credential_offer_uri"].(string), Grant: &authCode})
	if err != nil || auth.JSON200 == nil {
		t.Fatalf("Beto begins a login at the issuer: %v %s", err, auth.Body)
	}
	authID := auth.JSON200.Id
	_, offer4 := e.offer(agency, betoAtAgency, "business-representation")
	tx4 := offer4["tx_code"].(string)
	def, err := betoAPI.AcceptOfferWithResponse(ctx, &mobileclient.AcceptOfferParams{IdempotencyKey: "b-8"},
		mobileclient.AcceptOfferRequest{Offer: offer4["credential_offer_uri"].(string), TxCode: &tx4})
	if err != nil || def.JSON201 == nil || def.JSON201.Deferred == nil {
		t.Fatalf("Beto's deferred issuance: %v %s", err, def.Body)
	}
	deferredID := (*def.JSON201.Deferred)[0].Id
	// What of Beto's must never reach Ana.
	his := []string{credID, pendingID, passkeyID, deviceID, betoSub, "Beto", "beto-push-token", requestID, presentationID, devCred.Id,
		authID, deferredID, messageID}

	// Each operation as Ana with Beto's identifiers: the path, the body,
	// and the statuses that are right.
	type call struct {
		path, body string
		want       []int
	}
	notFound := []int{http.StatusNotFound}
	calls := map[string]call{
		"getMe":                      {"/me", "", []int{200}},
		"listCredentials":            {"/credentials", "", []int{200}},
		"getCredential":              {"/credentials/" + credID, "", notFound},
		"deleteCredential":           {"/credentials/" + credID, "", notFound},
		"previewOffer":               {"/offers/preview", `{"offer":"openid-credential-offer://?credential_offer_uri=` + credID + `"}`, []int{400}},
		"acceptOffer":                {"/offers", `{"offer":"openid-credential-offer://?credential_offer_uri=` + credID + `"}`, []int{400}},
		"completeOffer":              {"/offers/pending/" + pendingID, `{"signatures":["AAAA"]}`, notFound},
		"completeOfferAuthorization": {"/offers/authorizations/" + authID, `{"code":"c","state":"s"}`, notFound},
		"listDeferredIssuances":      {"/offers/deferred", "", []int{200}},
		"collectDeferredIssuance":    {"/offers/deferred/" + deferredID, "", notFound},
		"listConsents":               {"/consents", "", []int{200}},
		"getConsent":                 {"/consents/" + demo.PurposeID, "", notFound},
		"withdrawConsent":            {"/consents/" + demo.PurposeID, "", notFound},
		"getConsentReceipt":          {"/consents/" + demo.PurposeID + "/receipt", "", notFound},
		"listActivity":               {"/activity", "", []int{200}},
		"listPasskeys":               {"/passkeys", "", []int{200}},
		"renamePasskey":              {"/passkeys/" + passkeyID, `{"name":"mine"}`, notFound},
		"removePasskey":              {"/passkeys/" + passkeyID, "", notFound},
		"listDevices":                {"/devices", "", []int{200}},
		"registerDevice":             {"/devices", `{"platform":"ios","push_token":"ana-token","name":"Ana's"}`, []int{201}}, // Ana's own
		"removeDevice":               {"/devices/" + deviceID, "", notFound},
		"giveConsent":                {"/consents/" + demo.PurposeID, "", []int{201}}, // Ana's own consent, last
		// A request is resolved afresh from its link: Beto's ids are no link.
		"resolvePresentation":  {"/presentations/requests", `{"request":"openid4vp://?client_id=` + requestID + `"}`, []int{400, 422}},
		"approvePresentation":  {"/presentations/requests/" + requestID + "/approval", `{"credentials":{"pid":["` + credID + `"]}}`, notFound},
		"declinePresentation":  {"/presentations/requests/" + requestID + "/decline", "", notFound},
		"completePresentation": {"/presentations/pending/" + presentationID, `{"signatures":["AAAA"]}`, notFound},
		"listPresentations":    {"/presentations", "", []int{200}},
		"listInbox":            {"/inbox", "", []int{200}},
		"getInboxMessage":      {"/inbox/" + messageID, "", notFound},
		"readInboxMessage":     {"/inbox/" + messageID + "/read", "", notFound},
		"ackInboxMessage":      {"/inbox/" + messageID + "/ack", "", notFound},
		"respondInboxMessage":  {"/inbox/" + messageID + "/respond", `{"answer":"yes"}`, notFound},
		"shareLocation":        {"/location", `{"lat":39.2,"lon":-0.42}`, []int{204}}, // Ana's own
		"forgetLocation":       {"/location", "", []int{204}},
		"listAlertAreas":       {"/location/areas", "", []int{200}}, // public knowledge, the same for all
		"getPreferences":       {"/preferences", "", []int{200}},
		"setPreferences":       {"/preferences", `{"channels":["email"],"lang":"es","zone":"America/Montevideo","email":"ana@example.org"}`, []int{200}}, // Ana's own
		// Resumed from the first event of all: Beto's are not in it (read
		// for a second, the stream going on).
		"streamInbox": {"/inbox/events?last_event_id=0", "", []int{200}},
	}

	doc, err := openapi3.NewLoader().LoadFromFile("../../../openapi/mobile.yaml")
	if err != nil {
		t.Fatal(err)
	}
	type op struct{ id, method string }
	var ops []op
	for _, p := range doc.Paths.InMatchingOrder() {
		for method, o := range doc.Paths.Value(p).Operations() {
			ops = append(ops, op{o.OperationID, method})
		}
	}
	// The creations after the reads, so that Ana's own consent comes last.
	slices.SortFunc(ops, func(x, y op) int {
		if (x.id == "giveConsent") != (y.id == "giveConsent") {
			if x.id == "giveConsent" {
				return 1
			}
			return -1
		}
		return strings.Compare(x.id, y.id)
	})
	if len(ops) != len(calls) {
		t.Errorf("the document has %d operations, the sweep %d cases", len(ops), len(calls))
	}
	for _, o := range ops {
		c, ok := calls[o.id]
		if !ok {
			t.Errorf("operation %s (%s) has no case in the sweep: add one", o.id, o.method)
			continue
		}
		t.Run(o.id, func(t *testing.T) {
			var body io.Reader
			if c.body != "" {
				body = strings.NewReader(c.body)
			}
			rctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(rctx, o.method, e.url+"/mobile/v1"+c.path, body)
			if err != nil {
				t.Fatal(err)
			}
			if c.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			req.Header.Set("Idempotency-Key", "sweep-"+o.id)
			res, err := http.DefaultClient.Do(dpopRequest(t, req, ak, at))
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, err := io.ReadAll(res.Body)
			if err != nil && o.id != "streamInbox" {
				t.Fatal(err)
			}
			if !slices.Contains(c.want, res.StatusCode) {
				t.Errorf("%s %s as Ana: got %d %s, want one of %v", o.method, c.path, res.StatusCode, b, c.want)
			}
			if res.StatusCode < 300 {
				for _, s := range his {
					if strings.Contains(string(b), s) {
						t.Errorf("%s %s as Ana: the answer holds Beto's %q: %s", o.method, c.path, s, b)
					}
				}
			}
		})
	}

	// Beto's objects are untouched.
	if g, _ := betoAPI.GetCredentialWithResponse(ctx, credID, nil); g.StatusCode() != http.StatusOK {
		t.Errorf("Beto's credential afterwards: %d", g.StatusCode())
	}
	if c, _ := betoAPI.GetConsentWithResponse(ctx, demo.PurposeID, nil); c.JSON200 == nil || c.JSON200.Consent.State != "given" {
		t.Errorf("Beto's consent afterwards: %s", c.Body)
	}
	if p, _ := betoAPI.ListPasskeysWithResponse(ctx, nil); p.JSON200 == nil || len(p.JSON200.Items) != 2 || !strings.Contains(string(p.Body), "Beto's phone") {
		t.Errorf("Beto's passkeys afterwards: %s", p.Body)
	}
	if d, _ := betoAPI.ListDevicesWithResponse(ctx, nil); d.JSON200 == nil || len(d.JSON200.Items) != 1 {
		t.Errorf("Beto's devices afterwards: %s", d.Body)
	}
	if _, n := v.Posted(); n != 0 {
		t.Errorf("%d answers reached Beto's verifier", n)
	}
	if d, _ := betoAPI.DeclinePresentationWithResponse(ctx, requestID); d.JSON200 == nil || d.JSON200.Presentation.Outcome != "declined" {
		t.Errorf("Beto's request afterwards: %s", d.Body)
	}
	if h, _ := betoAPI.ListPresentationsWithResponse(ctx, nil); h.JSON200 == nil || len(h.JSON200.Items) != 1 {
		t.Errorf("Beto's history afterwards: %s", h.Body)
	}
}
