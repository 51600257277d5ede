package runtime

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// Bounds of the compiled modules a Runtime keeps from retired versions for
// reuse. See docs/design.md, "Why keep the compiled module of a retired
// version?".
const (
	// keepCodes is how many it keeps: the last versions of a few
	// processors, enough for a deploy and its rollback.
	keepCodes = 4
	// keepCodeBytes bounds the module files they were compiled from. A
	// kept code of the 3.7 MB Go data processor holds about 6 MB of
	// memory, 2 MiB of it on the Go heap, the rest wazero's machine code.
	keepCodeBytes = 64 << 20
	// keepCodeIdle is how long one stays unused before it is closed, so
	// that a version retired for good does not hold its code forever.
	keepCodeIdle = 10 * time.Minute
)

// keptCodes holds the codes of processor versions that closed cleanly,
// at most one per key, least recently kept first, bounded by count and by
// module bytes. Whatever it evicts, expires or holds at close it closes.
// Only loads and drains use it, never a request.
type keptCodes struct {
	mu       sync.Mutex
	maxCount int
	maxBytes int
	size     int // module bytes held
	entries  []keptCode
	closed   bool
}

type keptCode struct {
	c     *code
	since time.Time
}

func newKeptCodes(maxCount, maxBytes int) *keptCodes {
	return &keptCodes{maxCount: maxCount, maxBytes: maxBytes}
}

// take removes and returns the code kept for key, or nil.
func (k *keptCodes) take(key codeKey) *code {
	k.mu.Lock()
	defer k.mu.Unlock()
	i := slices.IndexFunc(k.entries, func(e keptCode) bool { return e.c.key == key })
	if i < 0 {
		return nil
	}
	c := k.entries[i].c
	k.entries = slices.Delete(k.entries, i, i+1)
	k.size -= c.mod.Size
	return c
}

// put keeps c, which no instance uses, as the most recent. It replaces a
// code kept for the same key and evicts the least recently kept beyond
// the bounds; those, and c itself when the cache is closed or c alone
// exceeds the byte bound, are closed.
func (k *keptCodes) put(ctx context.Context, c *code) {
	k.mu.Lock()
	var out []*code
	if k.closed || c.mod.Size > k.maxBytes {
		out = append(out, c)
	} else {
		if i := slices.IndexFunc(k.entries, func(e keptCode) bool { return e.c.key == c.key }); i >= 0 {
			out = append(out, k.entries[i].c)
			k.size -= k.entries[i].c.mod.Size
			k.entries = slices.Delete(k.entries, i, i+1)
		}
		k.entries = append(k.entries, keptCode{c: c, since: time.Now()})
		k.size += c.mod.Size
		for len(k.entries) > k.maxCount || k.size > k.maxBytes {
			out = append(out, k.entries[0].c)
			k.size -= k.entries[0].c.mod.Size
			k.entries = slices.Delete(k.entries, 0, 1)
		}
	}
	k.mu.Unlock()
	for _, c := range out {
		_ = c.close(ctx)
	}
}

// expire closes the codes kept since before t.
func (k *keptCodes) expire(ctx context.Context, t time.Time) {
	k.mu.Lock()
	var out []*code
	k.entries = slices.DeleteFunc(k.entries, func(e keptCode) bool {
		if e.since.Before(t) {
			out = append(out, e.c)
			k.size -= e.c.mod.Size
			return true
		}
		return false
	})
	k.mu.Unlock()
	for _, c := range out {
		_ = c.close(ctx)
	}
}

// close closes every code kept, and every code put from now on.
func (k *keptCodes) close(ctx context.Context) error {
	k.mu.Lock()
	entries := k.entries
	k.entries, k.size, k.closed = nil, 0, true
	k.mu.Unlock()
	var errs []error
	for _, e := range entries {
		errs = append(errs, e.c.close(ctx))
	}
	return errors.Join(errs...)
}

// len returns how many codes are kept.
func (k *keptCodes) len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.entries)
}
