package app_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/config"
	"github.com/cedula/cedula/internal/db/dbtest"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/scopes"
	"github.com/cedula/cedula/internal/sdjwt"
	"github.com/cedula/cedula/internal/statuslist"
	"github.com/cedula/cedula/internal/testenv"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/demo"
	"github.com/cedula/cedula/issuer/vci"
)

// newIssuerEnv starts a server with the demo's credential types and
// purposes (small status lists, so that a test fills one), and registers
// the demo back end as an agency that may issue them.
func newIssuerEnv(t *testing.T) *env {
	t.Helper()
	return newIssuerEnvWith(t, nil)
}

// newIssuerEnvWith is newIssuerEnv with the configuration changed first
// by mutate (another database, another key backend).
func newIssuerEnvWith(t *testing.T, mutate func(*config.Config)) *env {
	t.Helper()
	s, u := startServer(t, func(c *config.Config) {
		c.Demo, c.StatusListSize = true, 16
		if mutate != nil {
			mutate(c)
		}
	})
	e := &env{t: t, s: s, url: u}
	e.key, _ = jose.NewClientKey(keys.ES256)
	e.agency(demo.MachineID, scopes.Issuance)
	return e
}

// wallet is a wallet as a test drives it: DPoP key, access token.
type wallet struct {
	e     *env
	dpop  *jose.ClientKey
	token string
}

// post sends a form or JSON body with the wallet's DPoP proof (and its
// token, when it has one) and decodes the JSON answer.
func (w *wallet) post(path string, form url.Values, body any) (int, map[string]any, http.Header) {
	w.e.t.Helper()
	var rd io.Reader
	ct := "application/x-www-form-urlencoded"
	if form != nil {
		rd = strings.NewReader(form.Encode())
	} else {
		b, _ := json.Marshal(body)
		rd, ct = strings.NewReader(string(b)), "application/json"
	}
	req, _ := http.NewRequest(http.MethodPost, w.e.url+path, rd)
	req.Header.Set("Content-Type", ct)
	ath := ""
	if w.token != "" {
		h := sha256.Sum256([]byte(w.token))
		ath = base64.RawURLEncoding.EncodeToString(h[:])
		req.Header.Set("Authorization", "DPoP "+w.token)
	}
	proof, err := w.dpop.SignDPoP(http.MethodPost, w.e.url+path, ath, time.Now())
	if err != nil {
		w.e.t.Fatal(err)
	}
	req.Header.Set("DPoP", proof)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		w.e.t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out, res.Header
}

// raw posts body of content type ct with the wallet's token and DPoP
// proof, and returns the answer as it came.
func (w *wallet) raw(path, ct string, body []byte) (int, http.Header, []byte) {
	w.e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, w.e.url+path, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", ct)
	h := sha256.Sum256([]byte(w.token))
	proof, _ := w.dpop.SignDPoP(http.MethodPost, w.e.url+path, base64.RawURLEncoding.EncodeToString(h[:]), time.Now())
	req.Header.Set("Authorization", "DPoP "+w.token)
	req.Header.Set("DPoP", proof)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		w.e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, b
}

// offer has the agency offer the citizen known as sub a credential.
func (e *env) offer(agencyToken, sub, typeID string) (int, map[string]any) {
	e.t.Helper()
	res, out := e.do(http.MethodPost, "/issuance/offers", agencyToken, fmt.Sprintf(`{"subject":%q,"credential_configuration_id":%q}`, sub, typeID))
	return res.StatusCode, out
}

// offerCode resolves an offer by reference and returns its
// pre-authorized code.
func (e *env) offerCode(offer map[string]any) (vci.Offer, string) {
	e.t.Helper()
	code, body, hdr := e.get(strings.TrimPrefix(offer["credential_offer_url"].(string), e.url), "")
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		e.t.Fatalf("offer by reference: %d %s", code, body)
	}
	var o vci.Offer
	if err := json.Unmarshal(body, &o); err != nil {
		e.t.Fatal(err)
	}
	return o, o.Grants.PreAuthorized.Code
}

