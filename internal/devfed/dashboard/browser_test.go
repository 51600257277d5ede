package dashboard_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/empirefederation/neuron/internal/testutil"
)

// TestBrowser drives the dashboard as a user would, against a real
// federation and a real neuron: sign in, the fleet, the neuron's page with
// its charts, commands that reach the neuron, the config editor, and an
// experiment with its results side by side. The neuron page's screenshot is
// the README's picture (NEURON_WRITE_SCREENSHOT=1 writes docs/dashboard.png).
func TestBrowser(t *testing.T) {
	ctx := browser(t)
	fed := startFederation(t)
	base := startNeuron(t, fed.url)
	traffic(t, fed, base, 20)
	p := page{t, ctx}

	signIn(t, p, fed)
	commands(t, p, fed, base)
	configEditor(t, p, base)
	p.until("the neuron back to active", `document.querySelector('[data-testid="neuron-status"]')?.dataset.status === 'active'`)
	p.do("top of the page", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	shot := p.screenshot("neuron.png")
	if os.Getenv(envScreenshot) == "1" {
		out := filepath.Join(testutil.RepoRoot(t), "docs", "dashboard.png")
		if err := os.WriteFile(out, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d bytes)", out, len(shot))
	}
	experiment(t, p, base)
}

// row selects the neuron's row of the fleet table.
var row = fmt.Sprintf(`[data-testid="neuron-row"][data-neuron-id=%q]`, neuronID)

// signIn: a wrong token lands on the login form with the server's message,
// the right one typed in opens the fleet, and the printed address
// (#token=...) signs in and leaves the address bar.
func signIn(t *testing.T, p page, fed *federation) {
	p.do("load the dashboard with a wrong token", chromedp.Navigate(fed.url+"/#token=wrong"))
	p.do("login form after a 401", chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-message"]`)))
	if msg := eval[string](p, `document.querySelector('[data-testid="login-message"]').textContent`); !strings.Contains(msg, "refused") {
		t.Errorf("login message %q, want the federation's refusal", msg)
	}
	p.typeInto("#token", fed.token)
	p.do("sign in", chromedp.Click(chromedp.CSS(`[data-testid="login-form"] button[type="submit"]`)), chromedp.WaitVisible(chromedp.CSS(row)))
	p.do("sign out", chromedp.Click(chromedp.CSS(`[data-testid="sign-out"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)))

	// The printed address: #token= signs in, and leaves the address bar.
	p.do("load the dashboard", chromedp.Navigate(fed.url+"/#token="+fed.token), chromedp.WaitVisible(chromedp.CSS(row)))
	if href := eval[string](p, `location.href`); strings.Contains(href, "token") {
		t.Errorf("the address bar still shows the token: %s", href)
	}
	p.until("the fleet lists the neuron as active", fmt.Sprintf(`document.querySelector('%s [data-testid="neuron-status"]')?.dataset.status === 'active'`, row))
	p.screenshot("fleet.png")
}

// command is a Command of the admin API.
type command struct {
	ID, Type, Status string
}

// commands opens the neuron's page (charts with data, events) and drains
// and resumes the neuron from it: the neuron's /ready follows.
func commands(t *testing.T, p page, fed *federation, base string) {
	p.do("open the neuron page", chromedp.Click(chromedp.CSS(row+` [data-testid="neuron-link"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="neuron-page"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="chart-cpu"] polyline`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="chart-rps"] polyline`)))
	p.until("custom metrics charted", `document.querySelectorAll('[data-testid="chart-custom"] polyline').length > 0`)
	p.until("analytics events listed", `document.querySelectorAll('[data-testid="event-row"]').length > 0`)

	drained := `[data-testid="command-row"][data-command-type="drain"] [data-testid="command-status"][data-status="succeeded"]`
	p.do("drain from the page", chromedp.Click(chromedp.CSS(`[data-testid="cmd-drain"]`)), chromedp.WaitVisible(chromedp.CSS(drained)))
	if status, body := get(t, base+"/ready"); status != http.StatusServiceUnavailable || !strings.Contains(body, "draining") {
		t.Errorf("neuron /ready after drain: %d %s, want 503 draining", status, body)
	}
	var cmds []command
	fed.admin(t, "/api/admin/commands?neuron="+neuronID, &cmds)
	if len(cmds) != 1 || cmds[0].Type != "drain" || cmds[0].Status != "succeeded" {
		t.Errorf("admin API commands %+v, want one drain that succeeded", cmds)
	}
	resumed := `[data-testid="command-row"][data-command-type="resume"] [data-testid="command-status"][data-status="succeeded"]`
	p.do("resume from the page", chromedp.Click(chromedp.CSS(`[data-testid="cmd-resume"]`)), chromedp.WaitVisible(chromedp.CSS(resumed)))
	if status, body := get(t, base+"/ready"); status != http.StatusOK {
		t.Errorf("neuron /ready after resume: %d %s, want 200", status, body)
	}

}

// configEditor: a config is checked in the page, then by the federation
// (400 naming the field), then delivered to the neuron, which refuses it
// (shown at once, with why) or applies it.
func configEditor(t *testing.T, p page, base string) {
	msg := `document.querySelector('[data-testid="config-neuron"] [data-testid="config-message"]')`
	submit := chromedp.Click(chromedp.CSS(`[data-testid="config-neuron"] [data-testid="config-submit"]`))
	editor := `[data-testid="config-neuron"] [data-testid="config-editor"]`
	for _, tc := range []struct{ text, want string }{
		{`{"batchSize": `, "not valid JSON"},
		{`[1, 2]`, "must be a JSON object"},
		{`{"batchSize": 0}`, "config.batchSize"},
	} {
		p.typeInto(editor, tc.text)
		p.do("submit "+tc.text, submit)
		p.until("error for "+tc.text, msg+`.classList.contains('error') && `+msg+`.textContent.includes(`+jsString(tc.want)+`)`)
	}
	// A config the neuron refuses says so at once, naming the neuron and
	// its reason: not a success.
	p.typeInto(editor, `{"colour": "red"}`)
	p.do("apply a config the neuron refuses", submit)
	p.until("the refusal shown", msg+`.classList.contains('error') && `+msg+`.textContent.includes('refused by `+neuronID+`') && `+
		msg+`.textContent.includes('colour')`)
	p.typeInto(editor, `{"batchSize": 250}`)
	p.do("apply a config", submit)
	// "unchanged" when the neuron's poll fetched the revision before the push.
	p.until("the config delivered", fmt.Sprintf(`!!document.querySelector('[data-testid="config-neuron"] [data-testid="delivery"][data-neuron-id=%q] `+
		`:is([data-status="applied"], [data-status="unchanged"])')`, neuronID))
	p.until("the effective update shows it", `document.querySelector('[data-testid="effective-update"]').textContent.includes('"batchSize": 250')`)
	var st struct {
		Config struct {
			BatchSize int `json:"batchSize"`
		} `json:"config"`
	}
	if _, body := get(t, base+"/status"); json.Unmarshal([]byte(body), &st) != nil || st.Config.BatchSize != 250 {
		t.Errorf("the data processor's status %s, want batchSize 250 from the editor", body)
	}
}

// experiment starts a split from the form: the processor's versions are
// offered, the weights must sum to 100, the results come side by side, and
// promoting a variant stops it.
func experiment(t *testing.T, p page, base string) {
	p.do("open experiments", chromedp.Click(chromedp.CSS(`nav a[href="#/experiments"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="experiment-form"]`)))
	p.until("processor and versions offered", `document.querySelector('[data-testid="experiment-plugin"]').value === 'data-processor' && `+
		`[...document.querySelectorAll('[data-testid="variant-version"]')].map((s) => s.value).join() === '1.0.0,1.1.0'`)
	p.typeInto("#x-id", "dash-split")
	p.do("sticky key", chromedp.SetValue(chromedp.CSS("#x-sticky-kind"), "header"))
	p.typeInto("#x-sticky-name", "X-User")
	weight := `[data-testid="variant-row"]:nth-child(2) [data-testid="variant-weight"]`
	p.typeInto(weight, "40")
	xmsg := `document.querySelector('[data-testid="experiment-message"]')`
	startX := chromedp.Click(chromedp.CSS(`[data-testid="experiment-submit"]`))
	p.do("submit weights summing to 90", startX)
	p.until("the weights refused", xmsg+`.textContent.includes('sum to 90')`)
	p.typeInto(weight, "50")
	p.do("start the experiment", startX, chromedp.WaitVisible(chromedp.CSS(`[data-testid="experiment-results"]`)))
	if got := eval[string](p, `[...document.querySelectorAll('[data-testid="result-variant"]')].map((th) => th.textContent).join()`); got != "control,candidate" {
		t.Errorf("result columns %q, want control,candidate", got)
	}
	for i := range 20 {
		req, err := http.NewRequest(http.MethodPost, base+"/process", strings.NewReader(`{"batchId": "x", "records": [{"id": "1", "email": "a@example.com"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-User", fmt.Sprint("user-", i))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("POST /process: %v", err)
		}
		_ = resp.Body.Close()
	}
	p.until("requests counted per variant", `[...document.querySelectorAll('[data-testid="experiment-results"] tr[data-metric="Requests"] td')]`+
		`.every((td) => Number(td.textContent.replace(/,/g, '')) > 0)`)
	p.screenshot("experiments.png")
	p.do("stop and promote", chromedp.Click(chromedp.CSS(`[data-testid="experiment-promote"][data-variant="candidate"]`)))
	p.until("the experiment stopped", `document.querySelector('[data-testid="experiment-row"][data-experiment-id="dash-split"] [data-testid="experiment-status"]')?.dataset.status === 'stopped'`)
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
