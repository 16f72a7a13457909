package localkeys

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	"github.com/cedula/cedula/internal/keys"
)

// Key wrapping (keys.Wrapper) in the keystore file.
//
// Each wrapping ring has AES-256 keys numbered 1, 2, …, stored in the file's
// "wrap" section, each sealed under the KEK like a signing key, with GCM
// additional data "wrap:<ring>:<version>" (':' never occurs in a signing
// key's "<ring>/<kid>", so the two kinds of sealed key cannot be swapped).
// The newest version wraps; every version unwraps. They are created, rotated,
// reloaded and shared between processes with the signing keys, under the
// same lock and atomic rewrite, and a keystore holding only wrapping keys is
// never given a freshly generated KEK.
//
// A wrapped key is 65 bytes:
//
//	0x01 || version (uint32, big-endian) || nonce (12) || AES-256-GCM(dek) || tag (16)
//
// with GCM additional data
//
//	"cedula-wrap\x00" || ring || "\x00" || 0x01 || version || aad
//
// so a blob opens only under its own ring, version and aad; the ring holds no
// NUL and the header has a fixed length, so the encoding is unambiguous.
//
// A keystore file with a "wrap" section is refused (ErrCorrupt, unknown
// field) by Cedula versions older than this one: upgrade every replica
// sharing a keystore before any of them wraps a key.

var _ keys.Wrapper = (*Manager)(nil)

type wrapRingJSON struct {
	Keys []wrapKeyJSON `json:"keys"` // versions 1, 2, … in order; the last one wraps
}

type wrapKeyJSON struct {
	Version int       `json:"version"`
	Created time.Time `json:"created"`
	Key     []byte    `json:"key"` // nonce || AES-256-GCM(32-byte key), additional data "wrap:<ring>:<version>"
}

// wrapRing is the in-memory form of a wrapping ring.
type wrapRing struct {
	versions []wrapKey // versions[v-1] is version v
}

type wrapKey struct {
	aead   cipher.AEAD
	sealed []byte // to skip decrypting again on reload
}

const (
	wrapFormat     byte = 0x01
	wrapHeader          = 1 + 4 // format, version
	wrapNonce           = 12
	wrapTag             = 16
	wrappedSize         = wrapHeader + wrapNonce + keys.DataKeySize + wrapTag
	wrapKeySize         = 32 // AES-256
	maxWrapVersion      = 1<<31 - 1
)

func wrapKeyAD(ring string, version int) []byte {
	return []byte("wrap:" + ring + ":" + strconv.Itoa(version))
}

// installWrap builds the in-memory wrapping rings from fj, decrypting only
// keys not already held. m.mu is held (or m is new).
func (m *Manager) installWrap(fj *fileJSON) (map[string]*wrapRing, error) {
	out := make(map[string]*wrapRing, len(fj.Wrap))
	for name, rj := range fj.Wrap {
		if !keys.ValidRing(name) || rj == nil || len(rj.Keys) == 0 || len(rj.Keys) > maxWrapVersion {
			return nil, fmt.Errorf("%w: wrapping ring %q", ErrCorrupt, name)
		}
		old := m.wrap[name]
		r := &wrapRing{versions: make([]wrapKey, 0, len(rj.Keys))}
		for i, kj := range rj.Keys {
			if kj.Version != i+1 {
				return nil, fmt.Errorf("%w: wrapping ring %q: version %d in position %d", ErrCorrupt, name, kj.Version, i+1)
			}
			if old != nil && i < len(old.versions) && string(old.versions[i].sealed) == string(kj.Key) {
				r.versions = append(r.versions, old.versions[i])
				continue
			}
			raw, err := unseal(m.aead, kj.Key, wrapKeyAD(name, kj.Version))
			if err != nil {
				return nil, fmt.Errorf("%w: cannot open version %d of wrapping ring %q: wrong key-encryption key (check %s or the KEK file) or a damaged keystore", ErrKEK, kj.Version, name, EnvKEK)
			}
			aead, err := newWrapAEAD(raw)
			clear(raw)
			if err != nil {
				return nil, fmt.Errorf("%w: version %d of wrapping ring %q: %v", ErrCorrupt, kj.Version, name, err)
			}
			r.versions = append(r.versions, wrapKey{aead: aead, sealed: kj.Key})
		}
		out[name] = r
	}
	return out, nil
}

func newWrapAEAD(raw []byte) (cipher.AEAD, error) {
	if len(raw) != wrapKeySize {
		return nil, fmt.Errorf("key is %d bytes, want %d", len(raw), wrapKeySize)
	}
	return newAEAD(raw) // AES-256-GCM; the cipher keeps its own copy of the key
}

// newWrapKey makes version v of ring's wrapping key, sealed for the file.
func (m *Manager) newWrapKey(ring string, v int) (wrapKeyJSON, error) {
	raw := make([]byte, wrapKeySize)
	rand.Read(raw) // never fails (crypto/rand, Go 1.24+)
	defer clear(raw)
	sealed, err := seal(m.aead, raw, wrapKeyAD(ring, v))
	if err != nil {
		return wrapKeyJSON{}, err
	}
	return wrapKeyJSON{Version: v, Created: m.now().UTC(), Key: sealed}, nil
}