// redeem redeems a pre-authorized code, with DPoP, as a new wallet.
func (e *env) redeem(preAuthorized, txCode string) (*wallet, int, map[string]any) {
	e.t.Helper()
	k, _ := jose.NewClientKey(keys.ES256)
	w := &wallet{e: e, dpop: k}
	status, out, _ := w.post("/oauth/token", url.Values{"grant_type": {vci.GrantPreAuthorized},
		"pre-authorized_code": {preAuthorized}, "tx_code": {txCode}}, nil)
	if status == http.StatusOK {
		w.token = out["access_token"].(string)
	}
	return w, status, out
}

// proofs makes n key proofs for nonce with new keys.
func (e *env) proofs(n int, nonce string) ([]*jose.ClientKey, []string) {
	var ks []*jose.ClientKey
	var ps []string
	for range n {
		k, _ := jose.NewClientKey(keys.ES256)
		p, err := k.SignKeyProof(vci.ProofType, map[string]any{"aud": e.url, "iat": time.Now().Unix(), "nonce": nonce})
		if err != nil {
			e.t.Fatal(err)
		}
		ks, ps = append(ks, k), append(ps, p)
	}
	return ks, ps
}

// TestIssuancePreAuthorized runs the pre-authorized flow as a wallet would
// and checks what it gets: an offer by reference with its transaction
// code, a wrong code refused, a DPoP-bound token, a batch of three
// credentials that verify with the published issuer keys, each bound to
// its own key, at its own place of one status list, with no salt or digest
// in common; a replayed nonce and code refused; the agency's status
// changes read back from the list; and the log's entries, each with an
// inclusion proof.
func TestIssuancePreAuthorized(t *testing.T) {
	e := newIssuerEnv(t)
	ctx := context.Background()
	ana := e.citizen("Ana")
	sub := e.loggedInAt(demo.MachineID, ana)
	agencyToken := e.token(demo.MachineID, scopes.Issuance)

	status, offer := e.offer(agencyToken, sub, "pid")
	if status != http.StatusCreated {
		t.Fatalf("offer: %d %v", status, offer)
	}
	uri, _ := offer["credential_offer_uri"].(string)
	if !strings.HasPrefix(uri, "openid-credential-offer://?credential_offer_uri=") || len(offer["tx_code"].(string)) != 6 {
		t.Fatalf("offer: %v", offer)
	}
	o, code := e.offerCode(offer)
	if o.CredentialIssuer != e.url || !slices.Equal(o.ConfigurationIDs, []string{"pid"}) || o.Grants.PreAuthorized.TxCode.Length != 6 ||
		o.Grants.PreAuthorized.TxCode.InputMode != "numeric" {
		t.Errorf("offer %+v", o)
	}
	if _, st, out := e.redeem(code, "000000x"); st != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Fatalf("wrong tx_code: %d %v", st, out)
	}
	w, st, tok := e.redeem(code, offer["tx_code"].(string))
	if st != http.StatusOK || tok["token_type"] != "DPoP" {
		t.Fatalf("token: %d %v", st, tok)
	}
	if _, st, out := e.redeem(code, offer["tx_code"].(string)); st != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Errorf("replayed pre-authorized code: %d %v", st, out)
	}

	st, nonce, hdr := w.post("/vci/nonce", nil, map[string]any{})
	if st != http.StatusOK || nonce["c_nonce"] == "" || hdr.Get("Cache-Control") != "no-store" {
		t.Fatalf("nonce: %d %v %v", st, nonce, hdr)
	}
	holders, proofs := e.proofs(3, nonce["c_nonce"].(string))
	st, resp, _ := w.post("/vci/credential", nil, map[string]any{"credential_configuration_id": "pid", "proofs": map[string]any{"jwt": proofs}})
	if st != http.StatusOK {
		t.Fatalf("credential: %d %v", st, resp)
	}
	creds, _ := resp["credentials"].([]any)
	if len(creds) != 3 || resp["notification_id"] == "" {
		t.Fatalf("credential response: %v", resp)
	}

	_, issuerMeta, _ := e.get("/.well-known/jwt-vc-issuer", "")
	var im struct {
		Issuer string          `json:"issuer"`
		JWKS   json.RawMessage `json:"jwks"`
	}
	if err := json.Unmarshal(issuerMeta, &im); err != nil || im.Issuer != e.url {
		t.Fatalf("jwt-vc-issuer: %s %v", issuerMeta, err)
	}
	seen := map[string]bool{}
	var list string
	var idx []int
	for i, c := range creds {
		claims := verifyCredential(t, c.(map[string]any)["credential"].(string), im.JWKS, seen)
		tp, _ := holders[i].Thumbprint()
		if got := thumbprint(t, claims["cnf"].(map[string]any)["jwk"]); got != tp {
			t.Errorf("credential %d is bound to %s, want its proof's key %s", i, got, tp)
		}
		if claims["given_name"] != "Ana" || claims["vct"] != e.url+"/vct/pid/1" || claims["iss"] != e.url {
			t.Errorf("credential %d: claims %v", i, claims)
		}
		ref := claims["status"].(map[string]any)["status_list"].(map[string]any)
		if list != "" && ref["uri"] != list {
			t.Errorf("credential %d is in list %v, the others in %s", i, ref["uri"], list)
		}
		list = ref["uri"].(string)
		idx = append(idx, int(ref["idx"].(float64)))
	}
	if distinct(idx) != 3 {
		t.Errorf("status indices %v are not distinct", idx)
	}

	// The nonce was spent.
	_, again := e.proofs(1, nonce["c_nonce"].(string))
	if st, out, _ := w.post("/vci/credential", nil, map[string]any{"credential_configuration_id": "pid", "proofs": map[string]any{"jwt": again}}); st != http.StatusBadRequest || out["error"] != "invalid_nonce" {
		t.Errorf("replayed nonce: %d %v", st, out)
	}
	if st, _, _ := w.post("/vci/notification", nil, map[string]any{"notification_id": resp["notification_id"], "event": "credential_accepted"}); st != http.StatusNoContent {
		t.Errorf("notification: %d", st)
	}

	credID := offer["credential_id"].(string)
	var names []string
	for _, next := range []string{"", "suspended", "valid", "invalid"} {
		if next != "" {
			res, out := e.do(http.MethodPut, "/issuance/credentials/"+credID+"/status", agencyToken, fmt.Sprintf(`{"status":%q}`, next))
			if res.StatusCode != http.StatusOK || out["status"] != next {
				t.Fatalf("status %s: %d %v", next, res.StatusCode, out)
			}
		}
		names = append(names, readStatus(t, e, list, im.JWKS, idx))
	}
	if want := []string{"valid", "suspended", "valid", "invalid"}; !slices.Equal(names, want) {
		t.Errorf("statuses read from the list: %v, want %v", names, want)
	}
	if res, _ := e.do(http.MethodPut, "/issuance/credentials/"+credID+"/status", agencyToken, `{"status":"valid"}`); res.StatusCode != http.StatusConflict {
		t.Errorf("reinstating a revoked credential: %d, want 409", res.StatusCode)
	}
	// The agency reads what it issued: its list and the one credential,
	// each read in the log.
	res, listed := e.do(http.MethodGet, "/issuance/credentials", agencyToken, "")
	if cs, _ := listed["credentials"].([]any); res.StatusCode != http.StatusOK || len(cs) != 1 ||
		cs[0].(map[string]any)["subject"] != sub || cs[0].(map[string]any)["status"] != "invalid" || cs[0].(map[string]any)["count"] != 3.0 {
		t.Errorf("list: %d %v", res.StatusCode, listed)
	}

	// Every step is in the log, with a proof of inclusion.
	if err := e.s.Audit.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	recs, _, err := e.s.Audit.EntriesAbout(ctx, e.s.AuditSubject(ana), 0, audit.MaxEntries)
	if err != nil {
		t.Fatal(err)
	}
	size, _ := e.s.Audit.Size(ctx)
	root, err := audit.TreeHash(ctx, e.s.Audit, size)
	if err != nil {
		t.Fatal(err)
	}
	var story []string
	for i := len(recs) - 1; i >= 0; i-- {
		en, _ := recs[i].Entry()
		if !strings.HasPrefix(en.Action, "credential.") && en.Action != "consent.decide" {
			continue
		}
		story = append(story, en.Action)
		proof, err := audit.ProveInclusion(ctx, e.s.Audit, recs[i].Index, size)
		if err != nil || audit.CheckInclusion(proof, recs[i].Index, size, recs[i].LeafHash(), root) != nil {
			t.Errorf("entry %d (%s): no valid inclusion proof: %v", recs[i].Index, en.Action, err)
		}
	}
	want := []string{"consent.decide", "credential.offer", "credential.redeem", "consent.decide", "credential.issue",
		"credential.notify.accepted", "credential.suspend", "credential.reinstate", "credential.revoke", "credential.read"}
	if !slices.Equal(story, want) {
		t.Errorf("the log's story: %v, want %v", story, want)
	}
}

