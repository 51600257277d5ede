package report

import (
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/empirefederation/neuron/federation"
)

// Bounds on the events held between two analytics reports, so that the
// report stays well within what a federation accepts (the development
// federation takes 1 MiB), and one processor emitting in a loop never
// crowds out the events of the others nor the neuron's own. See
// docs/design.md, "What can a processor make the host spend?".
const (
	// MaxEvents bounds the events held. When it is reached the oldest are
	// dropped, and the next report says how many in an events_dropped
	// event.
	MaxEvents = 1000
	// MaxEventBytes bounds the data of the events held, in bytes, in the
	// same way.
	MaxEventBytes = 256 << 10
	// MaxProcessorEvents and MaxProcessorEventBytes bound the events one
	// processor version emits in one interval, and their data in bytes:
	// past either, its events are dropped, and the next report says how
	// many in an events_dropped event naming it.
	MaxProcessorEvents     = 100
	MaxProcessorEventBytes = 64 << 10
)

// Events collects the events of one analytics interval. Safe for
// concurrent use; Record never blocks on I/O.
type Events struct {
	// Logger is warned, once an interval, about each processor whose
	// events went past its share. Nil: no warning.
	Logger *slog.Logger

	mu      sync.Mutex
	buf     []federation.Event
	bytes   int // of the data in buf
	dropped int
	// procs are the shares the processors used this interval, by
	// NAME@VERSION.
	procs map[string]*share
}

// share is what one processor version emitted in an interval.
type share struct {
	plugin, version      string
	events, bytes, drops int
}

// Record adds e, giving it an id and a timestamp when it has none.
func (ev *Events) Record(e federation.Event) {
	stamp(&e)
	ev.mu.Lock()
	defer ev.mu.Unlock()
	ev.add(e)
}

// RecordProcessor adds e, an event processor e.Plugin at e.Version
// emitted, within that processor's share of the interval:
// MaxProcessorEvents events and MaxProcessorEventBytes bytes of data.
func (ev *Events) RecordProcessor(e federation.Event) {
	stamp(&e)
	ev.mu.Lock()
	key := e.Plugin + "@" + e.Version
	s := ev.procs[key]
	if s == nil {
		if ev.procs == nil {
			ev.procs = map[string]*share{}
		}
		s = &share{plugin: e.Plugin, version: e.Version}
		ev.procs[key] = s
	}
	if s.events >= MaxProcessorEvents || s.bytes+len(e.Data) > MaxProcessorEventBytes {
		s.drops++
		first := s.drops == 1
		ev.mu.Unlock()
		if first && ev.Logger != nil {
			ev.Logger.Warn("processor emitted more events than its share of an analytics interval: the rest are dropped and counted",
				"plugin", e.Plugin, "version", e.Version, "max_events", MaxProcessorEvents, "max_bytes", MaxProcessorEventBytes)
		}
		return
	}
	s.events++
	s.bytes += len(e.Data)
	ev.add(e)
	ev.mu.Unlock()
}

func stamp(e *federation.Event) {
	if e.ID == "" {
		e.ID = federation.NewEventID()
	}
	if e.Timestamp.IsZero() {
		e.Timestamp = time.Now().UTC()
	}
}

// add appends e, dropping the oldest events past MaxEvents and
// MaxEventBytes. ev.mu is held.
func (ev *Events) add(e federation.Event) {
	for len(ev.buf) > 0 && (len(ev.buf) >= MaxEvents || ev.bytes+len(e.Data) > MaxEventBytes) {
		ev.bytes -= len(ev.buf[0].Data)
		ev.buf = ev.buf[1:]
		ev.dropped++
	}
	ev.buf = append(ev.buf, e)
	ev.bytes += len(e.Data)
}

// Take returns the events recorded since the last Take and forgets them,
// with an events_dropped event for what was dropped: one for the oldest
// dropped past MaxEvents or MaxEventBytes, one per processor that went
// past its share.
func (ev *Events) Take() []federation.Event {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	out := ev.buf
	now := time.Now().UTC()
	if ev.dropped > 0 {
		data, _ := json.Marshal(map[string]int{"dropped": ev.dropped, "limit": MaxEvents, "bytesLimit": MaxEventBytes})
		out = append(out, federation.Event{ID: federation.NewEventID(), Type: "events_dropped", Timestamp: now, Data: data})
	}
	for _, s := range ev.procs {
		if s.drops > 0 {
			data, _ := json.Marshal(map[string]int{"dropped": s.drops, "limit": MaxProcessorEvents, "bytesLimit": MaxProcessorEventBytes})
			out = append(out, federation.Event{ID: federation.NewEventID(), Type: "events_dropped", Timestamp: now,
				Plugin: s.plugin, Version: s.version, Data: data})
		}
	}
	ev.buf, ev.bytes, ev.dropped, ev.procs = nil, 0, 0, nil
	return out
}
