package localkeys

import (
	"bytes"
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/cedula/cedula/internal/keys"
)

// DefaultPath is where the keystore lives when Open is given no path.
const DefaultPath = "data/keystore.json"

// DefaultRetention is how long a retired key stays in Verification.
const DefaultRetention = 24 * time.Hour

// DefaultReloadInterval bounds how often a Manager checks the file for
// changes made by other processes.
const DefaultReloadInterval = time.Second

// Sentinel errors.
var (
	// ErrKEK means the key-encryption key is missing, malformed or not the
	// one that sealed the keystore's keys.
	ErrKEK = errors.New("localkeys: key-encryption key")
	// ErrCorrupt means the keystore file is not one this package wrote.
	ErrCorrupt = errors.New("localkeys: keystore file is damaged")
)

// Option configures Open.
type Option func(*options)

type options struct {
	kek       []byte
	kekFile   string
	retention time.Duration
	rings     map[string]time.Duration
	now       func() time.Time
	reload    time.Duration
}

// WithKEK sets the key-encryption key (32 bytes), overriding $CEDULA_KEK
// and the KEK file.
func WithKEK(kek []byte) Option { return func(o *options) { o.kek = kek } }

// WithKEKFile sets the path of the KEK file, used when $CEDULA_KEK is unset
// and created on first start. Default: "kek" beside the keystore.
func WithKEKFile(path string) Option { return func(o *options) { o.kekFile = path } }

// WithRetention sets how long a retired key stays in Verification: at least
// the lifetime of the longest-lived token the ring signs. Default 24h.
func WithRetention(d time.Duration) Option { return func(o *options) { o.retention = d } }

// WithRingRetention sets the retention of one ring, overriding
// WithRetention for it: rings whose signatures must stay verifiable for
// years (checkpoints, receipts) keep their retired keys that long.
func WithRingRetention(ring string, d time.Duration) Option {
	return func(o *options) {
		if o.rings == nil {
			o.rings = map[string]time.Duration{}
		}
		o.rings[ring] = d
	}
}

// WithClock sets the clock used for creation and retirement times and for
// the retention window. Default time.Now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithReloadInterval sets how often, at most, the file is checked for
// changes made by other processes; 0 checks on every call. Default 1s.
func WithReloadInterval(d time.Duration) Option { return func(o *options) { o.reload = d } }

// Manager is a keys.Manager backed by a keystore file. It is safe for
// concurrent use, and several Managers (in one or more processes) may share
// a file.
type Manager struct {
	path, lockPath string
	aead           cipher.AEAD
	retention      time.Duration
	ringRetention  map[string]time.Duration
	now            func() time.Time
	reload         time.Duration

	mu      sync.Mutex
	rings   map[string]*ring
	wrap    map[string]*wrapRing // key-wrapping rings (wrap.go)
	stamp   stamp                // of the file rings and wrap were loaded from
	checked time.Time            // when the file was last stat'ed (wall clock, monotonic)
}

var _ keys.Manager = (*Manager)(nil)

// ring is the in-memory form of a ring: keys oldest first, the last active.
type ring struct {
	alg  keys.Alg
	keys []ringKey
}

type ringKey struct {
	*signingKey
	created, retired time.Time
	sealed           []byte // to skip decrypting again on reload
}

