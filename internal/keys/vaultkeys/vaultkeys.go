package vaultkeys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/cedula/cedula/internal/keys"
)

// Defaults.
const (
	DefaultMount        = "transit"
	DefaultPrefix       = "cedula-"
	DefaultAppRoleMount = "approle"
	DefaultRetention    = 24 * time.Hour
	DefaultRefresh      = time.Second
)

// Config says where the transit engine is and how to log in.
type Config struct {
	// Address of Vault, e.g. https://vault.example:8200. Empty means
	// VAULT_ADDR. TLS settings come from Vault's usual variables
	// (VAULT_CACERT, VAULT_CLIENT_CERT, …).
	Address string
	// Token authenticates directly. Ignored when RoleID is set.
	Token string
	// RoleID and SecretID log in through AppRole at AppRoleMount
	// (default "approle").
	RoleID, SecretID string
	AppRoleMount     string

	Mount  string // transit mount path; default "transit"
	Prefix string // transit key name = Prefix + ring; default "cedula-"

	// Retention is how long a retired version stays in Verification.
	Retention time.Duration
	// RingRetention overrides Retention for the rings it names: rings
	// whose signatures must stay verifiable for years keep their retired
	// versions that long.
	RingRetention map[string]time.Duration
	// Refresh is how long cached key metadata is trusted; default 1s.
	Refresh time.Duration
	// Now is the clock for the retention window; default time.Now.
	Now func() time.Time
}

// Manager is a keys.Manager on Vault's transit engine. It is safe for
// concurrent use, and several Managers (in several processes) may share the
// transit keys.
type Manager struct {
	client    *api.Client
	mount     string
	prefix    string
	retention time.Duration
	ringRet   map[string]time.Duration
	refresh   time.Duration
	now       func() time.Time

	roleID, secretID, appRoleMount string
	loginMu                        sync.Mutex

	mu    sync.Mutex
	rings map[string]*ringCache
}

var _ keys.Manager = (*Manager)(nil)

// ringCache holds what Vault said about one transit key.
type ringCache struct {
	mu      sync.Mutex
	info    *keyInfo // nil: not read yet, or the key does not exist
	fetched time.Time
}

type keyInfo struct {
	alg      keys.Alg
	latest   int
	versions map[int]keyVersion
}

type keyVersion struct {
	pub     crypto.PublicKey
	created time.Time
}

// Open connects to Vault, logs in (AppRole) or checks the token
// (auth/token/lookup-self), and returns a Manager.
func Open(ctx context.Context, cfg Config) (*Manager, error) {
	vc := api.DefaultConfig()
	if vc.Error != nil {
		return nil, fmt.Errorf("vaultkeys: client configuration: %w", vc.Error)
	}
	if cfg.Address != "" {
		vc.Address = cfg.Address
	}
	client, err := api.NewClient(vc)
	if err != nil {
		return nil, fmt.Errorf("vaultkeys: %w", err)
	}
	client.ClearToken() // NewClient picks up VAULT_TOKEN; only cfg decides
	m := &Manager{
		client:       client,
		mount:        strings.Trim(cfg.Mount, "/"),
		prefix:       cfg.Prefix,
		retention:    cfg.Retention,
		ringRet:      cfg.RingRetention,
		refresh:      cfg.Refresh,
		now:          cfg.Now,
		roleID:       cfg.RoleID,
		secretID:     cfg.SecretID,
		appRoleMount: strings.Trim(cfg.AppRoleMount, "/"),
		rings:        map[string]*ringCache{},
	}
	if m.mount == "" {
		m.mount = DefaultMount
	}
	if m.prefix == "" {
		m.prefix = DefaultPrefix
	}
	if m.retention == 0 {
		m.retention = DefaultRetention
	}
	if m.refresh == 0 {
		m.refresh = DefaultRefresh
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.appRoleMount == "" {
		m.appRoleMount = DefaultAppRoleMount
	}
	var problems []string
	if m.retention < 0 {
		problems = append(problems, "negative retention")
	}
	if m.roleID == "" && cfg.Token == "" {
		problems = append(problems, "no credentials: set a token (VAULT_TOKEN) or an AppRole role_id and secret_id")
	}
	if m.roleID != "" && m.secretID == "" {
		problems = append(problems, "AppRole role_id without secret_id")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("vaultkeys: %s", strings.Join(problems, "; "))
	}
	if m.roleID != "" {
		if err := m.login(ctx); err != nil {
			return nil, err
		}
		return m, nil
	}
	client.SetToken(cfg.Token)
	if _, err := client.Auth().Token().LookupSelfWithContext(ctx); err != nil {
		return nil, wrap("check token", err)
	}
	return m, nil
}

// login exchanges the AppRole credentials for a token.
func (m *Manager) login(ctx context.Context) error {
	lc, err := m.client.Clone() // without the (possibly revoked) token
	if err != nil {
		return fmt.Errorf("vaultkeys: %w", err)
	}
	s, err := lc.Logical().WriteWithContext(ctx, "auth/"+m.appRoleMount+"/login", map[string]any{
		"role_id":   m.roleID,
		"secret_id": m.secretID,
	})
	if err != nil {
		return wrap("AppRole login", err)
	}
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		return errors.New("vaultkeys: AppRole login: no token in the response")
	}
	m.client.SetToken(s.Auth.ClientToken)
	return nil
}

