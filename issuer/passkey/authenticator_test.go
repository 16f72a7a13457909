package passkey_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
)

// softAuthenticator is a software WebAuthn authenticator and client in
// one: it answers creation and request options the way a browser with a
// platform authenticator would, with ES256 keys and attestation "none", so
// the library's verification runs for real (WebAuthn L3 §6.1 authenticator
// data, §6.5.4 attestation object, §8.7 none attestation).
type softAuthenticator struct {
	aaguid [16]byte
	origin string
	keys   map[string]*ecdsa.PrivateKey // by credential ID
	handle map[string][]byte            // user handle by credential ID
	// backupEligible and backedUp set the BE and BS flags.
	backupEligible, backedUp bool
}

func newSoftAuthenticator(origin string) *softAuthenticator {
	a := &softAuthenticator{
		origin: origin,
		keys:   map[string]*ecdsa.PrivateKey{},
		handle: map[string][]byte{},
	}
	copy(a.aaguid[:], []byte("cedula-test-auth"))
	return a
}

// Authenticator data flags (WebAuthn L3 §6.1).
const (
	flagUP = 0x01
	flagUV = 0x04
	flagBE = 0x08
	flagBS = 0x10
	flagAT = 0x40
)

// gesture describes one use of the authenticator; the zero value is a
// normal use with user presence and verification.
type gesture struct {
	challenge string // overrides the challenge from the options
	origin    string // overrides the authenticator's origin
	noUV      bool   // clear the UV flag
	counter   uint32 // signature counter to report
	reuse     []byte // create: answer with this existing credential
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func unb64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return b
}

func (a *softAuthenticator) flags(g gesture) byte {
	f := byte(flagUP | flagUV)
	if g.noUV {
		f &^= flagUV
	}
	if a.backupEligible {
		f |= flagBE
	}
	if a.backedUp {
		f |= flagBS
	}
	return f
}

func (a *softAuthenticator) clientData(typ, challenge string, g gesture) []byte {
	if g.challenge != "" {
		challenge = g.challenge
	}
	origin := a.origin
	if g.origin != "" {
		origin = g.origin
	}
	cd, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": origin, "crossOrigin": false})
	return cd
}

// create answers PublicKeyCredentialCreationOptions given as the JSON the
// server sends, and returns the RegistrationResponseJSON body and the new
// credential ID.
func (a *softAuthenticator) create(t testing.TB, options any, g gesture) (body, credID []byte) {
	t.Helper()
	var opts struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
			RP        struct {
				ID string `json:"id"`
			} `json:"rp"`
			User struct {
				ID string `json:"id"`
			} `json:"user"`
		} `json:"publicKey"`
	}
	roundTrip(t, options, &opts)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	credID = make([]byte, 32)
	rand.Read(credID)
	if g.reuse != nil {
		credID, key = g.reuse, a.keys[string(g.reuse)]
	}
	a.keys[string(credID)] = key
	a.handle[string(credID)] = unb64(t, opts.PublicKey.User.ID)

	pub, err := key.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	// RFC 9053 §7.1.1 / RFC 9052 §7: EC2 key, ES256, P-256.
	cose, err := webauthncbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: pub[1:33], -3: pub[33:65]})
	if err != nil {
		t.Fatal(err)
	}
	rpHash := sha256.Sum256([]byte(opts.PublicKey.RP.ID))
	var authData bytes.Buffer
	authData.Write(rpHash[:])
	authData.WriteByte(a.flags(g) | flagAT)
	binary.Write(&authData, binary.BigEndian, g.counter)
	authData.Write(a.aaguid[:])
	binary.Write(&authData, binary.BigEndian, uint16(len(credID)))
	authData.Write(credID)
	authData.Write(cose)

	attObj, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": authData.Bytes()})
	if err != nil {
		t.Fatal(err)
	}
	cd := a.clientData("webauthn.create", opts.PublicKey.Challenge, g)
	body, _ = json.Marshal(map[string]any{
		"id":    b64(credID),
		"rawId": b64(credID),
		"type":  "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64(cd),
			"attestationObject": b64(attObj),
			"transports":        []string{"internal", "hybrid"},
		},
		"authenticatorAttachment": "platform",
		"clientExtensionResults":  map[string]any{},
	})
	return body, credID
}

// get answers PublicKeyCredentialRequestOptions with the credential credID
// and returns the AuthenticationResponseJSON body.
func (a *softAuthenticator) get(t testing.TB, options any, credID []byte, g gesture) []byte {
	t.Helper()
	var opts struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
			RPID      string `json:"rpId"`
		} `json:"publicKey"`
	}
	roundTrip(t, options, &opts)
	key, ok := a.keys[string(credID)]
	if !ok {
		// A credential this authenticator never made: sign with a
		// throwaway key.
		key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	rpHash := sha256.Sum256([]byte(opts.PublicKey.RPID))
	var authData bytes.Buffer
	authData.Write(rpHash[:])
	authData.WriteByte(a.flags(g))
	binary.Write(&authData, binary.BigEndian, g.counter)
	cd := a.clientData("webauthn.get", opts.PublicKey.Challenge, g)
	cdHash := sha256.Sum256(cd)
	// WebAuthn L3 §6.3.3 step 11: sign authenticatorData || hash(clientData).
	signed := sha256.Sum256(append(authData.Bytes(), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, key, signed[:])
	if err != nil {
		t.Fatal(err)
	}
	handle := a.handle[string(credID)]
	body, _ := json.Marshal(map[string]any{
		"id":    b64(credID),
		"rawId": b64(credID),
		"type":  "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64(cd),
			"authenticatorData": b64(authData.Bytes()),
			"signature":         b64(sig),
			"userHandle":        b64(handle),
		},
		"authenticatorAttachment": "platform",
		"clientExtensionResults":  map[string]any{},
	})
	return body
}

// roundTrip encodes v as the server would send it and decodes it as the
// browser's JavaScript would read it.
func roundTrip(t testing.TB, v, into any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, into); err != nil {
		t.Fatal(err)
	}
}
