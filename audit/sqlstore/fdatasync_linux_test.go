package sqlstore_test

import (
	"os"
	"syscall"
)

// fdatasync flushes f's data (not its metadata, as SQLite and PostgreSQL's
// WAL writes do) to the disk.
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
