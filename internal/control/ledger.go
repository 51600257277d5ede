package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sync"

	"github.com/empirefederation/neuron/internal/atomicfile"
)

// maxLedger bounds the command ids remembered. A federation that repeats an
// id older than the last maxLedger commands runs it again.
const maxLedger = 1000

// ledger remembers the outcome of each command id, on disk, so that a
// command runs at most once even across restarts.
type ledger struct {
	mu   sync.Mutex
	file string
	ran  map[string]Outcome
}

func openLedger(file string) (*ledger, error) {
	l := &ledger{file: file, ran: map[string]Outcome{}}
	if _, err := readJSON(file, &l.ran); err != nil {
		return nil, fmt.Errorf("command ledger: %w (delete %s to forget the commands that ran)", err, file)
	}
	return l, nil
}

func (l *ledger) get(id string) (Outcome, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	o, ok := l.ran[id]
	return o, ok
}

func (l *ledger) put(o Outcome) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ran[o.ID] = o
	if len(l.ran) > maxLedger {
		all := make([]Outcome, 0, len(l.ran))
		for _, o := range l.ran {
			all = append(all, o)
		}
		slices.SortFunc(all, func(a, b Outcome) int { return a.Started.Compare(b.Started) })
		for _, o := range all[:len(all)-maxLedger] {
			delete(l.ran, o.ID)
		}
	}
	return writeJSON(l.file, l.ran)
}

// readJSON decodes file into v (numbers as json.Number); found is false
// when the file does not exist.
func readJSON(file string, v any) (found bool, err error) {
	f, err := os.Open(file)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return true, fmt.Errorf("%s: %w", file, err)
	}
	return true, nil
}

// writeJSON replaces file with v durably (atomicfile.Write).
func writeJSON(file string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(file, b)
}
