package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The example processors a neuron serves in these tests, built as the
// Makefile builds them.
var exampleProcessors = map[string]string{
	"hello.wasm":                "./examples/hello",
	"data-processor-1.0.0.wasm": "./examples/dataprocessor/v1.0.0",
	"data-processor-1.1.0.wasm": "./examples/dataprocessor/v1.1.0",
}

// pollLimit bounds every wait on the test's neuron and federation: a
// loaded machine is slow, not broken.
const pollLimit = 60 * time.Second

// adminToken is the test federation's admin token.
const adminToken = "observe-test-admin-token"

var (
	fleetOnce     sync.Once
	fleetExported map[string]map[string][]string
	fleetErr      error
)

// fleetMetrics runs a neuron with the example processors and an embedded
// development federation on loopback, once per test binary, drives it until
// every metric family the artifacts use has a series, and returns what each
// job exports: job "neuron" (the neuron's /metrics) and job "federation"
// (the federation's), each metric name with its labels. A histogram gives
// NAME_bucket (with le), NAME_sum and NAME_count; a summary NAME (with
// quantile), NAME_sum and NAME_count.
//
// A vector with no series yet is absent from /metrics, HELP line included,
// so the neuron is made to produce each one rather than trusting a list:
// calls answered 200 and 429 (a processor rate limit), an experiment
// between the data processor's two versions whose guardrail stops a
// variant (an experiment_variant_stopped event), and the federation link
// (its spool gauges). Rejections are a plain counter, always there.
func fleetMetrics(t *testing.T) map[string]map[string][]string {
	t.Helper()
	bin := neuronBinary(t)
	fleetOnce.Do(func() { fleetExported, fleetErr = runFleet(bin) })
	if fleetErr != nil {
		t.Fatal(fleetErr)
	}
	return fleetExported
}

func runFleet(bin string) (map[string]map[string][]string, error) {
	dir, err := os.MkdirTemp(buildDir, "fleet-")
	if err != nil {
		return nil, err
	}
	plugins := filepath.Join(dir, "plugins")
	for file, pkg := range exampleProcessors {
		if err := goBuild([]string{"GOOS=wasip1", "GOARCH=wasm"}, "-buildmode=c-shared", "-o", filepath.Join(plugins, file), pkg); err != nil {
			return nil, err
		}
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	fedAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	config := fmt.Sprintf(`id: observe-test
listen: %s
pluginsDir: %s
dataDir: %s
federation:
  url: embedded
  listen: %s
  adminToken: %s
  heartbeatInterval: 1s
  analyticsInterval: 1s
rateLimits:
  hello: 1
`, addr, plugins, filepath.Join(dir, "data"), fedAddr, adminToken)
	if err := os.WriteFile(filepath.Join(dir, "neuron.yaml"), []byte(config), 0o600); err != nil {
		return nil, err
	}
	var log bytes.Buffer
	cmd := exec.Command(bin, "run", "--config", filepath.Join(dir, "neuron.yaml"))
	cmd.Stdout, cmd.Stderr = &log, &log
	exited, err := start(cmd)
	if err != nil {
		return nil, err
	}
	defer stop(cmd, exited)
	exported, err := driveFleet("http://"+addr, "http://"+fedAddr)
	if err != nil {
		return nil, fmt.Errorf("%w\nneuron log:\n%s", err, log.String())
	}
	return exported, nil
}

// start starts the neuron; the channel is closed once it has exited.
func start(cmd *exec.Cmd) (<-chan struct{}, error) {
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start neuron: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	return exited, nil
}

// stop stops the neuron gracefully, killing it if it has not stopped
// within the poll limit.
func stop(cmd *exec.Cmd, exited <-chan struct{}) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(pollLimit):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// driveFleet makes the neuron produce every series, then scrapes both jobs.
func driveFleet(neuron, fed string) (map[string]map[string][]string, error) {
	if err := poll("the neuron ready and registered", func() error {
		if _, err := call("GET", neuron+"/ready", "", 200); err != nil {
			return err
		}
		body, err := call("GET", fed+"/api/admin/neurons", "", 200)
		if err == nil && !strings.Contains(body, `"observe-test"`) {
			err = fmt.Errorf("not listed yet: %s", body)
		}
		return err
	}); err != nil {
		return nil, err
	}
	// Past the processor's limit of one call a second: 200s and 429s.
	for range 5 {
		if _, err := call("GET", neuron+"/hello/fleet", "", 0); err != nil {
			return nil, err
		}
	}
	// A guardrail no call can meet (1 µs): once variant b has its 20
	// calls, it is stopped.
	if _, err := call("POST", fed+"/api/admin/experiments", `{"target": "fleet", "experiment": {"id": "observe",
		"plugin": "data-processor", "stickyKey": "json:batchId", "guardrails": {"responseTime": 0.001},
		"variants": [{"name": "control", "weight": 50, "version": "1.0.0"}, {"name": "b", "weight": 50, "version": "1.1.0"}]}}`, 201); err != nil {
		return nil, err
	}
	batch := 0
	if err := poll("a guardrail stop", func() error {
		for range 20 {
			batch++
			if _, err := call("POST", neuron+"/process", fmt.Sprintf(`{"batchId": "b%d", "records": [{"id": "1"}]}`, batch), 200); err != nil {
				return err
			}
		}
		fams, err := scrape(neuron)
		if err != nil {
			return err
		}
		for _, m := range fams["neuron_events_total"].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "type" && l.GetValue() == "experiment_variant_stopped" {
					return nil
				}
			}
		}
		return fmt.Errorf("no experiment_variant_stopped event after %d calls", batch)
	}); err != nil {
		return nil, err
	}
	exported := map[string]map[string][]string{}
	for job, url := range map[string]string{"neuron": neuron, "federation": fed} {
		fams, err := scrape(url)
		if err != nil {
			return nil, err
		}
		exported[job] = seriesNames(fams)
	}
	return exported, nil
}

