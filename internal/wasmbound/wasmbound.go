// Package wasmbound refuses a Wasm module whose shape would make compiling
// or instantiating it cost the host more than a budget, and caps its tables.
//
// wazero's CompileModule cannot be interrupted, and its time and memory grow
// with a module's functions, code and locals, and faster than linearly with
// the blocks and branches of each function: an 18 MB module of 3 million
// functions took 25 s and 1.5 GB to compile, one function of 26,000 ifs
// (128 KiB) two minutes. It also sizes slices by the counts a module
// declares before reading what they count, so that 20 bytes claiming 2^32
// entries make it allocate gigabytes. Bound reads every count and size and
// every instruction before anything is compiled, refuses counts that do
// not fit in the bytes that follow them, and holds the totals to a Budget.
//
// wazero keeps a table's elements on the Go heap, 8 bytes each, and
// table.grow appends to them: one call with a huge count allocated 2 GiB.
// Bound sets every table's maximum so that all the tables of one instance
// hold at most Budget.TableElements; past it table.grow returns -1, as the
// Wasm specification allows. See docs/design.md, "What can a processor make
// the host spend?".
//
// It judges shape only and changes nothing but the tables' maximums: it
// neither compiles nor validates a module (internal/codecache calls Bound
// first, then wazero validates), and it imports only wasmbin and the
// standard library, never wazero, whose costs it exists to bound.
package wasmbound

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/empirefederation/neuron/internal/wasmbin"
)

// Budget bounds the shape of a module the host compiles and instantiates.
// DefaultBudget gives the neuron's bounds and what they cost.
type Budget struct {
	// Functions bounds the functions of a module, imported and defined.
	Functions uint64
	// CodeBytes bounds the code section: all function bodies together.
	CodeBytes uint64
	// BodyBytes bounds one function body: the compiler holds all of a
	// function at once.
	BodyBytes uint64
	// FunctionBranches bounds the instructions that start a block or
	// branch (block, loop, if, else, br, br_if, br_table) in one function:
	// each makes a basic block, and the compiler's time grows with the
	// square of their number in a function, or faster.
	FunctionBranches uint64
	// Branches bounds those instructions in the whole module: even in
	// small functions, each costs the compiler microseconds.
	Branches uint64
	// BranchSquares bounds the sum over the functions of the square of
	// their blocks and branches, so that many functions each under
	// FunctionBranches cannot add up to minutes.
	BranchSquares uint64
	// Locals bounds the locals one function declares. Five bytes declare
	// 2^32 locals, for each of which the compiler allocates.
	Locals uint64
	// Globals bounds the globals of a module, imported and defined: each
	// instance holds each of them on the Go heap.
	Globals uint64
	// Entries bounds each other vector of a module: its types, imports,
	// tables, memories, exports, tags, element and data segments, the
	// elements of all element segments, and the function and local names
	// of its name section.
	Entries uint64
	// TableElements bounds the elements of all the tables of one instance
	// together, at their maximum: wazero holds them on the Go heap, 8
	// bytes each. A module whose tables start with more is refused.
	TableElements uint64
}

// DefaultBudget is the neuron's budget. The largest processor the
// repository ships, the Go data processor (3.8 MB), has 2,356 functions, a
// 2.3 MB code section whose largest body is 29 KB, 113,280 blocks and
// branches, at most 1,286 in a function, whose squares sum to 2^24.2, at most
// 20 locals in a function, 8 globals, 40,850 data segments and one table
// of 6,452 elements; it compiles in about a second and 65 MB. Each bound
// leaves it room many times over; docs/design.md, "Why is compilation
// bounded?", gives what a module at each bound costs to compile.
// TableElements is 2 MiB of host memory per instance.
var DefaultBudget = Budget{
	Functions:        1 << 17,
	CodeBytes:        32 << 20,
	BodyBytes:        1 << 20,
	FunctionBranches: 8192,
	Branches:         1 << 20,
	BranchSquares:    1 << 27,
	Locals:           10_000,
	Globals:          1 << 14,
	Entries:          1 << 20,
	TableElements:    1 << 18,
}

// ErrMalformed is a module whose sections, counts or sizes do not parse:
// no runtime would compile it.
var ErrMalformed = errors.New("malformed module")