// call runs fn; under AppRole, when Vault answers 403 (token expired or
// revoked) it logs in again and retries once.
func (m *Manager) call(ctx context.Context, fn func(*api.Logical) (*api.Secret, error)) (*api.Secret, error) {
	token := m.client.Token()
	s, err := fn(m.client.Logical())
	var re *api.ResponseError
	if err == nil || m.roleID == "" || !errors.As(err, &re) || re.StatusCode != http.StatusForbidden {
		return s, err
	}
	m.loginMu.Lock()
	if m.client.Token() == token { // nobody logged in meanwhile
		if lerr := m.login(ctx); lerr != nil {
			m.loginMu.Unlock()
			return nil, lerr
		}
	}
	m.loginMu.Unlock()
	return fn(m.client.Logical())
}

// wrap turns a Vault client error into one that says what failed; transport
// failures, 5xx (including a sealed Vault) and 429 also match
// keys.ErrUnavailable. ResponseError texts hold the URL and Vault's message,
// never the token.
func wrap(op string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("vaultkeys: %s: %w", op, err)
	}
	var re *api.ResponseError
	if errors.As(err, &re) && re.StatusCode < 500 && re.StatusCode != http.StatusTooManyRequests {
		return fmt.Errorf("vaultkeys: %s: %w", op, err)
	}
	return fmt.Errorf("vaultkeys: %s: %w: %w", op, keys.ErrUnavailable, err)
}

func (m *Manager) keyName(ring string) string { return m.prefix + ring }
func (m *Manager) keyPath(ring string) string { return m.mount + "/keys/" + m.keyName(ring) }

// KeyID returns the kid of a ring's key version: "<ring>-v<version>". The
// ring is what precedes the last "-v", so kids of different rings differ.
func KeyID(ring string, version int) string { return ring + "-v" + strconv.Itoa(version) }

func (m *Manager) cache(ring string) *ringCache {
	m.mu.Lock()
	defer m.mu.Unlock()
	rc := m.rings[ring]
	if rc == nil {
		rc = &ringCache{}
		m.rings[ring] = rc
	}
	return rc
}

// read fetches a ring's key metadata from Vault; nil means no such key.
func (m *Manager) read(ctx context.Context, ring string) (*keyInfo, error) {
	s, err := m.call(ctx, func(l *api.Logical) (*api.Secret, error) { return l.ReadWithContext(ctx, m.keyPath(ring)) })
	if err != nil {
		return nil, wrap("read key "+m.keyName(ring), err)
	}
	if s == nil || s.Data == nil {
		return nil, nil
	}
	info, err := parseKeyInfo(s.Data)
	if err != nil {
		return nil, fmt.Errorf("vaultkeys: key %s: %w", m.keyName(ring), err)
	}
	return info, nil
}

// current returns the cached metadata of ring, re-read when older than the
// refresh interval or when force. rc.mu is held.
func (m *Manager) current(ctx context.Context, ring string, rc *ringCache, force bool) (*keyInfo, error) {
	if !force && rc.info != nil && time.Since(rc.fetched) < m.refresh {
		return rc.info, nil
	}
	info, err := m.read(ctx, ring)
	if err != nil {
		return nil, err
	}
	rc.info, rc.fetched = info, time.Now()
	return info, nil
}

