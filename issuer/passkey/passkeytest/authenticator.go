// Package passkeytest provides a software WebAuthn authenticator for tests:
// it answers the options a Cedula server sends the way a browser with a
// platform authenticator would, so the server's real verification runs.
package passkeytest

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

// Authenticator is a software WebAuthn authenticator and client in
// one: it answers creation and request options the way a browser with a
// platform authenticator would, with ES256 keys and attestation "none", so
// the library's verification runs for real (WebAuthn L3 §6.1 authenticator
// data, §6.5.4 attestation object, §8.7 none attestation).
type Authenticator struct {
	// AAGUID is the model it reports (WebAuthn L3 §6.5.1).
	AAGUID [16]byte
	// Origin is the origin it puts in the client data.
	Origin string
	// BackupEligible and BackedUp set the BE and BS flags.
	BackupEligible, BackedUp bool

	keys   map[string]*ecdsa.PrivateKey // by credential ID
	handle map[string][]byte            // user handle by credential ID
}

// TestAAGUID is the AAGUID a new Authenticator reports.
var TestAAGUID = [16]byte{'c', 'e', 'd', 'u', 'l', 'a', '-', 't', 'e', 's', 't', '-', 'a', 'u', 't', 'h'}

// New returns an authenticator used from origin.
func New(origin string) *Authenticator {
	return &Authenticator{
		AAGUID: TestAAGUID,
		Origin: origin,
		keys:   map[string]*ecdsa.PrivateKey{},
		handle: map[string][]byte{},
	}
}

// SetUserHandle makes the authenticator return handle with credential
// credID, as if it had stored another account's handle.
func (a *Authenticator) SetUserHandle(credID, handle []byte) { a.handle[string(credID)] = handle }

// Authenticator data flags (WebAuthn L3 §6.1).
const (
	flagUP = 0x01
	flagUV = 0x04
	flagBE = 0x08
	flagBS = 0x10
	flagAT = 0x40
)

// Gesture describes one use of the authenticator; the zero value is a
// normal use with user presence and verification and a zero counter.
type Gesture struct {
	Challenge string // overrides the challenge from the options
	Origin    string // overrides the authenticator's origin
	NoUV      bool   // clear the UV flag
	Counter   uint32 // signature counter to report
	Reuse     []byte // Create: answer with this existing credential
}

// B64 is base64url without padding, as WebAuthn JSON uses.
func B64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// Unb64 decodes base64url without padding.
func Unb64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return b
}

func (a *Authenticator) flags(g Gesture) byte {
	f := byte(flagUP | flagUV)
	if g.NoUV {
		f &^= flagUV
	}
	if a.BackupEligible {
		f |= flagBE
	}
	if a.BackedUp {
		f |= flagBS
	}
	return f
}

func (a *Authenticator) clientData(typ, challenge string, g Gesture) []byte {
	if g.Challenge != "" {
		challenge = g.Challenge
	}
	origin := a.Origin
	if g.Origin != "" {
		origin = g.Origin
	}
	cd, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": origin, "crossOrigin": false})
	return cd
}

// Create answers PublicKeyCredentialCreationOptions given as the JSON the
// server sends, and returns the RegistrationResponseJSON body and the new
// credential ID.
func (a *Authenticator) Create(t testing.TB, options any, g Gesture) (body, credID []byte) {
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
	RoundTrip(t, options, &opts)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	credID = make([]byte, 32)
	rand.Read(credID)
	if g.Reuse != nil {
		credID, key = g.Reuse, a.keys[string(g.Reuse)]
	}
	a.keys[string(credID)] = key
	a.handle[string(credID)] = Unb64(t, opts.PublicKey.User.ID)

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
	binary.Write(&authData, binary.BigEndian, g.Counter)
	authData.Write(a.AAGUID[:])
	binary.Write(&authData, binary.BigEndian, uint16(len(credID)))
	authData.Write(credID)
	authData.Write(cose)

	attObj, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": authData.Bytes()})
	if err != nil {
		t.Fatal(err)
	}
	cd := a.clientData("webauthn.create", opts.PublicKey.Challenge, g)
	body, _ = json.Marshal(map[string]any{
		"id":    B64(credID),
		"rawId": B64(credID),
		"type":  "public-key",
		"response": map[string]any{
			"clientDataJSON":    B64(cd),
			"attestationObject": B64(attObj),
			"transports":        []string{"internal", "hybrid"},
		},
		"authenticatorAttachment": "platform",
		"clientExtensionResults":  map[string]any{},
	})
	return body, credID
}

// Get answers PublicKeyCredentialRequestOptions with the credential credID
// and returns the AuthenticationResponseJSON body.
func (a *Authenticator) Get(t testing.TB, options any, credID []byte, g Gesture) []byte {
	t.Helper()
	var opts struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
			RPID      string `json:"rpId"`
		} `json:"publicKey"`
	}
	RoundTrip(t, options, &opts)
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
	binary.Write(&authData, binary.BigEndian, g.Counter)
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
		"id":    B64(credID),
		"rawId": B64(credID),
		"type":  "public-key",
		"response": map[string]any{
			"clientDataJSON":    B64(cd),
			"authenticatorData": B64(authData.Bytes()),
			"signature":         B64(sig),
			"userHandle":        B64(handle),
		},
		"authenticatorAttachment": "platform",
		"clientExtensionResults":  map[string]any{},
	})
	return body
}

// RoundTrip encodes v as the server would send it and decodes it as the
// browser's JavaScript would read it.
func RoundTrip(t testing.TB, v, into any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, into); err != nil {
		t.Fatal(err)
	}
}
