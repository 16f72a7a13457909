package consent

import (
	"hash/maphash"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// cacheShards is the number of independently locked parts of the cache.
const cacheShards = 256

// proj is what Decide needs of a record, kept small: a cache of a million
// entries holds about 200 MB. The zero proj says there is no record;
// unknown (seq -1) says nothing (see cache).
type proj struct {
	id             string
	seq            int64
	state          State
	purposeVersion int32
	notice         string
	categories     []string // shared between entries (see intern)
	expires        int64    // Unix µs, 0 for none
}

// unknown is the cache's tombstone: the record changed since it was
// cached, so only the store knows its state.
var unknown = proj{seq: -1}

func projOf(r Record) proj {
	if r.Seq == 0 {
		return proj{}
	}
	var exp int64
	if !r.Expires.IsZero() {
		exp = r.Expires.UnixMicro()
	}
	return proj{id: r.ID, seq: r.Seq, state: State(internString(string(r.State))), purposeVersion: int32(r.PurposeVersion),
		notice: internString(r.NoticeVersion), categories: intern(r.Categories), expires: exp}
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

// internedStrings holds one copy of each string of few values that every
// projection carries — states, notice versions, and for a preload the
// purposes and controllers of keys — so that a complete cache of
// millions of records does not hold millions of copies of "given".
var internedStrings sync.Map // string → string

// internString returns the one copy of s. Only for strings of a small,
// bounded set of values: the copies are never freed.
func internString(s string) string {
	if v, ok := internedStrings.Load(s); ok {
		return v.(string)
	}
	v, _ := internedStrings.LoadOrStore(s, strings.Clone(s))
	return v.(string)
}

// cache holds record projections of one replica, sharded by subject. Every
// shard has an epoch that each invalidation bumps: a fill that read the
// database before an invalidation of its shard is dropped, so a fill can
// never put back a state older than an invalidation (see fill).
//
// A cache is complete when it was loaded with every record of the ledger
// (Config.Preload): then a key it does not hold has no record. To keep
// that true, invalidating a key of a complete cache leaves the tombstone
// unknown, never a hole, and a complete cache never evicts. Clearing ends
// completeness for good. The flag is read under the shard's lock, after
// clear has turned it off and before clear takes that lock, so a lookup
// never takes the hole left by a clear for "no record".
type cache struct {
	seed     maphash.Seed
	perShard int
	complete atomic.Bool
	shards   [cacheShards]shard
}

type shard struct {
	mu    sync.RWMutex
	epoch uint64
	m     map[Key]proj
	_     [32]byte // keeps shards on separate cache lines
}

// newCache returns a cache of at most size entries; size 0 means no
// bound, as a complete cache needs.
func newCache(size int) *cache {
	c := &cache{seed: maphash.MakeSeed(), perShard: max(1, size/cacheShards)}
	if size == 0 {
		c.perShard = math.MaxInt
	}
	for i := range c.shards {
		c.shards[i].m = make(map[Key]proj)
	}
	return c
}

func (c *cache) shard(k Key) *shard {
	return &c.shards[maphash.String(c.seed, k.Subject)%cacheShards]
}

// get returns what the cache knows of k; ok is false when it knows
// nothing: k was invalidated, or it is not cached and the cache is not
// complete. In a complete cache a key not held is the zero proj, no
// record.
func (c *cache) get(k Key) (p proj, ok bool) {
	s := c.shard(k)
	s.mu.RLock()
	p, held := s.m[k]
	complete := c.complete.Load()
	s.mu.RUnlock()
	switch {
	case held:
		return p, p.seq >= 0
	case complete:
		return proj{}, true
	}
	return proj{}, false
}

// load stores p for k unconditionally: only for a preload, while nothing
// else uses the cache.
func (c *cache) load(k Key, p proj) {
	s := c.shard(k)
	s.mu.Lock()
	s.m[k] = p
	s.mu.Unlock()
}

// setComplete declares the cache complete: it holds every record. Only
// after a preload, while nothing else uses the cache.
func (c *cache) setComplete() { c.complete.Store(true) }

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
// read. A full shard drops an entry at random (map order) first; a
// complete cache never does.
func (c *cache) fill(k Key, epoch uint64, p proj) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.epoch != epoch {
		return
	}
	if _, ok := s.m[k]; !ok && len(s.m) >= c.perShard && !c.complete.Load() {
		for old := range s.m {
			delete(s.m, old)
			break
		}
	}
	s.m[k] = p
}

// invalidate forgets what the cache knew of k — dropping it, or in a
// complete cache leaving the tombstone unknown — and bumps its shard's
// epoch.
func (c *cache) invalidate(k Key) {
	s := c.shard(k)
	s.mu.Lock()
	if c.complete.Load() {
		s.m[k] = unknown
	} else {
		delete(s.m, k)
	}
	s.epoch++
	s.mu.Unlock()
}

// clear drops every entry and bumps every epoch; the cache is no longer
// complete. It reports whether it was.
func (c *cache) clear() (wasComplete bool) {
	// Off before any shard is emptied (see cache).
	wasComplete = c.complete.Swap(false)
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		s.m = make(map[Key]proj)
		s.epoch++
		s.mu.Unlock()
	}
	return wasComplete
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
