package wallet_test

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/cedula/cedula/internal/testutil"
	"github.com/cedula/cedula/wallet"
	"github.com/cedula/cedula/wallet/wallettest"
)

func presentWallet(t *testing.T, roots *x509.CertPool) (*wallet.Service, *memStore, *fakeIssuer) {
	f := newFakeIssuer(t, "")
	st := &memStore{recs: map[string]wallet.Record{}}
	w, err := wallet.New(wallet.Config{Store: st, Sealer: plainSealer{}, Subject: func(id string) string { return "psn-" + id },
		AllowHTTP: true, VerifierRoots: roots})
	if err != nil {
		t.Fatal(err)
	}
	return w, st, f
}

func receive(t *testing.T, w *wallet.Service, f *fakeIssuer) wallet.Credential {
	link := "openid-credential-offer://?credential_offer_uri=" + urlEscape(f.srv.URL+"/offer")
	rcv, err := w.AcceptOffer(t.Context(), "ana", wallet.Accept{Offer: link, TxCode: "4321"}, "en")
	if err != nil {
		t.Fatal(err)
	}
	return rcv.Credentials[0]
}

// TestPresent: a request signed by an x509_san_dns verifier, fetched by
// GET and by POST (wallet_nonce echoed), is shown with its verified
// name, the citizen's matching credential and the optional claims; the
// approved claim set alone is disclosed (the parent of a nested claim,
// only the array element that matches), with a valid KB-JWT; each
// presentation uses another copy; history and audit record it.
func TestPresent(t *testing.T) {
	ca := wallettest.NewCA(t)
	w, st, f := presentWallet(t, ca.Pool)
	ctx := t.Context()
	cred := receive(t, w, f)
	v := wallettest.NewVerifier(t, ca)
	var jwts []string
	for _, method := range []string{"", "post"} {
		req, err := w.ResolvePresentation(ctx, "ana", v.Link(method), "en")
		if err != nil {
			t.Fatalf("%q: %v", method, err)
		}
		if !req.Verifier.Verified || req.Verifier.Name != "Test Verifier" || req.Purpose != "age-check" || !req.Answerable {
			t.Errorf("verifier: %+v", req)
		}
		q := req.Queries[0]
		if len(q.Matches) != 1 || q.Matches[0].CredentialID != cred.ID || !slices.Equal(q.Matches[0].ClaimSets, []int{0, 1}) {
			t.Fatalf("matches: %+v", q.Matches)
		}
		if q.Claims[0].Optional || !q.Claims[1].Optional || !q.Claims[2].Optional {
			t.Errorf("optional claims: %+v", q.Claims)
		}
		if _, err := w.Present(ctx, "beto", wallet.Approval{RequestID: req.ID, Credentials: map[string][]string{"pid": {cred.ID}}}); !errors.Is(err, wallet.ErrNotFound) {
			t.Errorf("Beto answering Ana's request: %v", err)
		}
		if _, err := w.Present(ctx, "ana", wallet.Approval{RequestID: req.ID}); !errors.Is(err, wallet.ErrApproval) {
			t.Errorf("approving nothing: %v, want ErrApproval", err)
		}
		out, err := w.Present(ctx, "ana", wallet.Approval{RequestID: req.ID, Credentials: map[string][]string{"pid": {cred.ID}}, ClaimSets: map[string]int{"pid": 0}})
		if err != nil {
			t.Fatal(err)
		}
		if out.RedirectURI != v.URL+"/done" || out.Presentation.Outcome != wallet.OutcomeSent || posted(v).Get("state") != "st-1" {
			t.Errorf("outcome: %+v, state %q", out, posted(v).Get("state"))
		}
		names, jwt := v.Received(t, v.Token(t))
		if want := []string{"[PT]", "address", "given_name", "locality", "nationalities"}; !slices.Equal(names, want) {
			t.Errorf("disclosed %v, want %v", names, want)
		}
		jwts = append(jwts, jwt)
	}
	if jwts[0] == jwts[1] {
		t.Error("both presentations used the same copy of the credential: they are linkable")
	}
	hist, err := w.Presentations(ctx, "ana")
	if err != nil || len(hist) != 2 {
		t.Fatalf("history: %+v %v", hist, err)
	}
	h := hist[0]
	if h.VerifierID != "x509_san_dns:localhost" || !h.VerifierVerified || h.Outcome != wallet.OutcomeSent || len(h.Credentials) != 1 ||
		!slices.Equal(h.Credentials[0].Claims, []string{`["given_name"]`, `["address","locality"]`, `["nationalities",1]`}) {
		t.Errorf("history: %+v", h)
	}
	n := 0
	for _, e := range st.log {
		if e.Action == wallet.ActionPresent && e.Subject == "psn-ana" && e.Actor.ID == "psn-ana" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d wallet.present entries, want 2", n)
	}
	for _, r := range st.history {
		if strings.Contains(string(r.Sealed), "Sevilla") || strings.Contains(string(r.Sealed), "Ana") {
			t.Error("the history holds a claim value")
		}
	}
	if hb, _ := w.Presentations(ctx, "beto"); len(hb) != 0 {
		t.Errorf("Beto's history: %+v", hb)
	}
}

