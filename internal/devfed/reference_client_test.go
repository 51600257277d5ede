package devfed_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/devfed"
	"github.com/empirefederation/neuron/internal/testutil"
)

// The reference guide's Python client (its code block "Complete
// Production-Ready Client", copied byte for byte into
// testdata/reference_client.py) run against the development federation by
// Debian's python3: the federation must take what the guide's own client
// sends, as it sends it (hostInfo.pid, analytics without events and with a
// naive timestamp, ...).

// refPython is Debian's interpreter, which has python3-aiohttp and
// python3-psutil; the one first on PATH may be another (pyenv) without them.
const refPython = "/usr/bin/python3"

// refTimeout bounds the Python client's run: it spends a second measuring
// CPU for its heartbeat. Never an assertion on speed.
const refTimeout = time.Minute

// refNeedPython skips the test when Debian's python3 with aiohttp and
// psutil is missing, saying what to install, or fails it when
// NEURON_TEST_SERVICES=required (as CI sets it, after installing them).
func refNeedPython(t *testing.T) {
	t.Helper()
	out, err := exec.Command(refPython, "-c", "import aiohttp, psutil").CombinedOutput()
	if err == nil {
		return
	}
	why := "the reference client needs Debian's python3 with aiohttp and psutil (apt-get install python3-aiohttp python3-psutil): " +
		strings.TrimSpace(err.Error()+" "+string(out))
	testutil.Unavailable(t, why)
}

// refFederation is a development federation serving on loopback.
type refFederation struct {
	url, token string
}

func startRefFederation(t *testing.T) refFederation {
	t.Helper()
	token := devfed.GenerateToken()
	s, err := devfed.Open(devfed.Options{DataDir: t.TempDir(), AdminToken: token, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		srv.Close()
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return refFederation{url: srv.URL, token: token}
}

// admin calls the admin API and decodes the answer's data into v,
// failing the test unless the status is want.
func (f refFederation) admin(t *testing.T, method, path, body string, want int, v any) {
	t.Helper()
	req, err := http.NewRequest(method, f.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+f.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Success bool            `json:"success"`
		Data    json.RawMessage `json:"data"`
	}
	if resp.StatusCode != want || json.Unmarshal(b, &env) != nil || !env.Success {
		t.Fatalf("%s %s: %d %s, want %d and success", method, path, resp.StatusCode, b, want)
	}
	if v != nil {
		if err := json.Unmarshal(env.Data, v); err != nil {
			t.Fatalf("%s %s: data %s: %v", method, path, env.Data, err)
		}
	}
}

// refResults is what the driver prints: what each of the client's calls
// returned. Config is nil when get_config returned None, which the client
// means as a failed fetch.
type refResults struct {
	Register, Heartbeat, Analytics bool
	Config                         *struct {
		Config  map[string]any `json:"config"`
		Version string         `json:"version"`
	}
}

// runReferenceClient runs the guide's client once against fed as neuron
// id and returns what its calls returned, failing the test unless
// register, send_heartbeat and report_analytics succeeded.
func runReferenceClient(t *testing.T, fed refFederation, id string) (refResults, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), refTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, refPython, "-B", filepath.Join("testdata", "drive_reference_client.py"), fed.url, id)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("reference client: %v\nstdout: %s\nstderr: %s", err, stdout.Bytes(), stderr.Bytes())
	}
	t.Logf("reference client log:\n%s", stderr.Bytes())
	var got refResults
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("driver output %q: %v", stdout.Bytes(), err)
	}
	if !got.Register || !got.Heartbeat || !got.Analytics {
		t.Errorf("register %v, send_heartbeat %v, report_analytics %v; want all true (the client's log says why)\n%s",
			got.Register, got.Heartbeat, got.Analytics, stderr.Bytes())
	}
	return got, stdout.String()
}

// With nothing to deliver, get_config still succeeds: data is an object
// ({}), never null, which the guide's client returns as None, a failure.
func TestReferenceClientNothingToDeliver(t *testing.T) {
	refNeedPython(t)
	fed := startRefFederation(t)
	got, out := runReferenceClient(t, fed, "python-processor-002")
	if got.Config == nil {
		t.Errorf("get_config returned None (the federation answered \"data\": null), want an object: %s", out)
	}
}

func TestReferenceClient(t *testing.T) {
	refNeedPython(t)
	fed := startRefFederation(t)
	// A fleet config first, so that the client's get_config has one to get.
	fed.admin(t, "POST", "/api/admin/configs", `{"target": "fleet", "config": {"batchSize": 500}}`, http.StatusCreated, nil)

	const id = "python-processor-001"
	got, out := runReferenceClient(t, fed, id)
	if got.Config == nil || got.Config.Config["batchSize"] != float64(500) || got.Config.Version == "" {
		t.Errorf("get_config returned %s; want the fleet config {batchSize: 500} with a version", out)
	}

	t.Run("registration stored", func(t *testing.T) {
		var n struct {
			ID, Name, Type, Language, Status string
			Registration                     map[string]any `json:"registration"`
		}
		fed.admin(t, "GET", "/api/admin/neurons/"+id, "", http.StatusOK, &n)
		if n.ID != id || n.Name != "Python Data Processor" || n.Type != "python-data-processor" || n.Language != "python" {
			t.Errorf("neuron %+v", n)
		}
		if n.Status != "active" {
			t.Errorf("status %q after an active heartbeat, want active", n.Status)
		}
		if caps, _ := n.Registration["capabilities"].([]any); len(caps) != 2 {
			t.Errorf("registration body not kept as sent: %v", n.Registration)
		}
	})
	t.Run("heartbeat stored", func(t *testing.T) {
		var hb []struct {
			Status        string   `json:"status"`
			HealthScore   *float64 `json:"healthScore"`
			MemoryUsage   *float64 `json:"memoryUsage"`
			SuccessRate   *float64 `json:"successRate"`
			ConfigVersion string   `json:"configVersion"`
		}
		fed.admin(t, "GET", "/api/admin/neurons/"+id+"/heartbeats", "", http.StatusOK, &hb)
		if len(hb) != 1 {
			t.Fatalf("%d heartbeats stored, want 1: %+v", len(hb), hb)
		}
		h := hb[0]
		if h.Status != "active" || h.HealthScore == nil || h.MemoryUsage == nil || *h.MemoryUsage <= 0 ||
			h.SuccessRate == nil || *h.SuccessRate != 99.9 || h.ConfigVersion != "1.0.0" {
			t.Errorf("heartbeat %+v", h)
		}
	})
	t.Run("report stored", func(t *testing.T) {
		var reports []struct {
			TotalRequests, SuccessfulRequests, FailedRequests int64
			AverageResponseTime                               float64
		}
		fed.admin(t, "GET", "/api/admin/neurons/"+id+"/analytics", "", http.StatusOK, &reports)
		if len(reports) != 1 {
			t.Fatalf("%d analytics reports stored, want 1: %+v", len(reports), reports)
		}
		r := reports[0]
		if r.TotalRequests != 100 || r.SuccessfulRequests != 95 || r.FailedRequests != 5 || r.AverageResponseTime != 250 {
			t.Errorf("report %+v, want the guide's 100/95/5/250", r)
		}
	})
}

// TestReferenceClientIsVerbatim keeps testdata/reference_client.py equal,
// byte for byte, to the guide's code block, when the guide is at hand;
// -update copies the block again.
func TestReferenceClientIsVerbatim(t *testing.T) {
	block := testutil.GuideBlock(t, "### Complete Production-Ready Client")
	testutil.Golden(t, filepath.Join("testdata", "reference_client.py"), block)
}
