package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/empirefederation/neuron/internal/agent"
	"github.com/empirefederation/neuron/internal/config"
	"github.com/empirefederation/neuron/internal/devfed"
	"github.com/empirefederation/neuron/internal/testutil"
)

// The harness of the browser test: a development federation on loopback,
// a real neuron (the agent, serving both versions of the example data
// processor) joined to it with short intervals, and Debian's headless
// Chromium driven through the DevTools protocol.

const (
	// waitLimit bounds every wait, so that a bug fails rather than hangs. It
	// is never an assertion on speed.
	waitLimit = 20 * time.Second
	neuronID  = "dash-neuron"
	// envScreenshot, set to 1, writes the neuron page's screenshot to
	// docs/dashboard.png (the README's picture).
	envScreenshot = "NEURON_WRITE_SCREENSHOT"
)

// federation is the development federation under test.
type federation struct {
	url, token string
	log        *testutil.Buffer
}

func startFederation(t *testing.T) *federation {
	t.Helper()
	f := &federation{token: devfed.GenerateToken(), log: &testutil.Buffer{}}
	s, err := devfed.Open(devfed.Options{
		DataDir: t.TempDir(), AdminToken: f.token, HeartbeatInterval: time.Second,
		Logger: slog.New(slog.NewTextHandler(f.log, nil)),
	})
	if err != nil {
		t.Fatalf("devfed.Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("federation Close: %v", err)
		}
	})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	f.url = srv.URL
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("federation log:\n%s", f.log)
		}
	})
	return f
}

// admin calls the admin API and decodes its data into v.
func (f *federation) admin(t *testing.T, path string, v any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+f.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var env struct {
		Success bool            `json:"success"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil || resp.StatusCode != http.StatusOK || !env.Success {
		t.Fatalf("GET %s: %d %s (%v)", path, resp.StatusCode, body, err)
	}
	if err := json.Unmarshal(env.Data, v); err != nil {
		t.Fatalf("GET %s: decode %s: %v", path, env.Data, err)
	}
}

// startNeuron starts an agent joined to the federation, serving both
// versions of the example data processor, and returns its base URL.
func startNeuron(t *testing.T, fedURL string) string {
	t.Helper()
	plugins := filepath.Join(t.TempDir(), "plugins")
	if err := os.Mkdir(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"1.0.0", "1.1.0"} {
		b, err := os.ReadFile(testutil.BuildWasm(t, "examples/dataprocessor/v"+v))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(plugins, "dp-"+v+".wasm"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data := t.TempDir()
	// The compilation cache the agent tests share: a warm cache makes the
	// load milliseconds instead of seconds.
	shared := filepath.Join(os.TempDir(), "neuron-test-cache")
	if os.MkdirAll(shared, 0o750) == nil {
		_ = os.Symlink(shared, filepath.Join(data, "cache"))
	}
	file := filepath.Join(t.TempDir(), "neuron.yaml")
	// alertThresholds.healthScore 0: the neuron reports active however busy
	// the machine running the test is (a low score would report degraded).
	yaml := fmt.Sprintf(`
id: %s
name: Dashboard Neuron
listen: 127.0.0.1:0
pluginsDir: %s
dataDir: %s
federation:
  url: %s
  heartbeatInterval: 250ms
  analyticsInterval: 400ms
  configPollInterval: 250ms
  alertThresholds: {healthScore: 0}
settings:
  batchSize: 1000
`, neuronID, plugins, data, fedURL)
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load([]string{"--config", file}, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config.Load: %v", err)
	}
	logs := &testutil.Buffer{}
	a, err := agent.Start(context.Background(), cfg, logs)
	if err != nil {
		t.Fatalf("agent.Start: %v", err)
	}
	t.Cleanup(func() {
		if err := a.Stop(); err != nil {
			t.Errorf("neuron Stop: %v", err)
		}
		if t.Failed() {
			t.Logf("neuron log:\n%s", logs)
		}
	})
	return "http://" + a.Addr().String()
}

// get answers a GET to url with the status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// traffic sends a few batches to the neuron between heartbeats until the
// federation holds n of them, so the charts have points and some shape.
func traffic(t *testing.T, fed *federation, base string, n int) {
	t.Helper()
	testutil.Eventually(t, waitLimit, "the neuron's registration", func() bool {
		var list []struct{ ID string }
		fed.admin(t, "/api/admin/neurons", &list)
		return len(list) == 1 && list[0].ID == neuronID
	})
	var hbs []json.RawMessage
	for i := 0; len(hbs) < n; i++ {
		for j := range i%4 + 1 {
			body := fmt.Sprintf(`{"batchId": "b%d-%d", "records": [{"id": "1", "email": "a@example.com"}, {"id": "2", "email": "A@example.com "}]}`, i, j)
			resp, err := http.Post(base+"/process", "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatalf("POST /process: %v", err)
			}
			_ = resp.Body.Close()
		}
		before := len(hbs)
		testutil.Eventually(t, waitLimit, "the next heartbeat", func() bool {
			fed.admin(t, "/api/admin/neurons/"+neuronID+"/heartbeats", &hbs)
			return len(hbs) > before
		})
	}
}

// browser starts headless Chromium; it skips the test when there is none,
// unless NEURON_TEST_SERVICES=required. Messages the page logs as errors or
// throws fail the test, except failed requests (the test provokes 401 and
// 400 answers on purpose).
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		why := "no chromium on PATH: install Debian's with `sudo apt-get install -y chromium` to run the dashboard's browser test"
		testutil.Unavailable(t, why)
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("hide-scrollbars", true), chromedp.WindowSize(1400, 1000))
	t.Cleanup(cancel)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(cancelTab)
	if err := chromedp.Do(ctx); err != nil { // starts the browser: messages from here on are seen
		t.Fatalf("start %s: %v", path, err)
	}
	var mu sync.Mutex
	var bad []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			if m.IsException() || (m.Type == chromedp.ConsoleError && m.Source != "network") {
				mu.Lock()
				bad = append(bad, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line))
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancelTab()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, m := range bad {
			t.Errorf("browser console: %s", m)
		}
	})
	return ctx
}

// page wraps the browser tab with steps that fail the test with the page's
// text, so a failure shows what the user would have seen.
type page struct {
	t   *testing.T
	ctx context.Context
}

func (p page) fail(what string, err error) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	p.t.Fatalf("%s: %v\npage text:\n%s", what, err, text)
}

// do runs actions within waitLimit.
func (p page) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitLimit)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.fail(what, err)
	}
}

// until waits for the JavaScript expression to be true.
func (p page) until(what, expr string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitLimit)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(waitLimit))); err != nil {
		p.fail(what, err)
	}
}

// eval returns the value of a JavaScript expression.
func eval[T any](p page, expr string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.fail("evaluate "+expr, err)
	}
	return v
}

// typeInto replaces the text of a field by typing, as a user would (so
// input events fire).
func (p page) typeInto(sel, text string) {
	p.t.Helper()
	p.do("type into "+sel, chromedp.Focus(chromedp.CSS(sel)),
		chromedp.Evaluate[chromedp.Void](`document.querySelector(`+jsString(sel)+`).value = ''`),
		chromedp.SendKeys(chromedp.CSS(sel), text))
}

// screenshot takes a PNG of the whole page and keeps it in the test's
// artifact directory (go test -artifacts keeps that).
func (p page) screenshot(name string) []byte {
	p.t.Helper()
	shot, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.fail("screenshot "+name, err)
	}
	if err := os.WriteFile(filepath.Join(p.t.ArtifactDir(), name), shot, 0o644); err != nil {
		p.t.Fatal(err)
	}
	return shot
}
