package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/empirefederation/neuron/internal/atomicfile"
)

// maxLedger bounds the command ids remembered. Past it the oldest are
// forgotten, and the window moves: a command the federation issued no
// later than the newest forgotten one is refused (see ledger.stale), so
// that an old id cannot run again. A command without an issue time is
// known by its id alone.
const maxLedger = 1000

// ledgerFormat marks the ledger file's form: {"ledger": 2, "horizon":
// ..., "commands": {...}}. The first form was the commands alone, which
// openLedger still reads.
const ledgerFormat = 2

// ledger remembers the outcome of each command id, on disk, so that a
// command runs at most once even across restarts, and the horizon: the
// latest issue time among the commands it forgot.
type ledger struct {
	mu      sync.Mutex
	file    string
	max     int // maxLedger; tests lower it
	ran     map[string]Outcome
	horizon time.Time
}

// ledgerFile is the ledger as it is written.
type ledgerFile struct {
	Format   int                `json:"ledger"`
	Horizon  time.Time          `json:"horizon,omitzero"`
	Commands map[string]Outcome `json:"commands"`
}

func openLedger(file string) (*ledger, error) {
	l := &ledger{file: file, max: maxLedger, ran: map[string]Outcome{}}
	var raw map[string]json.RawMessage
	found, err := readJSON(file, &raw)
	if err == nil && found {
		err = l.decode(raw)
	}
	if err != nil {
		return nil, fmt.Errorf("command ledger: %w (delete %s to forget the commands that ran)", err, file)
	}
	return l, nil
}

// decode reads the ledger file's object in either form.
func (l *ledger) decode(raw map[string]json.RawMessage) error {
	var format int
	if err := json.Unmarshal(raw["ledger"], &format); err == nil && format == ledgerFormat {
		var f ledgerFile
		b, _ := json.Marshal(raw)
		if err := json.Unmarshal(b, &f); err != nil {
			return err
		}
		l.horizon = f.Horizon
		if f.Commands != nil {
			l.ran = f.Commands
		}
		return nil
	}
	for id, o := range raw { // the first form: the commands alone
		var out Outcome
		if err := json.Unmarshal(o, &out); err != nil {
			return fmt.Errorf("command %q: %w", id, err)
		}
		l.ran[id] = out
	}
	return nil
}

func (l *ledger) get(id string) (Outcome, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	o, ok := l.ran[id]
	return o, ok
}

// stale returns the horizon and true when a command issued at issued,
// which the ledger does not hold, is older than its window: issued no
// later than a command it forgot. It may have run; nothing proves it did
// not.
func (l *ledger) stale(issued time.Time) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.horizon, !issued.IsZero() && !l.horizon.IsZero() && !issued.After(l.horizon)
}

func (l *ledger) put(o Outcome) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ran[o.ID] = o
	if len(l.ran) > l.max {
		all := make([]Outcome, 0, len(l.ran))
		for _, o := range l.ran {
			all = append(all, o)
		}
		slices.SortFunc(all, func(a, b Outcome) int { return a.Started.Compare(b.Started) })
		for _, o := range all[:len(all)-l.max] {
			delete(l.ran, o.ID)
			if o.IssuedAt.After(l.horizon) {
				l.horizon = o.IssuedAt
			}
		}
	}
	return writeJSON(l.file, ledgerFile{Format: ledgerFormat, Horizon: l.horizon, Commands: l.ran})
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
