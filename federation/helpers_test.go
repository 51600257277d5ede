package federation_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/internal/devfed"
	"github.com/empirefederation/neuron/internal/spool"
	"github.com/empirefederation/neuron/internal/testutil"
)

// waitLimit bounds every wait in these tests; the conditions normally hold
// within milliseconds.
const waitLimit = 10 * time.Second

func testRegistration() federation.Registration {
	return federation.Registration{
		NeuronID: "dp-001", Name: "Data Processor", Type: "wasm-neuron", Language: "go", Version: "1.2.0",
		BaseURL: "http://127.0.0.1:8080", HealthcheckEndpoint: "/health",
		APIEndpoints: []federation.Endpoint{
			{Path: "/process", Method: "POST", Description: "Process customer data batch"},
			{Path: "/status", Method: "GET", Description: "Get processing status"},
		},
		Authentication:       federation.Authentication{Type: "jwt"},
		Capabilities:         []string{"data_processing"},
		Dependencies:         []string{"redis"},
		ResourceRequirements: federation.ResourceRequirements{CPU: "1 core", Memory: "256MB", Storage: "1GB"},
		DeploymentInfo:       federation.DeploymentInfo{Type: "binary", Image: "neuron:dev", Ports: []int{8080}},
		AlertThresholds:      federation.AlertThresholds{ErrorRate: 5, ResponseTime: 2000, HealthScore: 80},
		Metadata:             map[string]string{"region": "local"},
	}
}

// fakeNeuron is a neuron whose every analytics report carries its sequence
// number (customMetrics.seq, and totalRequests = seq), so that tests can
// check order, loss and duplication exactly.
type fakeNeuron struct {
	mu       sync.Mutex
	reg      federation.Registration
	produced int64
	updates  []federation.Update
	sources  []string
	events   []federation.Event
}

func newFakeNeuron() *fakeNeuron { return &fakeNeuron{reg: testRegistration()} }

func (n *fakeNeuron) Registration() federation.Registration {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.reg
}

func (n *fakeNeuron) setEndpoints(eps ...federation.Endpoint) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.reg.APIEndpoints = eps
}

func (n *fakeNeuron) Status() federation.Status {
	return federation.Status{
		Status: federation.StatusActive, HealthScore: 93, Uptime: 60, ProcessID: "4242",
		HostInfo:           federation.HostInfo{Hostname: "box", IP: "127.0.0.1"},
		SystemMetrics:      federation.SystemMetrics{CPUUsage: 12.5, MemoryUsage: 40, DiskUsage: 20},
		ApplicationMetrics: federation.ApplicationMetrics{RequestsPerSecond: 3.5, AverageResponseTime: 12, ActiveConnections: 1},
		DependencyStatus:   map[string]string{"redis": "healthy"},
		PerformanceMetrics: federation.PerformanceMetrics{SuccessRate: 100},
		ConfigVersion:      "v1", BuildVersion: "dev",
	}
}

func (n *fakeNeuron) Analytics() federation.AnalyticsReport {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.produced++
	return federation.AnalyticsReport{Metrics: federation.Metrics{
		TotalRequests: n.produced, SuccessfulRequests: n.produced,
		CustomMetrics: map[string]float64{"seq": float64(n.produced)},
	}}
}

func (n *fakeNeuron) ApplyUpdate(_ context.Context, u federation.Update, source string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.updates = append(n.updates, u)
	n.sources = append(n.sources, source)
	return errors.New("fake neuron rejects every update")
}

func (n *fakeNeuron) event(e federation.Event) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.events = append(n.events, e)
}

func (n *fakeNeuron) eventTypes() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, e := range n.events {
		out = append(out, e.Type)
	}
	return out
}

func (n *fakeNeuron) producedCount() int64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.produced
}

func (n *fakeNeuron) applied() ([]federation.Update, []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.updates), slices.Clone(n.sources)
}

// memQueue is an in-memory federation.Queue (internal/spool is the durable
// one).
type memQueue struct {
	mu         sync.Mutex
	next       uint64
	seqs       []uint64
	data       [][]byte
	aside      map[uint64]string
	failAppend bool
	notify     chan struct{}
}

func newMemQueue() *memQueue {
	return &memQueue{aside: map[uint64]string{}, notify: make(chan struct{}, 1)}
}

func (q *memQueue) Append(data []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.failAppend {
		return errors.New("memqueue: disk full (test)")
	}
	q.next++
	q.seqs, q.data = append(q.seqs, q.next), append(q.data, slices.Clone(data))
	select {
	case q.notify <- struct{}{}:
	default:
	}
	return nil
}

