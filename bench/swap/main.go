// Command swap measures hot swaps on a running neuron with its plugins
// directory watched, as a deployment does them:
//
//  1. drop → serving: the time from a module's atomic rename into the
//     plugins directory to the new version answering, with a warm
//     compilation cache (a module compiled before) and a cold one (bytes
//     never seen: a custom section with a fresh nonce is appended, which
//     changes the digest and nothing else), for the Go data processor and
//     the C one;
//
//  2. calls during a swap storm: the p99 latency of a steady stream of
//     calls while the data processor is swapped back and forth without
//     pause, against the same stream with no swaps, as a ratio.
//
//     go run ./bench/swap -plugins plugins
//
// Both run in one process: the agent, its watcher, and the load generator.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"time"

	"github.com/empirefederation/neuron/internal/agent"
	"github.com/empirefederation/neuron/internal/config"
)

func main() {
	plugins := flag.String("plugins", "plugins", "directory with data-processor-1.0.0.wasm, data-processor-1.1.0.wasm and data-processor-c.wasm")
	drops := flag.Int("drops", 10, "drops measured per case")
	quiet := flag.Duration("quiet", 0, "the watcher's quiet period (0: the neuron's default)")
	conns := flag.Int("conns", 4, "concurrent connections of the steady stream")
	duration := flag.Duration("duration", 5*time.Second, "length of one latency measurement")
	rounds := flag.Int("rounds", 3, "latency measurements of each kind, alternating")
	poolMin := flag.Int("poolmin", 0, "instances each version starts with (0: the default)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the latency rounds (steady and storm) to this file")
	memProfile := flag.String("memprofile", "", "write an allocation profile, taken after the latency rounds, to this file")
	blockProfile := flag.String("blockprofile", "", "record blocking and mutex contention during the latency rounds and write them to this file and this file + .mutex")
	flag.Parse()
	profile, allocProfile, blockFile = *cpuProfile, *memProfile, *blockProfile
	if err := run(*plugins, *drops, *quiet, *poolMin, *conns, *duration, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "swap:", err)
		os.Exit(1)
	}
}

// profile, allocProfile and blockFile are the -cpuprofile, -memprofile
// and -blockprofile files, empty for none: where the latency rounds' CPU,
// allocations and blocking go, to find what a swap storm costs the calls.
var profile, allocProfile, blockFile string

// bench is one agent serving the data processors from a scratch plugins
// directory.
type bench struct {
	dir    string // plugins directory
	a      *agent.Agent
	base   string
	client *http.Client
}

