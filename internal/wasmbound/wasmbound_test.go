package wasmbound

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/empirefederation/neuron/internal/testutil"
)

func sec(id byte, body ...byte) []byte {
	return append(binary.AppendUvarint([]byte{id}, uint64(len(body))), body...)
}

func module(sections ...[]byte) []byte {
	return bytes.Join(append([][]byte{[]byte("\x00asm\x01\x00\x00\x00")}, sections...), nil)
}

// funcs is a module of n functions of type () -> () with body (locals
// first, end included).
func funcs(n int, body ...byte) []byte {
	fns, code := binary.AppendUvarint(nil, uint64(n)), binary.AppendUvarint(nil, uint64(n))
	for range n {
		fns = append(fns, 0)
		code = append(binary.AppendUvarint(code, uint64(len(body))), body...)
	}
	return module(sec(1, 1, 0x60, 0, 0), sec(3, fns...), sec(10, code...))
}

// ifs is n times (if (i32.const 0) (then)), in a body with no locals.
func ifs(n int) []byte {
	return append(append([]byte{0}, bytes.Repeat([]byte{0x41, 0x00, 0x04, 0x40, 0x0B}, n)...), 0x0B)
}

func compiles(bin []byte) error {
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer r.Close(ctx)
	_, err := r.CompileModule(ctx, bin)
	return err
}

// TestBound_RepoProcessors: the Go processors the repository ships pass a
// budget of a quarter of DefaultBudget in every bound, so that the default
// leaves them room; their one table gets a maximum, and the result still
// compiles and is left as it is by a second Bound.
func TestBound_RepoProcessors(t *testing.T) {
	quarter := DefaultBudget
	for _, f := range []*uint64{&quarter.Functions, &quarter.CodeBytes, &quarter.BodyBytes, &quarter.FunctionBranches,
		&quarter.Branches, &quarter.BranchSquares, &quarter.Locals, &quarter.Globals, &quarter.Entries, &quarter.TableElements} {
		*f /= 4
	}
	for _, pkg := range []string{"examples/dataprocessor/v1.0.0", "examples/hello"} {
		t.Run(pkg, func(t *testing.T) {
			raw, err := os.ReadFile(testutil.BuildWasm(t, pkg))
			if err != nil {
				t.Fatal(err)
			}
			out, err := Bound(raw, quarter)
			if err != nil {
				t.Fatalf("Bound with a quarter of the default budget: %v", err)
			}
			if bytes.Equal(out, raw) {
				t.Fatal("Bound left the table without a maximum")
			}
			if again, err := Bound(out, quarter); err != nil || !bytes.Equal(again, out) {
				t.Errorf("Bound of its own result: %v, changed %v", err, !bytes.Equal(again, out))
			}
			if err := compiles(out); err != nil {
				t.Fatalf("the bounded module does not compile: %v", err)
			}
		})
	}
}

// TestBound_Tables: each defined table gets at most its share of
// TableElements as its maximum, so that table.grow past it returns -1 and
// within it grows; a smaller maximum stays.
func TestBound_Tables(t *testing.T) {
	ctx := context.Background()
	b := DefaultBudget
	b.TableElements = 1000 // 500 for each of the two tables
	out, err := Bound(testutil.Wat(t, "testdata/tables.wat"), b)
	if err != nil {
		t.Fatal(err)
	}
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer r.Close(ctx)
	mod, err := r.Instantiate(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		export string
		delta  uint32
		want   int32
	}{
		{"grow0", 491, -1}, // 10 + 491 > 500
		{"grow0", 490, 10}, // to 500
		{"grow0", 1, -1},   // past 500
		{"grow1", 96, -1},  // past its own maximum of 100
		{"grow1", 95, 5},   // to 100
		{"grow0", 1 << 30, -1},
	} {
		res, err := mod.ExportedFunction(tc.export).Call(ctx, uint64(tc.delta))
		if err != nil {
			t.Fatalf("%s(%d): %v", tc.export, tc.delta, err)
		}
		if got := int32(res[0]); got != tc.want {
			t.Errorf("%s(%d) = %d, want %d", tc.export, tc.delta, got, tc.want)
		}
	}
}

