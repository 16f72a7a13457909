package vci

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/bits"
	"sync"
)

// A credential's place in a status list must reveal neither when it was
// issued nor in what order: the k-th position taken from a list is sent
// to index perm(k), a pseudo-random permutation of the list's indices
// keyed by a secret of the list (a four-round Feistel network over the
// index's two halves, HMAC-SHA256 as round function). Positions are
// taken in blocks, so that an issuance knows its places before it signs;
// a block lost in a crash leaves unused places, which look like any
// other valid one.

// permute returns the index of position pos in a list of size 4^h·… —
// size must be a power of four.
func permute(key []byte, size, pos int) int {
	half := uint(bits.TrailingZeros(uint(size)) / 2)
	mask := uint32(1)<<half - 1
	l, r := uint32(pos)>>half&mask, uint32(pos)&mask
	var buf [5]byte
	for round := byte(0); round < 4; round++ {
		buf[0] = round
		binary.BigEndian.PutUint32(buf[1:], r)
		m := hmac.New(sha256.New, key)
		m.Write(buf[:])
		f := binary.BigEndian.Uint32(m.Sum(nil)) & mask
		l, r = r, l^f
	}
	return int(l<<half | r)
}

// validListSize reports whether size is a power of four between 16 and
// 2^24.
func validListSize(size int) bool {
	return size >= 16 && size <= 1<<24 && size&(size-1) == 0 && bits.TrailingZeros(uint(size))%2 == 0
}

// placePool hands out places from reserved blocks.
type placePool struct {
	mu         sync.Mutex
	list       string
	key        []byte
	next, end  int
	bits, size int
	block      int
	reserve    func(ctx context.Context, bits, size, n int) (string, []byte, int, int, error)
}

// take returns n places, each in a list of the pool's size.
func (p *placePool) take(ctx context.Context, n int) ([]Place, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Place, 0, n)
	for len(out) < n {
		if p.next >= p.end {
			list, key, first, count, err := p.reserve(ctx, p.bits, p.size, max(p.block, n-len(out)))
			if err != nil {
				return nil, fmt.Errorf("vci: reserve status list places: %w", err)
			}
			if count <= 0 {
				return nil, fmt.Errorf("vci: the store reserved no place")
			}
			p.list, p.key, p.next, p.end = list, key, first, first+count
		}
		out = append(out, Place{List: p.list, Index: permute(p.key, p.size, p.next)})
		p.next++
	}
	return out, nil
}
