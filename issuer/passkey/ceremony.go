package passkey

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/cedula/cedula/internal/random"
	"github.com/cedula/cedula/issuer"
)

// Kinds of ceremony, so that one kind's state cannot finish another.
const (
	kindRegister = "register"
	kindLogin    = "login"
)

// ceremony is what is kept server-side between Begin and Finish: the
// library's session data, which holds the challenge (WebAuthn L3 §13.4.3:
// the challenge is generated and kept by the RP, never trusted from the
// client).
type ceremony struct {
	Kind      string               `json:"kind"`
	CitizenID string               `json:"citizen,omitempty"`
	Session   webauthn.SessionData `json:"session"`
}

// newCeremonyID returns 256 random bits, base64url: the value the browser
// keeps (in a cookie) to finish the ceremony.
func newCeremonyID() string { return random.Token(32) }

// ceremonyKey is the key under which the ceremony is stored: a hash of the
// ID, so that the stored keys alone cannot finish a ceremony, in a
// namespace of its own within the shared ceremony store.
func ceremonyKey(id string) string {
	h := sha256.Sum256([]byte(id))
	return "passkey:" + base64.RawURLEncoding.EncodeToString(h[:])
}

func (s *Service) putCeremony(ctx context.Context, c ceremony) (string, error) {
	data, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("passkey: encode ceremony: %w", err)
	}
	id := newCeremonyID()
	if err := s.store.PutCeremony(ctx, ceremonyKey(id), data, s.now().Add(s.ttl)); err != nil {
		return "", fmt.Errorf("passkey: store ceremony: %w", err)
	}
	return id, nil
}

// takeCeremony consumes the ceremony with id: a second Finish with the same
// ID fails with ErrCeremony, whatever became of the first.
func (s *Service) takeCeremony(ctx context.Context, id, kind string) (ceremony, error) {
	var c ceremony
	if id == "" || len(id) > 128 {
		return c, ErrCeremony
	}
	data, err := s.store.TakeCeremony(ctx, ceremonyKey(id), s.now())
	if errors.Is(err, issuer.ErrNotFound) {
		return c, ErrCeremony
	}
	if err != nil {
		return c, fmt.Errorf("passkey: take ceremony: %w", err)
	}
	if err := json.Unmarshal(data, &c); err != nil || c.Kind != kind {
		return c, ErrCeremony
	}
	return c, nil
}
