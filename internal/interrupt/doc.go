// Package interrupt rewrites a Wasm module so that the host can stop a
// running call cheaply: Instrument adds a flag (a mutable i32 global,
// exported as Global) and a check of it at every place where Wasm code can
// run forever, and moves the start function out of instantiation. It owns
// that rewrite and the checks that keep the rewrite from making an invalid
// module valid; it neither compiles nor runs modules (internal/codecache
// instruments a module before the runtime compiles it, and internal/guest
// runs it and sets the flag), and it must not change anything else in a
// module: every other byte is copied as it is, for wazero to validate. It
// imports only wasmbin and the standard library, never wazero.
//
// # Why
//
// wazero's own answer, WithCloseOnContextDone, makes compiled code leave for
// Go at every loop iteration to look for a closed module, and starts a
// goroutine per call to watch the context: measured on a Go guest (whose
// runtime is loops), a small call took 4 to 6 times longer. The check added
// here is a few instructions and a branch per iteration, with one exit to Go
// per 1024 iterations. See docs/design.md, "How is a call stopped?", and
// docs/benchmarks.md.
//
// # What is rewritten
//
// Instrument (interrupt.go) reads the module as a list of sections, then:
//
//  1. scan (check.go) counts the globals, functions and memories, imported
//     and defined, and finds the start function; sections out of order or
//     repeated are ErrInvalid, since they make the counts ambiguous.
//  2. check (check.go) refuses what the rewrite would otherwise hide (see
//     below), a module that already exports Global or StartExport, and a
//     module without a memory (ErrUnsupported: the check needs one to grow).
//  3. instrumentCode (interrupt.go) walks every function body, instruction
//     by instruction (skipImmediates in walk.go knows the immediates of each
//     instruction it supports), and inserts the check where it belongs.
//  4. Two globals are appended to the global section, both mut i32 = 0: the
//     flag, at the index right after the module's own globals, then the
//     tick. The flag is exported as Global ("neuron.interrupt").
//  5. A start section is removed and its function exported as StartExport
//     ("neuron.start"): run inside instantiation, it would run before the
//     host holds the new instance's flag, with no limit. The runtime calls
//     it right after instantiating, under the start deadline.
//
// A section the rewrite needs and the module lacks (global, export) is
// created in its place in the required order. Nothing else changes: no
// memory, table, function, type or segment is added.
//
// # Where the checks go
//
// A Wasm function runs forever only by branching back to a loop's head or
// by tail calls (plain recursion overflows the stack). So the check goes
// just before every br, br_if, br_table, br_on_null and br_on_non_null one
// of whose labels is an enclosing loop (the walk keeps the stack of
// enclosing blocks: is each a loop?), and before every return_call,
// return_call_indirect and return_call_ref. Not at loop heads: every
// function compiled by Go begins with a loop it enters on each call but
// rarely iterates, and a loop never branched back to costs nothing. The
// check, whose stack effect is nil, is
//
//	tick++
//	if tick&1023 == 0 | flag {
//		if flag { unreachable }  // the trap the host waits for
//		drop(memory.grow(0))     // a no-op that leaves compiled code for Go
//	}
//
// The host (the runtime's per-instance call context) sets the flag from
// another goroutine when a call's deadline passes or the instance must stop;
// the guest traps at its next back-edge, and the instance is discarded. The
// memory.grow 0 every 1024 iterations is there because Go cannot preempt
// compiled Wasm code: a loop that calls nothing would otherwise hold its
// thread forever, a garbage collection waiting to stop the world would wait
// for it, the goroutine that sets the flag would never run, and the whole
// process would hang.
//
// # What the guest must not reach
//
// The flag and the tick are the host's. A module that names a global it
// does not have is invalid, but the two added globals would make it valid
// and hand it the flag (clear it: no timeout stops it) or the tick (pin it:
// the process hangs at the next collection). So Instrument refuses, with
// ErrInvalid, a global index at or past the module's count anywhere one can
// appear: global.get and global.set in code (instrumentBody), every constant
// expression (global and table initializers, element and data segment
// offsets, element expressions) and exports of globals (check.go); and a
// start function that could not be one (out of range, or with parameters or
// results: an export of it would be valid). See docs/design.md, "Why can the
// instrumentation not make a module valid?".
//
// # When it does not instrument
//
// A module using instructions the walk does not know (SIMD, threads,
// exception handling, GC) or without a memory gets ErrUnsupported: the
// runtime compiles it as it is, with wazero's slower context watch, and logs
// a warning. ErrInvalid modules are refused by the runtime with the reason.
// Instrument understands the core instruction set with the sign-extension,
// saturating-conversion, bulk-memory, reference-type, tail-call,
// extended-constant and multi-memory extensions.
//
// # How the tests and fuzzers guard it
//
// Two fuzz targets hold the two properties, and their seeds (every
// hand-built module of the tests, the unsupported and malformed ones, the
// invalid cases and testdata/stealglobals.wat) and the corpus in
// testdata/fuzz run with every go test:
//
//   - FuzzInstrument (checkProperty): Instrument never panics nor changes
//     its input and returns no bytes with an error; a module wazero
//     compiles is instrumented, or refused only as unsupported or for
//     exporting one of the names; and the output compiles, with the same
//     exported functions plus StartExport when there was a start function.
//   - FuzzInstrumentKeepsInvalid (checkKeepsInvalid): a module wazero
//     refuses is still refused after what the runtime does before
//     compiling: the data coalescing of internal/wasmdata, then Instrument.
//
// To fuzz: go test -fuzz FuzzInstrument ./internal/interrupt/ (one target
// at a time). TestMutations applies checkProperty to every single-byte
// change of the small hand-built modules, TestTruncated instruments every
// prefix, and compileSafe keeps inputs that make wazero allocate gigabytes
// out of both fuzzers. Behaviour is tested on real wazero: TestStop stops
// spinning loops through the flag, TestGCWhileSpinning runs a garbage
// collection while a guest spins (in a child process killed if it hangs),
// and TestGuests runs every Go guest and example instrumented and not, and
// compares what they answer.
package interrupt
