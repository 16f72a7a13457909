package vaultkeys

import (
	"context"
	"crypto"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/cedula/cedula/internal/keys"
)

// vaultKey is one version of a transit key. Sign pins the version, so the
// signature always matches the kid, whatever rotations happen meanwhile.
type vaultKey struct {
	m       *Manager
	ring    string
	version int
	alg     keys.Alg
	pub     crypto.PublicKey
}

var _ keys.Key = (*vaultKey)(nil)

func (k *vaultKey) ID() string               { return KeyID(k.ring, k.version) }
func (k *vaultKey) Alg() keys.Alg            { return k.alg }
func (k *vaultKey) Public() crypto.PublicKey { return k.pub }

// Sign implements keys.Key with transit's sign endpoint
// (POST /transit/sign/:name). ES256 and RS256 send the SHA-256 digest with
// prehashed=true; ECDSA keeps the default asn1 marshaling (DER), RS256 asks
// for PKCS #1 v1.5 (RFC 7518 §3.3). EdDSA sends the message (RFC 8037 §3.1).
func (k *vaultKey) Sign(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkOpts(k.alg, digest, opts); err != nil {
		return nil, err
	}
	req := map[string]any{
		"input":       base64.StdEncoding.EncodeToString(digest),
		"key_version": k.version,
	}
	switch k.alg {
	case keys.ES256:
		req["prehashed"] = true
		req["hash_algorithm"] = "sha2-256"
		req["marshaling_algorithm"] = "asn1"
	case keys.RS256:
		req["prehashed"] = true
		req["hash_algorithm"] = "sha2-256"
		req["signature_algorithm"] = "pkcs1v15"
	}
	path := k.m.mount + "/sign/" + k.m.keyName(k.ring)
	s, err := k.m.call(ctx, func(l *api.Logical) (*api.Secret, error) { return l.WriteWithContext(ctx, path, req) })
	if err != nil {
		return nil, wrap("sign with "+k.ID(), err)
	}
	if s == nil || s.Data == nil {
		return nil, fmt.Errorf("vaultkeys: sign with %s: empty response", k.ID())
	}
	sig, _ := s.Data["signature"].(string)
	return parseSignature(sig, k.version)
}

// parseSignature decodes "vault:v<version>:<base64>", insisting on the
// version that was asked for.
func parseSignature(s string, version int) ([]byte, error) {
	prefix := "vault:v" + strconv.Itoa(version) + ":"
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok {
		got, _, _ := strings.Cut(strings.TrimPrefix(s, "vault:"), ":")
		return nil, fmt.Errorf("vaultkeys: signature from key version %q, want v%d", got, version)
	}
	sig, err := base64.StdEncoding.DecodeString(rest)
	if err != nil || len(sig) == 0 {
		return nil, fmt.Errorf("vaultkeys: malformed signature from Vault")
	}
	return sig, nil
}

// checkOpts enforces keys.Key's Sign contract.
func checkOpts(alg keys.Alg, digest []byte, opts crypto.SignerOpts) error {
	var got crypto.Hash
	if opts != nil {
		got = opts.HashFunc()
	}
	if want := alg.Hash(); got != want {
		return fmt.Errorf("vaultkeys: %s signs with hash %v, got %v", alg, want, got)
	}
	if alg.Hash() != 0 && len(digest) != alg.Hash().Size() {
		return fmt.Errorf("vaultkeys: %s digest is %d bytes, want %d", alg, len(digest), alg.Hash().Size())
	}
	return nil
}