// seriesNames maps each series name the families expose to its labels.
func seriesNames(fams map[string]*dto.MetricFamily) map[string][]string {
	names := map[string][]string{}
	add := func(name string, ls []string) {
		for _, l := range ls {
			if !slices.Contains(names[name], l) {
				names[name] = append(names[name], l)
			}
		}
		if names[name] == nil {
			names[name] = []string{}
		}
	}
	for name, f := range fams {
		var ls []string
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName())
			}
		}
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			add(name+"_bucket", append(ls, "le"))
			add(name+"_sum", ls)
			add(name+"_count", ls)
		case dto.MetricType_SUMMARY:
			add(name, append(ls, "quantile"))
			add(name+"_sum", ls)
			add(name+"_count", ls)
		default:
			add(name, ls)
		}
	}
	return names
}

// scrape reads base/metrics in the Prometheus text format.
func scrape(base string) (map[string]*dto.MetricFamily, error) {
	body, err := call("GET", base+"/metrics", "", 200)
	if err != nil {
		return nil, err
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s/metrics: %w", base, err)
	}
	return fams, nil
}

// client bounds each request to the test's servers generously: a loaded
// machine is slow, not broken.
var client = &http.Client{Timeout: 30 * time.Second}

// call sends a request (with the admin token, JSON body when given) and
// returns the body; want, when not 0, is the status it must answer.
func call(method, url, body string, want int) (string, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && want != 0 && resp.StatusCode != want {
		err = fmt.Errorf("%s %s: %s, want %d: %s", method, url, resp.Status, want, b)
	}
	return string(b), err
}

// errFinal, wrapped in an error of poll's function, ends the wait at once:
// what it waits for can no longer happen.
var errFinal = errors.New("no use waiting")

// poll calls f until it succeeds, for at most pollLimit.
func poll(what string, f func() error) error {
	deadline := time.Now().Add(pollLimit)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if errors.Is(err, errFinal) {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting %v for %s: %w", pollLimit, what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// freeAddr returns a loopback address with a port free at the time.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}
