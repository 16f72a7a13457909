package backend

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/keys/localkeys"
	"github.com/cedula/cedula/internal/keys/vaultkeys"
)

// ErrBadURL is returned for a keys URL this package does not understand.
var ErrBadURL = errors.New("keys: invalid backend URL")

// Config selects and configures the backend.
type Config struct {
	// URL is "", "local", "local:PATH", "vault://HOST:PORT[/MOUNT]" or
	// "vault+https://HOST:PORT[/MOUNT]".
	URL string
	// DataDir holds the local keystore (keystore.json) and its KEK file.
	DataDir string
	// Retention is how long retired keys stay published; 0 means the
	// backend's default (24h).
	Retention time.Duration
	// RingRetention overrides Retention for the rings it names.
	RingRetention map[string]time.Duration
	// Getenv reads credentials; nil means os.Getenv.
	Getenv func(string) string
}

// Environment variables read by Open.
const (
	EnvVaultAddr         = "VAULT_ADDR"
	EnvVaultToken        = "VAULT_TOKEN"
	EnvVaultTokenFile    = "VAULT_TOKEN_FILE"
	EnvVaultRoleID       = "VAULT_ROLE_ID"
	EnvVaultRoleIDFile   = "VAULT_ROLE_ID_FILE"
	EnvVaultSecretID     = "VAULT_SECRET_ID"
	EnvVaultSecretIDFile = "VAULT_SECRET_ID_FILE"
)

// spec is a parsed keys URL.
type spec struct {
	local   bool
	path    string // local keystore file
	address string // Vault address; "" means VAULT_ADDR
	mount   string
	prefix  string
	approle string
}

func parse(raw, dataDir string) (spec, error) {
	switch {
	case raw == "" || raw == "local":
		p := localkeys.DefaultPath
		if dataDir != "" {
			p = filepath.Join(dataDir, "keystore.json")
		}
		return spec{local: true, path: p}, nil
	case strings.HasPrefix(raw, "local:"):
		p := strings.TrimPrefix(raw, "local:")
		if p == "" {
			return spec{}, fmt.Errorf("%w: %q names no file", ErrBadURL, raw)
		}
		return spec{local: true, path: p}, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return spec{}, fmt.Errorf("%w: %v", ErrBadURL, err)
	}
	var scheme string
	switch u.Scheme {
	case "vault":
		scheme = "http"
	case "vault+https":
		scheme = "https"
	default:
		return spec{}, fmt.Errorf("%w: %q: want local, local:PATH, vault:// or vault+https://", ErrBadURL, raw)
	}
	if u.User != nil {
		return spec{}, fmt.Errorf("%w: credentials do not belong in the keys URL; use %s or AppRole variables", ErrBadURL, EnvVaultToken)
	}
	s := spec{mount: strings.Trim(u.Path, "/")}
	if u.Host != "" {
		s.address = scheme + "://" + u.Host
	}
	for k, v := range u.Query() {
		switch k {
		case "prefix":
			s.prefix = v[0]
		case "approle":
			s.approle = v[0]
		default:
			return spec{}, fmt.Errorf("%w: unknown parameter %q (known: prefix, approle)", ErrBadURL, k)
		}
	}
	return s, nil
}

// Open returns the Manager cfg.URL names. For Vault it logs in (or checks
// the token) before returning.
func Open(ctx context.Context, cfg Config) (keys.Manager, error) {
	getenv := cfg.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	s, err := parse(cfg.URL, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if s.local {
		opts := []localkeys.Option{}
		if cfg.Retention > 0 {
			opts = append(opts, localkeys.WithRetention(cfg.Retention))
		}
		for ring, d := range cfg.RingRetention {
			opts = append(opts, localkeys.WithRingRetention(ring, d))
		}
		if v := getenv(localkeys.EnvKEK); v != "" {
			kek, err := localkeys.ParseKEK(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", localkeys.EnvKEK, err)
			}
			opts = append(opts, localkeys.WithKEK(kek))
		}
		return localkeys.Open(s.path, opts...)
	}

	vc := vaultkeys.Config{
		Address:       s.address,
		Mount:         s.mount,
		Prefix:        s.prefix,
		AppRoleMount:  s.approle,
		Retention:     cfg.Retention,
		RingRetention: cfg.RingRetention,
	}
	if vc.Address == "" {
		vc.Address = getenv(EnvVaultAddr)
		if vc.Address == "" {
			return nil, fmt.Errorf("%w: %q has no host and %s is not set", ErrBadURL, cfg.URL, EnvVaultAddr)
		}
	}
	var errs []error
	read := func(name, fileName string) string {
		if v := getenv(name); v != "" {
			return v
		}
		p := getenv(fileName)
		if p == "" {
			return ""
		}
		b, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", fileName, err))
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	vc.RoleID = read(EnvVaultRoleID, EnvVaultRoleIDFile)
	if vc.RoleID != "" {
		vc.SecretID = read(EnvVaultSecretID, EnvVaultSecretIDFile)
	} else {
		vc.Token = read(EnvVaultToken, EnvVaultTokenFile)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("keys: Vault credentials: %w", err)
	}
	return vaultkeys.Open(ctx, vc)
}
