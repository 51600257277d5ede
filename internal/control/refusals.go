package control

import (
	"slices"
)

// maxRefusals bounds the refused updates remembered.
const maxRefusals = 100

// refusals remembers, on disk, the updates the neuron refused (by
// rejectionKey: their content and the reasons), so that one refused
// again, polled every interval or served again after the neuron
// registers anew or restarts, is not reported again: no second WARN, no
// second config_rejected event. It is still validated each time (what
// makes it valid can change: a processor loaded that declares a key), and
// applied once it is valid. Guarded by the Controller's mu.
type refusals struct {
	file string
	keys []string // oldest first
}

// openRefusals reads the refusals kept in file; an unreadable file only
// means refusals may be reported once more, so it is logged by the
// caller and the memory starts empty.
func openRefusals(file string) (*refusals, error) {
	r := &refusals{file: file}
	if _, err := readJSON(file, &r.keys); err != nil {
		r.keys = nil
		return r, err
	}
	return r, nil
}

// seen reports whether key was refused before.
func (r *refusals) seen(key string) bool { return slices.Contains(r.keys, key) }

// add remembers key, forgetting the oldest past maxRefusals.
func (r *refusals) add(key string) error {
	r.keys = append(r.keys, key)
	if len(r.keys) > maxRefusals {
		r.keys = slices.Delete(r.keys, 0, len(r.keys)-maxRefusals)
	}
	return writeJSON(r.file, r.keys)
}
