package report

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/empirefederation/neuron/federation"
)

// MaxEvents bounds the events held between two analytics reports. When it
// is reached the oldest are dropped, and the next report says how many in
// an events_dropped event.
const MaxEvents = 1000

// Events collects the events of one analytics interval. Safe for
// concurrent use; Record never blocks on I/O.
type Events struct {
	mu      sync.Mutex
	buf     []federation.Event
	dropped int
}

// Record adds e, giving it an id and a timestamp when it has none.
func (ev *Events) Record(e federation.Event) {
	if e.ID == "" {
		e.ID = federation.NewEventID()
	}
	if e.Timestamp.IsZero() {
		e.Timestamp = time.Now().UTC()
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if len(ev.buf) >= MaxEvents {
		ev.buf = ev.buf[1:]
		ev.dropped++
	}
	ev.buf = append(ev.buf, e)
}

// Take returns the events recorded since the last Take and forgets them.
func (ev *Events) Take() []federation.Event {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	out := ev.buf
	ev.buf = nil
	if ev.dropped > 0 {
		data, _ := json.Marshal(map[string]int{"dropped": ev.dropped, "limit": MaxEvents})
		out = append(out, federation.Event{ID: federation.NewEventID(), Type: "events_dropped", Timestamp: time.Now().UTC(), Data: data})
		ev.dropped = 0
	}
	return out
}
