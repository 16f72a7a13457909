package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/cmd/cedula/app"
	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/internal/config"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/scopes"
	"github.com/cedula/cedula/internal/testutil"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/demo"
	"github.com/cedula/cedula/mobile-api/mobileclient"
	cwallet "github.com/cedula/cedula/wallet"
	"github.com/cedula/cedula/wallet/wallettest"
)

// The verifying agency of the presentation tests: its client's sector is
// the test verifier's host, and it controls a purpose resting on consent.
const (
	verifierAgency  = "age-checks"
	verifierPurpose = "age-check-entry"
)

// newPresentEnv is newIssuerEnv whose verifier_trust_anchors hold a test
// CA's certificate, with the verifying agency and its purpose registered;
// mutate, if given, changes the configuration further.
func newPresentEnv(t *testing.T, mutate ...func(*config.Config)) (*env, *wallettest.CA) {
	t.Helper()
	ca := wallettest.NewCA(t)
	anchors := filepath.Join(t.TempDir(), "verifiers.pem")
	if err := os.WriteFile(anchors, ca.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	s, u := startServer(t, func(c *config.Config) {
		c.Demo, c.StatusListSize, c.VerifierTrustAnchors = true, 16, anchors
		for _, m := range mutate {
			m(c)
		}
	})
	e := &env{t: t, s: s, url: u}
	e.key, _ = jose.NewClientKey(keys.ES256)
	e.agency(demo.MachineID, scopes.Issuance)
	ctx := context.Background()
	if err := s.Store.PutClient(ctx, issuer.Client{ID: verifierAgency, Name: "Age checks", GrantTypes: []string{issuer.GrantClientCredentials},
		AuthMethod: issuer.AuthPrivateKeyJWT, JWKS: mustJWKS(t, e), SubjectType: issuer.SubjectPairwise, SectorID: "localhost"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Consent.PutPurpose(ctx, consent.Purpose{ID: verifierPurpose, Name: consent.Text{ES: "Comprobar la edad a la entrada", EN: "Age check at the entrance"},
		Description: consent.Text{ES: "Su nombre para comprobar su edad.", EN: "Your name to check your age."}, Controller: verifierAgency,
		LegalBasis: consent.Consent, Categories: []string{"profile"}, DPV: "dpv:IdentityVerification", NoticeVersion: "1",
		NoticeURL: "https://localhost/privacy"}); err != nil {
		t.Fatal(err)
	}
	return e, ca
}

// askForName makes v ask, for purpose, for a PID's given_name, and its
// family_name optionally (two claim sets).
func askForName(v *wallettest.Verifier, purpose string) {
	v.Params["purpose"] = purpose
	v.Params["dcql_query"] = map[string]any{"credentials": []any{map[string]any{"id": "pid", "format": "dc+sd-jwt",
		"claims":     []any{map[string]any{"id": "gn", "path": []any{"given_name"}}, map[string]any{"id": "fn", "path": []any{"family_name"}}},
		"claim_sets": []any{[]any{"gn", "fn"}, []any{"gn"}}}}}
}

// walletCitizen is a new citizen logged in to the wallet app, with the
// app's client of the mobile API.
func (e *env) walletCitizen(name string) (string, *mobileclient.ClientWithResponses) {
	e.t.Helper()
	id := e.citizen(name)
	e.loggedInAt(app.WalletClientID, id)
	k, tok := e.walletLogin(e.session(id))
	return id, e.mobileClient(k, tok)
}

// acceptPID has the citizen accept our issuer's PID through the app, with
// sealed keys or (phone not nil) keys the phone holds.
func (e *env) acceptPID(api *mobileclient.ClientWithResponses, citizenID, key string, phone []testutil.PhoneKey) mobileclient.Credential {
	e.t.Helper()
	ctx := context.Background()
	_, offer := e.offer(e.token(demo.MachineID, scopes.Issuance), e.loggedInAt(demo.MachineID, citizenID), "pid")
	body := mobileclient.AcceptOfferRequest{Offer: offer["credential_offer_uri"].(string)}
	tx := offer["tx_code"].(string)
	body.TxCode = &tx
	if phone == nil {
		acc, err := api.AcceptOfferWithResponse(ctx, &mobileclient.AcceptOfferParams{IdempotencyKey: key}, body)
		if err != nil || acc.JSON201 == nil {
			e.t.Fatalf("accept: %v %s", err, acc.Body)
		}
		return acc.JSON201.Credentials[0]
	}
	return e.acceptOnPhone(api, body, key, phone)
}

// acceptOnPhone accepts an offer with keys the phone holds: the wallet
// hands out the signing input of each key proof, the phone signs them, and
// the wallet completes the acceptance with the signatures.
func (e *env) acceptOnPhone(api *mobileclient.ClientWithResponses, body mobileclient.AcceptOfferRequest, key string, phone []testutil.PhoneKey) mobileclient.Credential {
	e.t.Helper()
	ctx := context.Background()
	jwks := phoneJWKs(phone...)
	device := mobileclient.KeyMode("device")
	body.KeyMode, body.DeviceKeys = &device, &jwks
	res, err := api.AcceptOfferWithResponse(ctx, &mobileclient.AcceptOfferParams{IdempotencyKey: key}, body)
	if err != nil || res.JSON202 == nil {
		e.t.Fatalf("device acceptance: %v %s", err, res.Body)
	}
	var sigs []string
	for _, in := range res.JSON202.SigningInputs {
		sigs = append(sigs, phone[in.Key].Sign(e.t, in.Input))
	}
	done, err := api.CompleteOfferWithResponse(ctx, res.JSON202.Id, &mobileclient.CompleteOfferParams{IdempotencyKey: key + "-done"},
		mobileclient.CompleteOfferRequest{Signatures: sigs})
	if err != nil || done.JSON201 == nil {
		e.t.Fatalf("device completion: %v %s", err, done.Body)
	}
	return done.JSON201.Credentials[0]
}

// TestMobilePresentation, over HTTP with the generated client: Ana holds
// our issuer's PID; a verifier certified by a CA of the server's
// verifier_trust_anchors asks by request_uri for her given_name and,
// optionally, her family_name, for a registered purpose of the agency on
// its host. The app sees the verified verifier, the purpose, the claims
// (which is optional) and her matching credential; she approves the
// given_name alone; the verifier finds a KB-JWT bound to the credential
// and that one disclosure; the consent is in the ledger; the history
// shows it. Declining sends access_denied. A verifier naming another
// agency's purpose, one whose CA is not trusted, an answered request and
// an approval that does not answer are refused.
func TestMobilePresentation(t *testing.T) {
	e, ca := newPresentEnv(t)
	ctx := context.Background()
	ana, api := e.walletCitizen("Ana")
	cred := e.acceptPID(api, ana, "acc-1", nil)

	v := wallettest.NewVerifier(t, ca)
	askForName(v, verifierPurpose)
	en := mobileclient.AcceptLanguage("en")
	res, err := api.ResolvePresentationWithResponse(ctx, &mobileclient.ResolvePresentationParams{AcceptLanguage: &en},
		mobileclient.ResolvePresentationRequest{Request: v.Link("")})
	if err != nil || res.JSON200 == nil {
		t.Fatalf("resolve: %v %d %s", err, res.StatusCode(), res.Body)
	}
	req := res.JSON200
	if req.Verifier.ClientId != wallettest.ClientID || !req.Verifier.Verified || req.Verifier.Name != "Test Verifier" || !req.Answerable {
		t.Errorf("verifier: %+v, answerable %v", req.Verifier, req.Answerable)
	}
	if p := req.Purpose; p == nil || p.Id != verifierPurpose || !p.Registered || p.Controller == nil || *p.Controller != verifierAgency ||
		p.Name == nil || *p.Name != "Age check at the entrance" || p.LegalBasis == nil || *p.LegalBasis != "consent" {
		t.Errorf("purpose: %+v", req.Purpose)
	}
	if len(req.Queries) != 1 || len(req.Queries[0].Claims) != 2 || len(req.Queries[0].Matches) != 1 {
		t.Fatalf("queries: %s", res.Body)
	}
	q := req.Queries[0]
	if q.Claims[0].Optional || !q.Claims[1].Optional || q.Matches[0].CredentialId != cred.Id || q.Matches[0].KeyMode != "sealed" {
		t.Errorf("query: %s", res.Body)
	}

	// An approval that answers nothing is refused; the request stays.
	bad, err := api.ApprovePresentationWithResponse(ctx, req.Id, &mobileclient.ApprovePresentationParams{IdempotencyKey: "ap-0"},
		mobileclient.PresentationApproval{Credentials: map[string][]string{"pid": {"wc-nothing"}}})
	if err != nil || bad.StatusCode() != http.StatusUnprocessableEntity || !strings.Contains(string(bad.Body), "invalid-approval") {
		t.Errorf("a credential that does not answer: %d %s, want 422 invalid-approval", bad.StatusCode(), bad.Body)
	}
	one := map[string]int{"pid": 1}
	approval := mobileclient.PresentationApproval{Credentials: map[string][]string{"pid": {cred.Id}}, ClaimSets: &one}
	params := &mobileclient.ApprovePresentationParams{IdempotencyKey: "ap-1"}
	sent, err := api.ApprovePresentationWithResponse(ctx, req.Id, params, approval)
	if err != nil || sent.JSON201 == nil {
		t.Fatalf("approve: %v %d %s", err, sent.StatusCode(), sent.Body)
	}
	if r := sent.JSON201; r.RedirectUri == nil || *r.RedirectUri != v.URL+"/done" || r.Presentation.Outcome != "sent" ||
		len(r.Presentation.Credentials) != 1 || !slices.Equal(r.Presentation.Credentials[0].Claims, []string{`["given_name"]`}) {
		t.Errorf("outcome: %s", sent.Body)
	}
	if names, _ := v.Received(t, v.Token(t)); !slices.Equal(names, []string{"given_name"}) {
		t.Errorf("the verifier received %v, want given_name alone", names)
	}
	posted, posts := v.Posted()
	if posted.Get("state") != "st-1" {
		t.Errorf("state %q", posted.Get("state"))
	}
	again, err := api.ApprovePresentationWithResponse(ctx, req.Id, params, approval)
	if err != nil || again.StatusCode() != http.StatusCreated || string(again.Body) != string(sent.Body) {
		t.Errorf("the same Idempotency-Key again: %d %s", again.StatusCode(), again.Body)
	}
	if _, n := v.Posted(); n != posts {
		t.Errorf("a replayed approval reached the verifier again")
	}
	if twice, _ := api.ApprovePresentationWithResponse(ctx, req.Id, &mobileclient.ApprovePresentationParams{IdempotencyKey: "ap-2"}, approval); twice.StatusCode() != http.StatusNotFound {
		t.Errorf("answering a request twice: %d, want 404", twice.StatusCode())
	}

	// The approval is a consent event of the agency's purpose.
	if c, err := api.GetConsentWithResponse(ctx, verifierPurpose, nil); err != nil || c.JSON200 == nil || c.JSON200.Consent.State != "given" ||
		c.JSON200.Consent.Controller != verifierAgency || c.JSON200.Consent.Method != "mobile" {
		t.Errorf("Ana's consent to %s: %v %s", verifierPurpose, err, c.Body)
	}
	// And the presentation's audit entry says why: the purpose, consent,
	// the record it rests on.
	if err := e.s.Audit.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	recs, _, err := e.s.Audit.EntriesAbout(ctx, e.s.AuditSubject(ana), 0, audit.MaxEntries)
	if err != nil {
		t.Fatal(err)
	}
	presented := 0
	for _, r := range recs {
		if en, _ := r.Entry(); en.Action == cwallet.ActionPresent {
			presented++
			if en.Purpose == "" || en.LegalBasis != "consent" || !strings.HasPrefix(en.ConsentRecord, verifierPurpose+"@1/") {
				t.Errorf("the presentation's entry: purpose %q, basis %q, record %q; want the purpose's DPV code, consent, its record",
					en.Purpose, en.LegalBasis, en.ConsentRecord)
			}
		}
	}
	if presented != 1 {
		t.Errorf("%d presentation entries about Ana, want 1", presented)
	}

	// Declining.
	res, err = api.ResolvePresentationWithResponse(ctx, nil, mobileclient.ResolvePresentationRequest{Request: v.Link("post")})
	if err != nil || res.JSON200 == nil {
		t.Fatalf("resolve again: %v %s", err, res.Body)
	}
	dec, err := api.DeclinePresentationWithResponse(ctx, res.JSON200.Id)
	if err != nil || dec.JSON200 == nil || dec.JSON200.Presentation.Outcome != "declined" {
		t.Fatalf("decline: %v %d %s", err, dec.StatusCode(), dec.Body)
	}
	if posted, _ := v.Posted(); posted.Get("error") != "access_denied" || posted.Get("vp_token") != "" || posted.Get("state") != "st-1" {
		t.Errorf("decline posted %v", posted)
	}

	// The history, newest first, paged.
	limit := mobileclient.Limit(1)
	h, err := api.ListPresentationsWithResponse(ctx, &mobileclient.ListPresentationsParams{Limit: &limit})
	if err != nil || h.JSON200 == nil || len(h.JSON200.Items) != 1 || h.JSON200.Items[0].Outcome != "declined" || h.JSON200.NextCursor == nil {
		t.Fatalf("history: %v %s", err, h.Body)
	}
	h, err = api.ListPresentationsWithResponse(ctx, &mobileclient.ListPresentationsParams{Limit: &limit, Cursor: h.JSON200.NextCursor})
	if err != nil || h.JSON200 == nil || len(h.JSON200.Items) != 1 {
		t.Fatalf("history, page 2: %v %s", err, h.Body)
	}
	if p := h.JSON200.Items[0]; p.Outcome != "sent" || p.Verifier.ClientId != wallettest.ClientID || !p.Verifier.Verified ||
		p.Purpose == nil || *p.Purpose != verifierPurpose || p.Credentials[0].CredentialId != cred.Id || strings.Contains(string(h.Body), "Ana") {
		t.Errorf("history: %s", h.Body)
	}

	// A verifier on localhost naming another agency's purpose: refused,
	// nothing sent, no consent recorded.
	askForName(v, demo.PurposeID)
	res, err = api.ResolvePresentationWithResponse(ctx, nil, mobileclient.ResolvePresentationRequest{Request: v.Link("")})
	if err != nil || res.JSON200 == nil {
		t.Fatalf("resolve: %v %s", err, res.Body)
	}
	_, posts = v.Posted()
	other, err := api.ApprovePresentationWithResponse(ctx, res.JSON200.Id, &mobileclient.ApprovePresentationParams{IdempotencyKey: "ap-3"}, approval)
	if err != nil || other.StatusCode() != http.StatusBadRequest || !strings.Contains(string(other.Body), "consent ledger") {
		t.Errorf("another agency's purpose: %d %s, want 400", other.StatusCode(), other.Body)
	}
	if _, n := v.Posted(); n != posts {
		t.Error("the presentation for another agency's purpose reached the verifier")
	}
	if c, _ := api.GetConsentWithResponse(ctx, demo.PurposeID, nil); c.StatusCode() != http.StatusNotFound {
		t.Errorf("Ana's consent to the demo agency's purpose: %d, want none", c.StatusCode())
	}

	// A verifier whose CA the server does not trust.
	stranger := wallettest.NewVerifier(t, wallettest.NewCA(t))
	if r, err := api.ResolvePresentationWithResponse(ctx, nil, mobileclient.ResolvePresentationRequest{Request: stranger.Link("")}); err != nil ||
		r.StatusCode() != http.StatusBadRequest || !strings.Contains(string(r.Body), "invalid-presentation-request") {
		t.Errorf("an untrusted verifier: %d %s, want 400 invalid-presentation-request", r.StatusCode(), r.Body)
	}
}

// TestMobilePresentationDeviceKeys: a PID accepted with keys the phone
// holds is presented in two steps — the wallet hands out the KB-JWT's
// signing input with the key that must sign it, the phone signs — and the
// verifier finds the KB-JWT bound to the phone's key; a pending
// presentation is used once.
func TestMobilePresentationDeviceKeys(t *testing.T) {
	e, ca := newPresentEnv(t)
	ctx := context.Background()
	ana, api := e.walletCitizen("Ana")
	phone := []testutil.PhoneKey{testutil.NewPhoneKey(t), testutil.NewPhoneKey(t)}
	cred := e.acceptPID(api, ana, "acc-d", phone)
	if cred.KeyMode != "device" {
		t.Fatalf("key mode %s", cred.KeyMode)
	}

	v := wallettest.NewVerifier(t, ca)
	askForName(v, verifierPurpose)
	res, err := api.ResolvePresentationWithResponse(ctx, nil, mobileclient.ResolvePresentationRequest{Request: v.Link("")})
	if err != nil || res.JSON200 == nil || res.JSON200.Purpose == nil {
		t.Fatalf("resolve: %v %s", err, res.Body)
	}
	ap, err := api.ApprovePresentationWithResponse(ctx, res.JSON200.Id, &mobileclient.ApprovePresentationParams{IdempotencyKey: "dp-1"},
		mobileclient.PresentationApproval{Credentials: map[string][]string{"pid": {cred.Id}}})
	if err != nil || ap.JSON202 == nil || len(ap.JSON202.SigningInputs) != 1 {
		t.Fatalf("approve: %v %d %s", err, ap.StatusCode(), ap.Body)
	}
	if _, n := v.Posted(); n != 0 {
		t.Fatal("something reached the verifier before the phone signed")
	}
	// Nor is the approval a consent yet: the phone has not signed.
	if c, _ := api.GetConsentWithResponse(ctx, verifierPurpose, nil); c.StatusCode() != http.StatusNotFound {
		t.Errorf("Ana's consent before her phone signed: %d %s, want none", c.StatusCode(), c.Body)
	}
	in := ap.JSON202.SigningInputs[0]
	key, _ := json.Marshal(in.Key)
	i := slices.IndexFunc(phone, func(k testutil.PhoneKey) bool { return string(k.JWK()) == string(key) })
	if i < 0 || in.Alg != "ES256" || in.QueryId != "pid" || in.CredentialId != cred.Id {
		t.Fatalf("signing input: %+v", in)
	}
	done, err := api.CompletePresentationWithResponse(ctx, ap.JSON202.Id, &mobileclient.CompletePresentationParams{IdempotencyKey: "dp-2"},
		mobileclient.CompletePresentationRequest{Signatures: []string{phone[i].Sign(t, in.Input)}})
	if err != nil || done.JSON201 == nil || done.JSON201.Presentation.Outcome != "sent" {
		t.Fatalf("complete: %v %d %s", err, done.StatusCode(), done.Body)
	}
	if c, err := api.GetConsentWithResponse(ctx, verifierPurpose, nil); err != nil || c.JSON200 == nil || c.JSON200.Consent.State != "given" {
		t.Errorf("Ana's consent once sent: %v %s", err, c.Body)
	}
	// Both claim sets are satisfied; the first (given and family name) goes.
	if names, _ := v.Received(t, v.Token(t)); !slices.Equal(names, []string{"family_name", "given_name"}) {
		t.Errorf("the verifier received %v", names)
	}
	again, err := api.CompletePresentationWithResponse(ctx, ap.JSON202.Id, &mobileclient.CompletePresentationParams{IdempotencyKey: "dp-3"},
		mobileclient.CompletePresentationRequest{Signatures: []string{phone[i].Sign(t, in.Input)}})
	if err != nil || again.StatusCode() != http.StatusNotFound {
		t.Errorf("completing twice: %d, want 404", again.StatusCode())
	}
}
