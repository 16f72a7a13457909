package vaultkeys

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/cedula/cedula/internal/keys"
)

// Key wrapping (keys.Wrapper) with transit's encrypt and decrypt endpoints.
//
// A wrapping ring is the transit key <prefix><ring>.wrap of type
// aes256-gcm96 (the '.' keeps it out of Rings and apart from the signing key
// <prefix><ring>). WrapKey sends the DEK to POST /transit/encrypt/:name with
// the caller's aad as associated_data (AES-GCM additional data, honoured by
// transit for aes256-gcm96; checked against Vault v1.21.4) and type
// aes256-gcm96, so the first call creates the key (transit's upsert). The
// wrapped form is transit's ciphertext "vault:v<version>:<base64>", so a
// blob names the key version that opens it; RotateWrapKey is transit's
// rotate, and UnwrapKey (POST /transit/decrypt/:name) opens every version
// at or above the key's min_decryption_version. The KEK never leaves Vault;
// the DEK crosses the connection to it, which must be TLS outside
// development (vault+https://).
//
// A transit key of that name made beforehand by someone else is used as it
// is. Where upsert is disabled (transit/config/keys disable_upsert), the
// key is created through transit/keys/:name and the encryption retried.
// Wrapping needs, beside the signing policy in the package comment:
//
//	path "transit/encrypt/cedula-*" { capabilities = ["create", "update"] }
//	path "transit/decrypt/cedula-*" { capabilities = ["update"] }
//
// ("create" on encrypt because Vault treats an encryption under a key that
// does not exist yet as a create operation).

var _ keys.Wrapper = (*Manager)(nil)

const (
	wrapSuffix  = ".wrap"
	wrapKeyType = "aes256-gcm96"
	// maxWrapped bounds what UnwrapKey sends to Vault; a 32-byte DEK wraps
	// to about 90 bytes.
	maxWrapped = 1024
)

func (m *Manager) wrapKeyName(ring string) string { return m.prefix + ring + wrapSuffix }

// WrapKey implements keys.Wrapper.
func (m *Manager) WrapKey(ctx context.Context, ring string, dek, aad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !keys.ValidRing(ring) {
		return nil, fmt.Errorf("%w: %q", keys.ErrBadName, ring)
	}
	if len(dek) != keys.DataKeySize {
		return nil, fmt.Errorf("vaultkeys: wrap: data key is %d bytes, want %d", len(dek), keys.DataKeySize)
	}
	name := m.wrapKeyName(ring)
	req := map[string]any{
		"plaintext": base64.StdEncoding.EncodeToString(dek),
		"type":      wrapKeyType, // used only when the call creates the key
	}
	if len(aad) > 0 {
		req["associated_data"] = base64.StdEncoding.EncodeToString(aad)
	}
	encrypt := func() (*api.Secret, error) {
		return m.call(ctx, func(l *api.Logical) (*api.Secret, error) {
			return l.WriteWithContext(ctx, m.mount+"/encrypt/"+name, req)
		})
	}
	s, err := encrypt()
	if isBadRequest(err, "encryption key not found") { // upsert disabled
		if err = m.createWrapKey(ctx, ring); err != nil {
			return nil, err
		}
		s, err = encrypt()
	}
	if err != nil {
		return nil, wrap("wrap with "+name, err)
	}
	var ct string
	if s != nil && s.Data != nil {
		ct, _ = s.Data["ciphertext"].(string)
	}
	if _, err := parseWrapped([]byte(ct)); err != nil {
		return nil, fmt.Errorf("vaultkeys: wrap with %s: unexpected ciphertext from Vault", name)
	}
	return []byte(ct), nil
}

