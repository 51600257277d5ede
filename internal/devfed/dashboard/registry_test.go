package dashboard_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	wire "github.com/empirefederation/neuron/federation"
)

// Artifact and module digests of the registry test.
var (
	artifactOld = "sha256:" + strings.Repeat("0a", 32)
	artifactNew = "sha256:" + strings.Repeat("1b", 32)
	moduleSum   = strings.Repeat("2c", 32)
)

// TestBrowserRegistry drives the registry side of the dashboard: which
// digest of which reference each neuron runs, the hint when the fleet
// runs two digests of one reference, and load_plugin with a reference to
// one neuron and to the fleet, as each neuron receives it. The neurons
// speak the wire protocol over loopback and record what the federation
// pushes (pulling from a registry is the neuron's side: see internal/oci
// and internal/control).
func TestBrowserRegistry(t *testing.T) {
	ctx := browser(t)
	fed := startFederation(t)
	ref := "127.0.0.1:5000/processors/data-processor:1.1.0"
	a := startWireNeuron(t, fed.url, "reg-a", ref+"@"+artifactNew)
	b := startWireNeuron(t, fed.url, "reg-b", ref+"@"+artifactOld)
	p := page{t, ctx}

	rowOf := func(id string) string { return fmt.Sprintf(`[data-testid="neuron-row"][data-neuron-id=%q]`, id) }
	p.do("load the dashboard", chromedp.Navigate(fed.url+"/#token="+fed.token),
		chromedp.WaitVisible(chromedp.CSS(rowOf("reg-a"))), chromedp.WaitVisible(chromedp.CSS(rowOf("reg-b"))))
	p.until("each neuron's artifact digest shown", fmt.Sprintf(`document.querySelector('%s [data-testid="source"]')?.dataset.digest === %q && `+
		`document.querySelector('%s [data-testid="source"]')?.dataset.digest === %q && `+
		`document.querySelector('%s [data-testid="source"] .digest').textContent === %q`,
		rowOf("reg-a"), artifactNew, rowOf("reg-b"), artifactOld, rowOf("reg-b"), strings.Repeat("0a", 6)))
	p.until("the module digest shown", fmt.Sprintf(`document.querySelector('%s [data-testid="processor"] .digest')?.textContent === %q`,
		rowOf("reg-a"), moduleSum[:12]))
	p.until("the fleet-wide hint names the split reference", fmt.Sprintf(`!!document.querySelector('[data-testid="divergent-source"][data-ref=%q]') && `+
		`document.querySelector('[data-testid="source-divergence"]').textContent.includes('on reg-b')`, ref))
	p.screenshot("registry.png")

	// A malformed reference is refused, naming what is wrong, and nothing
	// is queued.
	msg := `document.querySelector('[data-testid="registry-message"]')`
	send := chromedp.Click(chromedp.CSS(`[data-testid="registry-submit"]`))
	p.typeInto("#reg-ref", "127.0.0.1:5000/processors/data-processor")
	p.do("send a reference without a tag", send)
	p.until("the refusal shown", msg+`.classList.contains('error') && `+msg+`.textContent.includes('data.ref') && `+
		msg+`.textContent.includes('no tag or digest') && document.querySelector('#reg-ref').getAttribute('aria-invalid') === 'true'`)
	var cmds []struct {
		ID, NeuronID, Type, Status string
		Data                       map[string]string
	}
	fed.admin(t, "/api/admin/commands", &cmds)
	if len(cmds) != 0 {
		t.Fatalf("a refused command was queued: %+v", cmds)
	}

	// To one neuron, with the module's digest.
	p.typeInto("#reg-ref", ref)
	p.typeInto("#reg-sha256", moduleSum)
	p.do("target reg-b", chromedp.SetValue(chromedp.CSS("#reg-target"), "reg-b"))
	p.do("load on reg-b", send)
	p.until("reg-b loaded it", msg+`.classList.contains('ok') && `+msg+`.textContent.includes('reg-b succeeded')`)
	b.expectCommand(t, map[string]string{"ref": ref, "sha256": moduleSum})
	if n := a.commandsReceived(); n != 0 {
		t.Errorf("reg-a received %d commands sent to reg-b", n)
	}
	fed.admin(t, "/api/admin/commands", &cmds)
	if len(cmds) != 1 || cmds[0].NeuronID != "reg-b" || cmds[0].Type != "load_plugin" || cmds[0].Data["ref"] != ref || cmds[0].Status != "succeeded" {
		t.Errorf("admin API commands %+v, want reg-b's load_plugin of %s, succeeded", cmds, ref)
	}

	// To the fleet, pinned by digest: one neuron fails to pull, and says why.
	pinned := "127.0.0.1:5000/processors/data-processor@" + artifactNew
	a.fail("pull " + pinned + ": registry unreachable")
	p.typeInto("#reg-ref", pinned)
	p.typeInto("#reg-sha256", "")
	p.do("target the fleet", chromedp.SetValue(chromedp.CSS("#reg-target"), "fleet"))
	p.do("load on the fleet", send)
	p.until("reg-a's failure shown with its reason", msg+`.classList.contains('error') && `+msg+`.textContent.includes('failed on reg-a: pull') && `+
		msg+`.textContent.includes('registry unreachable')`)
	p.until("one command per neuron listed", `document.querySelectorAll('[data-testid="registry-command"]').length === 2 && `+
		`document.querySelector('[data-testid="registry-command"][data-neuron-id="reg-b"] [data-testid="command-status"]').dataset.status === 'succeeded'`)
	p.screenshot("registry-sent.png")
	a.expectCommand(t, map[string]string{"ref": pinned})
	b.expectCommand(t, map[string]string{"ref": pinned})

	// A neuron refusing the update whole (422) rejects the command, with
	// its reasons.
	b.reject("data.sha256: the module's digest is " + strings.Repeat("3d", 32))
	p.typeInto("#reg-sha256", moduleSum)
	p.do("target reg-b", chromedp.SetValue(chromedp.CSS("#reg-target"), "reg-b"))
	p.do("load on reg-b, refused", send)
	p.until("reg-b's refusal shown", msg+`.textContent.includes("refused by reg-b: data.sha256: the module's digest is") && `+
		`document.querySelector('[data-testid="registry-command"][data-neuron-id="reg-b"] .error-text')?.textContent.startsWith('refused: data.sha256')`)
	b.reject("")

	// A pull that outlasts the push: the neuron answers running, and its
	// command_executed event brings the outcome, which the page follows.
	a.fail("")
	a.hold(true)
	p.typeInto("#reg-sha256", "")
	p.do("target reg-a", chromedp.SetValue(chromedp.CSS("#reg-target"), "reg-a"))
	p.do("load on reg-a, slowly", send)
	p.until("reg-a running", msg+`.classList.contains('info') && `+msg+`.textContent.includes('waiting for reg-a (running)')`)
	a.hold(false)
	a.finish(t)
	p.until("reg-a's outcome followed", msg+`.classList.contains('ok') && `+msg+`.textContent.includes('reg-a succeeded') && `+
		`document.querySelector('[data-testid="registry-command"][data-neuron-id="reg-a"] [data-testid="command-status"]').dataset.status === 'succeeded'`)

	// reg-b now runs the new digest: the hint goes, and its page says so.
	b.setSources(t, ref+"@"+artifactNew)
	p.until("the hint gone once every neuron runs one digest", `!document.querySelector('[data-testid="source-divergence"]')`)
	p.do("open reg-b's page", chromedp.Click(chromedp.CSS(rowOf("reg-b")+` [data-testid="neuron-link"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="neuron-sources"]`)))
	p.until("reg-b's page shows the digest", fmt.Sprintf(`document.querySelector('[data-testid="neuron-sources"] [data-testid="source"]')?.dataset.digest === %q`, artifactNew))
}

