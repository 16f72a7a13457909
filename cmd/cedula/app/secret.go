package app

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/config"
)

// loadSecret returns the server secret (pairwise subjects, opaque token
// encryption): from CEDULA_SECRET (base64, at least 32 bytes) or from the
// 0600 file DataDir/secret, generated on first start. Replicas must share it.
func loadSecret(dataDir string, getenv func(string) string) ([]byte, error) {
	if v := getenv("CEDULA_SECRET"); v != "" {
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
		if err != nil || len(b) < 32 {
			return nil, errors.New("CEDULA_SECRET must be base64 of at least 32 bytes")
		}
		return b, nil
	}
	path := filepath.Join(dataDir, "secret")
	if b, err := os.ReadFile(path); err == nil {
		s, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(s) < 32 {
			return nil, fmt.Errorf("%s is not base64 of at least 32 bytes", path)
		}
		return s, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	s := make([]byte, 32)
	if _, err := rand.Read(s); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		// Another replica won the race: use its secret.
		return loadSecret(dataDir, func(string) string { return "" })
	} else if err != nil {
		return nil, err
	}
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(s) + "\n"); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	return s, f.Close()
}

// Pseudonyms returns the citizens' audit pseudonyms under the server
// secret that serve uses.
func Pseudonyms(cfg config.Config) (*audit.Pseudonyms, error) {
	secret, err := loadSecret(cfg.DataDir, os.Getenv)
	if err != nil {
		return nil, err
	}
	return audit.NewPseudonyms(secret), nil
}

// Secret returns the server secret the configuration gives (CEDULA_SECRET,
// else the file data_dir/secret, created when missing), as the server
// loads it: for tools that compute what the server would, such as pairwise
// subjects and audit pseudonyms (cedula bench seed).
func Secret(cfg config.Config) ([]byte, error) { return loadSecret(cfg.DataDir, os.Getenv) }
