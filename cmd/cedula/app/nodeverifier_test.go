package app_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cedula/cedula/mobile-api/mobileclient"
	cwallet "github.com/cedula/cedula/wallet"
)

// nodeAnswer is what the Node verifier (testdata/node_verifier.mjs) says
// of an answer it received.
type nodeAnswer struct {
	ID      string `json:"id"`
	Mode    string `json:"mode"`
	Fetched struct {
		Method           string   `json:"method"`
		KBJWTAlgs        []string `json:"kb_jwt_algs"`
		ClientIDPrefixes []string `json:"client_id_prefixes"`
		EncryptionAlgs   []string `json:"encryption_algs"`
	} `json:"fetched"`
	Encrypted        bool   `json:"encrypted"`
	State            string `json:"state"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	Presentations    []struct {
		Issuer     string `json:"issuer"`
		VCT        string `json:"vct"`
		KBVerified bool   `json:"kb_verified"`
		KB         struct {
			Typ          string `json:"typ"`
			Aud          string `json:"aud"`
			NonceMatches bool   `json:"nonce_matches"`
		} `json:"kb"`
		Disclosed []string       `json:"disclosed"`
		Claims    map[string]any `json:"claims"`
	} `json:"presentations"`
}

// TestPresentToNodeVerifier: the citizen's wallet presents to an OpenID4VP
// verifier nobody on the project wrote — npm's @openid4vc/openid4vp
// verifier side with @sd-jwt/sd-jwt-vc (testdata/node_verifier.mjs) — whose
// certificate, for localhost, comes from a CA of the server's
// verifier_trust_anchors. Ana holds our issuer's PID; the verifier asks,
// under a registered purpose of the agency on its host, for her given and
// family names and, optionally, her birthdate (two claim sets), by
// request_uri, once fetched by GET and answered with direct_post, once
// fetched by POST (the wallet's metadata read with the library's schema,
// the wallet_nonce carried back) and answered with direct_post.jwt. Through the mobile API she sees the verified verifier,
// the purpose, the claims (birthdate optional) and her PID; she approves
// the names alone. The verifier finds the issuer's signature, a KB-JWT
// bound to the credential for its client_id and nonce over what was
// presented, and exactly the two names disclosed — no birthdate, nothing
// else of hers. Declining a request in each mode reaches the verifier as
// access_denied with its state, encrypted when the mode is
// direct_post.jwt. The approval is a consent in the ledger; the history
// and the activity show the four answers.
func TestPresentToNodeVerifier(t *testing.T) {
	node := needNode(t)
	e, ca := newPresentEnv(t)
	ctx := context.Background()
	ana, api := e.walletCitizen("Ana")
	cred := e.acceptPID(api, ana, "acc-1", nil)

	key, leaf := ca.Leaf(t, "localhost")
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	v := node.start(t, "node_verifier.mjs", "ISSUER="+e.url,
		"VERIFIER_KEY="+base64.StdEncoding.EncodeToString(pkcs8), "VERIFIER_X5C="+base64.StdEncoding.EncodeToString(leaf))
	v.line() // {base}

	// ask has the verifier make a request in mode and resolves it through
	// the app, checking what the citizen is shown.
	ask := func(mode, method string) (string, map[string]any) {
		t.Helper()
		v.send(fmt.Sprintf(`{"mode":%q,"method":%q,"vct":%q,"purpose":%q}`, mode, method, cred.Vct, verifierPurpose))
		made := v.line()
		en := mobileclient.AcceptLanguage("en")
		res, err := api.ResolvePresentationWithResponse(ctx, &mobileclient.ResolvePresentationParams{AcceptLanguage: &en},
			mobileclient.ResolvePresentationRequest{Request: made["link"].(string)})
		if err != nil || res.JSON200 == nil {
			if err == nil && method == "post" {
				v.line() // the verifier's account of the POST it refused, if it did
			}
			t.Fatalf("%s: resolve: %v %d %s", mode, err, res.StatusCode(), res.Body)
		}
		req := res.JSON200
		if req.Verifier.ClientId != "x509_san_dns:localhost" || !req.Verifier.Verified || req.Verifier.Name != "Test Verifier" || !req.Answerable {
			t.Errorf("%s: the verifier shown: %+v, answerable %v; want x509_san_dns:localhost verified as Test Verifier", mode, req.Verifier, req.Answerable)
		}
		if p := req.Purpose; p == nil || p.Id != verifierPurpose || !p.Registered || p.Controller == nil || *p.Controller != verifierAgency {
			t.Errorf("%s: the purpose shown: %+v, want %s of %s", mode, p, verifierPurpose, verifierAgency)
		}
		if len(req.Queries) != 1 || len(req.Queries[0].Matches) != 1 || req.Queries[0].Matches[0].CredentialId != cred.Id {
			t.Fatalf("%s: queries: got %s, want one answered by %s", mode, res.Body, cred.Id)
		}
		var asked []string
		for _, c := range req.Queries[0].Claims {
			p, _ := json.Marshal(c.Path)
			asked = append(asked, fmt.Sprintf("%s optional=%v", p, c.Optional))
		}
		if want := []string{`["given_name"] optional=false`, `["family_name"] optional=false`, `["birthdate"] optional=true`}; !slices.Equal(asked, want) {
			t.Errorf("%s: claims shown: got %q, want %q", mode, asked, want)
		}
		return req.Id, made
	}

	names := map[string]any{"given_name": "Ana", "family_name": "Test"}
	for i, tc := range []struct{ mode, method string }{{cwallet.ModeDirectPost, "get"}, {cwallet.ModeDirectPostJWT, "post"}} {
		mode := tc.mode
		// Approve the names, leaving the birthdate out (claim set 1).
		id, made := ask(mode, tc.method)
		one := map[string]int{"pid": 1}
		sent, err := api.ApprovePresentationWithResponse(ctx, id, &mobileclient.ApprovePresentationParams{IdempotencyKey: fmt.Sprintf("nv-%d", i)},
			mobileclient.PresentationApproval{Credentials: map[string][]string{"pid": {cred.Id}}, ClaimSets: &one})
		if err != nil || sent.JSON201 == nil {
			if err == nil && strings.Contains(string(sent.Body), "verifier-failed") {
				v.line() // the verifier said why it refused before answering: fails with it
			}
			t.Fatalf("%s: approve: %v %d %s", mode, err, sent.StatusCode(), sent.Body)
		}
		if r := sent.JSON201; r.Presentation.Outcome != "sent" || len(r.Presentation.Credentials) != 1 ||
			!slices.Equal(r.Presentation.Credentials[0].Claims, []string{`["given_name"]`, `["family_name"]`}) {
			t.Errorf("%s: the outcome: got %s, want sent with given_name and family_name", mode, sent.Body)
		}
		got := readAnswer(t, v)
		if got.Mode != mode || got.Encrypted != (mode == cwallet.ModeDirectPostJWT) || got.State != made["state"] || got.Error != "" || len(got.Presentations) != 1 {
			t.Fatalf("%s: the verifier's answer: got %+v, want one presentation with the request's state", mode, got)
		}
		if f := got.Fetched; f.Method != tc.method || tc.method == "post" && (!slices.Contains(f.KBJWTAlgs, "ES256") ||
			!slices.Contains(f.ClientIDPrefixes, cwallet.PrefixX509SanDNS) || !slices.Contains(f.EncryptionAlgs, "ECDH-ES")) {
			t.Errorf("%s: how the verifier was asked for its request: got %+v, want by %s (with metadata the library reads)", mode, f, tc.method)
		}
		p := got.Presentations[0]
		if !p.KBVerified || p.KB.Typ != cwallet.KBType || p.KB.Aud != "x509_san_dns:localhost" || !p.KB.NonceMatches || p.Issuer != e.url || p.VCT != cred.Vct {
			t.Errorf("%s: the verifier checked: got %+v, want a verified KB-JWT for x509_san_dns:localhost from issuer %s", mode, p, e.url)
		}
		if want := []string{"family_name", "given_name"}; !slices.Equal(p.Disclosed, want) {
			t.Errorf("%s: disclosures the verifier received: got %q, want %q alone", mode, p.Disclosed, want)
		}
		// Everything else the verifier sees is what the issuer put in the
		// clear for every holder.
		personal := map[string]any{}
		for k, x := range p.Claims {
			if k != "issuing_authority" && k != "issuing_country" {
				personal[k] = x
			}
		}
		if !reflect.DeepEqual(personal, names) {
			t.Errorf("%s: the claims the verifier sees: got %v, want %v and the issuer's own", mode, p.Claims, names)
		}

		// Decline: access_denied with the state, in the request's mode.
		id, made = ask(mode, tc.method)
		dec, err := api.DeclinePresentationWithResponse(ctx, id)
		if err != nil || dec.JSON200 == nil || dec.JSON200.Presentation.Outcome != "declined" {
			t.Fatalf("%s: decline: %v %d %s", mode, err, dec.StatusCode(), dec.Body)
		}
		got = readAnswer(t, v)
		if got.Error != "access_denied" || got.State != made["state"] || got.Encrypted != (mode == cwallet.ModeDirectPostJWT) || got.Presentations != nil {
			t.Errorf("%s: the verifier's answer to a decline: got %+v, want access_denied with the request's state", mode, got)
		}
	}

	// The approvals are consent events of the agency's purpose.
	if c, err := api.GetConsentWithResponse(ctx, verifierPurpose, nil); err != nil || c.JSON200 == nil || c.JSON200.Consent.State != "given" ||
		c.JSON200.Consent.Controller != verifierAgency {
		t.Errorf("Ana's consent to %s: %v %s, want given to %s", verifierPurpose, err, c.Body, verifierAgency)
	}

	// The history, newest first.
	h, err := api.ListPresentationsWithResponse(ctx, nil)
	if err != nil || h.JSON200 == nil {
		t.Fatalf("history: %v %s", err, h.Body)
	}
	var outcomes []string
	for _, p := range h.JSON200.Items {
		outcomes = append(outcomes, string(p.Outcome))
		if p.Verifier.ClientId != "x509_san_dns:localhost" || !p.Verifier.Verified || p.Purpose == nil || *p.Purpose != verifierPurpose {
			t.Errorf("history entry %s: %+v", p.Id, p)
		}
		if p.Outcome == "sent" && (len(p.Credentials) != 1 || p.Credentials[0].CredentialId != cred.Id ||
			!slices.Equal(p.Credentials[0].Claims, []string{`["given_name"]`, `["family_name"]`})) {
			t.Errorf("history entry %s: credentials %+v, want the PID's two names", p.Id, p.Credentials)
		}
	}
	if want := []string{"declined", "sent", "declined", "sent"}; !slices.Equal(outcomes, want) {
		t.Errorf("history outcomes: got %q, want %q", outcomes, want)
	}

	// The activity: each answer in the audit log.
	if err := e.s.Audit.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Checkpointer.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	limit := 100
	act, err := api.ListActivityWithResponse(ctx, &mobileclient.ListActivityParams{Limit: &limit})
	if err != nil || act.JSON200 == nil {
		t.Fatalf("activity: %v %s", err, act.Body)
	}
	count := map[string]int{}
	for _, it := range act.JSON200.Items {
		count[it.Action]++
	}
	if count[cwallet.ActionPresent] != 2 || count[cwallet.ActionDecline] != 2 {
		t.Errorf("activity: got %v, want two %s and two %s", count, cwallet.ActionPresent, cwallet.ActionDecline)
	}
}

// readAnswer reads the Node verifier's account of the answer it received.
func readAnswer(t *testing.T, v *nodeSession) nodeAnswer {
	t.Helper()
	raw, _ := json.Marshal(v.line()["answer"])
	var a nodeAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("the verifier's answer %s: %v", raw, err)
	}
	return a
}