// WrapKey implements keys.Wrapper: AES-256-GCM under the newest version of
// ring's wrapping key, created (under the file lock, once across processes)
// on first use.
func (m *Manager) WrapKey(ctx context.Context, ring string, dek, aad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !keys.ValidRing(ring) {
		return nil, fmt.Errorf("%w: %q", keys.ErrBadName, ring)
	}
	if len(dek) != keys.DataKeySize {
		return nil, fmt.Errorf("localkeys: wrap: data key is %d bytes, want %d", len(dek), keys.DataKeySize)
	}
	version, aead, err := m.wrapping(ctx, ring)
	if err != nil {
		return nil, err
	}
	out := make([]byte, wrapHeader+wrapNonce, wrappedSize)
	out[0] = wrapFormat
	binary.BigEndian.PutUint32(out[1:wrapHeader], uint32(version))
	rand.Read(out[wrapHeader:]) // nonce; never fails (crypto/rand, Go 1.24+)
	return aead.Seal(out, out[wrapHeader:], dek, wrapAD(ring, out[:wrapHeader], aad)), nil
}

// wrapping returns the newest version of ring's wrapping key, creating the
// ring when neither this process nor the file has it.
func (m *Manager) wrapping(ctx context.Context, ring string) (int, cipher.AEAD, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.refresh(false); err != nil {
		return 0, nil, err
	}
	if m.wrap[ring] == nil { // perhaps created by another process
		if err := m.refresh(true); err != nil {
			return 0, nil, err
		}
	}
	if m.wrap[ring] == nil {
		err := m.update(ctx, func(fj *fileJSON) (bool, error) {
			if fj.Wrap[ring] != nil { // created meanwhile by another process
				return false, nil
			}
			kj, err := m.newWrapKey(ring, 1)
			if err != nil {
				return false, err
			}
			if fj.Wrap == nil {
				fj.Wrap = map[string]*wrapRingJSON{}
			}
			fj.Wrap[ring] = &wrapRingJSON{Keys: []wrapKeyJSON{kj}}
			return true, nil
		})
		if err != nil {
			return 0, nil, fmt.Errorf("localkeys: create wrapping ring %q: %w", ring, err)
		}
	}
	r := m.wrap[ring]
	if r == nil {
		return 0, nil, fmt.Errorf("localkeys: wrapping ring %q missing right after creation", ring)
	}
	return len(r.versions), r.versions[len(r.versions)-1].aead, nil
}

// UnwrapKey implements keys.Wrapper. A version this process does not hold
// yet (rotated by another) makes it re-read the file once.
func (m *Manager) UnwrapKey(ctx context.Context, ring string, wrapped, aad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !keys.ValidRing(ring) {
		return nil, fmt.Errorf("%w: %q", keys.ErrBadName, ring)
	}
	if len(wrapped) != wrappedSize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", keys.ErrUnwrap, len(wrapped), wrappedSize)
	}
	if wrapped[0] != wrapFormat {
		return nil, fmt.Errorf("%w: unknown format 0x%02x", keys.ErrUnwrap, wrapped[0])
	}
	v := binary.BigEndian.Uint32(wrapped[1:wrapHeader])
	if v == 0 || v > maxWrapVersion {
		return nil, fmt.Errorf("%w: key version %d", keys.ErrUnwrap, v)
	}
	aead, err := m.unwrapping(ring, int(v))
	if err != nil {
		return nil, err
	}
	dek, err := aead.Open(nil, wrapped[wrapHeader:wrapHeader+wrapNonce], wrapped[wrapHeader+wrapNonce:], wrapAD(ring, wrapped[:wrapHeader], aad))
	if err != nil {
		return nil, fmt.Errorf("%w: ring %q version %d: altered, or bound to other associated data", keys.ErrUnwrap, ring, v)
	}
	return dek, nil
}

// unwrapping returns version v of ring's wrapping key.
func (m *Manager) unwrapping(ring string, v int) (cipher.AEAD, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	lookup := func() cipher.AEAD {
		if r := m.wrap[ring]; r != nil && v <= len(r.versions) {
			return r.versions[v-1].aead
		}
		return nil
	}
	if a := lookup(); a != nil {
		return a, nil
	}
	if err := m.refresh(true); err != nil {
		return nil, err
	}
	if a := lookup(); a != nil {
		return a, nil
	}
	return nil, fmt.Errorf("%w: ring %q has no wrapping key version %d", keys.ErrUnwrap, ring, v)
}

// RotateWrapKey implements keys.Wrapper. The new version is in the file
// before it returns.
func (m *Manager) RotateWrapKey(ctx context.Context, ring string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !keys.ValidRing(ring) {
		return fmt.Errorf("%w: %q", keys.ErrBadName, ring)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	err := m.update(ctx, func(fj *fileJSON) (bool, error) {
		if fj.Wrap == nil {
			fj.Wrap = map[string]*wrapRingJSON{}
		}
		r := fj.Wrap[ring]
		if r == nil {
			r = &wrapRingJSON{}
			fj.Wrap[ring] = r
		}
		if len(r.Keys) >= maxWrapVersion {
			return false, fmt.Errorf("wrapping ring %q has reached %d versions", ring, maxWrapVersion)
		}
		kj, err := m.newWrapKey(ring, len(r.Keys)+1)
		if err != nil {
			return false, err
		}
		r.Keys = append(r.Keys, kj)
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("localkeys: rotate wrapping ring %q: %w", ring, err)
	}
	return nil
}

// wrapAD is the GCM additional data of a wrapped key.
func wrapAD(ring string, header, aad []byte) []byte {
	ad := make([]byte, 0, len("cedula-wrap\x00")+len(ring)+1+len(header)+len(aad))
	ad = append(ad, "cedula-wrap\x00"...)
	ad = append(ad, ring...)
	ad = append(ad, 0)
	ad = append(ad, header...)
	return append(ad, aad...)
}
