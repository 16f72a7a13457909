package jose

import (
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/internal/keys"
)

func TestDPoPRoundTrip(t *testing.T) {
	for _, alg := range []keys.Alg{keys.ES256, keys.EdDSA, keys.RS256} {
		t.Run(string(alg), func(t *testing.T) {
			k, err := NewClientKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now().Truncate(time.Second)
			proof, err := k.SignDPoP("POST", "https://id.example/oauth/token", "abc", now)
			if err != nil {
				t.Fatal(err)
			}
			p, err := ParseDPoPProof([]byte(proof))
			if err != nil {
				t.Fatal(err)
			}
			want, _ := k.Thumbprint()
			if p.JKT != want || p.HTM != "POST" || p.HTU != "https://id.example/oauth/token" || p.ATH != "abc" || !p.IAT.Equal(now) || p.JTI == "" {
				t.Errorf("got %+v, want jkt %s and the signed claims", p, want)
			}
		})
	}
}

func TestDPoPRejects(t *testing.T) {
	k, _ := NewClientKey(keys.ES256)
	good, _ := k.SignDPoP("POST", "https://id.example/t", "", time.Now())
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + parts[1] + "x." + parts[2]
	other, _ := NewClientKey(keys.ES256)
	otherProof, _ := other.SignDPoP("POST", "https://id.example/t", "", time.Now())
	swapped := parts[0] + "." + strings.Split(otherProof, ".")[1] + "." + parts[2]
	// A normal JWT (typ JWT) is not a DPoP proof.
	assertion, _ := k.SignAssertion(ClientAssertion{ClientID: "c", Audience: []string{"a"}, IssuedAt: time.Now(), Expiry: time.Now().Add(time.Minute)})
	for name, in := range map[string]string{
		"empty": "", "garbage": "a.b.c", "tampered payload": tampered, "payload from another proof": swapped,
		"typ JWT without jwk": assertion, "huge": strings.Repeat("a", 9000),
	} {
		if _, err := ParseDPoPProof([]byte(in)); err == nil {
			t.Errorf("%s: got nil error, want ErrDPoP", name)
		}
	}
}

func FuzzParseDPoPProof(f *testing.F) {
	k, _ := NewClientKey(keys.ES256)
	good, _ := k.SignDPoP("GET", "https://id.example/userinfo", "x", time.Now())
	f.Add(good)
	f.Add("eyJ0eXAiOiJkcG9wK2p3dCJ9.e30.")
	f.Fuzz(func(t *testing.T, in string) {
		p, err := ParseDPoPProof([]byte(in))
		if err == nil && (p.JKT == "" || p.JTI == "") {
			t.Fatalf("accepted a proof without jkt or jti: %+v", p)
		}
	})
}
