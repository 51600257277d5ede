package wasmdata

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/empirefederation/neuron/internal/leb128"
	"github.com/empirefederation/neuron/internal/testutil"
)

// seg is a data segment for module: flags 0 at offset, or raw bytes of a
// segment when raw is set.
type seg struct {
	offset int64
	init   string
	raw    []byte
}

// module builds a module with one memory of pages pages, exported as
// "mem", the segments, and any extra sections (id, body) before the data.
func module(pages int, segs []seg, extra ...[]byte) []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	b = appendSection(b, 5, []byte{1, 0, byte(pages)})
	b = appendSection(b, 7, []byte{1, 3, 'm', 'e', 'm', 2, 0})
	for _, e := range extra {
		b = appendSection(b, e[0], e[1:])
	}
	body := binary.AppendUvarint(nil, uint64(len(segs)))
	for _, s := range segs {
		if s.raw != nil {
			body = append(body, s.raw...)
			continue
		}
		body = append(body, 0x00, 0x41)
		body = leb128.AppendInt(body, s.offset)
		body = append(body, 0x0B)
		body = binary.AppendUvarint(body, uint64(len(s.init)))
		body = append(body, s.init...)
	}
	return appendSection(b, 11, body)
}

func appendSection(b []byte, id byte, body []byte) []byte {
	b = append(b, id)
	b = binary.AppendUvarint(b, uint64(len(body)))
	return append(b, body...)
}

// memoryAfterInstantiation instantiates bin, without running any of its
// code, and returns its memory, or the instantiation error. Its imported
// functions are stubs that are never called.
func memoryAfterInstantiation(bin []byte) ([]byte, error) {
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	compiled, err := r.CompileModule(ctx, bin)
	if err != nil {
		return nil, err
	}
	stubs := map[string]wazero.HostModuleBuilder{}
	for _, fn := range compiled.ImportedFunctions() {
		modName, name, _ := fn.Import()
		if stubs[modName] == nil {
			stubs[modName] = r.NewHostModuleBuilder(modName)
		}
		stubs[modName].NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(func(context.Context, api.Module, []uint64) {}), fn.ParamTypes(), fn.ResultTypes()).
			Export(name)
	}
	for _, b := range stubs {
		if _, err := b.Instantiate(ctx); err != nil {
			return nil, err
		}
	}
	mod, err := r.InstantiateModule(ctx, compiled, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		return nil, err
	}
	defer mod.Close(ctx)
	if mod.Memory() == nil {
		return nil, nil
	}
	mem, _ := mod.Memory().Read(0, mod.Memory().Size())
	return bytes.Clone(mem), nil
}

// segmentCount returns the number of data segments of bin.
func segmentCount(t testing.TB, bin []byte) int {
	t.Helper()
	for at := 8; at < len(bin); {
		id := bin[at]
		size, n := binary.Uvarint(bin[at+1:])
		body := at + 1 + n
		if id == secData {
			count, _ := binary.Uvarint(bin[body:])
			return int(count)
		}
		at = body + int(size)
	}
	return 0
}

