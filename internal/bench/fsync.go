package bench

import (
	"context"
	"os"
	"path/filepath"
)

// FsyncOp returns an operation that writes 512 bytes to a file in dir and
// flushes them to the disk, and a function that removes the file. Loaded
// at concurrency 1 it measures F, the bare rate of durable writes the disk
// allows, the yardstick of `cedula bench audit`.
func FsyncOp(dir string) (op func(context.Context) error, cleanup func(), err error) {
	f, err := os.CreateTemp(dir, "cedula-fsync-*")
	if err != nil {
		return nil, nil, err
	}
	buf := make([]byte, 512)
	op = func(context.Context) error {
		if _, err := f.WriteAt(buf, 0); err != nil {
			return err
		}
		return datasync(f)
	}
	cleanup = func() { f.Close(); os.Remove(filepath.Clean(f.Name())) }
	return op, cleanup, nil
}
