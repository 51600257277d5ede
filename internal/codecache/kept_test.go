package codecache

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
)

// TestKeptCodes: the cache keeps one code per key, least recently kept
// first, evicts beyond its count and byte bounds, refuses a code larger
// than the byte bound, expires codes kept too long, and closes every code
// it lets go (their wazero runtimes compile nothing more), at close too.
func TestKeptCodes(t *testing.T) {
	ctx := context.Background()
	k := NewKept[string, *testCode](2, 30)
	var took *testCode
	cache := wazero.NewCompilationCache()
	t.Cleanup(func() { _ = cache.Close(ctx) })
	empty := []byte("\x00asm\x01\x00\x00\x00")
	codes := map[string]*testCode{}
	mk := func(name, key string, size int) *testCode {
		cfg := wazero.NewRuntimeConfigCompiler().WithCompilationCache(cache).WithMemoryLimitPages(1)
		c := &testCode{key: key, size: size, wr: wazero.NewRuntimeWithConfig(ctx, cfg)}
		t.Cleanup(func() { _ = c.wr.Close(ctx) })
		codes[name] = c
		return c
	}
	put := func(name string) { c := codes[name]; k.Put(ctx, c.key, c.size, c) }
	take := func(name string) {
		if c, ok := k.Take(codes[name].key); ok {
			took = c
		}
	}
	isClosed := func(c *testCode) bool {
		_, err := c.wr.CompileModule(ctx, empty)
		return err != nil
	}
	for _, c := range []struct{ name, key string }{{"a", "a"}, {"b", "b"}, {"c", "c"}, {"a2", "a"}, {"a3", "a"}, {"d", "d"}, {"e", "e"}, {"late", "f"}} {
		mk(c.name, c.key, 10)
	}
	mk("big", "big", 31)
	mk("wide", "wide", 25)

	for _, step := range []struct {
		name   string
		do     func()
		kept   []string // names, least recently kept first
		closed []string // names closed so far
		took   string   // the code take returned, "" for none
	}{
		{"take on an empty cache misses", func() { take("a") }, nil, nil, ""},
		{"put a", func() { put("a") }, []string{"a"}, nil, ""},
		{"put b", func() { put("b") }, []string{"a", "b"}, nil, ""},
		{"put c evicts a, the least recently kept", func() { put("c") }, []string{"b", "c"}, []string{"a"}, ""},
		{"take b hands it over open", func() { take("b") }, []string{"c"}, []string{"a"}, "b"},
		{"put a2", func() { put("a2") }, []string{"c", "a2"}, []string{"a"}, ""},
		{"put a3, same key, replaces a2", func() { put("a3") }, []string{"c", "a3"}, []string{"a", "a2"}, ""},
		{"a code over the byte bound is closed at once", func() { put("big") }, []string{"c", "a3"}, []string{"a", "a2", "big"}, ""},
		{"the byte bound evicts as many as it takes", func() { put("wide") }, []string{"wide"}, []string{"a", "a2", "big", "c", "a3"}, ""},
		{"expire keeps what was kept since", func() { k.Expire(ctx, time.Now().Add(-time.Hour)) }, []string{"wide"}, []string{"a", "a2", "big", "c", "a3"}, ""},
		{"put d", func() { put("d") }, []string{"d"}, []string{"a", "a2", "big", "c", "a3", "wide"}, ""},
		{"expire closes what was kept before", func() { k.Expire(ctx, time.Now().Add(time.Second)) }, nil, []string{"a", "a2", "big", "c", "a3", "wide", "d"}, ""},
		{"put e", func() { put("e") }, []string{"e"}, []string{"a", "a2", "big", "c", "a3", "wide", "d"}, ""},
		{"close closes every code kept", func() {
			if err := k.Close(ctx); err != nil {
				t.Errorf("close: %v", err)
			}
		}, nil, []string{"a", "a2", "big", "c", "a3", "wide", "d", "e"}, ""},
		{"a code put after close is closed at once", func() { put("late") }, nil, []string{"a", "a2", "big", "c", "a3", "wide", "d", "e", "late"}, ""},
	} {
		t.Run(step.name, func(t *testing.T) {
			took = nil
			step.do()
			var kept []string
			for _, e := range k.entries {
				kept = append(kept, nameOf(codes, e.c))
			}
			if !slices.Equal(kept, step.kept) || k.Len() != len(step.kept) {
				t.Errorf("kept %v (len %d), want %v", kept, k.Len(), step.kept)
			}
			size := 0
			for _, name := range step.kept {
				size += codes[name].size
			}
			if k.size != size {
				t.Errorf("size %d, want %d", k.size, size)
			}
			for name, c := range codes {
				if want := slices.Contains(step.closed, name); isClosed(c) != want {
					t.Errorf("%s closed %v, want %v", name, !want, want)
				}
			}
			if got := nameOf(codes, took); got != step.took {
				t.Errorf("take returned %q, want %q", got, step.took)
			}
		})
	}
}

// testCode is a code as the runtime keeps one: it owns a wazero runtime,
// which the cache closes when it lets the code go.
type testCode struct {
	key  string
	size int
	wr   wazero.Runtime
}

// Close implements Closer.
func (c *testCode) Close(ctx context.Context) error { return c.wr.Close(context.WithoutCancel(ctx)) }

// nameOf returns c's name in codes, "" for nil.
func nameOf(codes map[string]*testCode, c *testCode) string {
	if c == nil {
		return ""
	}
	for name, x := range codes {
		if x == c {
			return name
		}
	}
	return "?"
}
