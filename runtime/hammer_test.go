package runtime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/empirefederation/neuron/runtime"
)

// TestHammer runs many clients at once against echo, interleaved with calls
// that trap or time out, under the race detector in `go test -race`. Every
// echo answer must be the one for its own request: an instance handed to
// two callers, or a buffer shared between calls, would mix them up.
func TestHammer(t *testing.T) {
	const (
		poolMax    = 4
		goroutines = 32
	)
	perG := 24
	if testing.Short() {
		perG = 6
	}
	e := startEnv(t, runtime.Options{
		Limits: runtime.Limits{PoolMax: poolMax},
		// Room for every spinning client (g%8 == 1), so none waits past its
		// CallTimeout for an instance and is refused as overloaded. A new
		// instance's _initialize shares that timeout, and runs among
		// spinning guests: hence not less than half a second.
		PluginLimits: map[string]runtime.Limits{"loop": {CallTimeout: 500 * time.Millisecond, PoolMax: goroutines / 8}},
	}, guests(t, "echo", "trap", "loop"))

	// The monitor samples the pools while the clients run.
	done := make(chan struct{})
	var monitor sync.WaitGroup
	maxLive := map[string]int{}
	monitor.Go(func() {
		for {
			for _, p := range e.rt.Processors() {
				st := p.Pool
				live := max(st.Busy+st.Idle, int(st.Created-st.Discarded))
				maxLive[p.Name] = max(maxLive[p.Name], live)
			}
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
		}
	})

	var traps, spins, echoes atomic.Int64
	var clients sync.WaitGroup
	for g := range goroutines {
		clients.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for i := range perG {
				id := fmt.Sprintf("g%d-r%d", g, i)
				var err error
				switch {
				case i%8 == 7 && g%4 == 0:
					traps.Add(1)
					err = e.expectError("/t/trap/panic", http.StatusInternalServerError, runtime.CodeTrap)
				case i%8 == 7 && g%8 == 1:
					spins.Add(1)
					err = e.expectError("/t/loop/spin", http.StatusGatewayTimeout, runtime.CodeTimeout)
				default:
					echoes.Add(1)
					err = e.echoRoundTrip(rng, id)
				}
				if err != nil {
					t.Errorf("%s: %v", id, err)
				}
			}
		})
	}
	clients.Wait()
	close(done)
	monitor.Wait()

	for _, p := range e.rt.Processors() {
		st := p.Pool
		if maxLive[p.Name] > p.Limits.PoolMax {
			t.Errorf("%s: %d instances lived at once, PoolMax is %d", p.Name, maxLive[p.Name], p.Limits.PoolMax)
		}
		// Discarded instances are replaced on demand, so a pool whose last
		// call trapped may hold none.
		if st.Busy != 0 || st.Waiting != 0 || st.Idle > p.Limits.PoolMax || p.Name == "echo" && st.Idle < 1 {
			t.Errorf("%s: pool after the hammer %+v", p.Name, st)
		}
		if live := st.Created - st.Discarded; live != uint64(st.Idle) {
			t.Errorf("%s: created %d - discarded %d = %d, but %d instances are idle", p.Name, st.Created, st.Discarded, live, st.Idle)
		}
	}
	wantDiscarded := map[string]int64{"echo": 0, "trap": traps.Load(), "loop": spins.Load()}
	for name, want := range wantDiscarded {
		if got := e.processor(name).Pool.Discarded; int64(got) != want {
			t.Errorf("%s: %d instances discarded, want %d", name, got, want)
		}
	}
	okEcho := e.mustMetric("neuron_requests_total", "plugin", "echo", "status", "200")
	if int64(okEcho) != echoes.Load() {
		t.Errorf("neuron_requests_total{echo, 200} = %v, want %d", okEcho, echoes.Load())
	}
	t.Logf("%d echo calls, %d traps, %d timeouts; most instances at once: %v", echoes.Load(), traps.Load(), spins.Load(), maxLive)
}

// echoRoundTrip sends one of echo's requests, chosen by rng and marked with
// id, and checks the answer is the one for it.
func (e *env) echoRoundTrip(rng *rand.Rand, id string) error {
	ctx := context.Background()
	switch rng.IntN(3) {
	case 0: // GET with a query and a forwarded header
		r, err := e.send(ctx, "GET", "/t/echo/"+id+"?q="+id, nil, "X-Echo", id, "X-Other", "no")
		if err != nil {
			return err
		}
		return checkEcho(r, echoed{Method: "GET", Path: "/t/echo/" + id, Route: "/t/echo/{id}", Vars: map[string]string{"id": id},
			RawQuery: "q=" + id, Headers: map[string]string{"X-Echo": id}})
	case 1: // POST of up to 64 KiB, sometimes chunked
		n := rng.IntN(64 << 10)
		var body io.Reader = bytes.NewReader(bytes.Repeat([]byte{'b'}, n))
		if rng.IntN(2) == 0 {
			body = opaque{body}
		}
		r, err := e.send(ctx, "POST", "/t/echo/"+id, body, "Content-Type", "x/"+id)
		if err != nil {
			return err
		}
		return checkEcho(r, echoed{Method: "POST", Path: "/t/echo/" + id, Route: "/t/echo/{id}", Vars: map[string]string{"id": id},
			Headers: map[string]string{"Content-Type": "x/" + id}, BodyLen: n})
	default: // a response of up to 256 KiB
		n := rng.IntN(256 << 10)
		r, err := e.send(ctx, "GET", "/t/echo/size/"+strconv.Itoa(n), nil)
		if err != nil {
			return err
		}
		if r.status != http.StatusOK || len(r.body) != n || strings.Trim(string(r.body), "x") != "" {
			return fmt.Errorf("/t/echo/size/%d: status %d, %d bytes", n, r.status, len(r.body))
		}
		return nil
	}
}

func checkEcho(r reply, want echoed) error {
	if r.status != http.StatusOK {
		return fmt.Errorf("status %d body %.200s", r.status, r.body)
	}
	var got echoed
	if err := json.Unmarshal(r.body, &got); err != nil {
		return fmt.Errorf("body %.200q: %w", r.body, err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		return fmt.Errorf("answer for another request?\n got %+v\nwant %+v", got, want)
	}
	return nil
}

// expectError sends GET path and checks the runtime's error answer.
func (e *env) expectError(path string, status int, code string) error {
	r, err := e.send(context.Background(), "GET", path, nil)
	if err != nil {
		return err
	}
	var body apiError
	if json.Unmarshal(r.body, &body); r.status != status || body.Code != code {
		return fmt.Errorf("GET %s: %d %s; want %d %s", path, r.status, r.body, status, code)
	}
	return nil
}
