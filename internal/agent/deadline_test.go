package agent_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/devfed"
	"github.com/empirefederation/neuron/internal/testutil"
)

// slowModule serves a module whose body it holds back until release:
// a download that takes as long as the test wants, whatever the speed of
// the machine. requested is closed when the first download begins.
type slowModule struct {
	*httptest.Server
	bin       []byte
	requested chan struct{}
	release   chan struct{}
	once      sync.Once
}

func serveSlowModule(t *testing.T, bin []byte) *slowModule {
	t.Helper()
	m := &slowModule{bin: bin, requested: make(chan struct{}), release: make(chan struct{})}
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.once.Do(func() { close(m.requested) })
		w.Header().Set("Content-Type", "application/wasm")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-m.release:
			_, _ = w.Write(m.bin)
		case <-r.Context().Done(): // the neuron gave up the download
		}
	}))
	t.Cleanup(func() {
		m.Release()
		m.Close()
	})
	return m
}

// Release lets the held downloads finish.
func (m *slowModule) Release() {
	select {
	case <-m.release:
	default:
		close(m.release)
	}
}

// slowLoad starts a federation with o's push timeout and logger, and a
// neuron id joined to it serving data-processor 1.0.0 only (polling its
// config every second, so that a command whose push failed still reaches
// it), and serves data-processor 1.1.0 as a slow download.
func slowLoad(t *testing.T, o devfed.Options, id string) (adminAPI, *neuron, *slowModule) {
	t.Helper()
	api := startDevFedWith(t, o)
	n := start(t, "--config", devConfig(t, api, id, pluginsDir(t, map[string]string{"dp-1.wasm": "examples/dataprocessor/v1.0.0"}), dataDir(t), 150*time.Millisecond, "1s"))
	testutil.Eventually(t, waitLimit, "the neuron active", func() bool { return api.statuses(t)[id] == "active" })
	bin, err := os.ReadFile(testutil.BuildWasm(t, "examples/dataprocessor/v1.1.0"))
	if err != nil {
		t.Fatal(err)
	}
	return api, n, serveSlowModule(t, bin)
}

// commandStatus is a command of the admin API.
type commandStatus struct {
	ID, Status string
	Outcome    json.RawMessage
}

// commandOf reads command id of neuron from the admin API.
func commandOf(t *testing.T, api adminAPI, neuron, id string) commandStatus {
	t.Helper()
	var list []commandStatus
	api.get(t, "/api/admin/commands?neuron="+neuron, &list)
	for _, c := range list {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("no command %s of %s", id, neuron)
	return commandStatus{}
}

// loadSlowly sends load_plugin of the slow module to neuron id and returns
// the command as the admin API answered the send.
func loadSlowly(t *testing.T, api adminAPI, id string, m *slowModule) commandStatus {
	t.Helper()
	var sent []commandStatus
	api.post(t, "/api/admin/commands", fmt.Sprintf(`{"target": %q, "type": "load_plugin", "data": {"url": %q, "sha256": %q}}`,
		id, m.URL+"/dp-2.wasm", sha(m.bin)), http.StatusCreated, &sent)
	if len(sent) != 1 {
		t.Fatalf("commands sent: %+v", sent)
	}
	return sent[0]
}

// waitLoaded waits for the command's outcome and for the neuron to serve
// the loaded version.
func waitLoaded(t *testing.T, api adminAPI, n *neuron, id, cmd string) {
	t.Helper()
	var c commandStatus
	testutil.Eventually(t, waitLimit, "the command's outcome", func() bool {
		c = commandOf(t, api, id, cmd)
		return c.Status == "succeeded" || c.Status == "failed" || c.Status == "rejected"
	})
	if c.Status != "succeeded" {
		t.Fatalf("load_plugin %s: %s, want succeeded: the download outlived the push, not its own deadline", c.Status, c.Outcome)
	}
	if got := n.do(t, "GET", "/status", "").header.Get("X-Neuron-Plugin"); got != "data-processor@1.1.0" {
		t.Errorf("the neuron serves %q after load_plugin, want data-processor@1.1.0", got)
	}
}

// A pushed load_plugin whose download outlasts the federation's push
// timeout still runs to its end (the push was only its messenger), and its
// outcome reaches the federation.
func TestDevFederation_CommandOutlivesPush(t *testing.T) {
	log := &testutil.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("federation log:\n%s", log)
		}
	})
	const id = "slow-load"
	api, n, m := slowLoad(t, devfed.Options{PushTimeout: time.Second, Logger: slog.New(slog.NewTextHandler(log, nil))}, id)
	cmd := loadSlowly(t, api, id, m)
	select {
	case <-m.requested:
	case <-time.After(waitLimit):
		t.Fatal("the neuron never began the download")
	}
	// The push that delivered it has given up; only then does the
	// download end.
	testutil.Eventually(t, waitLimit, "the push to time out", func() bool {
		return strings.Contains(log.String(), "update push failed")
	})
	m.Release()
	waitLoaded(t, api, n, id, cmd.ID)
}

// A push whose command still runs when the neuron answers says so: the
// federation shows the command running, then its outcome from the
// neuron's command_executed event.
func TestDevFederation_CommandRunningAnswer(t *testing.T) {
	const id = "running-load"
	api, n, m := slowLoad(t, devfed.Options{PushTimeout: time.Minute, // longer than the neuron waits to answer
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil))}, id)
	cmd := loadSlowly(t, api, id, m)
	if cmd.Status != "running" || !strings.Contains(string(cmd.Outcome), `"running":true`) {
		t.Errorf("the send answered the command %s %s, want running", cmd.Status, cmd.Outcome)
	}
	m.Release()
	waitLoaded(t, api, n, id, cmd.ID)
}
