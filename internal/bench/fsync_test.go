package bench

import (
	"context"
	"os"
	"testing"
)

func TestFsyncOp(t *testing.T) {
	dir := t.TempDir()
	op, cleanup, err := FsyncOp(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := op(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	cleanup()
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("after cleanup: %d files left, want 0", len(entries))
	}
}
