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
