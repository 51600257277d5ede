package runtime

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
	cache := wazero.NewCompilationCache()
	t.Cleanup(func() { _ = cache.Close(ctx) })
	empty := []byte("\x00asm\x01\x00\x00\x00")
	codes := map[string]*code{}
	mk := func(name, key string, size int) *code {
		c := &code{key: codeKey{fingerprint: fingerprint{digest: key}}, wr: newWazeroRuntime(ctx, cache, 1, true), mod: &module{Size: size}}
		t.Cleanup(func() { _ = c.wr.Close(ctx) })
		codes[name] = c
		return c
	}
	isClosed := func(c *code) bool {
		_, err := c.wr.CompileModule(ctx, empty)
		return err != nil
	}
	for _, c := range []struct{ name, key string }{{"a", "a"}, {"b", "b"}, {"c", "c"}, {"a2", "a"}, {"a3", "a"}, {"d", "d"}, {"e", "e"}, {"late", "f"}} {
		mk(c.name, c.key, 10)
	}
	mk("big", "big", 31)
	mk("wide", "wide", 25)

	k := newKeptCodes(2, 30)
	var took *code
	for _, step := range []struct {
		name   string
		do     func()
		kept   []string // names, least recently kept first
		closed []string // names closed so far
		took   string   // the code take returned, "" for none
	}{
		{"take on an empty cache misses", func() { took = k.take(codes["a"].key) }, nil, nil, ""},
		{"put a", func() { k.put(ctx, codes["a"]) }, []string{"a"}, nil, ""},
		{"put b", func() { k.put(ctx, codes["b"]) }, []string{"a", "b"}, nil, ""},
		{"put c evicts a, the least recently kept", func() { k.put(ctx, codes["c"]) }, []string{"b", "c"}, []string{"a"}, ""},
		{"take b hands it over open", func() { took = k.take(codes["b"].key) }, []string{"c"}, []string{"a"}, "b"},
		{"put a2", func() { k.put(ctx, codes["a2"]) }, []string{"c", "a2"}, []string{"a"}, ""},
		{"put a3, same key, replaces a2", func() { k.put(ctx, codes["a3"]) }, []string{"c", "a3"}, []string{"a", "a2"}, ""},
		{"a code over the byte bound is closed at once", func() { k.put(ctx, codes["big"]) }, []string{"c", "a3"}, []string{"a", "a2", "big"}, ""},
		{"the byte bound evicts as many as it takes", func() { k.put(ctx, codes["wide"]) }, []string{"wide"}, []string{"a", "a2", "big", "c", "a3"}, ""},
		{"expire keeps what was kept since", func() { k.expire(ctx, time.Now().Add(-time.Hour)) }, []string{"wide"}, []string{"a", "a2", "big", "c", "a3"}, ""},
		{"put d", func() { k.put(ctx, codes["d"]) }, []string{"d"}, []string{"a", "a2", "big", "c", "a3", "wide"}, ""},
		{"expire closes what was kept before", func() { k.expire(ctx, time.Now().Add(time.Second)) }, nil, []string{"a", "a2", "big", "c", "a3", "wide", "d"}, ""},
		{"put e", func() { k.put(ctx, codes["e"]) }, []string{"e"}, []string{"a", "a2", "big", "c", "a3", "wide", "d"}, ""},
		{"close closes every code kept", func() {
			if err := k.close(ctx); err != nil {
				t.Errorf("close: %v", err)
			}
		}, nil, []string{"a", "a2", "big", "c", "a3", "wide", "d", "e"}, ""},
		{"a code put after close is closed at once", func() { k.put(ctx, codes["late"]) }, nil, []string{"a", "a2", "big", "c", "a3", "wide", "d", "e", "late"}, ""},
	} {
		t.Run(step.name, func(t *testing.T) {
			took = nil
			step.do()
			var kept []string
			for _, e := range k.entries {
				kept = append(kept, nameOf(codes, e.c))
			}
			if !slices.Equal(kept, step.kept) || k.len() != len(step.kept) {
				t.Errorf("kept %v (len %d), want %v", kept, k.len(), step.kept)
			}
			size := 0
			for _, name := range step.kept {
				size += codes[name].mod.Size
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

// nameOf returns c's name in codes, "" for nil.
func nameOf(codes map[string]*code, c *code) string {
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
