package runtime

import (
	"container/list"
	"sync"

	"github.com/empirefederation/neuron/internal/interrupt"
)

// instrumentCacheBytes bounds the instrumented modules kept in memory: a
// few versions of several processors (the Go data processor is 3.7 MB).
const instrumentCacheBytes = 64 << 20

// instrumented is the process's cache of instrumented modules, keyed by
// the sha256 of the original file. Instrumenting is a pure function of
// the bytes, so every Runtime of the process shares it. See
// docs/design.md, "Why cache instrumented modules?".
var instrumented = newInstrumentCache(instrumentCacheBytes)

// instrumentCache is a least-recently-used map from a module's digest to
// its instrumented code (nil when the instrumentation does not understand
// the module), bounded by the bytes it holds.
type instrumentCache struct {
	mu    sync.Mutex
	limit int
	size  int
	order *list.List // of *instrumentEntry, most recently used first
	byKey map[string]*list.Element
}

type instrumentEntry struct {
	digest string
	code   []byte // nil: not instrumentable, use the original
}

func newInstrumentCache(limit int) *instrumentCache {
	return &instrumentCache{limit: limit, order: list.New(), byKey: map[string]*list.Element{}}
}

// instrument returns raw instrumented for interruption and true, or raw
// and false when the instrumentation does not understand it, reusing an
// earlier result for the same digest. Two calls for the same new digest
// may both instrument it; the results are identical.
func (c *instrumentCache) instrument(digest string, raw []byte) ([]byte, bool) {
	if code, ok := c.get(digest); ok {
		if code == nil {
			return raw, false
		}
		return code, true
	}
	code, err := interrupt.Instrument(raw)
	if err != nil {
		code = nil
	}
	c.put(digest, code)
	if code == nil {
		return raw, false
	}
	return code, true
}

func (c *instrumentCache) get(digest string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[digest]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*instrumentEntry).code, true
}

// put remembers code for digest, evicting the least recently used
// entries beyond the limit. Code larger than the whole limit is not kept.
func (c *instrumentCache) put(digest string, code []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[digest]; ok || len(code) > c.limit {
		return
	}
	c.byKey[digest] = c.order.PushFront(&instrumentEntry{digest: digest, code: code})
	c.size += len(code)
	for c.size > c.limit {
		last := c.order.Back()
		e := last.Value.(*instrumentEntry)
		c.order.Remove(last)
		delete(c.byKey, e.digest)
		c.size -= len(e.code)
	}
}