// Active implements keys.Manager. Creating a transit key is idempotent in
// Vault, so concurrent first calls (in any process) end with one key.
func (m *Manager) Active(ctx context.Context, ring string, alg keys.Alg) (keys.Key, error) {
	if err := check(ring, alg); err != nil {
		return nil, err
	}
	rc := m.cache(ring)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	info, err := m.current(ctx, ring, rc, false)
	if err != nil {
		return nil, err
	}
	if info == nil {
		if info, err = m.create(ctx, ring, alg, rc); err != nil {
			return nil, err
		}
	}
	return m.activeKey(ring, alg, info)
}

// Rotate implements keys.Manager through transit's rotate; a missing ring
// is created with its first version.
func (m *Manager) Rotate(ctx context.Context, ring string, alg keys.Alg) (keys.Key, error) {
	if err := check(ring, alg); err != nil {
		return nil, err
	}
	rc := m.cache(ring)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	info, err := m.current(ctx, ring, rc, true)
	if err != nil {
		return nil, err
	}
	if info == nil {
		if info, err = m.create(ctx, ring, alg, rc); err != nil {
			return nil, err
		}
		return m.activeKey(ring, alg, info)
	}
	if info.alg != alg {
		return nil, fmt.Errorf("%w: ring %q holds %s keys, not %s", keys.ErrUnsupportedAlg, ring, info.alg, alg)
	}
	_, err = m.call(ctx, func(l *api.Logical) (*api.Secret, error) {
		return l.WriteWithContext(ctx, m.keyPath(ring)+"/rotate", nil)
	})
	if err != nil {
		return nil, wrap("rotate key "+m.keyName(ring), err)
	}
	if info, err = m.current(ctx, ring, rc, true); err != nil {
		return nil, err
	}
	if info == nil {
		return nil, fmt.Errorf("vaultkeys: key %s vanished during rotation", m.keyName(ring))
	}
	return m.activeKey(ring, alg, info)
}

func (m *Manager) create(ctx context.Context, ring string, alg keys.Alg, rc *ringCache) (*keyInfo, error) {
	_, err := m.call(ctx, func(l *api.Logical) (*api.Secret, error) {
		return l.WriteWithContext(ctx, m.keyPath(ring), map[string]any{"type": vaultType(alg)})
	})
	if err != nil {
		return nil, wrap("create key "+m.keyName(ring), err)
	}
	info, err := m.current(ctx, ring, rc, true)
	if err != nil {
		return nil, err
	}
	if info == nil {
		return nil, fmt.Errorf("vaultkeys: key %s missing right after creation", m.keyName(ring))
	}
	return info, nil
}

func (m *Manager) activeKey(ring string, alg keys.Alg, info *keyInfo) (keys.Key, error) {
	if info.alg != alg {
		return nil, fmt.Errorf("%w: ring %q holds %s keys, not %s", keys.ErrUnsupportedAlg, ring, info.alg, alg)
	}
	v, ok := info.versions[info.latest]
	if !ok {
		return nil, fmt.Errorf("vaultkeys: key %s: latest version %d has no public key", m.keyName(ring), info.latest)
	}
	return &vaultKey{m: m, ring: ring, version: info.latest, alg: alg, pub: v.pub}, nil
}

