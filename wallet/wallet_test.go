package wallet_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/keys/localkeys"
	"github.com/cedula/cedula/internal/testutil"
	"github.com/cedula/cedula/issuer/credential"
	"github.com/cedula/cedula/wallet"
)

// fakeIssuer is an OpenID4VCI issuer small enough to misbehave on
// purpose: fault names what it gets wrong.
type fakeIssuer struct {
	t              *testing.T
	srv            *httptest.Server
	key            keys.Key
	jwks           []byte
	typ            credential.Type
	fault          string
	mu             sync.Mutex
	notes          []string // notification events received
	dpopNonceAsked bool
	credCalls      int
	// The authorization code flow's: the pushed request, and the key of
	// its DPoP proof.
	par     url.Values
	parJKT  string
	authURL string // the authorization URL the wallet made, when not pushed
	// Deferred issuance: the proofs of the deferred request, and the
	// deferred endpoint's calls.
	deferredProofs []string
	deferredCalls  int
	refreshed      int
}

func newFakeIssuer(t *testing.T, fault string) *fakeIssuer {
	kek := make([]byte, localkeys.KEKSize)
	rand.Read(kek)
	ks, err := localkeys.Open(filepath.Join(t.TempDir(), "keystore.json"), localkeys.WithKEK(kek))
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeIssuer{t: t, fault: fault}
	if f.key, err = ks.Active(t.Context(), "vc-issuer", keys.ES256); err != nil {
		t.Fatal(err)
	}
	if f.jwks, err = jose.JWKS(keys.PublicKey{ID: f.key.ID(), Alg: keys.ES256, Key: f.key.Public()}); err != nil {
		t.Fatal(err)
	}
	types, err := credential.Demo()
	if err != nil {
		t.Fatal(err)
	}
	for _, ty := range types {
		if ty.ID == "pid" {
			f.typ = ty
		}
	}
	// Nested claims and array elements, each disclosable, for presentations.
	f.typ.Claims = append(slices.Clip(f.typ.Claims), credential.Claim{Path: []any{"address"}, SD: "always"},
		credential.Claim{Path: []any{"address", "locality"}, SD: "always"}, credential.Claim{Path: []any{"address", "street_address"}, SD: "always"},
		credential.Claim{Path: []any{"nationalities", nil}, SD: "always"})
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeIssuer) json(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (f *fakeIssuer) serve(w http.ResponseWriter, r *http.Request) {
	u := f.srv.URL
	switch r.URL.Path {
	case "/.well-known/openid-credential-issuer":
		md := map[string]any{"credential_issuer": u, "credential_endpoint": u + "/credential", "nonce_endpoint": u + "/nonce",
			"deferred_credential_endpoint": u + "/deferred",
			"notification_endpoint":        u + "/notification", "batch_credential_issuance": map[string]any{"batch_size": 2},
			"display": []map[string]any{{"name": "Emisor falso", "locale": "es"}, {"name": "Fake issuer", "locale": "en"}},
			"credential_configurations_supported": map[string]any{"pid": map[string]any{"format": "dc+sd-jwt", "vct": u + "/vct/pid", "scope": "pid-scope",
				"proof_types_supported": map[string]any{"jwt": map[string]any{"proof_signing_alg_values_supported": []string{"ES256"}}},
				"credential_metadata": map[string]any{"display": []map[string]any{{"name": "PID", "locale": "en"}},
					"claims": []map[string]any{{"path": []string{"given_name"}, "display": []map[string]any{{"name": "Given name", "locale": "en"}}}}}}}}
		if f.fault == "metadata-issuer" {
			md["credential_issuer"] = "https://elsewhere.example"
		}
		f.json(w, 200, md)
	case "/.well-known/oauth-authorization-server":
		md := map[string]any{"issuer": u, "token_endpoint": u + "/token", "dpop_signing_alg_values_supported": []string{"ES256"},
			"authorization_endpoint": u + "/authorize", "pushed_authorization_request_endpoint": u + "/par",
			"code_challenge_methods_supported": []string{"S256"}, "authorization_details_types_supported": []string{"openid_credential"},
			"authorization_response_iss_parameter_supported": true}
		switch f.fault {
		case "no-par":
			delete(md, "pushed_authorization_request_endpoint")
		case "by-scope":
			delete(md, "authorization_details_types_supported")
		case "no-authcode":
			md["grant_types_supported"] = []string{wallet.GrantPreAuthorized}
		}
		f.json(w, 200, md)
	case "/par":
		r.ParseForm()
		p, err := jose.ParseDPoPProof([]byte(r.Header.Get("DPoP")))
		if err != nil || p.HTU != u+"/par" {
			f.json(w, 400, map[string]string{"error": "invalid_dpop_proof"})
			return
		}
		f.mu.Lock()
		f.par, f.parJKT = r.PostForm, p.JKT
		f.mu.Unlock()
		f.json(w, 201, map[string]any{"request_uri": "urn:ietf:params:oauth:request_uri:r-1", "expires_in": 60})
	case "/authorize":
		// The browser's part: the citizen logs in and the server sends her
		// back with a code.
		q := r.URL.Query()
		f.mu.Lock()
		if q.Get("request_uri") != "" {
			if q.Get("request_uri") != "urn:ietf:params:oauth:request_uri:r-1" || q.Get("client_id") != f.par.Get("client_id") {
				f.mu.Unlock()
				http.Error(w, "unknown request_uri", 400)
				return
			}
			q = f.par
		} else {
			f.par, f.parJKT = q, q.Get("dpop_jkt")
		}
		f.mu.Unlock()
		back, _ := url.Parse(q.Get("redirect_uri"))
		bq := url.Values{"state": {q.Get("state")}, "iss": {u}}
		if f.fault == "access-denied" {
			bq.Set("error", "access_denied")
		} else {
			bq.Set("code", "the-auth-code")
		}
		back.RawQuery = bq.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	case "/.well-known/jwt-vc-issuer":
		f.json(w, 200, map[string]any{"issuer": u, "jwks": json.RawMessage(f.jwks)})
	case "/offer":
		f.json(w, 200, f.offer())
	case "/token":
		r.ParseForm()
		p, err := jose.ParseDPoPProof([]byte(r.Header.Get("DPoP")))
		if err != nil || p.HTU != u+"/token" {
			f.json(w, 400, map[string]string{"error": "invalid_dpop_proof"})
			return
		}
		if p.Nonce != "server-nonce" {
			f.mu.Lock()
			f.dpopNonceAsked = true
			f.mu.Unlock()
			w.Header().Set("DPoP-Nonce", "server-nonce")
			f.json(w, 400, map[string]string{"error": "use_dpop_nonce"})
			return
		}
		switch r.PostForm.Get("grant_type") {
		case "authorization_code":
			f.authCodeToken(w, r, p)
			return
		case "refresh_token":
			if r.PostForm.Get("refresh_token") != "the-refresh" || p.JKT != f.parJKT {
				f.json(w, 400, map[string]string{"error": "invalid_grant"})
				return
			}
			f.mu.Lock()
			f.refreshed++
			f.mu.Unlock()
			f.json(w, 200, map[string]any{"access_token": "the-token", "token_type": "DPoP", "expires_in": 300})
			return
		}
		if r.PostForm.Get("pre-authorized_code") != "the-code" || r.PostForm.Get("tx_code") != "4321" {
			f.json(w, 400, map[string]string{"error": "invalid_grant", "error_description": "wrong code\x07 or tx_code"})
			return
		}
		f.mu.Lock()
		f.par = nil // this token answers no authorization request
		f.mu.Unlock()
		f.json(w, 200, map[string]any{"access_token": "the-token", "token_type": "DPoP", "expires_in": 300})
	case "/nonce":
		w.Header().Set("Cache-Control", "no-store")
		f.json(w, 200, map[string]string{"c_nonce": "c-nonce-1"})
	case "/credential":
		f.credential(w, r)
	case "/deferred":
		f.deferred(w, r)
	case "/notification":
		var n struct {
			ID    string `json:"notification_id"`
			Event string `json:"event"`
		}
		json.NewDecoder(r.Body).Decode(&n)
		if r.Header.Get("Authorization") != "DPoP the-token" || n.ID != "n-1" {
			w.WriteHeader(400)
			return
		}
		f.mu.Lock()
		f.notes = append(f.notes, n.Event)
		f.mu.Unlock()
		w.WriteHeader(204)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeIssuer) offer() map[string]any {
	o := map[string]any{"credential_issuer": f.srv.URL, "credential_configuration_ids": []string{"pid"},
		"grants": map[string]any{wallet.GrantPreAuthorized: map[string]any{"pre-authorized_code": "the-code",
			"tx_code": map[string]any{"length": 4, "input_mode": "numeric"}}}}
	if strings.HasPrefix(f.fault, "authcode") || slices.Contains([]string{"no-par", "by-scope", "access-denied", "refresh"}, f.fault) {
		o["grants"] = map[string]any{"authorization_code": map[string]any{"issuer_state": "is-1"}}
	}
	if f.fault == "both-grants" {
		o["grants"].(map[string]any)["authorization_code"] = map[string]any{"issuer_state": "is-1"}
	}
	if f.fault == "no-grants" || f.fault == "no-authcode" {
		delete(o, "grants")
	}
	return o
}

// authCodeToken redeems the code of the authorization code flow: PKCE,
// the redirect URI and the DPoP key of the authorization request checked.
func (f *fakeIssuer) authCodeToken(w http.ResponseWriter, r *http.Request, p jose.DPoPProof) {
	f.mu.Lock()
	par, jkt := f.par, f.parJKT
	f.mu.Unlock()
	h := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	switch {
	case r.PostForm.Get("code") != "the-auth-code" || par == nil:
		f.json(w, 400, map[string]string{"error": "invalid_grant"})
		return
	case base64.RawURLEncoding.EncodeToString(h[:]) != par.Get("code_challenge") || par.Get("code_challenge_method") != "S256":
		f.json(w, 400, map[string]string{"error": "invalid_grant", "error_description": "PKCE"})
		return
	case r.PostForm.Get("redirect_uri") != par.Get("redirect_uri") || r.PostForm.Get("client_id") != par.Get("client_id"):
		f.json(w, 400, map[string]string{"error": "invalid_grant", "error_description": "redirect_uri"})
		return
	case p.JKT != jkt:
		f.json(w, 400, map[string]string{"error": "invalid_dpop_proof", "error_description": "not the key of the authorization request"})
		return
	}
	out := map[string]any{"access_token": "the-token", "token_type": "DPoP", "expires_in": 300}
	if par.Get("authorization_details") != "" {
		out["authorization_details"] = []map[string]any{{"type": "openid_credential", "credential_configuration_id": "pid",
			"credential_identifiers": []string{"pid-1"}}}
	}
	if f.fault == "refresh" {
		out["expires_in"], out["refresh_token"] = 1, "the-refresh"
	}
	f.json(w, 200, out)
}

// deferred is the deferred credential endpoint: first 202 (1.0), then
// issuance_pending (as drafts said it), then the credentials, once.
func (f *fakeIssuer) deferred(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "DPoP the-token" {
		w.Header().Set("WWW-Authenticate", `DPoP error="invalid_token"`)
		w.WriteHeader(401)
		return
	}
	var req struct {
		TransactionID string `json:"transaction_id"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	f.mu.Lock()
	f.deferredCalls++
	calls, proofs := f.deferredCalls, f.deferredProofs
	f.mu.Unlock()
	switch {
	case req.TransactionID != "t-1" || proofs == nil:
		f.json(w, 400, map[string]string{"error": "invalid_transaction_id"})
	case f.fault == "deferred-denied":
		f.json(w, 400, map[string]string{"error": "credential_request_denied"})
	case calls == 1:
		f.json(w, 202, map[string]any{"transaction_id": "t-1", "interval": 30})
	case calls == 2:
		f.json(w, 400, map[string]string{"error": "issuance_pending"})
	default:
		creds, ok := f.issue(w, r, proofs)
		if !ok {
			return
		}
		f.mu.Lock()
		f.deferredProofs = nil
		f.mu.Unlock()
		f.json(w, 200, map[string]any{"credentials": creds, "notification_id": "n-1"})
	}
}

func (f *fakeIssuer) credential(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "DPoP the-token" {
		w.Header().Set("WWW-Authenticate", `DPoP error="invalid_token"`)
		w.WriteHeader(401)
		return
	}

	if f.fault == "dpop-then-nonce" {
		// First a DPoP nonce asked for, then one invalid_nonce: a wallet
		// whose DPoP retry spent its c_nonce retry fails.
		p, _ := jose.ParseDPoPProof([]byte(r.Header.Get("DPoP")))
		f.mu.Lock()
		f.credCalls++
		calls := f.credCalls
		f.mu.Unlock()
		switch {
		case p.Nonce != "cred-nonce":
			w.Header().Set("DPoP-Nonce", "cred-nonce")
			w.Header().Set("WWW-Authenticate", `DPoP error="use_dpop_nonce"`)
			w.WriteHeader(401)
			return
		case calls == 2:
			f.json(w, 400, map[string]string{"error": "invalid_nonce"})
			return
		}
	}
	var req struct {
		Identifier string `json:"credential_identifier"`
		Proofs     struct {
			JWT []string `json:"jwt"`
		} `json:"proofs"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	f.mu.Lock()
	details := f.par != nil && f.par.Get("authorization_details") != ""
	f.mu.Unlock()
	if details != (req.Identifier == "pid-1") {
		f.json(w, 400, map[string]string{"error": "unknown_credential_identifier"})
		return
	}
	if strings.HasPrefix(f.fault, "deferred") || f.fault == "refresh" {
		if _, ok := f.check(w, req.Proofs.JWT); !ok {
			return
		}
		f.mu.Lock()
		f.deferredProofs = req.Proofs.JWT
		f.mu.Unlock()
		f.json(w, 202, map[string]any{"transaction_id": "t-1", "interval": 5})
		return
	}
	creds, ok := f.issue(w, r, req.Proofs.JWT)
	if !ok {
		return
	}
	f.json(w, 200, map[string]any{"credentials": creds, "notification_id": "n-1"})
}

// check reads key proofs, answering the error when one is wrong.
func (f *fakeIssuer) check(w http.ResponseWriter, proofs []string) ([]json.RawMessage, bool) {
	var out []json.RawMessage
	for _, p := range proofs {
		kp, err := jose.ParseKeyProof([]byte(p), wallet.ProofType, "ES256")
		if err != nil {
			f.json(w, 400, map[string]string{"error": "invalid_proof"})
			return nil, false
		}
		var cl struct {
			Aud   string `json:"aud"`
			Nonce string `json:"nonce"`
		}
		json.Unmarshal(kp.Payload, &cl)
		if cl.Aud != f.srv.URL || cl.Nonce != "c-nonce-1" {
			f.json(w, 400, map[string]string{"error": "invalid_nonce"})
			return nil, false
		}
		out = append(out, kp.JWK)
	}
	return out, true
}

// issue makes a credential for each key proof, answering the error when
// one is wrong.
func (f *fakeIssuer) issue(w http.ResponseWriter, r *http.Request, proofs []string) ([]map[string]string, bool) {
	holders, ok := f.check(w, proofs)
	if !ok {
		return nil, false
	}
	var creds []map[string]string
	for i := range holders {
		holder, typ, now := holders[i], f.typ, time.Now()
		typ.VCT = f.srv.URL + "/vct/pid"
		switch f.fault {
		case "wrong-cnf":
			other, _ := jose.NewClientKey(keys.ES256)
			holder, _ = other.PublicJWK()
		case "wrong-vct":
			typ.VCT = f.srv.URL + "/vct/other"
		case "expired":
			typ.Lifetime, now = time.Hour, now.Add(-3*time.Hour)
		}
		cred, _, err := credential.Issue(r.Context(), f.key, credential.Request{Issuer: f.srv.URL, Type: typ, Holder: holder, Now: now,
			Claims: map[string]any{"given_name": "Ana", "family_name": "García", "birthdate": "1990-01-01", "issuing_authority": "X", "issuing_country": "ES",
				"address": map[string]any{"locality": "Sevilla", "street_address": "Calle Sierpes 1"}, "nationalities": []any{"ES", "PT"}}})
		if err != nil {
			f.t.Error(err)
			w.WriteHeader(500)
			return nil, false
		}
		switch f.fault {
		case "tamper":
			parts := strings.SplitN(cred, "~", 2)
			cred = parts[0][:len(parts[0])-4] + "AAAA~" + parts[1]
		case "stray-disclosure":
			cred += "WyJzYWx0IiwibmFtZSIsInZhbHVlIl0~"
		}
		if f.fault == "one-short" && i == 1 {
			break
		}
		creds = append(creds, map[string]string{"credential": cred})
	}
	return creds, true
}

// memStore is an in-memory wallet.Store.
type memStore struct {
	history []wallet.PresentationRecord
	mu      sync.Mutex
	recs    map[string]wallet.Record
	log     []audit.Entry
	pending map[string]wallet.PendingRecord
	def     map[string]wallet.DeferredRecord
}

func (m *memStore) PutCredential(_ context.Context, r wallet.Record, es ...audit.Entry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs[r.ID] = r
	m.log = append(m.log, es...)
	return nil
}

func (m *memStore) ListCredentials(_ context.Context, citizenID string) ([]wallet.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []wallet.Record
	for _, r := range m.recs {
		if r.CitizenID == citizenID {
			out = append(out, r)
		}
	}
	return out, nil
}

func (m *memStore) GetCredential(_ context.Context, citizenID, id string) (wallet.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.recs[id]
	if !ok || r.CitizenID != citizenID {
		return wallet.Record{}, wallet.ErrNotFound
	}
	return r, nil
}

func (m *memStore) DeleteCredential(ctx context.Context, citizenID, id string, es ...audit.Entry) error {
	if _, err := m.GetCredential(ctx, citizenID, id); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.recs, id)
	m.log = append(m.log, es...)
	return nil
}

// plainSealer marks data as sealed without encrypting it: the wallet's own
// tests look at its logic; the sealing is audit.Shredder's, tested there and
// end to end.
type plainSealer struct{}

func (plainSealer) SealData(_ context.Context, subject, label string, data []byte) ([]byte, error) {
	return append([]byte(subject+"|"+label+"|"), data...), nil
}

func (plainSealer) OpenData(_ context.Context, subject, label string, sealed []byte) ([]byte, error) {
	p := subject + "|" + label + "|"
	if !strings.HasPrefix(string(sealed), p) {
		return nil, errors.New("sealed for another subject or label")
	}
	return sealed[len(p):], nil
}

func newWallet(t *testing.T) (*wallet.Service, *memStore) {
	return newWalletWith(t, nil)
}

// newWalletWith is newWallet with its configuration changed by mod.
func newWalletWith(t *testing.T, mod func(*wallet.Config)) (*wallet.Service, *memStore) {
	st := &memStore{recs: map[string]wallet.Record{}}
	cfg := wallet.Config{Store: st, Sealer: plainSealer{}, Subject: func(id string) string { return "psn-" + id }, AllowHTTP: true}
	if mod != nil {
		mod(&cfg)
	}
	w, err := wallet.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w, st
}

// TestAcceptOffer: by value and by reference, the wallet follows the
// server's DPoP nonce, asks for a batch (min of its copies and the
// issuer's batch size), keeps both copies under one held credential,
// notifies the issuer, and audits the receipt as the citizen's.
func TestAcceptOffer(t *testing.T) {
	f := newFakeIssuer(t, "")
	w, st := newWallet(t)
	ctx := t.Context()
	byValue, _ := json.Marshal(f.offer())
	for _, link := range []string{
		"openid-credential-offer://?credential_offer=" + urlEscape(string(byValue)),
		"openid-credential-offer://?credential_offer_uri=" + urlEscape(f.srv.URL+"/offer"),
	} {
		p, err := w.PreviewOffer(ctx, "ana", link, "en")
		if err != nil {
			t.Fatal(err)
		}
		if p.IssuerName != "Fake issuer" || p.TxCode == nil || p.TxCode.Length != 4 || len(p.Credentials) != 1 ||
			p.Credentials[0].Display.Name != "PID" || p.Credentials[0].Claims[0].Label != "Given name" {
			t.Errorf("preview: %+v", p)
		}
		rcv, err := w.AcceptOffer(ctx, "ana", wallet.Accept{Offer: link, TxCode: "4321"}, "es")
		if err != nil {
			t.Fatal(err)
		}
		got := rcv.Credentials
		if len(got) != 1 || got[0].Claims["given_name"] != "Ana" || got[0].IssuerName != "Emisor falso" || got[0].Status != wallet.StatusValid {
			t.Errorf("accepted: %+v", got)
		}
	}
	if !f.dpopNonceAsked {
		t.Error("the issuer never asked for a DPoP nonce: the retry is untested")
	}
	if len(f.notes) != 2 || f.notes[0] != "credential_accepted" {
		t.Errorf("notifications: %v", f.notes)
	}
	if len(st.log) != 2 || st.log[0].Action != wallet.ActionReceive || st.log[0].Actor.ID != "psn-ana" || st.log[0].Subject != "psn-ana" {
		t.Errorf("audit entries: %+v", st.log)
	}
	list, _ := w.Credentials(ctx, "ana", "en")
	if len(list) != 2 {
		t.Fatalf("%d held, want 2", len(list))
	}
	// Showing a credential opens its summary alone; a record stored
	// before summaries existed is shown from the whole record.
	st.mu.Lock()
	r := st.recs[list[0].ID]
	whole, sum := r.Sealed, r.Summary
	r.Sealed = []byte("not the record")
	st.recs[r.ID] = r
	st.mu.Unlock()
	if c, err := w.Credential(ctx, "ana", r.ID, "en"); err != nil || c.Claims["given_name"] != "Ana" || len(sum) == 0 {
		t.Errorf("shown from its summary: %+v %v", c, err)
	}
	st.mu.Lock()
	r.Sealed, r.Summary = whole, nil
	st.recs[r.ID] = r
	st.mu.Unlock()
	if c, err := w.Credential(ctx, "ana", r.ID, "en"); err != nil || c.Claims["given_name"] != "Ana" || c.Display.Name != "PID" {
		t.Errorf("shown without a summary: %+v %v", c, err)
	}
	if err := w.DeleteCredential(ctx, "ana", list[0].ID); err != nil {
		t.Fatal(err)
	}
	if f.notes[len(f.notes)-1] != "credential_deleted" {
		t.Errorf("no credential_deleted notification: %v", f.notes)
	}
	if _, err := w.Credential(ctx, "beto", list[1].ID, "en"); !errors.Is(err, wallet.ErrNotFound) {
		t.Errorf("another citizen's credential: %v", err)
	}
}

// TestAcceptRetries: a DPoP nonce the credential endpoint asks for is
// answered with the same key proofs, so a stale c_nonce after it still gets
// its one retry.
func TestAcceptRetries(t *testing.T) {
	f := newFakeIssuer(t, "dpop-then-nonce")
	w, _ := newWallet(t)
	link := "openid-credential-offer://?credential_offer_uri=" + urlEscape(f.srv.URL+"/offer")
	if _, err := w.AcceptOffer(t.Context(), "ana", wallet.Accept{Offer: link, TxCode: "4321"}, "en"); err != nil {
		t.Fatal(err)
	}
	if f.credCalls != 3 {
		t.Errorf("%d credential requests, want 3 (DPoP nonce, invalid_nonce, issued)", f.credCalls)
	}
}

// TestAcceptRefusals: what an issuer gets wrong, or a citizen mistypes,
// stores nothing and says what was wrong.
func TestAcceptRefusals(t *testing.T) {
	for _, c := range []struct {
		fault, txCode string
		kind          error
		detail        string
	}{
		{"", "", wallet.ErrOffer, "transaction code"},
		{"", "12", wallet.ErrOffer, "4 characters"},
		{"", "12a4", wallet.ErrOffer, "digits"},
		{"", "9999", wallet.ErrRefused, "invalid_grant (wrong code or tx_code)"},
		{"metadata-issuer", "4321", wallet.ErrIssuer, "metadata is not valid"},
		{"tamper", "4321", wallet.ErrIssuer, "does not verify"},
		{"wrong-cnf", "4321", wallet.ErrIssuer, "another key"},
		{"wrong-vct", "4321", wallet.ErrIssuer, "vct"},
		{"expired", "4321", wallet.ErrIssuer, "expired"},
		{"stray-disclosure", "4321", wallet.ErrIssuer, "not referenced"},
		{"one-short", "4321", wallet.ErrIssuer, "1 credentials for 2 key proofs"},
	} {
		t.Run(fmt.Sprintf("%s/%q", c.fault, c.txCode), func(t *testing.T) {
			f := newFakeIssuer(t, c.fault)
			w, st := newWallet(t)
			link := "openid-credential-offer://?credential_offer_uri=" + urlEscape(f.srv.URL+"/offer")
			_, err := w.AcceptOffer(t.Context(), "ana", wallet.Accept{Offer: link, TxCode: c.txCode}, "en")
			var we *wallet.Error
			if !errors.Is(err, c.kind) || !errors.As(err, &we) || !strings.Contains(we.Detail, c.detail) {
				t.Fatalf("got %v, want %v saying %q", err, c.kind, c.detail)
			}
			if len(st.recs) != 0 || len(st.log) != 0 {
				t.Errorf("a refused offer stored %d records and %d entries", len(st.recs), len(st.log))
			}
		})
	}
}

func (m *memStore) PutPending(_ context.Context, r wallet.PendingRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pending == nil {
		m.pending = map[string]wallet.PendingRecord{}
	}
	m.pending[r.ID] = r
	return nil
}

func (m *memStore) TakePending(_ context.Context, citizenID, id string, now time.Time) (wallet.PendingRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.pending[id]
	if !ok || r.CitizenID != citizenID {
		return r, wallet.ErrNotFound
	}
	delete(m.pending, id)
	if !now.Before(r.Expires) {
		return wallet.PendingRecord{}, wallet.ErrNotFound
	}
	return r, nil
}

// TestDeviceAccept: with keys the phone holds, the wallet hands out one
// signing input per copy, takes the signatures back, refuses a wrong one
// (voiding the acceptance), and stores credentials bound to the phone's
// keys with no private key of its own.
func TestDeviceAccept(t *testing.T) {
	f := newFakeIssuer(t, "")
	w, st := newWallet(t)
	ctx := t.Context()
	link := "openid-credential-offer://?credential_offer_uri=" + urlEscape(f.srv.URL+"/offer")
	keysOf := func(ks ...testutil.PhoneKey) []json.RawMessage {
		var out []json.RawMessage
		for _, k := range ks {
			out = append(out, k.JWK())
		}
		return out
	}
	a, b := testutil.NewPhoneKey(t), testutil.NewPhoneKey(t)
	for name, dk := range map[string][]json.RawMessage{
		"none": nil, "the same key twice": keysOf(a, a), "three for a batch of two": keysOf(a, b, testutil.NewPhoneKey(t)),
		"a private key": {json.RawMessage(`{"kty":"EC","crv":"P-256","x":"AA","y":"AA","d":"AA"}`)},
	} {
		if _, err := w.BeginDeviceAccept(ctx, "ana", wallet.Accept{Offer: link, TxCode: "4321"}, dk); !errors.Is(err, wallet.ErrOffer) {
			t.Errorf("%s: %v, want ErrOffer", name, err)
		}
	}

	// A wrong signature voids the acceptance.
	p, err := w.BeginDeviceAccept(ctx, "ana", wallet.Accept{Offer: link, TxCode: "4321"}, keysOf(a, b))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.FinishDeviceAccept(ctx, "ana", p.ID, []string{a.Sign(t, p.SigningInputs[0].Input), a.Sign(t, p.SigningInputs[1].Input)}, "en"); !errors.Is(err, wallet.ErrOffer) {
		t.Errorf("b's input signed by a: %v, want ErrOffer", err)
	}
	if _, err := w.FinishDeviceAccept(ctx, "ana", p.ID, nil, "en"); !errors.Is(err, wallet.ErrNotFound) {
		t.Errorf("a voided acceptance again: %v, want ErrNotFound", err)
	}

	p, err = w.BeginDeviceAccept(ctx, "ana", wallet.Accept{Offer: link, TxCode: "4321"}, keysOf(a, b))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.SigningInputs) != 2 || p.SigningInputs[0].Key != 0 || p.SigningInputs[1].Key != 1 || p.SigningInputs[0].Alg != "ES256" {
		t.Fatalf("signing inputs: %+v", p.SigningInputs)
	}
	if _, err := w.FinishDeviceAccept(ctx, "beto", p.ID, nil, "en"); !errors.Is(err, wallet.ErrNotFound) {
		t.Errorf("Beto finishing Ana's acceptance: %v, want ErrNotFound", err)
	}
	rcv, err := w.FinishDeviceAccept(ctx, "ana", p.ID, []string{a.Sign(t, p.SigningInputs[0].Input), b.Sign(t, p.SigningInputs[1].Input)}, "en")
	if err != nil {
		t.Fatal(err)
	}
	got := rcv.Credentials
	if len(got) != 1 || got[0].KeyMode != wallet.KeyDevice || got[0].Claims["given_name"] != "Ana" {
		t.Fatalf("device-bound credential: %+v", got)
	}
	for _, r := range st.recs {
		if strings.Contains(string(r.Sealed), `"key":`) || strings.Contains(string(r.Sealed), `"d":`) {
			t.Error("a device-bound credential's record holds a private key")
		}
		if !strings.Contains(string(r.Sealed), `"device_key":`) {
			t.Error("the record does not say which device key holds the credential")
		}
	}
	if _, err := w.FinishDeviceAccept(ctx, "ana", p.ID, nil, "en"); !errors.Is(err, wallet.ErrNotFound) {
		t.Errorf("finishing twice: %v, want ErrNotFound", err)
	}
}

func (m *memStore) PutPresentation(_ context.Context, r wallet.PresentationRecord, used []wallet.Record, es ...audit.Entry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, u := range used {
		if old, ok := m.recs[u.ID]; ok && old.CitizenID == r.CitizenID {
			old.Sealed = u.Sealed
			m.recs[u.ID] = old
		}
	}
	m.history = append(m.history, r)
	m.log = append(m.log, es...)
	return nil
}

func (m *memStore) ListPresentations(_ context.Context, citizenID string) ([]wallet.PresentationRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []wallet.PresentationRecord
	for _, r := range m.history {
		if r.CitizenID == citizenID {
			out = append(out, r)
		}
	}
	return out, nil
}

func (m *memStore) PutDeferred(_ context.Context, r wallet.DeferredRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.def == nil {
		m.def = map[string]wallet.DeferredRecord{}
	}
	m.def[r.ID] = r
	return nil
}

func (m *memStore) ListDeferred(_ context.Context, citizenID string, now time.Time) ([]wallet.DeferredRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []wallet.DeferredRecord
	for _, r := range m.def {
		if r.CitizenID == citizenID && now.Before(r.Expires) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (m *memStore) ClaimDeferred(_ context.Context, citizenID, id string, now, until time.Time) (wallet.DeferredRecord, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.def[id]
	if !ok || r.CitizenID != citizenID || !now.Before(r.Expires) {
		return wallet.DeferredRecord{}, false, wallet.ErrNotFound
	}
	if r.Due.After(now) {
		return r, false, nil
	}
	r.Due = until
	m.def[id] = r
	return r, true, nil
}

func (m *memStore) UpdateDeferred(_ context.Context, r wallet.DeferredRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.def[r.ID]
	if !ok || old.CitizenID != r.CitizenID {
		return wallet.ErrNotFound
	}
	old.Due, old.Sealed = r.Due, r.Sealed
	m.def[r.ID] = old
	return nil
}

func (m *memStore) DeleteDeferred(_ context.Context, citizenID, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.def[id]; !ok || r.CitizenID != citizenID {
		return wallet.ErrNotFound
	}
	delete(m.def, id)
	return nil
}

func (m *memStore) DueDeferred(_ context.Context, now time.Time, limit int) ([]wallet.DeferredRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []wallet.DeferredRecord
	for _, r := range m.def {
		if !r.Due.After(now) && now.Before(r.Expires) && len(out) < limit {
			out = append(out, r)
		}
	}
	return out, nil
}