// Open opens (or, on first use, creates) the keystore at path; "" means
// DefaultPath. It decrypts every key, so a wrong KEK fails here with ErrKEK.
func Open(path string, opts ...Option) (*Manager, error) {
	o := options{retention: DefaultRetention, now: time.Now, reload: DefaultReloadInterval}
	for _, opt := range opts {
		opt(&o)
	}
	if path == "" {
		path = DefaultPath
	}
	if o.kekFile == "" {
		o.kekFile = filepath.Join(filepath.Dir(path), "kek")
	}
	if o.retention < 0 {
		return nil, fmt.Errorf("localkeys: negative retention %v", o.retention)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("localkeys: %w", err)
	}
	fj, st, err := readFile(path)
	if err != nil {
		return nil, fmt.Errorf("localkeys: open: %w", err)
	}
	kek, err := loadKEK(o.kek, o.kekFile, len(fj.Rings) == 0 && len(fj.Wrap) == 0)
	if err != nil {
		return nil, fmt.Errorf("localkeys: open %s: %w", path, err)
	}
	aead, err := newAEAD(kek)
	if err != nil {
		return nil, err
	}
	m := &Manager{
		path:      path,
		lockPath:  path + ".lock",
		aead:      aead,
		retention: o.retention, ringRetention: o.rings,
		now:    o.now,
		reload: o.reload,
		rings:  map[string]*ring{},
	}
	if err := m.install(fj, st); err != nil {
		return nil, fmt.Errorf("localkeys: open %s: %w", path, err)
	}
	m.checked = time.Now()
	return m, nil
}

