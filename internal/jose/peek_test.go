package jose

import (
	"encoding/json"
	"testing"

	"github.com/cedula/cedula/internal/keys"
)

func TestValidPublicJWK(t *testing.T) {
	k, _ := NewClientKey(keys.ES256)
	pub, _ := k.PublicJWK()
	if err := ValidPublicJWK(pub); err != nil {
		t.Fatalf("a public P-256 key: %v", err)
	}
	priv, _ := k.PrivateJWK()
	var m map[string]any
	json.Unmarshal(pub, &m)
	m["y"] = m["x"] // almost surely off the curve
	off, _ := json.Marshal(m)
	for name, b := range map[string][]byte{"private": priv, "off the curve": off, "not JSON": []byte("{"),
		"a symmetric key": []byte(`{"kty":"oct","k":"AAAA"}`)} {
		if err := ValidPublicJWK(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestUnsecured(t *testing.T) {
	tok, err := Unsecured(map[string]any{"a": 1}, map[string]any{"typ": "x", "alg": "ES256"})
	if err != nil {
		t.Fatal(err)
	}
	hdr, err := Header([]byte(tok))
	if err != nil || hdr["alg"] != "none" || hdr["typ"] != "x" {
		t.Errorf("header %v %v, want alg none whatever the caller says", hdr, err)
	}
	if p, err := UnverifiedPayload([]byte(tok)); err != nil || string(p) != `{"a":1}` {
		t.Errorf("payload %s %v", p, err)
	}
	if _, err := Verify([]byte(tok), []byte(`{"keys":[]}`)); err == nil {
		t.Error("an unsecured JWT verified")
	}
}
