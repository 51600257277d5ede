package codecache

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
	// KeepCodes is how many it keeps: the last versions of a few
	// processors, enough for a deploy and its rollback.
	KeepCodes = 4
	// KeepCodeBytes bounds the module files they were compiled from. A
	// kept code of the 3.7 MB Go data processor holds about 6 MB of
	// memory, 2 MiB of it on the Go heap, the rest wazero's machine code.
	KeepCodeBytes = 64 << 20
	// KeepCodeIdle is how long one stays unused before it is closed, so
	// that a version retired for good does not hold its code forever.
	KeepCodeIdle = 10 * time.Minute
)

// Closer is what Kept holds: a code that closes what it owns (its wazero
// runtime) when the cache lets it go.
type Closer interface {
	Close(ctx context.Context) error
}

// Kept holds the codes of processor versions that closed cleanly, at most
// one per key, least recently kept first, bounded by count and by module
// bytes. Whatever it evicts, expires or holds at close it closes. Only
// loads and drains use it, never a request. Its methods are safe for
// concurrent use.
type Kept[K comparable, C Closer] struct {
	mu       sync.Mutex
	maxCount int
	maxBytes int
	size     int // module bytes held
	entries  []kept[K, C]
	closed   bool
}

type kept[K comparable, C Closer] struct {
	key   K
	size  int // of the module file
	c     C
	since time.Time
}

// NewKept returns an empty cache of at most maxCount codes and maxBytes
// of module files.
func NewKept[K comparable, C Closer](maxCount, maxBytes int) *Kept[K, C] {
	return &Kept[K, C]{maxCount: maxCount, maxBytes: maxBytes}
}

// Take removes and returns the code kept for key, and whether there was
// one.
func (k *Kept[K, C]) Take(key K) (C, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	i := slices.IndexFunc(k.entries, func(e kept[K, C]) bool { return e.key == key })
	if i < 0 {
		var none C
		return none, false
	}
	e := k.entries[i]
	k.entries = slices.Delete(k.entries, i, i+1)
	k.size -= e.size
	return e.c, true
}

// Put keeps c, made from a module file of size bytes and which no
// instance uses, for key, as the most recent. It replaces a code kept for
// the same key and evicts the least recently kept beyond the bounds;
// those, and c itself when the cache is closed or c alone exceeds the
// byte bound, are closed.
func (k *Kept[K, C]) Put(ctx context.Context, key K, size int, c C) {
	k.mu.Lock()
	var out []C
	if k.closed || size > k.maxBytes {
		out = append(out, c)
	} else {
		if i := slices.IndexFunc(k.entries, func(e kept[K, C]) bool { return e.key == key }); i >= 0 {
			out = append(out, k.entries[i].c)
			k.size -= k.entries[i].size
			k.entries = slices.Delete(k.entries, i, i+1)
		}
		k.entries = append(k.entries, kept[K, C]{key: key, size: size, c: c, since: time.Now()})
		k.size += size
		for len(k.entries) > k.maxCount || k.size > k.maxBytes {
			out = append(out, k.entries[0].c)
			k.size -= k.entries[0].size
			k.entries = slices.Delete(k.entries, 0, 1)
		}
	}
	k.mu.Unlock()
	for _, c := range out {
		_ = c.Close(ctx)
	}
}

// Expire closes the codes kept since before t.
func (k *Kept[K, C]) Expire(ctx context.Context, t time.Time) {
	k.mu.Lock()
	var out []C
	k.entries = slices.DeleteFunc(k.entries, func(e kept[K, C]) bool {
		if e.since.Before(t) {
			out = append(out, e.c)
			k.size -= e.size
			return true
		}
		return false
	})
	k.mu.Unlock()
	for _, c := range out {
		_ = c.Close(ctx)
	}
}

// Close closes every code kept, and every code put from now on.
func (k *Kept[K, C]) Close(ctx context.Context) error {
	k.mu.Lock()
	entries := k.entries
	k.entries, k.size, k.closed = nil, 0, true
	k.mu.Unlock()
	var errs []error
	for _, e := range entries {
		errs = append(errs, e.c.Close(ctx))
	}
	return errors.Join(errs...)
}

// Len returns how many codes are kept.
func (k *Kept[K, C]) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.entries)
}
