package audit_test

import (
	"context"
	"fmt"
	"sync"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/cedula/cedula/audit"
)

// memLog is an in-memory audit.Reader and audit.Checkpoints for the
// domain's tests: leaves in a slice, tlog stored hashes in a slice indexed
// by their storage index. Tests may change hashes to play a tampered store.
type memLog struct {
	mu          sync.Mutex
	leaves      [][]byte
	hashes      []tlog.Hash
	checkpoints map[int64]audit.Checkpoint
}

func newMemLog() *memLog { return &memLog{checkpoints: map[int64]audit.Checkpoint{}} }

func (m *memLog) read(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(m.hashes)) {
			return nil, fmt.Errorf("stored hash %d of %d: %w", x, len(m.hashes), audit.ErrOutOfRange)
		}
		out[i] = m.hashes[x]
	}
	return out, nil
}

// add appends leaves (canonical bytes or any bytes: the tree does not care).
func (m *memLog) add(leaves ...[]byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, data := range leaves {
		hs, err := tlog.StoredHashes(int64(len(m.leaves)), data, tlog.HashReaderFunc(m.read))
		if err != nil {
			panic(err)
		}
		m.leaves = append(m.leaves, data)
		m.hashes = append(m.hashes, hs...)
	}
}

func (m *memLog) Size(context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return int64(len(m.leaves)), nil
}

func (m *memLog) Entries(_ context.Context, start, end int64) ([]audit.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if start < 0 || start > end {
		return nil, audit.ErrBadRange
	}
	if end > int64(len(m.leaves)) {
		return nil, audit.ErrOutOfRange
	}
	var out []audit.Record
	for i := start; i < end; i++ {
		out = append(out, audit.Record{Index: i, Data: m.leaves[i]})
	}
	return out, nil
}

func (m *memLog) LeafIndex(_ context.Context, leaf audit.Hash) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, d := range m.leaves {
		if audit.LeafHash(d) == leaf {
			return int64(i), nil
		}
	}
	return 0, audit.ErrNotFound
}

func (m *memLog) ReadHashes(_ context.Context, indexes []int64) ([]audit.Hash, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.read(indexes)
}

// tamper flips a bit of the stored hash with storage index x.
func (m *memLog) tamper(x int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hashes[x][0] ^= 1
}

func (m *memLog) AddCheckpoint(_ context.Context, c audit.Checkpoint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.checkpoints[c.Size]; ok {
		if old.Root != c.Root {
			return audit.ErrInconsistent
		}
		return nil
	}
	m.checkpoints[c.Size] = c
	return nil
}

func (m *memLog) LatestCheckpoint(context.Context) (audit.Checkpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	best := int64(-1)
	for s := range m.checkpoints {
		best = max(best, s)
	}
	if best < 0 {
		return audit.Checkpoint{}, audit.ErrNotFound
	}
	return m.checkpoints[best], nil
}

func (m *memLog) CheckpointAt(_ context.Context, size int64) (audit.Checkpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.checkpoints[size]
	if !ok {
		return c, audit.ErrNotFound
	}
	return c, nil
}

func (m *memLog) dropCheckpoints() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.checkpoints = map[int64]audit.Checkpoint{}
}

var (
	_ audit.Reader      = (*memLog)(nil)
	_ audit.Checkpoints = (*memLog)(nil)
)
