package runtime

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero"

	"github.com/empirefederation/neuron/internal/codecache"
	"github.com/empirefederation/neuron/internal/guestmem"
)

// services are what a processor version needs of the runtime that loads
// it, and nothing of the routing, the swaps or the request path: the
// options and logger, the compilation cache and the kept and prepared
// modules, the guest-memory allocator, the metrics and the event sink,
// the run-time configuration, and the record of every NAME@VERSION's
// counters. A Runtime embeds its services; each processor holds a
// pointer to them.
type services struct {
	opts    Options
	log     *slog.Logger
	cache   wazero.CompilationCache
	metrics *metrics
	// dyn is the run-time configuration; see SetDynamic.
	dyn atomic.Pointer[dynamic]
	// bg ends at Close; drains run under it, and a code is kept for a
	// later version only while it has not ended.
	bg context.Context

	// wazeroOpen counts the wazero runtimes that processors own (loaded
	// or draining), so that tests can prove a swap closes what it
	// replaced; kept holds those of versions that closed cleanly, for a
	// later version of the same file to take over (see code.go).
	wazeroOpen atomic.Int64
	kept       *codecache.Kept[codeKey, *code]
	// prepared are the modules prepared for compiling: see
	// Options.Prepared.
	prepared *codecache.Prepared

	// mem allocates and counts the guest memories of rt's instances, and
	// only of them: see guestmem.Allocator.
	mem guestmem.Allocator

	// versions keeps each NAME@VERSION's traffic and custom counters and
	// instance numbering across loads, for the versions open and those
	// retired in retiredVersions (oldest first, at most
	// MaxRetiredVersions); epochs numbers the states created. Taken at
	// load, close and by Traffic, never per request.
	versionsMu      sync.Mutex
	versions        map[string]*versionState
	retiredVersions []*versionState
	epochs          uint64
}