// UnwrapKey implements keys.Wrapper. Vault's 400 answers (authentication
// failed, unknown key, version too new or below min_decryption_version,
// malformed ciphertext) all mean the blob does not open here: ErrUnwrap.
func (m *Manager) UnwrapKey(ctx context.Context, ring string, wrapped, aad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !keys.ValidRing(ring) {
		return nil, fmt.Errorf("%w: %q", keys.ErrBadName, ring)
	}
	if _, err := parseWrapped(wrapped); err != nil {
		return nil, err
	}
	name := m.wrapKeyName(ring)
	req := map[string]any{"ciphertext": string(wrapped)}
	if len(aad) > 0 {
		req["associated_data"] = base64.StdEncoding.EncodeToString(aad)
	}
	s, err := m.call(ctx, func(l *api.Logical) (*api.Secret, error) {
		return l.WriteWithContext(ctx, m.mount+"/decrypt/"+name, req)
	})
	if err != nil {
		var re *api.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusBadRequest {
			return nil, fmt.Errorf("%w: %s: %s", keys.ErrUnwrap, name, strings.Join(re.Errors, "; "))
		}
		return nil, wrap("unwrap with "+name, err)
	}
	var pt string
	if s != nil && s.Data != nil {
		pt, _ = s.Data["plaintext"].(string)
	}
	dek, err := base64.StdEncoding.DecodeString(pt)
	if err != nil || len(dek) != keys.DataKeySize {
		clear(dek)
		return nil, fmt.Errorf("%w: %s: Vault returned no %d-byte key", keys.ErrUnwrap, name, keys.DataKeySize)
	}
	return dek, nil
}

// RotateWrapKey implements keys.Wrapper with transit's rotate; a ring
// without a key gets its first version.
func (m *Manager) RotateWrapKey(ctx context.Context, ring string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !keys.ValidRing(ring) {
		return fmt.Errorf("%w: %q", keys.ErrBadName, ring)
	}
	name := m.wrapKeyName(ring)
	_, err := m.call(ctx, func(l *api.Logical) (*api.Secret, error) {
		return l.WriteWithContext(ctx, m.mount+"/keys/"+name+"/rotate", nil)
	})
	if isBadRequest(err, "key not found") {
		return m.createWrapKey(ctx, ring)
	}
	if err != nil {
		return wrap("rotate key "+name, err)
	}
	return nil
}

// createWrapKey creates ring's wrapping key; transit answers an existing
// key with a warning, so concurrent creators end with one key.
func (m *Manager) createWrapKey(ctx context.Context, ring string) error {
	name := m.wrapKeyName(ring)
	_, err := m.call(ctx, func(l *api.Logical) (*api.Secret, error) {
		return l.WriteWithContext(ctx, m.mount+"/keys/"+name, map[string]any{"type": wrapKeyType})
	})
	if err != nil {
		return wrap("create key "+name, err)
	}
	return nil
}

// parseWrapped checks that b has transit's ciphertext form,
// "vault:v<version>:<canonical standard base64>", and returns the version; anything
// else is ErrUnwrap without asking Vault.
func parseWrapped(b []byte) (int, error) {
	if len(b) > maxWrapped {
		return 0, fmt.Errorf("%w: %d bytes is too long for a wrapped key", keys.ErrUnwrap, len(b))
	}
	rest, ok := strings.CutPrefix(string(b), "vault:v")
	if !ok {
		return 0, fmt.Errorf("%w: not a Vault transit ciphertext", keys.ErrUnwrap)
	}
	vs, body, ok := strings.Cut(rest, ":")
	v, err := strconv.Atoi(vs)
	if !ok || err != nil || v < 1 || vs != strconv.Itoa(v) {
		return 0, fmt.Errorf("%w: malformed key version in a Vault transit ciphertext", keys.ErrUnwrap)
	}
	// Canonical base64 only: Go's decoder would skip newlines and ignore
	// padding bits, so that two texts could name one ciphertext.
	if raw, err := base64.StdEncoding.DecodeString(body); err != nil || len(raw) == 0 || base64.StdEncoding.EncodeToString(raw) != body {
		return 0, fmt.Errorf("%w: malformed Vault transit ciphertext", keys.ErrUnwrap)
	}
	return v, nil
}

// isBadRequest reports whether err is Vault's 400 answer saying msg.
func isBadRequest(err error, msg string) bool {
	var re *api.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusBadRequest {
		return false
	}
	for _, e := range re.Errors {
		if strings.Contains(e, msg) {
			return true
		}
	}
	return false
}