// encryptedAnswers is a wallet holding Ana's credential and a verifier
// that asks for it with direct_post.jwt (client_metadata is the test's).
func encryptedAnswers(t *testing.T) (*wallet.Service, *memStore, wallet.Credential, *wallettest.Verifier) {
	t.Helper()
	ca := wallettest.NewCA(t)
	w, st, f := presentWallet(t, ca.Pool)
	cred := receive(t, w, f)
	v := wallettest.NewVerifier(t, ca)
	v.Params["response_mode"] = "direct_post.jwt"
	return w, st, cred, v
}

// TestPresentEncryptedAndDecline: direct_post.jwt sends a JWE the
// verifier opens with its key; declining sends access_denied, encrypted
// the same way.
func TestPresentEncryptedAndDecline(t *testing.T) {
	w, st, cred, v := encryptedAnswers(t)
	ctx := t.Context()
	v.Params["client_metadata"] = map[string]any{"jwks": map[string]any{"keys": []any{json.RawMessage(v.Enc.PublicJWK())}},
		"encrypted_response_enc_values_supported": []string{"A256GCM"}}
	req, err := w.ResolvePresentation(ctx, "ana", v.Link(""), "en")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Present(ctx, "ana", wallet.Approval{RequestID: req.ID, Credentials: map[string][]string{"pid": {cred.ID}}, ClaimSets: map[string]int{"pid": 1}}); err != nil {
		t.Fatal(err)
	}
	if posted(v).Get("vp_token") != "" {
		t.Fatal("direct_post.jwt sent the vp_token in clear")
	}
	plain, err := v.Enc.Decrypt([]byte(posted(v).Get("response")))
	if err != nil {
		t.Fatal(err)
	}
	var resp struct {
		VPToken map[string][]string `json:"vp_token"`
		State   string
	}
	json.Unmarshal(plain, &resp)
	names, _ := v.Received(t, resp.VPToken)
	if !slices.Equal(names, []string{"birthdate", "given_name"}) || resp.State != "st-1" {
		t.Errorf("disclosed %v, state %q", names, resp.State)
	}

	req, err = w.ResolvePresentation(ctx, "ana", v.Link(""), "en")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.DeclinePresentation(ctx, "ana", req.ID); err != nil {
		t.Fatal(err)
	}
	// The error response goes in the request's response mode too (§5.6,
	// §8.3.1): encrypted, state inside.
	if f := posted(v); f.Get("error") != "" || f.Get("state") != "" || f.Get("vp_token") != "" || f.Get("response") == "" {
		t.Fatalf("decline posted %v, want the response parameter alone", f)
	}
	plain, err = v.Enc.Decrypt([]byte(posted(v).Get("response")))
	if err != nil {
		t.Fatalf("the decline does not decrypt with the verifier's key: %v", err)
	}
	var refusal map[string]any
	json.Unmarshal(plain, &refusal)
	if refusal["error"] != "access_denied" || refusal["state"] != "st-1" || refusal["vp_token"] != nil {
		t.Errorf("the decline's payload: got %v, want access_denied with state st-1", refusal)
	}
	if e := st.log[len(st.log)-1]; e.Action != wallet.ActionDecline {
		t.Errorf("last entry %s, want %s", e.Action, wallet.ActionDecline)
	}
	if hist, _ := w.Presentations(ctx, "ana"); len(hist) != 2 || hist[0].Outcome != wallet.OutcomeDeclined && hist[1].Outcome != wallet.OutcomeDeclined {
		t.Errorf("history: %+v", hist)
	}
}