func TestCoalesce(t *testing.T) {
	cases := []struct {
		name     string
		bin      []byte
		segments int // after Coalesce; 0: left as it was
	}{
		{"adjacent", module(1, []seg{{0, "ab", nil}, {2, "cd", nil}}), 1},
		{"small gap", module(1, []seg{{16, "ab", nil}, {16 + 2 + MaxGap, "cd", nil}}), 1},
		{"wide gap", module(1, []seg{{16, "ab", nil}, {16 + 2 + MaxGap + 1, "cd", nil}}), 0},
		{"unsorted, some merge", module(2, []seg{{70000, "z", nil}, {100, "b", nil}, {0, "a", nil}, {1000, "c", nil}, {1100, "d", nil}}), 3},
		{"empty segments", module(1, []seg{{8, "", nil}, {8, "x", nil}, {9, "", nil}}), 1},
		{"offset needs several bytes", module(3, []seg{{131070, "ab", nil}, {131072, "cd", nil}}), 1},
		{"overlap: order matters", module(1, []seg{{0, "abcd", nil}, {2, "XY", nil}}), 0},
		{"past the initial memory: must still fail", module(1, []seg{{0, "ab", nil}, {65535, "cd", nil}}), 0},
		{"one segment", module(1, []seg{{0, "ab", nil}}), 0},
		{"passive segment", module(1, []seg{{0, "ab", nil}, {raw: []byte{0x01, 2, 'c', 'd'}}}), 0},
		{"offset from a global", module(1, []seg{{0, "ab", nil}, {raw: []byte{0x00, 0x23, 0x00, 0x0B, 1, 'c'}}}), 0},
		{"data count section", module(1, []seg{{0, "ab", nil}, {2, "cd", nil}}, []byte{12, 2}), 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := Coalesce(c.bin)
			if err != nil {
				t.Fatal(err)
			}
			if c.segments == 0 {
				if !bytes.Equal(out, c.bin) {
					t.Fatalf("module changed; want it left as it was")
				}
				return
			}
			if got := segmentCount(t, out); got != c.segments {
				t.Fatalf("%d segments after Coalesce, want %d", got, c.segments)
			}
			compareMemories(t, c.bin, out)
		})
	}
}

func TestCoalesce_NotAModule(t *testing.T) {
	for _, bin := range [][]byte{nil, []byte("\x00asm"), []byte("\x7fELF\x02\x01\x01\x00"), append([]byte("\x00asm\x01\x00\x00\x00"), 11, 0xFF)} {
		if _, err := Coalesce(bin); err == nil {
			t.Errorf("Coalesce(%q): no error", bin)
		}
	}
}

// TestCoalesce_Processors coalesces the repository's own processors, Go
// and C, and checks that an instance of each starts with the same memory
// as before and that the Go one has a few segments instead of tens of
// thousands.
func TestCoalesce_Processors(t *testing.T) {
	for _, pkg := range []string{"examples/dataprocessor/v1.0.0", "examples/hello"} {
		t.Run(pkg, func(t *testing.T) {
			bin, err := os.ReadFile(testutil.BuildWasm(t, pkg))
			if err != nil {
				t.Fatal(err)
			}
			out, err := Coalesce(bin)
			if err != nil {
				t.Fatal(err)
			}
			before, after := segmentCount(t, bin), segmentCount(t, out)
			t.Logf("%d segments → %d, %d bytes → %d", before, after, len(bin), len(out))
			if before < 1000 || after > 100 {
				t.Fatalf("%d segments → %d: want thousands merged into tens at most", before, after)
			}
			compareMemories(t, bin, out)
		})
	}
}

// compareMemories fails unless bin and out instantiate to the same memory.
func compareMemories(t *testing.T, bin, out []byte) {
	t.Helper()
	want, werr := memoryAfterInstantiation(bin)
	got, gerr := memoryAfterInstantiation(out)
	if werr != nil || gerr != nil {
		t.Fatalf("instantiate: original %v, coalesced %v", werr, gerr)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("memory after instantiation differs from the original's")
	}
}

// FuzzCoalesce checks that Coalesce never panics, and that whenever it
// rewrites a module that wazero instantiates, the rewrite instantiates to
// the same memory; when the original fails to instantiate, so must the
// rewrite.
func FuzzCoalesce(f *testing.F) {
	f.Add(module(1, []seg{{0, "ab", nil}, {2, "cd", nil}}))
	f.Add(module(1, []seg{{0, "abcd", nil}, {2, "XY", nil}}))
	f.Add(module(2, []seg{{70000, "z", nil}, {100, "b", nil}, {0, "a", nil}}))
	f.Add(module(1, []seg{{0, "ab", nil}, {65535, "cd", nil}}))
	f.Fuzz(func(t *testing.T, bin []byte) {
		out, err := Coalesce(bin)
		if err != nil || bytes.Equal(out, bin) {
			return
		}
		want, werr := memoryAfterInstantiation(bin)
		got, gerr := memoryAfterInstantiation(out)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("original instantiates: %v; rewrite: %v", werr, gerr)
		}
		if !bytes.Equal(got, want) {
			t.Fatal("memory after instantiation differs from the original's")
		}
	})
}