// verifyCredential checks an SD-JWT VC as a verifier would: typ, the
// signature with the issuer's published keys, every disclosure referenced;
// it returns the claims with the disclosures applied, and fails when a
// salt or digest was seen before.
func verifyCredential(t *testing.T, cred string, jwks []byte, seen map[string]bool) map[string]any {
	t.Helper()
	p, err := sdjwt.Parse(cred)
	if err != nil {
		t.Fatal(err)
	}
	if p.KB != "" || len(p.Disclosures) < 10 {
		t.Fatalf("credential: %d disclosures, key binding %q", len(p.Disclosures), p.KB)
	}
	h, _ := jose.Header([]byte(p.JWT))
	if h["typ"] != "dc+sd-jwt" || h["alg"] != "ES256" {
		t.Errorf("header %v", h)
	}
	payload, err := jose.Verify([]byte(p.JWT), jwks, keys.ES256)
	if err != nil {
		t.Fatalf("the credential does not verify with the jwt-vc-issuer keys: %v", err)
	}
	var m map[string]any
	json.Unmarshal(payload, &m)
	for _, d := range p.Disclosures {
		if seen["salt:"+d.Salt] || seen["digest:"+d.Digest] {
			t.Errorf("salt or digest shared between credentials: %s", d.Encoded)
		}
		seen["salt:"+d.Salt], seen["digest:"+d.Digest] = true, true
	}
	for _, dg := range m["_sd"].([]any) {
		if seen["digest:"+dg.(string)] && !slices.ContainsFunc(p.Disclosures, func(d sdjwt.Disclosure) bool { return d.Digest == dg }) {
			t.Errorf("a digest (or decoy) of another credential: %v", dg)
		}
	}
	claims, err := sdjwt.Reconstruct(m, p.Disclosures)
	if err != nil {
		t.Fatalf("reconstruct: %v", err)
	}
	return claims
}

