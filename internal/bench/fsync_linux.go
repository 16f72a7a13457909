package bench

import (
	"os"
	"syscall"
)

// datasync flushes f's data to the disk (fdatasync(2)), as database WAL
// writes do.
func datasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