// LimitError is a module beyond a bound of its Budget.
type LimitError struct {
	// What was counted, in the plural: "functions", "table elements".
	What string
	// Have is the module's count; Limit the budget's.
	Have, Limit uint64
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("the module has %d %s; the neuron allows at most %d", e.Have, e.What, e.Limit)
}

var sectionNames = [...]string{"custom", "type", "import", "function", "table", "memory", "global",
	"export", "start", "element", "code", "data", "data count", "tag"}

// Bound checks the module bin against b and returns it with the maximum of
// each table it defines lowered to its share of b.TableElements (bin itself
// when none needed lowering). The error is ErrMalformed, wrapped with where,
// when bin does not parse, and a *LimitError when it is beyond b or
// imports a table (the host provides none, and would not see its size).
func Bound(bin []byte, b Budget) ([]byte, error) {
	if len(bin) < 8 || string(bin[:4]) != "\x00asm" {
		return nil, fmt.Errorf("%w: no \\0asm header", ErrMalformed)
	}
	s := shape{budget: b}
	r := reader{wasmbin.Reader{B: bin[8:]}}
	tables := -1 // offset in bin of the table section's header
	for !r.Done() {
		at := len(bin) - len(r.B)
		id, body := r.Section()
		if r.Err != nil {
			return nil, fmt.Errorf("%w: section at byte %d: %v (is the file complete?)", ErrMalformed, at, r.Err)
		}
		if id == wasmbin.SecTable {
			tables = at
		}
		if err := s.section(id, body); err != nil {
			var le *LimitError
			if errors.As(err, &le) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %s section at byte %d: %v", ErrMalformed, sectionName(id), at, err)
		}
	}
	if err := s.totals(); err != nil {
		return nil, err
	}
	if tables < 0 {
		return bin, nil
	}
	return capTables(bin, tables, b.TableElements)
}

func sectionName(id byte) string {
	if int(id) < len(sectionNames) {
		return sectionNames[id]
	}
	return fmt.Sprintf("unknown (id %d)", id)
}

// capTables returns bin with the table section at offset at rewritten so
// that each table's maximum is at most limit divided by the number of
// tables, or bin when every table had such a maximum already.
func capTables(bin []byte, at int, limit uint64) ([]byte, error) {
	r := reader{wasmbin.Reader{B: bin[at+1:]}}
	size := r.U32()
	start := len(bin) - len(r.B)
	end := start + int(size)
	r.B = bin[start:end]
	n := r.Count()
	if n == 0 {
		return bin, nil
	}
	share := limit / uint64(n)
	body := binary.AppendUvarint(make([]byte, 0, int(size)+10*int(n)), uint64(n))
	changed := false
	for i := range n {
		from := end - len(r.B)
		withInit := len(r.B) > 0 && r.B[0] == 0x40
		if withInit {
			r.Take(2)
		}
		r.ValType()
		head := bin[from : end-len(r.B)]
		flags, min, max := r.limits()
		if r.Err != nil {
			return nil, fmt.Errorf("%w: table %d: %v", ErrMalformed, i, r.Err)
		}
		if flags > 1 {
			return nil, fmt.Errorf("%w: table %d: limits flags %#x", ErrMalformed, i, flags)
		}
		if min > share {
			what := fmt.Sprintf("elements at the start of table %d", i)
			if n > 1 {
				what += fmt.Sprintf(" (its %d tables share %d elements)", n, limit)
			}
			return nil, &LimitError{What: what, Have: min, Limit: share}
		}
		if flags == 0 || max > share {
			max, changed = share, true
		}
		body = append(body, head...)
		body = append(body, 0x01)
		body = binary.AppendUvarint(body, min)
		body = binary.AppendUvarint(body, max)
		if withInit {
			from := end - len(r.B)
			r.expr()
			body = append(body, bin[from:end-len(r.B)]...)
		}
	}
	if len(r.B) > 0 {
		return nil, fmt.Errorf("%w: table section: bytes after the last table", ErrMalformed)
	}
	if !changed {
		return bin, nil
	}
	out := make([]byte, 0, len(bin)+len(body)-int(size))
	out = append(out, bin[:at]...)
	out = append(out, wasmbin.SecTable)
	out = binary.AppendUvarint(out, uint64(len(body)))
	out = append(out, body...)
	return append(out, bin[end:]...), nil
}