func (q *memQueue) Peek() (uint64, []byte, bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.seqs) == 0 {
		return 0, nil, false, nil
	}
	return q.seqs[0], q.data[0], true, nil
}

func (q *memQueue) Remove(seq uint64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.drop(seq)
}

func (q *memQueue) SetAside(seq uint64, reason string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.aside[seq] = reason
	return q.drop(seq)
}

func (q *memQueue) drop(seq uint64) error {
	i := slices.Index(q.seqs, seq)
	if i < 0 {
		return errors.New("memqueue: no such report")
	}
	q.seqs, q.data = slices.Delete(q.seqs, i, i+1), slices.Delete(q.data, i, i+1)
	return nil
}

func (q *memQueue) Notify() <-chan struct{} { return q.notify }

func (q *memQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.seqs)
}

func (q *memQueue) setFailAppend(fail bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.failAppend = fail
}

func (q *memQueue) asideReasons() map[uint64]string {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := map[uint64]string{}
	for k, v := range q.aside {
		out[k] = v
	}
	return out
}

// lenQueue is a Queue that can say how many reports it holds.
type lenQueue interface {
	federation.Queue
	Len() int
}

// queues are the Queue implementations the Link is tested with.
var queues = map[string]func(t *testing.T) lenQueue{
	"memory": func(*testing.T) lenQueue { return newMemQueue() },
	"spool":  func(t *testing.T) lenQueue { return openSpool(t, t.TempDir()) },
}

// openSpool opens the on-disk spool in dir, closed at cleanup.
func openSpool(t *testing.T, dir string) *spool.Spool {
	t.Helper()
	sp, err := spool.Open(spool.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sp.Close() })
	return sp
}

// startLink starts a Link against fed (a fedtest.Server, or a development
// federation: see startDevFed) with long intervals (tests shorten
// the ones they exercise) and a quick backoff. The log is returned and
// printed if the test fails; the Link is stopped at cleanup.
func startLink(t *testing.T, fed interface{ URL() string }, n *fakeNeuron, q federation.Queue, mod func(*federation.LinkOptions)) (*federation.Link, *testutil.Buffer) {
	t.Helper()
	logs := &testutil.Buffer{}
	opts := federation.LinkOptions{
		Client: federation.NewClient(fed.URL(), nil, "neuron-test"),
		Neuron: n, Queue: q,
		Logger:            slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		HeartbeatInterval: time.Hour, AnalyticsInterval: time.Hour, ConfigPollInterval: time.Hour,
		Backoff: federation.Backoff{Base: 10 * time.Millisecond, Max: 100 * time.Millisecond},
		Events:  n.event,
	}
	if mod != nil {
		mod(&opts)
	}
	link := federation.StartLink(context.Background(), opts)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = link.Stop(ctx)
		if t.Failed() {
			t.Logf("link log:\n%s", logs)
		}
	})
	return link, logs
}

// seqs returns the sequence numbers of the reports the federation accepted.
func seqs(reports []federation.AnalyticsReport) []int64 {
	out := make([]int64, len(reports))
	for i, r := range reports {
		out[i] = int64(r.Metrics.CustomMetrics["seq"])
	}
	return out
}

func countLines(logs *testutil.Buffer, substr string) int {
	return strings.Count(logs.String(), substr)
}

func jsonNumber(s string) json.Number { return json.Number(s) }

// startDevFed serves a development federation with o on loopback, with a
// temporary data directory, a generated admin token and no log unless o
// sets them; it stops when the test ends.
func startDevFed(t *testing.T, o devfed.Options) *devfed.HTTPServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.DataDir == "" {
		o.DataDir = t.TempDir()
	}
	if o.AdminToken == "" {
		o.AdminToken = devfed.GenerateToken()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	fed, err := devfed.Serve(ln, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fed.Stop(context.Background()) })
	return fed
}

// fedRequests reads from fed's /metrics how many requests to route it
// answered with code.
func fedRequests(t *testing.T, fed *devfed.HTTPServer, route string, code int) int {
	t.Helper()
	resp, err := http.Get(fed.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	series := fmt.Sprintf(`neuron_federation_requests_total{code="%d",route="%s"} `, code, route)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, found := strings.CutPrefix(sc.Text(), series); found {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("%s%s: %v", series, v, err)
			}
			return n
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return 0
}

// registrations counts n's federation_registered events with reason.
func registrations(n *fakeNeuron, reason string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	count := 0
	for _, e := range n.events {
		var d struct{ Reason string }
		if e.Type == "federation_registered" && json.Unmarshal(e.Data, &d) == nil && d.Reason == reason {
			count++
		}
	}
	return count
}
