package guest

import "sync"

// Stderr keeps the last bytes written to it: a guest's standard error (and
// standard output), bounded so that a chatty guest cannot grow the host's
// memory.
type Stderr struct {
	mu  sync.Mutex
	buf []byte
}

// tailBytes is how much of a guest's standard error is kept per call.
const tailBytes = 4 << 10

// Write implements io.Writer, keeping the last tailBytes.
func (t *Stderr) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if len(p) > tailBytes {
		p = p[len(p)-tailBytes:]
	}
	if over := len(t.buf) + len(p) - tailBytes; over > 0 {
		t.buf = t.buf[:copy(t.buf, t.buf[over:])]
	}
	t.buf = append(t.buf, p...)
	return n, nil
}

// String returns the bytes kept.
func (t *Stderr) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// Reset forgets the bytes kept, before a call.
func (t *Stderr) Reset() {
	t.mu.Lock()
	t.buf = t.buf[:0]
	t.mu.Unlock()
}
