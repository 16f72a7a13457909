// Package softauthn is a software WebAuthn authenticator and client in
// one, for tools that stand in for citizens' browsers (the load
// generator's virtual citizens) and for tests (issuer/passkey/passkeytest
// wraps it): it answers the options a Cedula server sends the way a browser
// with a platform authenticator would, with ES256 keys and attestation
// "none", so the server's real verification runs. Its keys live in memory
// only; nothing in the server imports it.
package softauthn

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
)

// Authenticator is a software authenticator (WebAuthn L3 §6.1
// authenticator data, §6.5.4 attestation object, §8.7 none attestation).
// Its methods are safe for concurrent use; set the fields before using it.
type Authenticator struct {
	// AAGUID is the model it reports (WebAuthn L3 §6.5.1).
	AAGUID [16]byte
	// Origin is the origin it puts in the client data.
	Origin string
	// BackupEligible and BackedUp set the BE and BS flags.
	BackupEligible, BackedUp bool

	mu     sync.Mutex
	keys   map[string]*ecdsa.PrivateKey // by credential ID
	handle map[string][]byte            // user handle by credential ID
}

// DefaultAAGUID is the AAGUID a new Authenticator reports.
var DefaultAAGUID = [16]byte{'c', 'e', 'd', 'u', 'l', 'a', '-', 't', 'e', 's', 't', '-', 'a', 'u', 't', 'h'}

// New returns an authenticator used from origin.
func New(origin string) *Authenticator {
	return &Authenticator{AAGUID: DefaultAAGUID, Origin: origin, keys: map[string]*ecdsa.PrivateKey{}, handle: map[string][]byte{}}
}

// SetUserHandle makes the authenticator return handle with credential
// credID, as if it had stored another account's handle.
func (a *Authenticator) SetUserHandle(credID, handle []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.handle[string(credID)] = handle
}

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

// Create answers PublicKeyCredentialCreationOptions — the JSON the server
// sends, as raw bytes or as a value to encode — and returns the
// RegistrationResponseJSON body and the new credential ID.
func (a *Authenticator) Create(options any, g Gesture) (body, credID []byte, err error) {
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
	if err := RoundTrip(options, &opts); err != nil {
		return nil, nil, err
	}
	handle, err := base64.RawURLEncoding.DecodeString(opts.PublicKey.User.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("softauthn: user.id: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	credID = make([]byte, 32)
	rand.Read(credID)
	a.mu.Lock()
	if g.Reuse != nil {
		credID, key = g.Reuse, a.keys[string(g.Reuse)]
	}
	a.keys[string(credID)] = key
	a.handle[string(credID)] = handle
	a.mu.Unlock()
	if key == nil {
		return nil, nil, errors.New("softauthn: no such credential to reuse")
	}

	pub, err := key.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		return nil, nil, err
	}
	// RFC 9053 §7.1.1 / RFC 9052 §7: EC2 key, ES256, P-256.
	cose, err := webauthncbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: pub[1:33], -3: pub[33:65]})
	if err != nil {
		return nil, nil, err
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
		return nil, nil, err
	}
	cd := a.clientData("webauthn.create", opts.PublicKey.Challenge, g)
	body, err = json.Marshal(map[string]any{
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
	return body, credID, err
}

// Get answers PublicKeyCredentialRequestOptions (raw JSON or a value to
// encode) with the credential credID and returns the
// AuthenticationResponseJSON body. A credential it never made is signed
// with a throwaway key, for the server to refuse.
func (a *Authenticator) Get(options any, credID []byte, g Gesture) ([]byte, error) {
	var opts struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
			RPID      string `json:"rpId"`
		} `json:"publicKey"`
	}
	if err := RoundTrip(options, &opts); err != nil {
		return nil, err
	}
	a.mu.Lock()
	key, ok := a.keys[string(credID)]
	handle := a.handle[string(credID)]
	a.mu.Unlock()
	if !ok {
		var err error
		if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			return nil, err
		}
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
		return nil, err
	}
	return json.Marshal(map[string]any{
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
}

// RoundTrip encodes v as the server would send it (raw JSON bytes are
// taken as sent) and decodes it as the browser's JavaScript would read it.
func RoundTrip(v, into any) error {
	b, ok := v.([]byte)
	if !ok {
		if raw, isRaw := v.(json.RawMessage); isRaw {
			b = raw
		} else {
			var err error
			if b, err = json.Marshal(v); err != nil {
				return fmt.Errorf("softauthn: options: %w", err)
			}
		}
	}
	if err := json.Unmarshal(b, into); err != nil {
		return fmt.Errorf("softauthn: options: %w", err)
	}
	return nil
}
