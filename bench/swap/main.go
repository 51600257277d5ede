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
//     pause, against the same stream with no swaps, as a ratio. The stream
//     is -conns connections calling without pause (closed loop, which
//     saturates the machine), first with the storm unpaced, then held to
//     each -pace swaps a second; then, with -load, a fixed rate of calls
//     below the capacity the closed loop measured, arriving whatever the
//     calls before them do (open loop).
//
//     go run ./bench/swap -plugins plugins
//
// Both run in one process: the agent, its watcher, and the load generator.
// It starts neuron as `neuron run` does, through internal/config and
// internal/agent, and swaps only by writing into the plugins directory (it
// reads the runtime only to see which version serves), so that it measures
// the path a deployment takes; nothing imports it.
package main

import (
	"bytes"
	"cmp"
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
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/empirefederation/neuron/internal/agent"
	"github.com/empirefederation/neuron/internal/config"
)

func main() {
	plugins := flag.String("plugins", "plugins", "directory with data-processor-1.0.0.wasm, data-processor-1.1.0.wasm and data-processor-c.wasm")
	drops := flag.Int("drops", 10, "drops measured per case (0: skip drop → serving)")
	quiet := flag.Duration("quiet", 0, "the watcher's quiet period (0: the neuron's default)")
	conns := flag.Int("conns", 4, "concurrent connections of the steady stream")
	duration := flag.Duration("duration", 5*time.Second, "length of one latency measurement")
	rounds := flag.Int("rounds", 3, "latency measurements of each kind, alternating")
	poolMin := flag.Int("poolmin", 0, "instances each version starts with (0: the default)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the latency rounds (steady and storm) to this file")
	memProfile := flag.String("memprofile", "", "write an allocation profile, taken after the latency rounds, to this file")
	blockProfile := flag.String("blockprofile", "", "record blocking and mutex contention during the latency rounds and write them to this file and this file + .mutex")
	load := flag.Float64("load", 0.25, "also measure at this fraction of the steady calls/s, offered open loop (0: do not)")
	pace := flag.String("pace", "2,6", "also measure with the storm paced at each of these many swaps a second at most, comma-separated (empty or 0: do not)")
	generate := flag.String("generate", "", "internal: be the open-loop load generator of the neuron at this base URL, at -rate for -duration")
	rate := flag.Float64("rate", 0, "internal: calls a second of -generate")
	flag.Parse()
	if *generate != "" {
		if err := generateLoad(*generate, *rate, *duration); err != nil {
			fmt.Fprintln(os.Stderr, "swap -generate:", err)
			os.Exit(1)
		}
		return
	}
	profile, allocProfile, blockFile = *cpuProfile, *memProfile, *blockProfile
	paces, err := parsePaces(*pace)
	if err != nil {
		fmt.Fprintln(os.Stderr, "swap: -pace:", err)
		os.Exit(2)
	}
	if err := run(*plugins, *drops, *quiet, *poolMin, *conns, *duration, *rounds, *load, paces); err != nil {
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

// parsePaces reads -pace: swaps a second, comma-separated; 0 is none.
func parsePaces(s string) ([]float64, error) {
	var paces []float64
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("%q is not a number of swaps a second", f)
		}
		if v > 0 {
			paces = append(paces, v)
		}
	}
	return paces, nil
}