func thumbprint(t *testing.T, jwk any) string {
	t.Helper()
	b, _ := json.Marshal(jwk)
	tp, err := jose.Thumbprint(b)
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

// readStatus fetches the status list token, checks it, and returns the
// one status the places idx all have.
func readStatus(t *testing.T, e *env, uri string, jwks []byte, idx []int) string {
	t.Helper()
	res, err := http.Get(uri)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/statuslist+jwt" || res.Header.Get("ETag") == "" {
		t.Fatalf("status list: %d %v", res.StatusCode, res.Header)
	}
	payload, err := jose.Verify(b, jwks, keys.ES256)
	if err != nil {
		t.Fatalf("status list token: %v", err)
	}
	var tok statuslist.Token
	json.Unmarshal(payload, &tok)
	if tok.Sub != uri || tok.TTL <= 0 || tok.Expiry <= time.Now().Unix() {
		t.Errorf("status list token %+v", tok)
	}
	l, err := statuslist.Decode(tok.StatusList.Bits, tok.StatusList.Lst)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, i := range idx {
		v, _ := l.Get(i)
		got = append(got, vci.StatusName(v))
	}
	if distinct(got) != 1 {
		t.Errorf("the batch's places differ: %v", got)
	}
	return got[0]
}

// distinct counts the different values of vs.
func distinct[T comparable](vs []T) int {
	m := map[T]bool{}
	for _, v := range vs {
		m[v] = true
	}
	return len(m)
}

