package runtime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/empirefederation/neuron/internal/testutil"
	"github.com/empirefederation/neuron/runtime"
)

// hammerBatch is the data processor's self-test batch: 1.0.0 and 1.1.0
// answer it differently (1.1.0 also deduplicates by email and lists each
// duplicate), so an answer tells which whole version produced it.
const hammerBatch = `{"batchId":"h","records":[{"id":1,"email":"a@example.com"},{"id":1,"email":"a@example.com"},` +
	`{"id":2,"email":"not an email"},{"id":"3","email":" A@Example.com "}]}`

// processAnswer is the part of POST /process's answer the hammer checks.
type processAnswer struct {
	Version          string            `json:"version"`
	RecordsProcessed int               `json:"recordsProcessed"`
	DuplicatesFound  int               `json:"duplicatesFound"`
	InvalidRecords   int               `json:"invalidRecords"`
	Duplicates       []json.RawMessage `json:"duplicates"`
}

// checkAnswer returns the version that answered r, or why the answer is
// not one whole version's.
func checkAnswer(r reply, process bool) (string, error) {
	if r.status != http.StatusOK {
		return "", fmt.Errorf("status %d %.200s", r.status, r.body)
	}
	header, _ := strings.CutPrefix(r.header.Get(runtime.HeaderPlugin), "data-processor@")
	var a processAnswer
	if err := json.Unmarshal(r.body, &a); err != nil {
		return "", fmt.Errorf("body %.200q: %w", r.body, err)
	}
	if a.Version != header {
		return "", fmt.Errorf("header says %s, body says %s", header, a.Version)
	}
	if !process {
		return a.Version, nil
	}
	want := map[string][4]int{"1.0.0": {2, 1, 1, 0}, "1.1.0": {1, 2, 1, 2}}[a.Version]
	if got := [4]int{a.RecordsProcessed, a.DuplicatesFound, a.InvalidRecords, len(a.Duplicates)}; got != want {
		return "", fmt.Errorf("%s answered processed/duplicates/invalid/listed %v, want %v: %s", a.Version, got, want, r.body)
	}
	return a.Version, nil
}

// TestSwapHammer drives continuous requests while the data processor is
// swapped between 1.0.0 and 1.1.0 fifty times, by file drops mixed with
// Reload, Rollback and Unpin: no request may fail, every answer must come
// whole from one version, and afterwards no goroutine, drain, wazero
// runtime or guest memory is left over.
func TestSwapHammer(t *testing.T) {
	const clients = 8
	swaps := 50
	if testing.Short() {
		swaps = 10
	}
	builds := map[string][]byte{}
	for _, v := range []string{"1.0.0", "1.1.0"} {
		b, err := os.ReadFile(testutil.BuildWasm(t, "examples/dataprocessor/v"+v))
		if err != nil {
			t.Fatal(err)
		}
		builds[v] = b
	}
	e := startEnv(t, runtime.Options{Limits: runtime.Limits{PoolMax: 4}}, map[string][]byte{"data-processor.wasm": builds["1.0.0"]})
	if _, err := checkAnswer(e.do("POST", "/process", strings.NewReader(hammerBatch)), true); err != nil {
		t.Fatal(err)
	}
	e.client.CloseIdleConnections()
	before := goroutines()

	var served [2]atomic.Int64 // answers from 1.0.0 and 1.1.0
	var failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				process := (c+i)%2 == 0
				var r reply
				var err error
				if process {
					r, err = e.send(context.Background(), "POST", "/process", strings.NewReader(hammerBatch))
				} else {
					r, err = e.send(context.Background(), "GET", "/status", nil)
				}
				v := ""
				if err == nil {
					v, err = checkAnswer(r, process)
				}
				if err != nil {
					if failed.Add(1) <= 5 {
						t.Errorf("client %d request %d: %v", c, i, err)
					}
					continue
				}
				served[map[string]int{"1.0.0": 0, "1.1.0": 1}[v]].Add(1)
			}
		})
	}

	current := "1.0.0"
	other := map[string]string{"1.0.0": "1.1.0", "1.1.0": "1.0.0"}
	for i := range swaps {
		next := other[current]
		var ch runtime.Changes
		var err error
		switch {
		case i%10 == 4 && current == "1.1.0": // back to 1.0.0 from the archive, by command
			var to runtime.ProcessorInfo
			_, to, err = e.rt.Rollback(context.Background(), "data-processor")
			if err == nil && to.Version != next {
				err = fmt.Errorf("rolled back to %s", to.Version)
			}
		case i%10 == 5 && current == "1.0.0" && e.serving("data-processor").Pinned: // forward again
			err = e.rt.Unpin(context.Background(), "data-processor")
		case i%10 == 7: // the same version again, by command
			next = current
			ch, err = e.rt.Reload(context.Background(), "data-processor")
			if err == nil && len(ch.Swapped) != 1 {
				err = fmt.Errorf("Reload = %s, want one swap", summary(ch))
			}
		default:
			e.put(map[string][]byte{"data-processor.wasm": builds[next]})
			ch = e.sync()
			if len(ch.Swapped) != 1 {
				err = fmt.Errorf("Sync = %s, want a swap to %s", summary(ch), next)
			}
		}
		if err != nil {
			t.Fatalf("swap %d to %s: %v", i, next, err)
		}
		current = next
		// Let the clients reach the new version before the next swap, so
		// that every swap happens under load.
		idx := map[string]int{"1.0.0": 0, "1.1.0": 1}[current]
		seen := served[idx].Load()
		testutil.Eventually(t, waitLimit, "answers from "+current, func() bool { return served[idx].Load() > seen+clients })
	}
	close(stop)
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Errorf("%d requests failed during %d swaps", n, swaps)
	}
	t.Logf("%d swaps; answers: 1.0.0 %d, 1.1.0 %d", swaps, served[0].Load(), served[1].Load())
	e.settled()
	// Guest memories live outside the Go heap: only the loaded version's
	// instances may hold one (the runtime counts its own only).
	if live, instances := runtime.LiveGuestMemories(e.rt), e.rt.Resources().Instances; live != int64(instances) {
		t.Errorf("%d guest memories held for %d live instances", live, instances)
	}
	e.client.CloseIdleConnections()
	testutil.Eventually(t, waitLimit, "goroutines back to their baseline", func() bool { return goroutines() <= before })
}
