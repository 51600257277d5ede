package ratelimit

import (
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// shards splits the callers' table so that callers on different shards do
// not wait for one lock.
const shards = 16

// evictSample is how many entries a full shard looks at to choose the one
// it drops: Redis's sampled LRU, O(1) per new caller however many there
// are, where a true LRU list would cost two pointers per entry and a list
// update per request.
const evictSample = 8

// table holds the callers' buckets, at most max(maxCallers, shards) of
// them: a new caller on a full shard drops one of a sample of its
// entries, a full bucket first (dropping it changes nothing: a new one
// starts full), else the one least recently used. A caller dropped while
// its bucket was not full comes back with a full one; that is the price
// of bounded memory, and why the per-processor limit is what holds
// against many addresses.
type table struct {
	seed   maphash.Seed
	shard  [shards]tableShard
	perCap int
}

type tableShard struct {
	mu sync.Mutex
	m  map[string]*entry
}

// entry is one caller's bucket, the state whose rate it was last set to,
// and when it was last used, for eviction.
type entry struct {
	lim  *rate.Limiter
	set  *state
	used time.Time
}

func newTable(maxCallers int) *table {
	t := &table{seed: maphash.MakeSeed(), perCap: max(1, maxCallers/shards)}
	for i := range t.shard {
		t.shard[i].m = map[string]*entry{}
	}
	return t
}

// get returns the bucket of caller under s at now, made full for a new
// caller and set to s's rate for one last used under another state.
func (t *table) get(caller string, s *state, now time.Time) *rate.Limiter {
	sh := &t.shard[maphash.String(t.seed, caller)%shards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.m[caller]
	switch {
	case e == nil:
		if len(sh.m) >= t.perCap {
			sh.evict(now)
		}
		e = &entry{lim: rate.NewLimiter(rate.Limit(s.limits.Caller), s.burst), set: s}
		// A copy: caller may be a slice of the request's RemoteAddr.
		sh.m[strings.Clone(caller)] = e
	case e.set != s:
		e.lim.SetLimitAt(now, rate.Limit(s.limits.Caller))
		e.lim.SetBurstAt(now, s.burst)
		e.set = s
	}
	e.used = now
	return e.lim
}

// evict drops one entry of a full shard: the first full bucket of a sample
// of evictSample entries, else the least recently used of them. Map
// iteration starts at a random place, which makes the sample random.
func (sh *tableShard) evict(now time.Time) {
	var victim string
	var oldest time.Time
	n := 0
	for k, e := range sh.m {
		if e.lim.TokensAt(now) >= float64(e.lim.Burst()) {
			victim = k
			break
		}
		if n == 0 || e.used.Before(oldest) {
			victim, oldest = k, e.used
		}
		if n++; n == evictSample {
			break
		}
	}
	delete(sh.m, victim)
}

func (t *table) len() int {
	n := 0
	for i := range t.shard {
		sh := &t.shard[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

func (t *table) clear() {
	for i := range t.shard {
		sh := &t.shard[i]
		sh.mu.Lock()
		clear(sh.m)
		sh.mu.Unlock()
	}
}
