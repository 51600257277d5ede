// Package processor is one loaded version of a processor (Version) and
// what it is made of: its code (its own wazero runtime, the compiled
// module, the host module bound to it), its pool of instances (Instance),
// its self-test, its rate-limited logs, its custom counters and events
// within their caps, and the configuration it reads (Config, prepared from
// a Dynamic). Services are what a version needs of the runtime that opens
// it, Records what the runtime keeps of each NAME@VERSION across loads
// (Traffic).
//
// It owns a version from Open to Close. It must not touch the routing,
// the request path (internal/route) or the swaps (package runtime): it
// does not know which version serves, nor when one is retired; the runtime
// decides that and calls Close.
package processor