// TestOpenID4VCIInterop runs a wallet nobody on the project wrote —
// npm's @openid4vc/openid4vci and @openid4vc/oauth2, with @sd-jwt/sd-jwt-vc
// verifying the credentials and @sd-jwt/jwt-status-list reading the lists
// (testdata/openid4vci.mjs) — through the pre-authorized flow: offer by
// reference, a wrong then the right transaction code, a DPoP-bound token,
// a nonce, a batch of three, the notification, and the agency's status
// changes read back from the list.
func TestOpenID4VCIInterop(t *testing.T) {
	node := needNode(t)
	t.Run("sqlite+local", func(t *testing.T) { interopVCI(t, node, nil) })
	// The other database and key backend: PostgreSQL, and credentials
	// and status lists signed in a real Vault's transit engine.
	t.Run("postgres+vault", func(t *testing.T) {
		interopVCI(t, node, postgresVault(t))
	})
}

// postgresVault configures a server on a fresh PostgreSQL database with
// its keys in the test Vault's transit engine, under a prefix of its own.
func postgresVault(t *testing.T) func(*config.Config) {
	t.Helper()
	dbURL := dbtest.PostgresURL(t)
	addr := testenv.Require(t, testenv.VaultAddr, "Vault")
	t.Setenv("VAULT_TOKEN", testenv.Require(t, testenv.VaultTok, "Vault"))
	b := make([]byte, 4)
	rand.Read(b)
	return func(c *config.Config) {
		c.DB, c.Keys = dbURL, "vault://"+strings.TrimPrefix(addr, "http://")+"?prefix=cedula-"+hex.EncodeToString(b)+"-"
	}
}

func interopVCI(t *testing.T, node nodeRunner, mutate func(*config.Config)) {
	s, u := startServer(t, func(c *config.Config) {
		c.Demo = true
		if mutate != nil {
			mutate(c)
		}
	})
	e := &env{t: t, s: s, url: u}
	ctx := context.Background()
	secret, digest := issuer.NewClientSecret()
	if err := s.Store.PutClient(ctx, issuer.Client{ID: demo.MachineID, Name: "Demo back end", GrantTypes: []string{issuer.GrantClientCredentials},
		AuthMethod: issuer.AuthClientSecretBasic, SecretHash: digest, SubjectType: issuer.SubjectPairwise, Scopes: []string{scopes.Issuance}}); err != nil {
		t.Fatal(err)
	}
	sub := e.loggedInAt(demo.MachineID, e.citizen("Ana"))
	out := node.run(t, "openid4vci.mjs", "ISSUER="+u, "AGENCY_ID="+demo.MachineID, "AGENCY_SECRET="+secret, "SUBJECT="+sub, "CONFIG_ID=pid")
	for key, want := range map[string]any{
		"issuer_metadata_ok": true, "wrong_tx_code": "invalid_grant", "token_type": "DPoP", "credentials": 3.0,
		"distinct_cnf": true, "distinct_idx": true, "same_list": true, "verified": 3.0, "vct": u + "/vct/pid/1",
		"notification_status": 204.0, "replayed_code": "invalid_grant", "replayed_nonce": "invalid_nonce",
	} {
		if out[key] != want {
			t.Errorf("%s: got %v, want %v", key, out[key], want)
		}
	}
	if got, _ := json.Marshal(out["statuses"]); string(got) != `["valid","suspended","valid","invalid"]` {
		t.Errorf("statuses: got %s", got)
	}
}

// credentialKID is the kid of an SD-JWT VC's issuer-signed JWT.
func credentialKID(t *testing.T, cred string) string {
	t.Helper()
	p, err := sdjwt.Parse(cred)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := jose.Header([]byte(p.JWT))
	return fmt.Sprint(h["kid"])
}
