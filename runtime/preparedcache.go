package runtime

import (
	"container/list"
	"errors"
	"fmt"
	"sync"

	"github.com/empirefederation/neuron/internal/interrupt"
	"github.com/empirefederation/neuron/internal/wasmbound"
	"github.com/empirefederation/neuron/internal/wasmdata"
)

// preparedCacheBytes bounds the prepared modules kept in memory: a few
// versions of several processors (the Go data processor is 4.2 MB).
const preparedCacheBytes = 64 << 20

// prepared is the process's cache of prepared modules, keyed by the
// sha256 of the original file. Preparing is a pure function of the bytes,
// so every Runtime of the process shares it. See
// docs/design.md, "Why cache instrumented modules, and in memory?".
var prepared = newPreparedCache(preparedCacheBytes)

// preparedCache is a least-recently-used map from a module's digest to
// the code the runtime compiles for it (see prepareCode), bounded by the
// bytes it holds.
type preparedCache struct {
	mu    sync.Mutex
	limit int
	size  int
	order *list.List // of *preparedEntry, most recently used first
	byKey map[string]*list.Element
}

type preparedEntry struct {
	digest        string
	code          []byte
	interruptible bool
}

func newPreparedCache(limit int) *preparedCache {
	return &preparedCache{limit: limit, order: list.New(), byKey: map[string]*list.Element{}}
}

// code returns what prepareCode makes of raw, reusing an earlier result
// for the same digest. Two calls for the same new digest may both prepare
// it; the results are identical. A refusal is not kept: it costs one read
// of the module to find again, and the runtime remembers the files it
// rejected.
func (c *preparedCache) code(digest string, raw []byte) ([]byte, bool, error) {
	if e := c.lookup(digest); e != nil {
		return e.code, e.interruptible, nil
	}
	code, ok, err := prepareCode(raw)
	if err != nil {
		return nil, false, err
	}
	c.put(&preparedEntry{digest: digest, code: code, interruptible: ok})
	return code, ok, nil
}

// prepareCode returns the code to compile for the module raw, or why the
// neuron refuses to compile it. It checks raw against the module budget
// and caps its tables (see internal/wasmbound) before anything else
// spends on it, coalesces its data segments so that instances start faster
// (see internal/wasmdata), then instruments it for interruption and
// returns true; or, when the instrumentation does not understand the
// module, returns it uninstrumented and false. A module the
// instrumentation finds invalid in a way its rewrite would hide
// (interrupt.ErrInvalid) is refused: the compiler would refuse it too, and
// saying why here keeps it from ever being compiled in the slower
// uninstrumented mode.
func prepareCode(raw []byte) ([]byte, bool, error) {
	code, err := wasmbound.Bound(raw, wasmbound.DefaultBudget)
	if err != nil {
		return nil, false, budgetError(err)
	}
	if coalesced, err := wasmdata.Coalesce(code); err == nil {
		code = coalesced
	}
	instr, err := interrupt.Instrument(code)
	switch {
	case err == nil:
		return instr, true, nil
	case errors.Is(err, interrupt.ErrInvalid):
		return nil, false, err
	}
	return code, false, nil
}

// budgetError says what to do about a module wasmbound refused.
func budgetError(err error) error {
	if errors.Is(err, wasmbound.ErrMalformed) {
		return err
	}
	return fmt.Errorf("refused before compiling: %w: this bound is the neuron's module budget, the same for every processor (see docs/design.md, \"What can a processor make the host spend?\"); make the processor smaller, or split it", err)
}

func (c *preparedCache) lookup(digest string) *preparedEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[digest]
	if !ok {
		return nil
	}
	c.order.MoveToFront(e)
	return e.Value.(*preparedEntry)
}

// put remembers e, evicting the least recently used entries beyond the
// limit. Code larger than the whole limit is not kept.
func (c *preparedCache) put(e *preparedEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[e.digest]; ok || len(e.code) > c.limit {
		return
	}
	c.byKey[e.digest] = c.order.PushFront(e)
	c.size += len(e.code)
	for c.size > c.limit {
		last := c.order.Back()
		e := last.Value.(*preparedEntry)
		c.order.Remove(last)
		delete(c.byKey, e.digest)
		c.size -= len(e.code)
	}
}
