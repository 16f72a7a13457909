package localkeys

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/cedula/cedula/internal/keys"
)

// fileFormat identifies the on-disk layout; a file with another value is
// refused rather than misread.
const fileFormat = "cedula-keystore/1"

// fileJSON is the keystore file.
type fileJSON struct {
	Format string               `json:"format"`
	Rings  map[string]*ringJSON `json:"rings"`
	// Wrap holds the key-wrapping rings (wrap.go); absent until first used.
	Wrap map[string]*wrapRingJSON `json:"wrap,omitempty"`
}

type ringJSON struct {
	Alg  keys.Alg  `json:"alg"`
	Keys []keyJSON `json:"keys"` // oldest first; the last one is active
}

type keyJSON struct {
	ID      string    `json:"kid"`
	Alg     keys.Alg  `json:"alg"`
	Created time.Time `json:"created"`
	Retired time.Time `json:"retired,omitzero"`
	Public  []byte    `json:"public"`  // PKIX DER
	Private []byte    `json:"private"` // nonce || AES-256-GCM(PKCS #8 DER), additional data "ring/kid"
}

// stamp identifies one version of the file as seen by stat. Every write
// renames a new file into place, so the inode changes; size and mtime
// catch the (unlikely) reuse of an inode number.
type stamp struct {
	fi    os.FileInfo
	size  int64
	mtime time.Time
}

func (s stamp) same(fi os.FileInfo) bool {
	return s.fi != nil && fi != nil && os.SameFile(s.fi, fi) && s.size == fi.Size() && s.mtime.Equal(fi.ModTime())
}

// readFile reads and decodes the keystore. A missing file is an empty
// keystore with a nil stamp.
func readFile(path string) (*fileJSON, stamp, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &fileJSON{Format: fileFormat, Rings: map[string]*ringJSON{}}, stamp{}, nil
	}
	if err != nil {
		return nil, stamp{}, err
	}
	defer f.Close()
	fi, err := f.Stat() // of the file we read, not of whatever the path names later
	if err != nil {
		return nil, stamp{}, err
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, stamp{}, err
	}
	var fj fileJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fj); err != nil {
		return nil, stamp{}, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	if fj.Format != fileFormat {
		return nil, stamp{}, fmt.Errorf("%w: %s: format %q, want %q", ErrCorrupt, path, fj.Format, fileFormat)
	}
	if fj.Rings == nil {
		fj.Rings = map[string]*ringJSON{}
	}
	return &fj, stamp{fi: fi, size: fi.Size(), mtime: fi.ModTime()}, nil
}

// writeFile replaces the keystore atomically: temporary file in the same
// folder, fsync, rename, fsync of the folder. It returns the new stamp.
func writeFile(path string, fj *fileJSON) (stamp, error) {
	b, err := json.MarshalIndent(fj, "", "  ")
	if err != nil {
		return stamp{}, err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".keystore-*.tmp") // mode 0600
	if err != nil {
		return stamp{}, err
	}
	committed := false
	defer func() {
		if !committed {
			os.Remove(tmp.Name())
		}
	}()
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return stamp{}, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return stamp{}, err
	}
	committed = true
	if err := syncDir(dir); err != nil {
		return stamp{}, err
	}
	fi, err := os.Stat(path) // we hold the lock: nobody renamed since
	if err != nil {
		return stamp{}, err
	}
	return stamp{fi: fi, size: fi.Size(), mtime: fi.ModTime()}, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// withLock runs fn holding an exclusive flock on lockPath, waiting for it
// as long as ctx allows.
func withLock(ctx context.Context, lockPath string, fn func() error) error {
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close() // closing the descriptor releases the lock
	wait := time.Millisecond
	for {
		ok, err := tryLock(f)
		if err != nil {
			return fmt.Errorf("lock %s: %w", lockPath, err)
		}
		if ok {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lock %s: %w", lockPath, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
	defer unlock(f)
	return fn()
}
