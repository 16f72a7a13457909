package localkeys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"fmt"

	"github.com/cedula/cedula/internal/keys"
)

// signingKey is a decrypted key. It is immutable; retirement is recorded
// in the ring, not here, so a Key handed out keeps working after rotation.
type signingKey struct {
	id   string
	alg  keys.Alg
	pub  crypto.PublicKey
	priv crypto.Signer
}

var _ keys.Key = (*signingKey)(nil)

func (k *signingKey) ID() string               { return k.id }
func (k *signingKey) Alg() keys.Alg            { return k.alg }
func (k *signingKey) Public() crypto.PublicKey { return k.pub }

// Sign implements keys.Key. RS256 is always PKCS #1 v1.5 (RFC 7518 §3.3),
// whatever opts says beyond the hash; EdDSA is pure Ed25519 (RFC 8037 §3.1).
func (k *signingKey) Sign(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkOpts(k.alg, digest, opts); err != nil {
		return nil, err
	}
	switch p := k.priv.(type) {
	case *ecdsa.PrivateKey:
		return ecdsa.SignASN1(rand.Reader, p, digest)
	case *rsa.PrivateKey:
		return rsa.SignPKCS1v15(nil, p, crypto.SHA256, digest)
	case ed25519.PrivateKey:
		return ed25519.Sign(p, digest), nil
	}
	return nil, fmt.Errorf("localkeys: key %s: unexpected private key type %T", k.id, k.priv)
}

// checkOpts enforces keys.Key's Sign contract.
func checkOpts(alg keys.Alg, digest []byte, opts crypto.SignerOpts) error {
	var got crypto.Hash
	if opts != nil {
		got = opts.HashFunc()
	}
	if want := alg.Hash(); got != want {
		return fmt.Errorf("localkeys: %s signs with hash %v, got %v", alg, want, got)
	}
	if alg.Hash() != 0 && len(digest) != alg.Hash().Size() {
		return fmt.Errorf("localkeys: %s digest is %d bytes, want %d", alg, len(digest), alg.Hash().Size())
	}
	return nil
}

// generate makes a new private key for alg.
func generate(alg keys.Alg) (crypto.Signer, error) {
	switch alg {
	case keys.ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case keys.EdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	case keys.RS256:
		return rsa.GenerateKey(rand.Reader, 2048)
	}
	return nil, fmt.Errorf("%w: %q", keys.ErrUnsupportedAlg, alg)
}

// newKID returns "<ring>-<16 hex digits>". The suffix holds no '-', so the
// ring is everything before the last '-' and kids of different rings never
// collide.
func newKID(ring string) (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return ring + "-" + hex.EncodeToString(b), nil
}

// algOf reports the algorithm a private key serves, or "" for none.
func algOf(priv crypto.Signer) keys.Alg {
	switch p := priv.(type) {
	case *ecdsa.PrivateKey:
		if p.Curve == elliptic.P256() {
			return keys.ES256
		}
	case ed25519.PrivateKey:
		return keys.EdDSA
	case *rsa.PrivateKey:
		if p.N.BitLen() >= 2048 {
			return keys.RS256
		}
	}
	return ""
}

// sealKey builds the file entry for a new key.
func (m *Manager) sealKey(ring, kid string, alg keys.Alg, priv crypto.Signer) (keyJSON, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return keyJSON{}, err
	}
	defer clear(der)
	pub, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return keyJSON{}, err
	}
	sealed, err := seal(m.aead, der, additionalData(ring, kid))
	if err != nil {
		return keyJSON{}, err
	}
	return keyJSON{ID: kid, Alg: alg, Created: m.now().UTC(), Public: pub, Private: sealed}, nil
}

// openKey decrypts a file entry and checks that it is what it claims: the
// algorithm of the ring, and a private key matching the stored public key.
func (m *Manager) openKey(ring string, ringAlg keys.Alg, kj keyJSON) (*signingKey, error) {
	if kj.Alg != ringAlg {
		return nil, fmt.Errorf("%w: key %s is %s in a %s ring", ErrCorrupt, kj.ID, kj.Alg, ringAlg)
	}
	der, err := unseal(m.aead, kj.Private, additionalData(ring, kj.ID))
	if err != nil {
		return nil, fmt.Errorf("%w: cannot open key %s of ring %q: wrong key-encryption key (check %s or the KEK file) or a damaged keystore", ErrKEK, kj.ID, ring, EnvKEK)
	}
	defer clear(der)
	p, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: key %s: %v", ErrCorrupt, kj.ID, err)
	}
	priv, ok := p.(crypto.Signer)
	if !ok || algOf(priv) != kj.Alg {
		return nil, fmt.Errorf("%w: key %s: private key of type %T is not %s", ErrCorrupt, kj.ID, p, kj.Alg)
	}
	pub, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(pub, kj.Public) != 1 {
		return nil, fmt.Errorf("%w: key %s: public key does not match the private key", ErrCorrupt, kj.ID)
	}
	return &signingKey{id: kj.ID, alg: kj.Alg, pub: priv.Public(), priv: priv}, nil
}
