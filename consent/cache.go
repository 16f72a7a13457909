package consent

import (
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"time"
)

// cacheShards is the number of independently locked parts of the cache.
const cacheShards = 256

// proj is what Decide needs of a record, kept small: a cache of a million
// entries holds about 200 MB.
type proj struct {
	id             string
	seq            int64
	state          State
	purposeVersion int32
	notice         string
	categories     []string // shared between entries (see intern)
	expires        int64    // Unix µs, 0 for none
}

func projOf(r Record) proj {
	if r.Seq == 0 {
		return proj{}
	}
	var exp int64
	if !r.Expires.IsZero() {
		exp = r.Expires.UnixMicro()
	}
	return proj{id: r.ID, seq: r.Seq, state: r.State, purposeVersion: int32(r.PurposeVersion),
		notice: r.NoticeVersion, categories: intern(r.Categories), expires: exp}
}

func (p proj) ref() Ref {
	if p.seq == 0 {
		return Ref{}
	}
	return Ref{RecordID: p.id, Seq: p.seq}
}

// inForce: given or renewed, unexpired at now, under notice.
func (p proj) inForce(now time.Time, notice string) bool {
	return p.state.InForce() && (p.expires == 0 || now.UnixMicro() < p.expires) && p.notice == notice
}

// interned holds one copy of each list of categories seen: records of a
// purpose version share their list.
var interned sync.Map // joined list → []string

func intern(cats []string) []string {
	k := strings.Join(cats, "\x00")
	if v, ok := interned.Load(k); ok {
		return v.([]string)
	}
	v, _ := interned.LoadOrStore(k, slices.Clip(slices.Clone(cats)))
	return v.([]string)
}

// cache holds record projections of one replica, sharded by subject. Every
// shard has an epoch that each invalidation bumps: a fill that read the
// database before an invalidation of its shard is dropped, so a fill can
// never put back a state older than an invalidation (see fill).
type cache struct {
	seed     maphash.Seed
	perShard int
	shards   [cacheShards]shard
}

type shard struct {
	mu    sync.RWMutex
	epoch uint64
	m     map[Key]proj
	_     [32]byte // keeps shards on separate cache lines
}

func newCache(size int) *cache {
	c := &cache{seed: maphash.MakeSeed(), perShard: max(1, size/cacheShards)}
	for i := range c.shards {
		c.shards[i].m = make(map[Key]proj)
	}
	return c
}

func (c *cache) shard(k Key) *shard {
	return &c.shards[maphash.String(c.seed, k.Subject)%cacheShards]
}

func (c *cache) get(k Key) (proj, bool) {
	s := c.shard(k)
	s.mu.RLock()
	p, ok := s.m[k]
	s.mu.RUnlock()
	return p, ok
}

// epoch returns the epoch of k's shard; take it before reading the
// database for a fill.
func (c *cache) epoch(k Key) uint64 {
	s := c.shard(k)
	s.mu.RLock()
	e := s.epoch
	s.mu.RUnlock()
	return e
}

// fill stores p for k unless k's shard was invalidated since epoch was
// read. A full shard drops an entry at random (map order) first.
func (c *cache) fill(k Key, epoch uint64, p proj) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.epoch != epoch {
		return
	}
	if _, ok := s.m[k]; !ok && len(s.m) >= c.perShard {
		for old := range s.m {
			delete(s.m, old)
			break
		}
	}
	s.m[k] = p
}

// invalidate drops k and bumps its shard's epoch.
func (c *cache) invalidate(k Key) {
	s := c.shard(k)
	s.mu.Lock()
	delete(s.m, k)
	s.epoch++
	s.mu.Unlock()
}

// clear drops every entry and bumps every epoch.
func (c *cache) clear() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		s.m = make(map[Key]proj)
		s.epoch++
		s.mu.Unlock()
	}
}

func (c *cache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