func run(plugins string, drops int, quiet time.Duration, poolMin, conns int, duration time.Duration, rounds int, load float64, paces []float64) error {
	mods := map[string]module{}
	for _, name := range []string{"data-processor-1.0.0.wasm", "data-processor-1.1.0.wasm", "data-processor-c.wasm"} {
		b, err := os.ReadFile(filepath.Join(plugins, name))
		if err != nil {
			return fmt.Errorf("%w (build them with make plugins plugins-c)", err)
		}
		mods[name] = newModule(b)
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
	if drops > 0 {
		if err := b.dropsToServing(mods, drops); err != nil {
			return err
		}
	}
	swaps := []module{mods["data-processor-1.1.0.wasm"], mods["data-processor-1.0.0.wasm"]}
	for _, m := range swaps { // both compiled before the rounds, and 1.0.0 serving
		if _, err := b.drop("dp.wasm", "/process", m); err != nil {
			return err
		}
	}
	stop, err := startProfiles()
	if err != nil {
		return err
	}
	defer stop()
	fmt.Printf("\nPOST /process p99 over %s with %d connections calling without pause, steady against a swap storm, %d rounds alternating\n", duration, conns, rounds)
	steady, err := b.rounds(rounds, duration, b.closedLoop(conns), storm{mods: swaps})
	if err != nil {
		return err
	}
	for _, pace := range paces {
		fmt.Printf("\nThe same with the storm paced at %g swaps a second at most\n", pace)
		if _, err := b.rounds(rounds, duration, b.closedLoop(conns), storm{mods: swaps, pace: pace}); err != nil {
			return err
		}
	}
	if load > 0 {
		rate := load * steady
		fmt.Printf("\nPOST /process p99 over %s at a fixed %.0f calls/s (%.0f %% of the %.0f calls/s steady above, open loop), steady against a swap storm, %d rounds alternating\n",
			duration, rate, load*100, steady, rounds)
		if _, err := b.rounds(rounds, duration, b.openLoopProcess(rate), storm{mods: swaps}); err != nil {
			return err
		}
	}
	return stop()
}

// dropsToServing measures drop → serving for the Go and the C data
// processor, warm and cold.
func (b *bench) dropsToServing(mods map[string]module, drops int) error {
	fmt.Printf("drop → serving, %d drops per case (median, min–max)\n", drops)
	for _, c := range []struct {
		name, file, path string
		a, b             module
	}{
		{"Go data processor (3.7 MB)", "dp.wasm", "/process", mods["data-processor-1.0.0.wasm"], mods["data-processor-1.1.0.wasm"]},
		{"C data processor (0.1 MB)", "dpc.wasm", "/c/process", mods["data-processor-c.wasm"], newModule(nonce(mods["data-processor-c.wasm"].b, 0))},
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
	return nil
}

// rounds measures gen steady and during the storm st, n rounds of each
// alternating, prints each round and the median p99s and their ratio, and
// returns the median rate of the steady rounds.
func (b *bench) rounds(n int, d time.Duration, gen generator, st storm) (float64, error) {
	var steady, stormy []result
	for r := range n {
		s, err := b.measure(d, gen, nil)
		if err != nil {
			return 0, err
		}
		w, err := b.measure(d, gen, &st)
		if err != nil {
			return 0, err
		}
		fmt.Printf("  round %d: steady p99 %.2f ms (%.0f calls/s), storm p99 %.2f ms (%.0f calls/s, %d swaps)\n",
			r+1, ms(s.p99), s.rate(d), ms(w.p99), w.rate(d), w.swaps)
		steady, stormy = append(steady, s), append(stormy, w)
	}
	s, w := median(steady, result.byP99), median(stormy, result.byP99)
	fmt.Printf("  median p99: steady %.2f ms, storm %.2f ms, ratio storm/steady %.2f (target ≤ 1.2)\n",
		ms(s.p99), ms(w.p99), float64(w.p99)/float64(s.p99))
	return median(steady, result.byCalls).rate(d), nil
}

// byP99 and byCalls order results for median.
func (r result) byP99(o result) int   { return cmp.Compare(r.p99, o.p99) }
func (r result) byCalls(o result) int { return cmp.Compare(r.calls, o.calls) }

// median returns the median of rs in the order by.
func median(rs []result, by func(result, result) int) result {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, by)
	return rs[len(rs)/2]
}

// startProfiles starts the profiles the flags ask for, over the latency
// rounds; stop writes them.
func startProfiles() (stop func() error, err error) {
	var f *os.File
	if profile != "" {
		if f, err = os.Create(profile); err != nil {
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
	}
	if blockFile != "" {
		goruntime.SetBlockProfileRate(int(time.Microsecond))
		goruntime.SetMutexProfileFraction(1)
	}
	var once sync.Once
	return func() error {
		once.Do(func() {
			if f != nil {
				pprof.StopCPUProfile()
				err = f.Close()
			}
			if blockFile != "" {
				err = errors.Join(err, writeProfile("block", blockFile), writeProfile("mutex", blockFile+".mutex"))
			}
			if allocProfile != "" {
				err = errors.Join(err, writeProfile("allocs", allocProfile))
			}
		})
		return err
	}, nil
}

// start runs an agent on a fresh, empty plugins directory, watched.
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
	return &bench{dir: dir, a: a, base: "http://" + a.Addr().String(), client: newClient()}, nil
}

// newClient returns the HTTP client of the load generators: connections
// kept for reuse, so that calls do not pay for new ones.
func newClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// dropToServing drops a and b in turn as file, n times each after a first
// round that compiles both (warm), or drops bytes never seen each time
// (cold), and returns how long each took from the rename to the new
// digest serving and answering path.
func (b *bench) dropToServing(file, path string, a, bb module, n int, cold bool) ([]time.Duration, error) {
	mods := []module{a, bb}
	for _, m := range mods { // warm both (and leave b's turn next)
		if _, err := b.drop(file, path, m); err != nil {
			return nil, err
		}
	}
	var out []time.Duration
	for i := range n {
		m := mods[i%2]
		if cold {
			m = newModule(nonce(a.b, time.Now().UnixNano()))
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
func (b *bench) drop(file, path string, mod module) (time.Duration, error) {
	digest := mod.digest
	tmp := filepath.Join(b.dir, "."+file+".tmp")
	if err := os.WriteFile(tmp, mod.b, 0o644); err != nil {
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