// wireNeuron is a neuron as the federation sees it, over the wire:
// it registers with sources metadata, heartbeats until the test ends, and
// answers pushed updates, recording their commands. Commands succeed
// unless fail set an error, and updates are applied unless reject set a
// reason.
type wireNeuron struct {
	id, fedURL string
	srv        *httptest.Server

	mu         sync.Mutex
	token      string
	commands   []map[string]any // the commands pushed, oldest first
	failWith   string           // the error of a failed command
	rejectWith string           // the reason to refuse an update whole
	running    bool             // commands answer running; finish ends the last
}

// startWireNeuron registers neuron id reporting sources with the
// federation at fedURL and keeps it active.
func startWireNeuron(t *testing.T, fedURL, id, sources string) *wireNeuron {
	t.Helper()
	n := &wireNeuron{id: id, fedURL: fedURL}
	n.srv = httptest.NewServer(http.HandlerFunc(n.update))
	t.Cleanup(n.srv.Close)
	n.setSources(t, sources)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			n.mu.Lock()
			token := n.token
			n.mu.Unlock()
			// An error is the test ending (the federation closed); a beat lost
			// otherwise shows as the neuron going stale, which the test sees.
			_, _ = n.post(ctx, wire.PathStatus, token, map[string]any{"status": "active", "healthScore": 100})
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return n
}

