package vci

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
)

// FuzzCredentialRequest: any body of a credential request is refused with
// a protocol error or accepted with proofs that verify — never a panic.
func FuzzCredentialRequest(f *testing.F) {
	s := proofService(f)
	k, _ := jose.NewClientKey(keys.ES256)
	good, _ := k.SignKeyProof(ProofType, map[string]any{"aud": testIssuer, "iat": time.Now().Unix(), "nonce": s.Nonce()})
	for _, seed := range []string{`{"credential_configuration_id":"pid","proofs":{"jwt":["` + good + `"]}}`,
		`{"credential_identifier":"pid"}`, `{"proofs":{"jwt":[1,2]}}`, `{"proofs":null}`, `{}`, `[]`, `"x"`} {
		f.Add([]byte(seed), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, byID bool) {
		a := Access{TypeID: "pid", ByIdentifier: byID}
		req, perr := s.parseRequest(a, body)
		if perr != nil {
			if perr.Code == "" || perr.Status < 400 {
				t.Fatalf("error without a code or status: %+v", perr)
			}
			return
		}
		hs, spent, _, perr := s.checkProofs(req.Proofs, a, time.Now())
		if perr == nil && (len(hs) == 0 || len(spent) == 0) {
			t.Fatalf("accepted proofs without holders or nonces")
		}
	})
}

// FuzzKeyProof: a key proof either verifies with the key of its own header
// or is refused.
func FuzzKeyProof(f *testing.F) {
	s := proofService(f)
	k, _ := jose.NewClientKey(keys.ES256)
	good, _ := k.SignKeyProof(ProofType, map[string]any{"aud": testIssuer, "iat": time.Now().Unix(), "nonce": s.Nonce()})
	f.Add(good)
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("..")
	f.Fuzz(func(t *testing.T, proof string) {
		h, _, _, perr := s.checkProof(proof, Access{TypeID: "pid"}, time.Now())
		if perr == nil {
			if _, err := jose.Thumbprint(h.JWK); err != nil || h.JKT == "" {
				t.Fatalf("accepted a proof whose key has no thumbprint: %v", err)
			}
		}
	})
}

// FuzzAuthorizationDetails: the token endpoint's authorization_details.
func FuzzAuthorizationDetails(f *testing.F) {
	s := proofService(f)
	for _, seed := range []string{`[{"type":"openid_credential","credential_configuration_id":"pid"}]`, `[]`, `[{}]`, `{"a":1}`, `null`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		ds, err := s.ParseAuthorizationDetails(v)
		if err != nil {
			return
		}
		for _, d := range ds {
			if _, ok := s.types[d.CredentialConfigurationID]; !ok || d.Type != DetailsType {
				t.Fatalf("accepted %+v", d)
			}
		}
		if _, err := json.Marshal(ds); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzOfferURI: what a wallet reads from a QR code; OfferURIRequest
// parses it.
func FuzzOfferURI(f *testing.F) {
	f.Add(OfferURI("https://id.example.gub/vci/offers/abc"))
	f.Add("openid-credential-offer://?credential_offer=%7B%7D")
	f.Add("openid-credential-offer://?credential_offer_uri=http%3A%2F%2Fx&credential_offer=%7B%7D")
	f.Fuzz(func(t *testing.T, uri string) {
		u, offer, err := ParseOfferURI(uri)
		if err != nil {
			return
		}
		if (u == "") == (offer == nil) {
			t.Fatalf("a parsed offer URI must give exactly one of a URL or an offer: %q %v", u, offer)
		}
		if offer != nil && (offer.CredentialIssuer == "" || len(offer.ConfigurationIDs) == 0) {
			t.Fatalf("accepted an offer without issuer or configurations: %+v", offer)
		}
	})
}
