package vci

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/issuer/credential"
)

const testIssuer = "https://id.example.gub"

// proofService is a service with what checking requests needs: the
// issuer, the demo types, the nonces.
func proofService(t testing.TB) *Service {
	t.Helper()
	types, err := credential.Demo()
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{cfg: Config{Issuer: testIssuer, BatchSize: 3, NonceTTL: 5 * time.Minute, Now: time.Now}, types: map[string]credential.Type{}}
	for _, ty := range types {
		s.types[ty.ID] = ty
	}
	if s.nonces, err = newNonces(make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	return s
}

func signProof(t testing.TB, k *jose.ClientKey, typ string, claims map[string]any) string {
	t.Helper()
	p, err := k.SignKeyProof(typ, claims)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// unsigned builds a JWT from a header and claims with the given
// signature bytes, for proofs no library would sign.
func unsigned(header, claims map[string]any, sig []byte) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding.EncodeToString
	return enc(h) + "." + enc(c) + "." + enc(sig)
}

// TestCheckProofRefuses: each fault of a key proof gets its OpenID4VCI
// error code.
func TestCheckProofRefuses(t *testing.T) {
	s := proofService(t)
	now := time.Now()
	nonce := s.Nonce()
	k, _ := jose.NewClientKey(keys.ES256)
	good := map[string]any{"aud": testIssuer, "iat": now.Unix(), "nonce": nonce}
	with := func(k2 string, v any) map[string]any {
		m := map[string]any{}
		for a, b := range good {
			m[a] = b
		}
		if v == nil {
			delete(m, k2)
		} else {
			m[k2] = v
		}
		return m
	}
	jwk, _ := k.PublicJWK()
	var pub map[string]any
	json.Unmarshal(jwk, &pub)
	hmacKey := []byte("secret")
	mac := func(header, claims map[string]any) string {
		h, _ := json.Marshal(header)
		c, _ := json.Marshal(claims)
		enc := base64.RawURLEncoding.EncodeToString
		m := hmac.New(sha256.New, hmacKey)
		m.Write([]byte(enc(h) + "." + enc(c)))
		return enc(h) + "." + enc(c) + "." + enc(m.Sum(nil))
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherJWK, _ := jose.PublicJWK(&other.PublicKey)
	var otherPub map[string]any
	json.Unmarshal(otherJWK, &otherPub)
	good2 := signProof(t, k, ProofType, good)
	parts := strings.Split(good2, ".")
	hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
	var goodHdr map[string]any
	json.Unmarshal(hdr, &goodHdr)
	swapped := func() string { // the header's key replaced by another's
		h := map[string]any{}
		for a, b := range goodHdr {
			h[a] = b
		}
		h["jwk"] = otherPub
		hb, _ := json.Marshal(h)
		return base64.RawURLEncoding.EncodeToString(hb) + "." + parts[1] + "." + parts[2]
	}
	for name, tc := range map[string]struct {
		proof, code string
	}{
		"wrong typ":          {signProof(t, k, "JWT", good), CodeInvalidProof},
		"dpop typ":           {signProof(t, k, "dpop+jwt", good), CodeInvalidProof},
		"alg none":           {unsigned(map[string]any{"alg": "none", "typ": ProofType, "jwk": pub}, good, nil), CodeInvalidProof},
		"alg HS256":          {mac(map[string]any{"alg": "HS256", "typ": ProofType, "jwk": pub}, good), CodeInvalidProof},
		"bad signature":      {swapped(), CodeInvalidProof},
		"no jwk":             {unsigned(map[string]any{"alg": "ES256", "typ": ProofType}, good, make([]byte, 64)), CodeInvalidProof},
		"kid instead":        {unsigned(map[string]any{"alg": "ES256", "typ": ProofType, "kid": "did:example:1#k"}, good, make([]byte, 64)), CodeInvalidProof},
		"wrong aud":          {signProof(t, k, ProofType, with("aud", "https://evil.example")), CodeInvalidProof},
		"aud array":          {signProof(t, k, ProofType, with("aud", []string{"https://evil.example"})), CodeInvalidProof},
		"no aud":             {signProof(t, k, ProofType, with("aud", nil)), CodeInvalidProof},
		"stale iat":          {signProof(t, k, ProofType, with("iat", now.Add(-10*time.Minute).Unix())), CodeInvalidProof},
		"future iat":         {signProof(t, k, ProofType, with("iat", now.Add(10*time.Minute).Unix())), CodeInvalidProof},
		"no iat":             {signProof(t, k, ProofType, with("iat", nil)), CodeInvalidProof},
		"iss when anonymous": {signProof(t, k, ProofType, with("iss", "wallet")), CodeInvalidProof},
		"no nonce":           {signProof(t, k, ProofType, with("nonce", nil)), CodeInvalidProof},
		"forged nonce":       {signProof(t, k, ProofType, with("nonce", "AAAA")), CodeInvalidNonce},
		"expired nonce":      {signProof(t, k, ProofType, with("nonce", s.nonces.make(now.Add(-time.Second)))), CodeInvalidNonce},
		"not a JWT":          {"not.a.jwt", CodeInvalidProof},
	} {
		t.Run(name, func(t *testing.T) {
			raw, _ := json.Marshal(map[string]any{"jwt": []string{tc.proof}})
			_, _, _, perr := s.checkProofs(raw, Access{TypeID: "pid"}, now)
			if perr == nil || perr.Code != tc.code {
				t.Errorf("got %v, want %s", perr, tc.code)
			}
		})
	}
	// The good one passes; the same key twice in a batch does not.
	raw, _ := json.Marshal(map[string]any{"jwt": []string{good2}})
	hs, spent, _, perr := s.checkProofs(raw, Access{TypeID: "pid"}, now)
	if perr != nil || len(hs) != 1 || len(spent) != 1 {
		t.Fatalf("good proof: %v", perr)
	}
	raw, _ = json.Marshal(map[string]any{"jwt": []string{good2, signProof(t, k, ProofType, good)}})
	if _, _, _, perr := s.checkProofs(raw, Access{TypeID: "pid"}, now); perr == nil || perr.Code != CodeInvalidProof || !strings.Contains(perr.Description, "another credential of this batch") {
		t.Errorf("key reused in a batch: %v", perr)
	}
	var many []string
	for range 4 {
		k2, _ := jose.NewClientKey(keys.ES256)
		many = append(many, signProof(t, k2, ProofType, good))
	}
	raw, _ = json.Marshal(map[string]any{"jwt": many})
	if _, _, _, perr := s.checkProofs(raw, Access{TypeID: "pid"}, now); perr == nil || perr.Code != CodeInvalidCredentialRequest {
		t.Errorf("a batch beyond batch_size: %v", perr)
	}
	for _, bad := range []string{``, `null`, `{}`, `{"jwt":[]}`, `{"jwt":"x"}`, `{"ldp_vp":[{}]}`, `{"jwt":[],"attestation":[]}`} {
		if _, _, _, perr := s.checkProofs(json.RawMessage(bad), Access{TypeID: "pid"}, now); perr == nil || perr.Code != CodeInvalidProof {
			t.Errorf("proofs %s: %v", bad, perr)
		}
	}
}

// TestParseRequestRefuses: the request's own faults.
func TestParseRequestRefuses(t *testing.T) {
	s := proofService(t)
	pid := Access{TypeID: "pid"}
	byID := Access{TypeID: "pid", ByIdentifier: true}
	for _, tc := range []struct {
		a          Access
		body, code string
	}{
		{pid, `not json`, CodeInvalidCredentialRequest},
		{pid, `[]`, CodeInvalidCredentialRequest},
		{pid, `{}`, CodeInvalidCredentialRequest},
		{pid, `{"credential_configuration_id":"nope","proofs":{}}`, CodeUnknownConfiguration},
		{pid, `{"credential_configuration_id":"residence","proofs":{}}`, "insufficient_scope"},
		{pid, `{"credential_identifier":"pid"}`, CodeUnknownIdentifier},
		{pid, `{"credential_configuration_id":"pid","credential_identifier":"pid"}`, CodeInvalidCredentialRequest},
		{byID, `{"credential_configuration_id":"pid"}`, CodeInvalidCredentialRequest},
		{byID, `{"credential_identifier":"residence"}`, CodeUnknownIdentifier},
		{pid, `{"credential_configuration_id":"pid","proof":{"proof_type":"jwt","jwt":"x"}}`, CodeInvalidCredentialRequest},
	} {
		if _, perr := s.parseRequest(tc.a, []byte(tc.body)); perr == nil || perr.Code != tc.code {
			t.Errorf("%s: got %v, want %s", tc.body, perr, tc.code)
		}
	}
	if _, perr := s.parseRequest(pid, []byte(`{"credential_configuration_id":"pid","proofs":{"jwt":["x"]},"unknown":1}`)); perr != nil {
		t.Errorf("unknown parameters must be ignored (§8.2): %v", perr)
	}
}

// TestNonces: a nonce checks until it expires; a changed one never does,
// nor one re-encoded with other trailing bits.
func TestNonces(t *testing.T) {
	s := proofService(t)
	now := time.Now()
	n := s.nonces.make(now.Add(time.Minute))
	h1, _, err := s.nonces.check(n, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.nonces.check(n, now.Add(2*time.Minute)); err != errNonceExpired {
		t.Errorf("expired: %v", err)
	}
	b := []byte(n)
	b[len(b)/2] ^= 1
	if _, _, err := s.nonces.check(string(b), now); err == nil {
		t.Errorf("an altered nonce checked")
	}
	last := n[len(n)-1]
	alt := n[:len(n)-1] + string(last^1)
	if h2, _, err := s.nonces.check(alt, now); err == nil && string(h2) == string(h1) {
		t.Errorf("a second encoding of the same nonce checked: it could be spent twice")
	}
}

// TestPermute: a permutation of the list, different for another key.
func TestPermute(t *testing.T) {
	for _, size := range []int{16, 64, 1 << 16} {
		seen := make([]bool, size)
		k1, k2 := []byte("one"), []byte("two")
		same := 0
		for pos := range size {
			i := permute(k1, size, pos)
			if i < 0 || i >= size || seen[i] {
				t.Fatalf("size %d: position %d goes to %d, taken or outside", size, pos, i)
			}
			seen[i] = true
			if permute(k2, size, pos) == i {
				same++
			}
		}
		if size >= 64 && same > size/8 {
			t.Errorf("size %d: two keys agree on %d places", size, same)
		}
		ordered := 0
		for pos := 1; pos < size; pos++ {
			if permute(k1, size, pos) == permute(k1, size, pos-1)+1 {
				ordered++
			}
		}
		if size >= 64 && ordered > size/8 {
			t.Errorf("size %d: %d consecutive positions land side by side", size, ordered)
		}
	}
	for _, bad := range []int{0, 8, 32, 100, 1 << 26} {
		if validListSize(bad) {
			t.Errorf("list size %d accepted", bad)
		}
	}
}

// TestAuthorizationDetails: what the token endpoint accepts.
func TestAuthorizationDetails(t *testing.T) {
	s := proofService(t)
	if d, err := s.ParseAuthorizationDetails(`[{"type":"openid_credential","credential_configuration_id":"pid","locations":["` + testIssuer + `"]}]`); err != nil || len(d) != 1 {
		t.Errorf("good details: %v %v", d, err)
	}
	for _, bad := range []string{``, `{}`, `[]`, `[1]`, `[{"type":"x","credential_configuration_id":"pid"}]`,
		`[{"type":"openid_credential","credential_configuration_id":"nope"}]`,
		`[{"type":"openid_credential","credential_configuration_id":"pid","locations":["https://other"]}]`,
		`[` + strings.Repeat(`{"type":"openid_credential"},`, 1000) + `{}]`} {
		if _, err := s.ParseAuthorizationDetails(bad); err == nil {
			t.Errorf("%.60s accepted", bad)
		}
	}
}

// TestEncryptionParameters: a response is encrypted only when asked inside
// an encrypted request, to a usable key.
func TestEncryptionParameters(t *testing.T) {
	s := proofService(t)
	wallet, _ := jose.NewEncryptionKey()
	good, _ := json.Marshal(map[string]any{"jwk": json.RawMessage(wallet.PublicJWK()), "enc": "A128GCM"})
	if re, perr := s.encryption(good, true); perr == nil {
		t.Fatalf("no encryption key configured, yet accepted: %v", re)
	}
	s.cfg.Encryption, _ = jose.DeriveDecryptionKey(make([]byte, 32), "test")
	if re, perr := s.encryption(good, true); perr != nil || re.Enc != "A128GCM" {
		t.Errorf("good parameters: %v", perr)
	}
	if re, perr := s.encryption(nil, false); re != nil || perr != nil {
		t.Errorf("none asked: %v %v", re, perr)
	}
	for name, tc := range map[string]struct {
		raw       string
		encrypted bool
	}{
		"in clear":     {string(good), false},
		"no jwk":       {`{"enc":"A128GCM"}`, true},
		"bad enc":      {`{"jwk":` + string(wallet.PublicJWK()) + `,"enc":"A128CBC-HS256"}`, true},
		"zip":          {`{"jwk":` + string(wallet.PublicJWK()) + `,"enc":"A128GCM","zip":"DEF"}`, true},
		"not a key":    {`{"jwk":{"kty":"oct","k":"AAAA"},"enc":"A128GCM"}`, true},
		"not a object": {`[]`, true},
	} {
		if _, perr := s.encryption(json.RawMessage(tc.raw), tc.encrypted); perr == nil || perr.Code != CodeInvalidEncryption {
			t.Errorf("%s: %v", name, perr)
		}
	}
	body, _ := jose.EncryptTo(s.cfg.Encryption.PublicJWK(), "A256GCM", []byte(`{"x":1}`))
	if plain, enc, err := s.OpenRequest("application/jwt", []byte(body)); err != nil || !enc || string(plain) != `{"x":1}` {
		t.Errorf("an encrypted request: %q %v %v", plain, enc, err)
	}
	if _, _, err := s.OpenRequest("application/jwt", []byte("x.y.z.w.v")); err == nil {
		t.Errorf("a broken JWE opened")
	}
	if _, _, err := s.OpenRequest("text/plain", []byte("{}")); err == nil {
		t.Errorf("text/plain accepted")
	}
}
