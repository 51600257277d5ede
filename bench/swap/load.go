package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"time"
)

// result is one latency measurement: the p99 of the calls, how many
// completed, and how many swaps happened meanwhile.
type result struct {
	p99   time.Duration
	calls int
	swaps int
}

// rate returns the calls a second the measurement completed.
func (r result) rate(d time.Duration) float64 { return float64(r.calls) / d.Seconds() }

// generator calls POST /process until ctx ends and returns each call's
// latency.
type generator func(ctx context.Context) ([]time.Duration, error)

// closedLoop is conns connections calling without pause: the offered load
// is whatever the neuron can take, so it saturates the machine.
func (b *bench) closedLoop(conns int) generator {
	return func(ctx context.Context) ([]time.Duration, error) {
		var c collector
		for range conns {
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				var mine []time.Duration
				for ctx.Err() == nil {
					t0 := time.Now()
					if err := b.process(); err != nil {
						c.fail(err)
						break
					}
					mine = append(mine, time.Since(t0))
				}
				c.add(mine...)
			}()
		}
		return c.wait()
	}
}

// openLoopProcess is openLoop run by a child process (this command with
// -generate), so that the calls are sent on time: in this process they
// would wait for the Go scheduler, whose every thread a guest may hold
// for milliseconds (compiled guest code cannot be preempted).
func (b *bench) openLoopProcess(rate float64) generator {
	return func(ctx context.Context) ([]time.Duration, error) {
		self, err := os.Executable()
		if err != nil {
			return nil, err
		}
		deadline, _ := ctx.Deadline()
		cmd := exec.Command(self, "-generate", b.base, "-rate", strconv.FormatFloat(rate, 'f', -1, 64),
			"-duration", time.Until(deadline).String())
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("load generator: %w", err)
		}
		var lats []time.Duration
		if err := json.Unmarshal(out, &lats); err != nil {
			return nil, fmt.Errorf("load generator's output: %w", err)
		}
		return lats, nil
	}
}

// generateLoad is the child of openLoopProcess: it offers rate calls a
// second to the neuron at base for d, and writes the latencies to
// standard output as JSON.
func generateLoad(base string, rate float64, d time.Duration) error {
	b := &bench{base: base, client: newClient()}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	lats, err := b.openLoop(rate)(ctx)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(lats)
}

// openLoop offers rate calls a second, arriving as a Poisson process with
// a fixed seed (the same schedule every round), each on its own goroutine
// whatever the calls before it are doing. A call's latency runs from its
// scheduled arrival, so a stall that delays sending counts too (no
// coordinated omission). Below the neuron's capacity this is how a
// latency target is usually stated: at a given load, not at saturation.
func (b *bench) openLoop(rate float64) generator {
	return func(ctx context.Context) ([]time.Duration, error) {
		var c collector
		rng := rand.New(rand.NewPCG(1, 2))
		next := time.Now()
		late, sent, maxLate := 0, 0, time.Duration(0)
		defer func() {
			if late > 0 {
				fmt.Fprintf(os.Stderr, "  (load generator: %d of %d calls sent over 1 ms late, the latest by %.1f ms: it waited for a core; their latency counts from when they were due)\n", late, sent, ms(maxLate))
			}
		}()
		for {
			next = next.Add(time.Duration(rng.ExpFloat64() / rate * float64(time.Second)))
			if d := time.Until(next); d > 0 {
				select {
				case <-ctx.Done():
				case <-time.After(d):
				}
			}
			if ctx.Err() != nil {
				break
			}
			if lag := time.Since(next); lag > time.Millisecond {
				late, maxLate = late+1, max(maxLate, lag)
			}
			sent++
			c.wg.Add(1)
			go func(at time.Time) {
				defer c.wg.Done()
				if err := b.process(); err != nil {
					c.fail(err)
					return
				}
				c.add(time.Since(at))
			}(next)
		}
		return c.wait()
	}
}

// collector gathers the latencies and errors of a generator's goroutines.
type collector struct {
	wg     sync.WaitGroup
	mu     sync.Mutex
	lats   []time.Duration
	first  error // the first error, and how many there were
	failed int
}

func (c *collector) add(d ...time.Duration) {
	c.mu.Lock()
	c.lats = append(c.lats, d...)
	c.mu.Unlock()
}

func (c *collector) fail(err error) {
	c.mu.Lock()
	if c.failed++; c.first == nil {
		c.first = err
	}
	c.mu.Unlock()
}

func (c *collector) wait() ([]time.Duration, error) {
	c.wg.Wait()
	if c.failed > 0 {
		return c.lats, fmt.Errorf("%d of %d calls failed, the first: %w", c.failed, c.failed+len(c.lats), c.first)
	}
	return c.lats, nil
}

// process calls POST /process with batch and fails unless it answers 200.
func (b *bench) process() error {
	resp, err := b.client.Post(b.base+"/process", "application/json", bytes.NewReader(batch))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("POST /process answered %d: %.200s", resp.StatusCode, body)
	}
	return err
}

// storm is the swaps made during a measurement: its modules dropped as
// dp.wasm in turn, each as soon as the one before serves or, with pace,
// at most pace a second.
type storm struct {
	mods []module
	pace float64
}

// measure runs gen for d and returns the p99 of its calls, swapping
// meanwhile as s says when it is not nil.
func (b *bench) measure(d time.Duration, gen generator, s *storm) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var (
		lats []time.Duration
		err  error
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		lats, err = gen(ctx)
	}()
	var r result
	var errs []error
	for start := time.Now(); s != nil && ctx.Err() == nil; r.swaps++ {
		if s.pace > 0 {
			select {
			case <-ctx.Done():
				continue
			case <-time.After(time.Until(start.Add(time.Duration(float64(r.swaps) / s.pace * float64(time.Second))))):
			}
		}
		if _, err := b.drop("dp.wasm", "/process", s.mods[r.swaps%len(s.mods)]); err != nil {
			errs = append(errs, err)
			break
		}
	}
	<-done
	if err := errors.Join(append(errs, err)...); err != nil {
		return result{}, err
	}
	if len(lats) == 0 {
		return result{}, errors.New("no calls completed")
	}
	slices.Sort(lats)
	r.p99, r.calls = lats[len(lats)*99/100], len(lats)
	return r, nil
}
