// Command httpload measures the HTTP throughput of the example processors
// (data-processor 1.0.0's POST /process and hello's GET /hello/{name})
// served by neuron against native Go handlers doing the same work, in the
// same process and the same run, and prints the ratios.
//
// Both servers listen on loopback; the load generator keeps a fixed number
// of keep-alive connections busy for a fixed time against one server, then
// the other, alternating for several rounds so that drift on the machine
// affects both alike. It starts neuron as `neuron run` does, through
// internal/config and internal/agent, and reaches the runtime only through
// them, so that it measures what a deployment serves; nothing imports it.
//
//	go run ./bench/httpload -plugins plugins -conns 32 -duration 5s -rounds 3
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/empirefederation/neuron/examples/dataprocessor/process"
	"github.com/empirefederation/neuron/internal/agent"
	"github.com/empirefederation/neuron/internal/config"
)

func main() {
	plugins := flag.String("plugins", "plugins", "directory with data-processor-1.0.0.wasm")
	conns := flag.Int("conns", 32, "concurrent keep-alive connections")
	duration := flag.Duration("duration", 5*time.Second, "length of one measurement")
	rounds := flag.Int("rounds", 3, "measurements per server, alternating")
	records := flag.Int("records", 10, "records per batch")
	pool := flag.Int("pool", 0, "neuron's instances per processor at most (0: the default)")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if *profile != "" {
		f, err := os.Create(*profile)
		if err == nil {
			_ = pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	if err := run(*plugins, *conns, *duration, *rounds, *records, *pool); err != nil {
		fmt.Fprintln(os.Stderr, "httpload:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(plugins string, conns int, duration time.Duration, rounds, records, poolMax int) error {
	dir, err := os.MkdirTemp("", "httpload")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	for _, name := range []string{"data-processor-1.0.0.wasm", "hello.wasm", "data-processor-c.wasm"} {
		if err := copyPlugin(plugins, dir, name); err != nil {
			return err
		}
	}
	cfg, err := config.Load([]string{"--listen", "127.0.0.1:0", "--plugins-dir", dir, "--data-dir", filepath.Join(dir, "data"), "--log-level", "error"},
		func(string) (string, bool) { return "", false })
	if err != nil {
		return err
	}
	if poolMax > 0 {
		cfg.Limits.PoolMax = poolMax
	}
	a, err := agent.Start(context.Background(), cfg, io.Discard)
	if err != nil {
		return err
	}
	defer a.Stop()
	native, err := serveNative()
	if err != nil {
		return err
	}
	workloads := []struct {
		name, path string
		body       []byte
	}{
		{fmt.Sprintf("POST /process (%d records)", records), "/process", batch(records)},
		{fmt.Sprintf("POST /c/process (%d, C)", records), "/c/process", batch(records)},
		{"GET /hello/{name}", "/hello/bench", nil},
	}
	fmt.Printf("%d connections, %s x %d rounds, alternating; best round of each counts\n\n", conns, duration, rounds)
	for _, w := range workloads {
		targets := []target{
			{name: "native Go", url: "http://" + native.String() + w.path},
			{name: "neuron (wasm)", url: "http://" + a.Addr().String() + w.path},
		}
		for i := range targets { // warm up: fill pools, connections, caches
			if _, err := load(targets[i].url, w.body, conns, time.Second); err != nil {
				return err
			}
		}
		for r := range rounds {
			for i := range targets {
				res, err := load(targets[i].url, w.body, conns, duration)
				if err != nil {
					return err
				}
				targets[i].results = append(targets[i].results, res)
				fmt.Printf("%-28s round %d  %-14s %9.0f req/s  p50 %6.2f ms  p99 %6.2f ms\n", w.name, r+1, targets[i].name, res.rps, ms(res.p50), ms(res.p99))
			}
		}
		nat, wasm := targets[0].best(), targets[1].best()
		fmt.Printf("%-28s ratio wasm/native %.2f (%.0f vs %.0f req/s; p99 %.2f vs %.2f ms)\n\n",
			w.name, wasm.rps/nat.rps, wasm.rps, nat.rps, ms(wasm.p99), ms(nat.p99))
	}
	return nil
}

type target struct {
	name    string
	url     string
	results []result
}

func (t target) best() result {
	return slices.MaxFunc(t.results, func(a, b result) int { return int(a.rps - b.rps) })
}

type result struct {
	rps      float64
	p50, p99 time.Duration
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// load keeps conns connections busy against url for d and measures.
func load(url string, body []byte, conns int, d time.Duration) (result, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var (
		wg       sync.WaitGroup
		failures atomic.Int64
		firstErr atomic.Value
		mu       sync.Mutex
		lat      []time.Duration
	)
	deadline := time.Now().Add(d)
	start := time.Now()
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 4096)
			for time.Now().Before(deadline) {
				t0 := time.Now()
				method, rd := http.MethodGet, io.Reader(nil)
				if body != nil {
					method, rd = http.MethodPost, bytes.NewReader(body)
				}
				req, _ := http.NewRequest(method, url, rd)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if n := failures.Load(); n > 0 {
		return result{}, fmt.Errorf("%s: %d failed requests, first: %v", url, n, firstErr.Load())
	}
	slices.Sort(lat)
	return result{
		rps: float64(len(lat)) / elapsed.Seconds(),
		p50: lat[len(lat)/2],
		p99: lat[len(lat)*99/100],
	}, nil
}

// serveNative serves the same processing as data-processor 1.0.0, natively.
func serveNative() (net.Addr, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	opts := process.Options{Version: "1.0.0"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(struct {
			Message string `json:"message"`
			Name    string `json:"name"`
		}{"Hello, " + name + "!", name})
	})
	handle := func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var b process.Batch
		if err := json.NewDecoder(io.LimitReader(r.Body, 4<<20)).Decode(&b); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		res := process.Process(b, opts, process.DefaultMaxDetails)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(process.Answer{Result: res, Version: opts.Version,
			ProcessingTime: float64(time.Since(start).Microseconds()) / 1000})
	}
	mux.HandleFunc("POST /process", handle)
	mux.HandleFunc("POST /c/process", handle) // the C processor does 1.0.0's work
	srv := &http.Server{Handler: mux, ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr(), nil
}

// batch is a request body of n customer records, one of them a duplicate.
func batch(n int) []byte {
	recs := make([]map[string]any, n)
	for i := range recs {
		recs[i] = map[string]any{"id": fmt.Sprintf("cust-%d", i%(n-1+1)), "email": fmt.Sprintf("user%d@example.com", i), "name": "Customer"}
	}
	if n > 1 {
		recs[n-1]["id"] = "cust-0"
	}
	b, _ := json.Marshal(map[string]any{"batchId": "bench", "records": recs})
	return b
}

func copyPlugin(from, to, name string) error {
	b, err := os.ReadFile(filepath.Join(from, name))
	if err != nil {
		return fmt.Errorf("%w (run make plugins first)", err)
	}
	return os.WriteFile(filepath.Join(to, name), b, 0o644)
}