func run(plugins string, drops int, quiet time.Duration, poolMin, conns int, duration time.Duration, rounds int) error {
	mods := map[string][]byte{}
	for _, name := range []string{"data-processor-1.0.0.wasm", "data-processor-1.1.0.wasm", "data-processor-c.wasm"} {
		b, err := os.ReadFile(filepath.Join(plugins, name))
		if err != nil {
			return fmt.Errorf("%w (build them with make plugins plugins-c)", err)
		}
		mods[name] = b
	}
	tmp, err := os.MkdirTemp("", "swapbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	b, err := start(tmp, quiet, poolMin)
	if err != nil {
		return err
	}
	defer b.a.Stop()
	fmt.Printf("drop → serving, %d drops per case (median, min–max)\n", drops)
	for _, c := range []struct {
		name, file, path string
		a, b             []byte
	}{
		{"Go data processor (3.7 MB)", "dp.wasm", "/process", mods["data-processor-1.0.0.wasm"], mods["data-processor-1.1.0.wasm"]},
		{"C data processor (0.1 MB)", "dpc.wasm", "/c/process", mods["data-processor-c.wasm"], nonce(mods["data-processor-c.wasm"], 0)},
	} {
		for _, cold := range []bool{false, true} {
			ds, err := b.dropToServing(c.file, c.path, c.a, c.b, drops, cold)
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			slices.Sort(ds)
			fmt.Printf("  %-28s %-5s %7.1f ms  (%.1f–%.1f)\n", c.name, map[bool]string{false: "warm", true: "cold"}[cold],
				ms(ds[len(ds)/2]), ms(ds[0]), ms(ds[len(ds)-1]))
		}
	}
	fmt.Printf("\nPOST /process p99 over %s with %d connections, steady against a swap storm, %d rounds alternating\n", duration, conns, rounds)
	var steady, storm []time.Duration
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	if blockFile != "" {
		goruntime.SetBlockProfileRate(int(time.Microsecond))
		goruntime.SetMutexProfileFraction(1)
	}
	for r := range rounds {
		s, _, err := b.stream(conns, duration, nil)
		if err != nil {
			return err
		}
		w, n, err := b.stream(conns, duration, func(i int) []byte {
			return [][]byte{mods["data-processor-1.1.0.wasm"], mods["data-processor-1.0.0.wasm"]}[i%2]
		})
		if err != nil {
			return err
		}
		fmt.Printf("  round %d: steady p99 %.2f ms, storm p99 %.2f ms (%d swaps)\n", r+1, ms(s), ms(w), n)
		steady, storm = append(steady, s), append(storm, w)
	}
	if blockFile != "" {
		if err := writeProfile("block", blockFile); err != nil {
			return err
		}
		if err := writeProfile("mutex", blockFile+".mutex"); err != nil {
			return err
		}
	}
	if allocProfile != "" {
		if err := writeProfile("allocs", allocProfile); err != nil {
			return err
		}
	}
	slices.Sort(steady)
	slices.Sort(storm)
	fmt.Printf("  median p99: steady %.2f ms, storm %.2f ms, ratio storm/steady %.2f (target ≤ 1.2)\n",
		ms(steady[len(steady)/2]), ms(storm[len(storm)/2]), float64(storm[len(storm)/2])/float64(steady[len(steady)/2]))
	return nil
}

// start runs an agent on a fresh plugins directory holding the Go data
// processor 1.0.0, with the directory watched.
func start(tmp string, quiet time.Duration, poolMin int) (*bench, error) {
	dir := filepath.Join(tmp, "plugins")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	args := []string{"--listen", "127.0.0.1:0", "--plugins-dir", dir, "--data-dir", filepath.Join(tmp, "data"), "--log-level", "error"}
	cfg, err := config.Load(args, func(string) (string, bool) { return "", false })
	if err != nil {
		return nil, err
	}
	cfg.PluginsWatch = true
	if quiet > 0 {
		cfg.PluginsWatchQuiet = quiet
	}
	if poolMin > 0 {
		cfg.Limits.PoolMin = poolMin
	}
	a, err := agent.Start(context.Background(), cfg, io.Discard)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &bench{dir: dir, a: a, base: "http://" + a.Addr().String(), client: &http.Client{Transport: tr, Timeout: 30 * time.Second}}, nil
}

// dropToServing drops a and b in turn as file, n times each after a first
// round that compiles both (warm), or drops bytes never seen each time
// (cold), and returns how long each took from the rename to the new
// digest serving and answering path.
func (b *bench) dropToServing(file, path string, a, bb []byte, n int, cold bool) ([]time.Duration, error) {
	mods := [][]byte{a, bb}
	for _, m := range mods { // warm both (and leave b's turn next)
		if _, err := b.drop(file, path, m); err != nil {
			return nil, err
		}
	}
	var out []time.Duration
	for i := range n {
		m := mods[i%2]
		if cold {
			m = nonce(a, time.Now().UnixNano())
		}
		d, err := b.drop(file, path, m)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// drop renames mod into the plugins directory as file and waits until a
// processor with its digest serves and answers path with 200.
func (b *bench) drop(file, path string, mod []byte) (time.Duration, error) {
	digest := sha256Hex(mod)
	tmp := filepath.Join(b.dir, "."+file+".tmp")
	if err := os.WriteFile(tmp, mod, 0o644); err != nil {
		return 0, err
	}
	t0 := time.Now()
	if err := os.Rename(tmp, filepath.Join(b.dir, file)); err != nil {
		return 0, err
	}
	for deadline := t0.Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if !b.serves(digest) {
			continue
		}
		took := time.Since(t0)
		if st, err := b.call(path, batch); err != nil || st != http.StatusOK {
			return 0, fmt.Errorf("%s serves but %s answered %d: %v", file, path, st, err)
		}
		return took, nil
	}
	return 0, fmt.Errorf("%s (%s) not serving after 60s", file, digest[:12])
}

// serves reports whether a processor with digest serves: the snapshot
// that holds it is the one the next call goes to.
func (b *bench) serves(digest string) bool {
	for _, p := range b.a.Runtime().Processors() {
		if p.Digest == digest && p.Serving {
			return true
		}
	}
	return false
}

// batch is ten records, two of them duplicates by email.
var batch = []byte(`{"batchId": "bench", "records": [` +
	`{"id": 1, "email": "a@example.com"}, {"id": 2, "email": "b@example.com"}, {"id": 3, "email": "c@example.com"},` +
	`{"id": 4, "email": "d@example.com"}, {"id": 5, "email": "e@example.com"}, {"id": 6, "email": "f@example.com"},` +
	`{"id": 7, "email": "g@example.com"}, {"id": 8, "email": "h@example.com"}, {"id": 9, "email": "A@example.com "},` +
	`{"id": 10, "email": "B@example.com"}]}`)

func (b *bench) call(path string, body []byte) (int, error) {
	resp, err := b.client.Post(b.base+path, "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// stream keeps conns connections calling POST /process for d and returns
// the p99 latency. With next, it meanwhile drops next(0), next(1), ... as
// dp.wasm, each as soon as the one before serves, and returns how many.
func (b *bench) stream(conns int, d time.Duration, next func(int) []byte) (time.Duration, int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var (
		mu   sync.Mutex
		lats []time.Duration
		errs []error
		wg   sync.WaitGroup
	)
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for ctx.Err() == nil {
				t0 := time.Now()
				st, err := b.call("/process", batch)
				if err == nil && st != http.StatusOK {
					err = fmt.Errorf("POST /process answered %d", st)
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					break
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		}()
	}
	swaps := 0
	for ; next != nil && ctx.Err() == nil; swaps++ {
		if _, err := b.drop("dp.wasm", "/process", next(swaps)); err != nil {
			errs = append(errs, err)
			break
		}
	}
	wg.Wait()
	if len(errs) > 0 {
		return 0, 0, errors.Join(errs...)
	}
	if len(lats) == 0 {
		return 0, 0, errors.New("no calls completed")
	}
	slices.Sort(lats)
	return lats[len(lats)*99/100], swaps, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// writeProfile writes the named runtime/pprof profile of the run so far to
// path.
func writeProfile(name, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("%s profile: %w", name, err)
	}
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("%s profile: %w", name, err)
	}
	return f.Close()
}