// setSources registers the neuron (again) reporting sources.
func (n *wireNeuron) setSources(t *testing.T, sources string) {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	body := map[string]any{"neuronId": n.id, "name": n.id, "type": "wasm-processor", "version": "1.0.0", "baseUrl": n.srv.URL,
		"metadata": map[string]any{"processors": "data-processor@1.1.0+sha256:" + moduleSum, "sources": sources}}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	raw, err := n.post(ctx, wire.PathRegister, n.token, body)
	var env struct{ Data struct{ Token string } }
	if err != nil || json.Unmarshal(raw, &env) != nil || env.Data.Token == "" {
		t.Fatalf("register %s: %v %s", n.id, err, raw)
	}
	n.token = env.Data.Token
}

// post sends body to the federation with the bearer token and returns
// the answer's body, or an error for a status other than 2xx.
func (n *wireNeuron) post(ctx context.Context, path, token string, body any) ([]byte, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.fedURL+path, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode/100 != 2 {
		err = fmt.Errorf("POST %s: %d", path, resp.StatusCode)
	}
	return raw, err
}

// update answers POST /api/neuron/update-config as internal/control does:
// the version applied and the command's outcome.
func (n *wireNeuron) update(w http.ResponseWriter, r *http.Request) {
	var u map[string]any
	_ = json.NewDecoder(r.Body).Decode(&u)
	n.mu.Lock()
	c, isCmd := u["command"].(map[string]any)
	if isCmd {
		n.commands = append(n.commands, c)
	}
	fail, reject, running := n.failWith, n.rejectWith, n.running
	n.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if reject != "" {
		w.WriteHeader(http.StatusUnprocessableEntity)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": "update rejected", "code": "update_rejected", "reasons": []string{reject}, "configVersion": ""})
		return
	}
	data := map[string]any{"applied": true, "configVersion": u["version"]}
	if isCmd {
		outcome := map[string]any{"id": c["id"], "type": c["type"], "ok": true, "result": map[string]any{"loaded": c["data"]}}
		switch {
		case running:
			outcome = map[string]any{"id": c["id"], "type": c["type"], "running": true, "started": time.Now().UTC().Format(time.RFC3339Nano)}
		case fail != "":
			outcome = map[string]any{"id": c["id"], "type": c["type"], "ok": false, "error": fail}
		}
		data["command"] = outcome
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"success": true, "data": data})
}

// fail makes the commands from now on fail with reason.
func (n *wireNeuron) fail(reason string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.failWith = reason
}

// reject makes the neuron refuse the updates from now on with reason
// ("" applies them again).
func (n *wireNeuron) reject(reason string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.rejectWith = reason
}

// hold makes commands answer running from now on (false: done at once).
func (n *wireNeuron) hold(running bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.running = running
}

// finish reports the last command's outcome, a success, in a
// command_executed event, as a neuron does for a command that outlasted
// the push that delivered it.
func (n *wireNeuron) finish(t *testing.T) {
	t.Helper()
	n.mu.Lock()
	c, token := n.commands[len(n.commands)-1], n.token
	n.mu.Unlock()
	ev := map[string]any{"id": fmt.Sprint("ev-", c["id"]), "type": "command_executed", "timestamp": time.Now().UTC().Format(time.RFC3339Nano),
		"data": map[string]any{"id": c["id"], "type": c["type"], "ok": true, "result": map[string]any{"loaded": c["data"]}}}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if raw, err := n.post(ctx, wire.PathAnalytics, token, map[string]any{"neuronId": n.id, "metrics": map[string]any{}, "events": []any{ev}}); err != nil {
		t.Fatalf("report %s's outcome: %v %s", n.id, err, raw)
	}
}

// commandsReceived counts the commands pushed so far.
func (n *wireNeuron) commandsReceived() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.commands)
}

// expectCommand checks that the last command pushed is a load_plugin
// whose data is exactly data.
func (n *wireNeuron) expectCommand(t *testing.T, data map[string]string) {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.commands) == 0 {
		t.Fatalf("%s received no command", n.id)
	}
	c := n.commands[len(n.commands)-1]
	got, _ := json.Marshal(c["data"])
	want, _ := json.Marshal(data)
	if c["type"] != "load_plugin" || string(got) != string(want) {
		t.Errorf("%s received %v, want load_plugin with data %s", n.id, c, want)
	}
}