// TestBound_Errors: every bound of a Budget refuses a module one past it
// with a *LimitError naming it, and a module whose counts or sizes run
// past their bytes is ErrMalformed, without allocating for what it claims.
func TestBound_Errors(t *testing.T) {
	small := Budget{Functions: 2, CodeBytes: 100, BodyBytes: 40, FunctionBranches: 4, Branches: 6, BranchSquares: 20,
		Locals: 3, Globals: 1, Entries: 3, TableElements: 10}
	global := []byte{0x7F, 0x00, 0x41, 0x00, 0x0B} // i32 = i32.const 0
	tests := []struct {
		name string
		bin  []byte
		want string // in the error
		over bool   // a *LimitError, not ErrMalformed
	}{
		{"not a module", []byte("#!/bin/sh\n"), "no \\0asm header", false},
		{"section past the end", module(sec(1, 1, 0x60, 0, 0)[:4]), "section at byte 8", false},
		{"count past its bytes", module(sec(1, 1, 0x60, 0x99, 0x99, 0x99, 0x99, 0x01)), "type section", false},
		{"sections out of order", module(sec(3, 0), sec(1, 0)), "out of order", false},
		{"unknown section", module(sec(14, 0)), "unknown section", false},
		{"bytes after a section's entries", module(sec(1, 0, 0)), "bytes after its end", false},
		{"unknown opcode", funcs(1, 0, 0xFF, 0x0B), "opcode 0xff", false},
		{"name section count", module(sec(0, append([]byte{4}, "name\x01\x05\xff\xff\xff\xff\x0f"...)...)), "name subsection 1", false},
		{"functions", funcs(3, 0, 0x0B), "3 functions", true},
		{"imported and defined functions", module(sec(1, 1, 0x60, 0, 0), sec(2, 1, 1, 'm', 1, 'f', 0x00, 0x00), sec(3, 2, 0, 0)), "3 functions", true},
		{"code bytes", funcs(2, append(append([]byte{0}, bytes.Repeat([]byte{0x01}, 60)...), 0x0B)...), "bytes of code", true},
		{"body bytes", funcs(1, append(append([]byte{0}, bytes.Repeat([]byte{0x01}, 40)...), 0x0B)...), "bytes in the body of function 0", true},
		{"locals", funcs(1, 1, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x7F, 0x0B), "4294967295 locals in function 0", true},
		{"branches in a function", funcs(1, ifs(5)...), "5 blocks and branches in function 0", true},
		{"branches", funcs(2, ifs(4)...), "8 blocks and branches", true},
		{"branch squares", funcs(2, ifs(4)...), "32 squared blocks", true},
		{"globals", module(sec(6, append(append([]byte{2}, global...), global...)...)), "2 globals", true},
		{"entries", module(sec(1, 4, 0x60, 0, 0, 0x60, 0, 0, 0x60, 0, 0, 0x60, 0, 0)), "4 type section entries", true},
		{"table at start", module(sec(4, 1, 0x70, 0x00, 11)), "11 elements at the start of table 0", true},
		{"two tables at start", module(sec(4, 2, 0x70, 0x00, 6, 0x70, 0x00, 1)), "6 elements at the start of table 0 (its 2 tables share 10 elements)", true},
		{"imported table", module(sec(2, 1, 1, 'm', 1, 't', 0x01, 0x70, 0x00, 0x01)), "imported tables", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := small
			if tc.name == "branches" {
				b.BranchSquares = 100
			}
			if tc.name == "branch squares" {
				b.Branches = 100
			}
			_, err := Bound(tc.bin, b)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Bound: %v, want %q", err, tc.want)
			}
			var le *LimitError
			if errors.As(err, &le) != tc.over || errors.Is(err, ErrMalformed) == tc.over {
				t.Errorf("Bound: %v (%T): a limit error %v, want %v", err, err, errors.As(err, &le), tc.over)
			}
		})
	}
}

// FuzzBound: Bound never panics, and what it accepts, which is safe to
// hand to wazero (every count fits in its bytes), compiles after Bound
// exactly when it compiled before.
func FuzzBound(f *testing.F) {
	f.Add(funcs(2, ifs(3)...))
	f.Add(module(sec(4, 2, 0x70, 0x00, 6, 0x70, 0x01, 1, 2)))
	f.Add(module(sec(4, 1, 0x40, 0x00, 0x70, 0x00, 0x01, 0xD2, 0x00, 0x0B)))
	f.Add(module(sec(2, 1, 1, 'm', 1, 'f', 0x00, 0x00)))
	f.Add(module(sec(1, 1, 0x60, 0x99, 0x99, 0x99, 0x99, 0x01)))
	f.Add(testutil.Wat(f, "testdata/tables.wat"))
	b := DefaultBudget
	b.TableElements = 1000
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := Bound(in, b)
		if err != nil {
			return
		}
		before, after := compiles(in), compiles(out)
		if (before == nil) != (after == nil) {
			t.Fatalf("compiles before Bound: %v; after: %v", before, after)
		}
	})
}

// BenchmarkBound is what Bound adds to preparing the Go data processor (once
// per module digest: the runtime caches the result).
func BenchmarkBound(b *testing.B) {
	raw, err := os.ReadFile(testutil.BuildWasm(b, "examples/dataprocessor/v1.0.0"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := Bound(raw, DefaultBudget); err != nil {
			b.Fatal(err)
		}
	}
}
