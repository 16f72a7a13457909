package audit

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"golang.org/x/mod/sumdb/note"

	"github.com/cedula/cedula/internal/keys"
)

// CheckpointRing is the key ring whose active Ed25519 key signs
// checkpoints.
const CheckpointRing = "audit-checkpoint"

// algEd25519 is the signed-note signature type of Ed25519 (C2SP
// signed-note, "Signature types").
const algEd25519 = 0x01

// KeyHash returns the signed-note key hash of an Ed25519 key named name:
// the first four bytes, big-endian, of SHA-256(name || 0x0A || 0x01 ||
// public key) (C2SP signed-note, "Signatures").
func KeyHash(name string, pub ed25519.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n', algEd25519})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// NoteSigner adapts k, an EdDSA key from internal/keys (local keystore or
// Vault transit), to note.Signer under the key name name. Its Sign sends
// the whole message to the key (Ed25519 signs messages, not digests) and
// is bounded by ctx.
func NoteSigner(ctx context.Context, name string, k keys.Key) (note.Signer, error) {
	pub, ok := k.Public().(ed25519.PublicKey)
	if k.Alg() != keys.EdDSA || !ok {
		return nil, fmt.Errorf("audit: key %s is %s, checkpoints need EdDSA", k.ID(), k.Alg())
	}
	if !ValidOrigin(name) {
		return nil, fmt.Errorf("audit: invalid note key name %q", name)
	}
	return noteSigner{ctx: ctx, name: name, hash: KeyHash(name, pub), k: k}, nil
}

type noteSigner struct {
	ctx  context.Context
	name string
	hash uint32
	k    keys.Key
}

func (s noteSigner) Name() string    { return s.name }
func (s noteSigner) KeyHash() uint32 { return s.hash }
func (s noteSigner) Sign(msg []byte) ([]byte, error) {
	return s.k.Sign(s.ctx, msg, crypto.Hash(0))
}

// VerifierKey returns the verifier key clients need to check checkpoints
// signed by pub under name, in the note form
// name+hex(key hash)+base64(0x01 || public key).
func VerifierKey(name string, pub crypto.PublicKey) (string, error) {
	ed, ok := pub.(ed25519.PublicKey)
	if !ok {
		return "", fmt.Errorf("audit: verifier key: %T is not an Ed25519 public key", pub)
	}
	if !ValidOrigin(name) {
		return "", fmt.Errorf("audit: invalid note key name %q", name)
	}
	vkey, err := note.NewEd25519VerifierKey(name, ed)
	if err != nil {
		return "", fmt.Errorf("audit: verifier key: %w", err)
	}
	return vkey, nil
}

// VerifierKeys returns the verifier keys of every key of CheckpointRing that
// m still publishes (the active one first), named origin.
func VerifierKeys(ctx context.Context, m keys.Manager, origin string) ([]string, error) {
	pubs, err := m.Verification(ctx, CheckpointRing)
	if err != nil {
		return nil, fmt.Errorf("audit: checkpoint keys: %w", err)
	}
	var out []string
	for _, p := range pubs {
		if p.Alg != keys.EdDSA {
			continue
		}
		vkey, err := VerifierKey(origin, p.Key)
		if err != nil {
			return nil, err
		}
		out = append(out, vkey)
	}
	return out, nil
}

// Verifiers parses verifier keys into note.Verifiers.
func Verifiers(vkeys ...string) (note.Verifiers, error) {
	vs := make([]note.Verifier, 0, len(vkeys))
	seen := map[string]bool{}
	for _, k := range vkeys {
		if seen[k] {
			continue // the same key twice would make note.Open call it ambiguous
		}
		seen[k] = true
		v, err := note.NewVerifier(k)
		if err != nil {
			return nil, fmt.Errorf("%w: verifier key %.80q: %v", ErrMalformed, k, err)
		}
		vs = append(vs, v)
	}
	return note.VerifierList(vs...), nil
}