// TestDeclineUnencryptable: a direct_post.jwt verifier whose key takes no
// encryption (a point off the curve) gets no presentation, and its
// decline goes in clear (§8.3.1).
func TestDeclineUnencryptable(t *testing.T) {
	w, _, cred, v := encryptedAnswers(t)
	ctx := t.Context()
	off := map[string]any{"kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ECDH-ES", "use": "enc",
		"x": wallettest.B64(make([]byte, 32)), "y": wallettest.B64(append(make([]byte, 31), 1))}
	v.Params["client_metadata"] = map[string]any{"jwks": map[string]any{"keys": []any{off}}}
	req, err := w.ResolvePresentation(ctx, "ana", v.Link(""), "en")
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Present(ctx, "ana", wallet.Approval{RequestID: req.ID, Credentials: map[string][]string{"pid": {cred.ID}}, ClaimSets: map[string]int{"pid": 1}})
	if !errors.Is(err, wallet.ErrRequest) || !strings.Contains(err.Error(), "cannot be encrypted") {
		t.Errorf("presenting to an unusable key: got %v, want ErrRequest: cannot be encrypted", err)
	}
	if _, n := v.Posted(); n != 0 {
		t.Fatal("a presentation reached the verifier unencrypted")
	}
	req, err = w.ResolvePresentation(ctx, "ana", v.Link(""), "en")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.DeclinePresentation(ctx, "ana", req.ID); err != nil {
		t.Fatal(err)
	}
	if f := posted(v); f.Get("error") != "access_denied" || f.Get("state") != "st-1" || f.Get("response") != "" {
		t.Errorf("decline posted %v, want access_denied in clear", f)
	}
}