// Active implements keys.Manager.
func (m *Manager) Active(ctx context.Context, name string, alg keys.Alg) (keys.Key, error) {
	if err := check(name, alg); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.refresh(false); err != nil {
		return nil, err
	}
	if m.rings[name] == nil { // perhaps created by another process
		if err := m.refresh(true); err != nil {
			return nil, err
		}
	}
	if r := m.rings[name]; r != nil {
		return r.active(name, alg)
	}
	err := m.update(ctx, func(fj *fileJSON) (bool, error) {
		if fj.Rings[name] != nil { // created meanwhile by another process
			return false, nil
		}
		kj, err := m.newKey(name, alg)
		if err != nil {
			return false, err
		}
		fj.Rings[name] = &ringJSON{Alg: alg, Keys: []keyJSON{kj}}
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("localkeys: create ring %q: %w", name, err)
	}
	return m.rings[name].active(name, alg)
}

// Rotate implements keys.Manager. The new key is written to the file before
// Rotate returns; the previous key's Retired is the rotation time.
func (m *Manager) Rotate(ctx context.Context, name string, alg keys.Alg) (keys.Key, error) {
	if err := check(name, alg); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	err := m.update(ctx, func(fj *fileJSON) (bool, error) {
		r := fj.Rings[name]
		if r != nil && r.Alg != alg {
			return false, fmt.Errorf("%w: ring %q holds %s keys, not %s", keys.ErrUnsupportedAlg, name, r.Alg, alg)
		}
		kj, err := m.newKey(name, alg)
		if err != nil {
			return false, err
		}
		if r == nil {
			fj.Rings[name] = &ringJSON{Alg: alg, Keys: []keyJSON{kj}}
			return true, nil
		}
		r.Keys[len(r.Keys)-1].Retired = kj.Created
		r.Keys = append(r.Keys, kj)
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("localkeys: rotate ring %q: %w", name, err)
	}
	return m.rings[name].active(name, alg)
}

// Verification implements keys.Manager.
func (m *Manager) Verification(ctx context.Context, name string) ([]keys.PublicKey, error) {
	if !keys.ValidRing(name) {
		return nil, fmt.Errorf("%w: %q", keys.ErrBadName, name)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.refresh(false); err != nil {
		return nil, err
	}
	if m.rings[name] == nil {
		if err := m.refresh(true); err != nil {
			return nil, err
		}
	}
	r := m.rings[name]
	if r == nil {
		return nil, nil
	}
	now := m.now()
	retention := m.retention
	if d, ok := m.ringRetention[name]; ok {
		retention = d
	}
	var out []keys.PublicKey
	for i := len(r.keys) - 1; i >= 0; i-- {
		k := r.keys[i]
		if !k.retired.IsZero() && now.Sub(k.retired) >= retention {
			continue
		}
		out = append(out, keys.PublicKey{ID: k.id, Alg: k.alg, Key: k.pub, Created: k.created, Retired: k.retired})
	}
	return out, nil
}

// Rings implements keys.Manager. It always checks the file for rings made
// by other processes.
func (m *Manager) Rings(ctx context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.refresh(true); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(m.rings))
	for n := range m.rings {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

func check(name string, alg keys.Alg) error {
	if !keys.ValidRing(name) {
		return fmt.Errorf("%w: %q", keys.ErrBadName, name)
	}
	if !alg.Valid() {
		return fmt.Errorf("%w: %q", keys.ErrUnsupportedAlg, alg)
	}
	return nil
}

func (r *ring) active(name string, alg keys.Alg) (keys.Key, error) {
	if r.alg != alg {
		return nil, fmt.Errorf("%w: ring %q holds %s keys, not %s", keys.ErrUnsupportedAlg, name, r.alg, alg)
	}
	return r.keys[len(r.keys)-1].signingKey, nil
}

func (m *Manager) newKey(ring string, alg keys.Alg) (keyJSON, error) {
	priv, err := generate(alg)
	if err != nil {
		return keyJSON{}, err
	}
	kid, err := newKID(ring)
	if err != nil {
		return keyJSON{}, err
	}
	return m.sealKey(ring, kid, alg, priv)
}

// refresh re-reads the file if it changed since it was loaded. Unless
// force, it looks at most once per reload interval. m.mu is held.
func (m *Manager) refresh(force bool) error {
	if !force && time.Since(m.checked) < m.reload {
		return nil
	}
	m.checked = time.Now()
	fi, err := os.Stat(m.path)
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("localkeys: %w", err)
	}
	if err == nil && m.stamp.same(fi) || err != nil && m.stamp.fi == nil {
		return nil
	}
	fj, st, err := readFile(m.path)
	if err != nil {
		return fmt.Errorf("localkeys: reload: %w", err)
	}
	if err := m.install(fj, st); err != nil {
		return fmt.Errorf("localkeys: reload %s: %w", m.path, err)
	}
	return nil
}

// update runs a read-modify-write of the file under the cross-process lock.
// fn reports whether it changed fj; the in-memory state is then replaced
// by what the file holds. m.mu is held.
func (m *Manager) update(ctx context.Context, fn func(fj *fileJSON) (bool, error)) error {
	return withLock(ctx, m.lockPath, func() error {
		fj, st, err := readFile(m.path)
		if err != nil {
			return err
		}
		changed, err := fn(fj)
		if err != nil {
			return err
		}
		if changed {
			if st, err = writeFile(m.path, fj); err != nil {
				return err
			}
		}
		return m.install(fj, st)
	})
}

// install replaces the in-memory rings with fj's, decrypting keys not seen
// before. On error the previous state stays. m.mu is held (or m is new).
func (m *Manager) install(fj *fileJSON, st stamp) error {
	known := map[string]ringKey{}
	for _, r := range m.rings {
		for _, k := range r.keys {
			known[k.id] = k
		}
	}
	seen := map[string]bool{}
	rings := make(map[string]*ring, len(fj.Rings))
	for name, rj := range fj.Rings {
		if !keys.ValidRing(name) || !rj.Alg.Valid() || len(rj.Keys) == 0 {
			return fmt.Errorf("%w: ring %q", ErrCorrupt, name)
		}
		r := &ring{alg: rj.Alg}
		for i, kj := range rj.Keys {
			if seen[kj.ID] || kj.ID == "" {
				return fmt.Errorf("%w: duplicate or empty kid %q", ErrCorrupt, kj.ID)
			}
			seen[kj.ID] = true
			if (i < len(rj.Keys)-1) == kj.Retired.IsZero() {
				return fmt.Errorf("%w: ring %q: only the last key may be unretired", ErrCorrupt, name)
			}
			rk, ok := known[kj.ID]
			if !ok || !bytes.Equal(rk.sealed, kj.Private) {
				sk, err := m.openKey(name, rj.Alg, kj)
				if err != nil {
					return err
				}
				rk = ringKey{signingKey: sk, sealed: kj.Private}
			}
			rk.created, rk.retired = kj.Created, kj.Retired
			r.keys = append(r.keys, rk)
		}
		rings[name] = r
	}
	wrap, err := m.installWrap(fj)
	if err != nil {
		return err
	}
	m.rings, m.wrap, m.stamp = rings, wrap, st
	return nil
}
