package credential

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/sdjwt"
	"github.com/cedula/cedula/internal/statuslist"
	"github.com/cedula/cedula/internal/testutil"
)

// testKey is an ES256 key held in memory.
type testKey struct{ priv *ecdsa.PrivateKey }

func (k testKey) ID() string               { return "test-issuer-1" }
func (k testKey) Alg() keys.Alg            { return keys.ES256 }
func (k testKey) Public() crypto.PublicKey { return &k.priv.PublicKey }
func (k testKey) Sign(_ context.Context, digest []byte, _ crypto.SignerOpts) ([]byte, error) {
	return ecdsa.SignASN1(rand.Reader, k.priv, digest)
}

func newKey(t *testing.T) testKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{priv}
}

const anaPID = `{"given_name":"Ana","family_name":"García López","birthdate":"1990-04-01","age_over_18":true,
	"nationalities":["UY"],"address":{"street_address":"Av. 18 de Julio 1234","locality":"Montevideo","country":"UY"},
	"issuing_authority":"Dirección Nacional de Identificación Civil","issuing_country":"UY"}`

// TestIssue: the credential verifies with the issuer's key, its header
// says dc+sd-jwt, the issuer's claims are in clear and never disclosable,
// every citizen claim comes back through its disclosures, and iat is
// rounded to the hour.
func TestIssue(t *testing.T) {
	ts, err := Demo()
	if err != nil {
		t.Fatal(err)
	}
	key, holder := newKey(t), newKey(t)
	holderJWK, err := jose.PublicJWK(holder.Public())
	if err != nil {
		t.Fatal(err)
	}
	claims := testutil.DecodeJSON(t, anaPID)
	now := time.Date(2026, 12, 5, 18, 47, 31, 0, time.UTC)
	doc, _ := ts[0].Metadata()
	compact, ds, err := Issue(t.Context(), key, Request{Issuer: "https://id.example.gub.uy", Type: ts[0], Integrity: Integrity(doc),
		Claims: claims, Holder: holderJWK, Status: &statuslist.Reference{Index: 4711, URI: "https://id.example.gub.uy/status/1"}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	p, err := sdjwt.Parse(compact)
	if err != nil || p.KB != "" || len(p.Disclosures) != len(ds) {
		t.Fatalf("parse: %+v, %v", p, err)
	}
	jwks, _ := jose.JWKS(keys.PublicKey{ID: key.ID(), Alg: keys.ES256, Key: key.Public()})
	raw, err := jose.Verify([]byte(p.JWT), jwks, keys.ES256)
	if err != nil {
		t.Fatalf("the issuer's signature: %v", err)
	}
	if h, _ := jose.Header([]byte(p.JWT)); h["typ"] != MediaType {
		t.Errorf("typ %v", h["typ"])
	}
	payload := testutil.DecodeJSON(t, string(raw))
	for name, want := range map[string]any{"iss": "https://id.example.gub.uy", "vct": "/vct/pid/1", "vct#integrity": Integrity(doc),
		"iat": json.Number("1796493600"), "exp": json.Number("1828029600"), "issuing_authority": "Dirección Nacional de Identificación Civil"} {
		if !reflect.DeepEqual(payload[name], want) {
			t.Errorf("payload %s = %v, want %v", name, payload[name], want)
		}
	}
	if payload["cnf"] == nil || payload["status"] == nil {
		t.Errorf("cnf or status missing: %s", raw)
	}
	if strings.Contains(string(raw), "Ana") || strings.Contains(string(raw), "1990") {
		t.Errorf("the payload shows a disclosable claim: %s", raw)
	}
	got, err := sdjwt.Reconstruct(payload, p.Disclosures)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range testutil.DecodeJSON(t, anaPID) {
		if !reflect.DeepEqual(got[name], want) {
			t.Errorf("claim %s: got %v, want %v", name, got[name], want)
		}
	}
}

func TestIssueRefuses(t *testing.T) {
	ts, _ := Demo()
	key, holder := newKey(t), newKey(t)
	holderJWK, _ := jose.PublicJWK(holder.Public())
	base := func() Request {
		return Request{Issuer: "https://i", Type: ts[0], Claims: testutil.DecodeJSON(t, anaPID), Holder: holderJWK, Now: time.Now()}
	}
	r := base()
	delete(r.Claims, "birthdate")
	if _, _, err := Issue(t.Context(), key, r); !errors.Is(err, ErrMandatory) {
		t.Errorf("without a mandatory claim: %v", err)
	}
	r = base()
	r.Claims["vct"] = "urn:other"
	if _, _, err := Issue(t.Context(), key, r); err == nil {
		t.Error("a source's vct was accepted")
	}
	r = base()
	r.Holder = nil
	if _, _, err := Issue(t.Context(), key, r); err == nil {
		t.Error("a credential without a holder key was made")
	}
}