// TestPresentDevice: with the key on the phone, Present hands back the
// KB-JWT's signing input; a wrong signature voids it; the phone's
// signature sends a presentation bound to its key.
func TestPresentDevice(t *testing.T) {
	ca := wallettest.NewCA(t)
	w, _, f := presentWallet(t, ca.Pool)
	ctx := t.Context()
	a, b := testutil.NewPhoneKey(t), testutil.NewPhoneKey(t)
	link := "openid-credential-offer://?credential_offer_uri=" + urlEscape(f.srv.URL+"/offer")
	p, err := w.BeginDeviceAccept(ctx, "ana", wallet.Accept{Offer: link, TxCode: "4321"}, []json.RawMessage{a.JWK(), b.JWK()})
	if err != nil {
		t.Fatal(err)
	}
	rcv, err := w.FinishDeviceAccept(ctx, "ana", p.ID, []string{a.Sign(t, p.SigningInputs[0].Input), b.Sign(t, p.SigningInputs[1].Input)}, "en")
	if err != nil {
		t.Fatal(err)
	}
	creds := rcv.Credentials
	v := wallettest.NewVerifier(t, ca)
	phone := map[string]testutil.PhoneKey{string(a.JWK()): a, string(b.JWK()): b}
	for _, wrong := range []bool{true, false} {
		req, err := w.ResolvePresentation(ctx, "ana", v.Link(""), "en")
		if err != nil {
			t.Fatal(err)
		}
		out, err := w.Present(ctx, "ana", wallet.Approval{RequestID: req.ID, Credentials: map[string][]string{"pid": {creds[0].ID}}})
		if err != nil || out.Pending == nil || len(out.Pending.SigningInputs) != 1 {
			t.Fatalf("pending: %+v %v", out, err)
		}
		in := out.Pending.SigningInputs[0]
		k := phone[string(in.Key)]
		if wrong {
			k = testutil.NewPhoneKey(t)
		}
		_, err = w.FinishPresent(ctx, "ana", out.Pending.ID, []string{k.Sign(t, in.Input)})
		if wrong {
			if !errors.Is(err, wallet.ErrApproval) {
				t.Errorf("a wrong signature: %v, want ErrApproval", err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if names, _ := v.Received(t, v.Token(t)); !slices.Equal(names, []string{"[PT]", "address", "given_name", "locality", "nationalities"}) {
			t.Errorf("disclosed %v", names)
		}
	}
}

// TestResolveRefusals: what a verifier gets wrong is refused with
// ErrRequest (or ErrUnsupported) saying what.
func TestResolveRefusals(t *testing.T) {
	ca := wallettest.NewCA(t)
	for _, c := range []struct {
		name   string
		setup  func(v *wallettest.Verifier, w *wallet.Config)
		link   func(v *wallettest.Verifier) string
		kind   error
		detail string
	}{
		{name: "bad signature", setup: func(v *wallettest.Verifier, _ *wallet.Config) {
			s := v.Sign("")
			v.Object = s[:len(s)-6] + "AAAAAA"
		}, kind: wallet.ErrRequest, detail: "signature does not verify"},
		{name: "SAN mismatch", setup: func(v *wallettest.Verifier, _ *wallet.Config) {
			v.Key, v.LeafDER = ca.Leaf(t, "other.example")
			v.Hdr["x5c"] = []string{base64.StdEncoding.EncodeToString(v.LeafDER)}
		}, kind: wallet.ErrRequest, detail: "does not name"},
		{name: "untrusted CA", setup: func(_ *wallettest.Verifier, w *wallet.Config) { w.VerifierRoots = wallettest.NewCA(t).Pool },
			kind: wallet.ErrRequest, detail: "trust anchor"},
		{name: "no trust anchors", setup: func(_ *wallettest.Verifier, w *wallet.Config) { w.VerifierRoots = nil },
			kind: wallet.ErrRequest, detail: "no trust anchors"},
		{name: "wrong client_id", setup: func(v *wallettest.Verifier, _ *wallet.Config) { v.Params["client_id"] = "x509_san_dns:evil.example" },
			kind: wallet.ErrRequest, detail: "client_id"},
		{name: "missing nonce", setup: func(v *wallettest.Verifier, _ *wallet.Config) { delete(v.Params, "nonce") },
			kind: wallet.ErrRequest, detail: "no nonce"},
		{name: "no dcql_query", setup: func(v *wallettest.Verifier, _ *wallet.Config) { delete(v.Params, "dcql_query") },
			kind: wallet.ErrRequest, detail: "no dcql_query"},
		{name: "response_uri elsewhere", setup: func(v *wallettest.Verifier, _ *wallet.Config) { v.Params["response_uri"] = "http://evil.example/r" },
			kind: wallet.ErrRequest, detail: "not on the verifier's host"},
		{name: "response_uri http", setup: func(v *wallettest.Verifier, w *wallet.Config) {
			w.AllowHTTP = false
			v.Params["response_uri"] = "http://localhost/response"
		}, link: func(v *wallettest.Verifier) string {
			return "openid4vp://?client_id=" + url.QueryEscape("x509_san_dns:localhost") + "&request=" + v.Sign("")
		}, kind: wallet.ErrRequest, detail: "response_uri is not an https URL"},
		{name: "wallet_nonce not echoed", setup: func(v *wallettest.Verifier, _ *wallet.Config) { v.Echo = false },
			link: func(v *wallettest.Verifier) string { return v.Link("post") }, kind: wallet.ErrRequest, detail: "wallet_nonce"},
		{name: "bad request_uri_method", link: func(v *wallettest.Verifier) string { return v.Link("put") }, kind: wallet.ErrRequest, detail: "neither get nor post"},
		{name: "oversized", setup: func(v *wallettest.Verifier, _ *wallet.Config) {
			v.Object = strings.Repeat("a", wallet.MaxRequestObject+10)
		},
			kind: wallet.ErrRequest, detail: "larger than"},
		{name: "garbage", setup: func(v *wallettest.Verifier, _ *wallet.Config) { v.Object = "<html>hello</html>" },
			kind: wallet.ErrRequest, detail: "not a JWT"},
		{name: "wrong typ", setup: func(v *wallettest.Verifier, _ *wallet.Config) { v.Hdr["typ"] = "JWT" },
			kind: wallet.ErrRequest, detail: "typ"},
		{name: "unsigned x509", setup: func(v *wallettest.Verifier, _ *wallet.Config) {
			h, _ := json.Marshal(map[string]any{"alg": "none", "typ": "oauth-authz-req+jwt"})
			p, _ := json.Marshal(v.Params)
			v.Object = wallettest.B64(h) + "." + wallettest.B64(p) + "."
		}, kind: wallet.ErrRequest, detail: "not signed"},
		{name: "response_mode fragment", setup: func(v *wallettest.Verifier, _ *wallet.Config) { v.Params["response_mode"] = "fragment" },
			kind: wallet.ErrRequest, detail: "response_mode"},
		{name: "transaction_data", setup: func(v *wallettest.Verifier, _ *wallet.Config) { v.Params["transaction_data"] = []string{"e30"} },
			kind: wallet.ErrUnsupported, detail: "transaction_data"},
		{name: "bad dcql", setup: func(v *wallettest.Verifier, _ *wallet.Config) {
			v.Params["dcql_query"] = map[string]any{"credentials": []any{map[string]any{"id": "a b", "format": "dc+sd-jwt"}}}
		}, kind: wallet.ErrRequest, detail: "dcql_query"},
		{name: "other prefix", link: func(v *wallettest.Verifier) string { return "openid4vp://?client_id=did%3Aexample&request_uri=x" },
			kind: wallet.ErrUnsupported, detail: "prefix"},
		{name: "redirect_uri elsewhere", link: func(v *wallettest.Verifier) string {
			return "openid4vp://?client_id=" + url.QueryEscape("redirect_uri:"+v.URL+"/response") + "&response_type=vp_token&response_mode=direct_post" +
				"&nonce=n1&response_uri=" + url.QueryEscape(v.URL+"/other") + "&dcql_query=" + url.QueryEscape(`{"credentials":[{"id":"p","format":"dc+sd-jwt"}]}`)
		}, kind: wallet.ErrRequest, detail: "client identifier"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeIssuer(t, "")
			_ = f
			v := wallettest.NewVerifier(t, ca)
			cfg := wallet.Config{Store: &memStore{recs: map[string]wallet.Record{}}, Sealer: plainSealer{}, Subject: func(id string) string { return "psn-" + id },
				AllowHTTP: true, VerifierRoots: ca.Pool}
			if c.setup != nil {
				c.setup(v, &cfg)
			}
			w, err := wallet.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			link := v.Link("")
			if c.link != nil {
				link = c.link(v)
			}
			_, err = w.ResolvePresentation(t.Context(), "ana", link, "en")
			var we *wallet.Error
			if !errors.Is(err, c.kind) || !errors.As(err, &we) || !strings.Contains(we.Detail, c.detail) {
				t.Fatalf("got %v, want %v saying %q", err, c.kind, c.detail)
			}
		})
	}
}

// TestPresentRedirectURI: an unsigned request by value from a
// redirect_uri verifier is answered, the verifier shown unverified.
func TestPresentRedirectURI(t *testing.T) {
	w, _, f := presentWallet(t, nil)
	cred := receive(t, w, f)
	v := wallettest.NewVerifier(t, wallettest.NewCA(t))
	link := "openid4vp://?client_id=" + url.QueryEscape("redirect_uri:"+v.URL+"/response") + "&response_type=vp_token&response_mode=direct_post" +
		"&nonce=n-0S6_WzA2Mj&state=st-1&client_metadata=" + url.QueryEscape(`{"client_name":"Me"}`) +
		"&dcql_query=" + url.QueryEscape(`{"credentials":[{"id":"pid","format":"dc+sd-jwt","claims":[{"path":["family_name"]}]}]}`)
	req, err := w.ResolvePresentation(t.Context(), "ana", link, "en")
	if err != nil {
		t.Fatal(err)
	}
	if req.Verifier.Verified || req.Verifier.Name != "Me" || req.Verifier.ResponseURI != v.URL+"/response" {
		t.Errorf("verifier: %+v", req.Verifier)
	}
	if _, err := w.Present(t.Context(), "ana", wallet.Approval{RequestID: req.ID, Credentials: map[string][]string{"pid": {cred.ID}}}); err != nil {
		t.Fatal(err)
	}
	if names, _ := v.Received(t, v.Token(t)); !slices.Equal(names, []string{"family_name"}) {
		t.Errorf("disclosed %v", names)
	}
}

func posted(v *wallettest.Verifier) url.Values {
	p, _ := v.Posted()
	return p
}