// Verification implements keys.Manager. Version v's retirement time is the
// creation time of the next version.
func (m *Manager) Verification(ctx context.Context, ring string) ([]keys.PublicKey, error) {
	if !keys.ValidRing(ring) {
		return nil, fmt.Errorf("%w: %q", keys.ErrBadName, ring)
	}
	rc := m.cache(ring)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	info, err := m.current(ctx, ring, rc, rc.info == nil)
	if err != nil {
		if rc.info == nil || !errors.Is(err, keys.ErrUnavailable) {
			return nil, err
		}
		info = rc.info // Vault unreachable: publish what we last saw
	}
	if info == nil {
		return nil, nil
	}
	versions := make([]int, 0, len(info.versions))
	for v := range info.versions {
		if v <= info.latest {
			versions = append(versions, v)
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(versions)))
	now := m.now()
	retention := m.retention
	if d, ok := m.ringRet[ring]; ok {
		retention = d
	}
	var out []keys.PublicKey
	for i, v := range versions {
		kv := info.versions[v]
		p := keys.PublicKey{ID: KeyID(ring, v), Alg: info.alg, Key: kv.pub, Created: kv.created}
		if i > 0 {
			p.Retired = info.versions[versions[i-1]].created
			if now.Sub(p.Retired) >= retention {
				continue
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// Rings implements keys.Manager: the transit keys under the prefix whose
// remainder is a valid ring name.
func (m *Manager) Rings(ctx context.Context) ([]string, error) {
	s, err := m.call(ctx, func(l *api.Logical) (*api.Secret, error) { return l.ListWithContext(ctx, m.mount+"/keys") })
	if err != nil {
		return nil, wrap("list keys", err)
	}
	if s == nil || s.Data == nil {
		return nil, nil
	}
	raw, _ := s.Data["keys"].([]any)
	var out []string
	for _, k := range raw {
		name, _ := k.(string)
		if ring, ok := strings.CutPrefix(name, m.prefix); ok && keys.ValidRing(ring) {
			out = append(out, ring)
		}
	}
	sort.Strings(out)
	return out, nil
}

func check(ring string, alg keys.Alg) error {
	if !keys.ValidRing(ring) {
		return fmt.Errorf("%w: %q", keys.ErrBadName, ring)
	}
	if !alg.Valid() {
		return fmt.Errorf("%w: %q", keys.ErrUnsupportedAlg, alg)
	}
	return nil
}

// vaultType maps a JWS algorithm to a transit key type.
func vaultType(alg keys.Alg) string {
	switch alg {
	case keys.ES256:
		return "ecdsa-p256"
	case keys.EdDSA:
		return "ed25519"
	case keys.RS256:
		return "rsa-2048"
	}
	return ""
}

// parseKeyInfo reads transit's "read key" response
// (GET /transit/keys/:name).
func parseKeyInfo(data map[string]any) (*keyInfo, error) {
	b, err := json.Marshal(data)
	if err != nil {
		return nil, err
	}
	var r struct {
		Type          string                     `json:"type"`
		LatestVersion int                        `json:"latest_version"`
		Keys          map[string]json.RawMessage `json:"keys"` // for symmetric types: version → Unix time
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("unexpected response: %w", err)
	}
	info := &keyInfo{latest: r.LatestVersion, versions: map[int]keyVersion{}}
	switch r.Type {
	case "ecdsa-p256":
		info.alg = keys.ES256
	case "ed25519":
		info.alg = keys.EdDSA
	case "rsa-2048":
		info.alg = keys.RS256
	default:
		return nil, fmt.Errorf("%w: transit key type %q", keys.ErrUnsupportedAlg, r.Type)
	}
	for vs, raw := range r.Keys {
		v, err := strconv.Atoi(vs)
		if err != nil || v < 1 {
			return nil, fmt.Errorf("unexpected key version %q", vs)
		}
		var k struct {
			PublicKey    string    `json:"public_key"`
			CreationTime time.Time `json:"creation_time"`
		}
		if err := json.Unmarshal(raw, &k); err != nil {
			return nil, fmt.Errorf("version %d: unexpected response: %w", v, err)
		}
		pub, err := parsePublic(info.alg, k.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("version %d: %w", v, err)
		}
		info.versions[v] = keyVersion{pub: pub, created: k.CreationTime}
	}
	if _, ok := info.versions[info.latest]; !ok {
		return nil, fmt.Errorf("latest version %d missing from the key's versions", info.latest)
	}
	return info, nil
}

// parsePublic decodes a transit public key: PEM (PKIX) for ECDSA and RSA,
// base64 of the 32 raw bytes for Ed25519.
func parsePublic(alg keys.Alg, s string) (crypto.PublicKey, error) {
	if alg == keys.EdDSA {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b) != ed25519.PublicKeySize {
			return nil, errors.New("malformed Ed25519 public key")
		}
		return ed25519.PublicKey(b), nil
	}
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return nil, errors.New("public key is not PEM")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		if alg == keys.ES256 && p.Curve == elliptic.P256() {
			return p, nil
		}
	case *rsa.PublicKey:
		if alg == keys.RS256 && p.N.BitLen() == 2048 {
			return p, nil
		}
	}
	return nil, fmt.Errorf("public key %T does not fit %s", pub, alg)
}
