// Package codecache owns the in-memory caches of code the runtime makes
// from module bytes: Prepared, the modules prepared for compiling (checked
// against the module budget, tables capped, data segments coalesced,
// instrumented for interruption) by the digest of their file, and Kept,
// the compiled modules of retired processor versions held for a later
// version of the same file. Loads and drains use them, never a request.
// It must not know processors, snapshots or requests: the runtime decides
// what to keep and when, the caches only bound and evict. The compilation
// cache on disk is wazero's, not this package's.
package codecache

import (
	"container/list"
	"errors"
	"fmt"
	"sync"

	"github.com/empirefederation/neuron/internal/interrupt"
	"github.com/empirefederation/neuron/internal/wasmbound"
	"github.com/empirefederation/neuron/internal/wasmdata"
)

// PreparedBytes bounds the prepared modules a Runtime keeps in memory by
// default: a few versions of several processors (the Go data processor is
// 4.2 MB).
const PreparedBytes = 64 << 20

// Prepared is a least-recently-used map from a module's digest (the
// sha256 of its file) to the code the runtime compiles for it (see
// prepareCode), bounded by the bytes it holds. Preparing is a pure
// function of the bytes; a Runtime has its own unless its options give it
// one to share. See docs/design.md, "Why cache instrumented modules, and
// in memory?". Its methods are safe for concurrent use.
type Prepared struct {
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

// NewPrepared returns an empty cache that holds at most limit bytes of
// prepared code.
func NewPrepared(limit int) *Prepared {
	return &Prepared{limit: limit, order: list.New(), byKey: map[string]*list.Element{}}
}

// Code returns the code to compile for raw, whose digest is digest, and
// whether it is instrumented for interruption, or why the neuron refuses
// to compile it: what prepareCode makes of raw, reusing an earlier result
// for the same digest. Two calls for the same new digest may both prepare
// it; the results are identical. A refusal is not kept: it costs one read
// of the module to find again, and the runtime remembers the files it
// rejected.
func (c *Prepared) Code(digest string, raw []byte) ([]byte, bool, error) {
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

// Len returns how many modules c holds.
func (c *Prepared) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byKey)
}

func (c *Prepared) lookup(digest string) *preparedEntry {
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
func (c *Prepared) put(e *preparedEntry) {
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
