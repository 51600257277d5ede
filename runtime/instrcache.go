package runtime

import (
	"container/list"
	"sync"

	"github.com/empirefederation/neuron/internal/interrupt"
	"github.com/empirefederation/neuron/internal/wasmdata"
)

// instrumentCacheBytes bounds the prepared modules kept in memory: a few
// versions of several processors (the Go data processor is 4.2 MB).
const instrumentCacheBytes = 64 << 20

// instrumented is the process's cache of prepared modules, keyed by the
// sha256 of the original file. Preparing is a pure function of the bytes,
// so every Runtime of the process shares it. See
// docs/design.md, "Why cache instrumented modules?".
var instrumented = newInstrumentCache(instrumentCacheBytes)

// instrumentCache is a least-recently-used map from a module's digest to
// the code the runtime compiles for it (see prepareCode), bounded by the bytes
// it holds.
type instrumentCache struct {
	mu    sync.Mutex
	limit int
	size  int
	order *list.List // of *instrumentEntry, most recently used first
	byKey map[string]*list.Element
}

type instrumentEntry struct {
	digest        string
	code          []byte
	interruptible bool
}

func newInstrumentCache(limit int) *instrumentCache {
	return &instrumentCache{limit: limit, order: list.New(), byKey: map[string]*list.Element{}}
}

// instrument returns what prepareCode makes of raw, reusing an earlier result
// for the same digest. Two calls for the same new digest may both prepare
// it; the results are identical.
func (c *instrumentCache) instrument(digest string, raw []byte) ([]byte, bool) {
	if e := c.get(digest); e != nil {
		return e.code, e.interruptible
	}
	code, ok := prepareCode(raw)
	c.put(&instrumentEntry{digest: digest, code: code, interruptible: ok})
	return code, ok
}

// prepareCode returns the code to compile for the module raw: its data
// segments coalesced so that instances start faster (see
// internal/wasmdata), then instrumented for interruption, and true; or,
// when the instrumentation does not understand the module, only coalesced,
// and false. Bytes that are not a module are returned as they are, for the
// compiler to say what is wrong with them.
func prepareCode(raw []byte) ([]byte, bool) {
	code, err := wasmdata.Coalesce(raw)
	if err != nil {
		code = raw
	}
	instr, err := interrupt.Instrument(code)
	if err != nil {
		return code, false
	}
	return instr, true
}

func (c *instrumentCache) get(digest string) *instrumentEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[digest]
	if !ok {
		return nil
	}
	c.order.MoveToFront(e)
	return e.Value.(*instrumentEntry)
}

// put remembers e, evicting the least recently used entries beyond the
// limit. Code larger than the whole limit is not kept.
func (c *instrumentCache) put(e *instrumentEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[e.digest]; ok || len(e.code) > c.limit {
		return
	}
	c.byKey[e.digest] = c.order.PushFront(e)
	c.size += len(e.code)
	for c.size > c.limit {
		last := c.order.Back()
		e := last.Value.(*instrumentEntry)
		c.order.Remove(last)
		delete(c.byKey, e.digest)
		c.size -= len(e.code)
	}
}
