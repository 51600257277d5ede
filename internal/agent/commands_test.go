package agent_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/federation/fedtest"
	"github.com/empirefederation/neuron/internal/testutil"
)

// outcome is a pushed command's answer.
type outcome struct {
	OK      bool            `json:"ok"`
	Error   string          `json:"error"`
	Result  json.RawMessage `json:"result"`
	Running bool            `json:"running"`
}

// command pushes one command with the federation's newest token and
// returns its outcome, failing the test if the update itself was refused.
// A swap re-registers the neuron, which gets a new token: a push that
// crossed it (401, nothing run) is sent again. A command still running
// when the neuron answers (a slow swap on a busy machine) is pushed again
// until the answer is its outcome (the neuron never runs an id twice).
func (n *neuron) command(t *testing.T, fed *fedtest.Server, id, typ, data string) outcome {
	t.Helper()
	var o outcome
	testutil.Eventually(t, waitLimit, "the command's outcome", func() bool {
		var r reply
		testutil.Eventually(t, waitLimit, "a push with the current token", func() bool {
			r = n.push(t, newest(fed), fmt.Sprintf(`{"command": {"id": %q, "type": %q, "data": %s}}`, id, typ, data))
			return r.status != 401
		})
		var res struct {
			Data struct {
				Command outcome `json:"command"`
			} `json:"data"`
		}
		if r.status != 200 {
			t.Fatalf("%s %s: %d %s", typ, data, r.status, r.body)
		}
		r.decode(t, &res)
		o = res.Data.Command
		return !o.Running
	})
	return o
}

func newest(fed *fedtest.Server) string {
	tk := fed.Tokens()
	return tk[len(tk)-1]
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestFederation_PluginCommands: the plugin commands go through the swap
// path on a running neuron; each refuses what it must and says why.
func TestFederation_PluginCommands(t *testing.T) {
	fed := fedtest.New(t)
	plugins := pluginsDir(t, map[string]string{"dp.wasm": "examples/dataprocessor/v1.0.0"})
	v110, err := os.ReadFile(testutil.BuildWasm(t, "examples/dataprocessor/v1.1.0"))
	if err != nil {
		t.Fatal(err)
	}
	hello, err := os.ReadFile(testutil.BuildWasm(t, "examples/hello"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(plugins, "staging"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(plugins, "staging", "dp-1.1.0.wasm"), v110, 0o644); err != nil {
		t.Fatal(err)
	}
	n := start(t, "--config", federationConfig(t, fed, plugins, dataDir(t), "pluginsWatch: false\n"))
	testutil.Eventually(t, waitLimit, "registration (its first heartbeat: the neuron holds its token)", func() bool { return len(fed.Heartbeats()) > 0 })
	serving := func() string { return n.do(t, "GET", "/status", "").header.Get("X-Neuron-Plugin") }

	t.Run("load_plugin refuses", func(t *testing.T) {
		for _, tc := range []struct{ data, want string }{
			{`{"path": "../escape.wasm"}`, "outside the plugins directory"},
			{`{"path": "/etc/passwd.wasm"}`, "outside the plugins directory"},
			{`{"url": "http://example.invalid/x.wasm"}`, "sha256 is required"},
			{`{}`, "exactly one of"},
		} {
			r := n.push(t, newest(fed), fmt.Sprintf(`{"command": {"id": "bad-%s", "type": "load_plugin", "data": %s}}`, sha([]byte(tc.data))[:8], tc.data))
			if e := r.wantError(t, tc.data, 422, "update_rejected"); !strings.Contains(e.Error, tc.want) {
				t.Errorf("%s: %q lacks %q", tc.data, e.Error, tc.want)
			}
		}
		o := n.command(t, fed, "wrong-digest", "load_plugin", fmt.Sprintf(`{"path": "staging/dp-1.1.0.wasm", "sha256": %q}`, sha(hello)))
		if o.OK || !strings.Contains(o.Error, "sha256 mismatch") {
			t.Errorf("wrong digest: %+v", o)
		}
		if got := serving(); got != "data-processor@1.0.0" {
			t.Errorf("serving %s after refusals, want 1.0.0", got)
		}
	})

	t.Run("load_plugin from inside the directory and from a URL", func(t *testing.T) {
		if o := n.command(t, fed, "load-1", "load_plugin", fmt.Sprintf(`{"path": "staging/dp-1.1.0.wasm", "sha256": %q}`, sha(v110))); !o.OK {
			t.Fatalf("load 1.1.0: %+v", o)
		}
		if got := serving(); got != "data-processor@1.1.0" {
			t.Errorf("serving %s, want the loaded 1.1.0", got)
		}
		src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(hello) }))
		defer src.Close()
		if o := n.command(t, fed, "load-2", "load_plugin", fmt.Sprintf(`{"url": %q, "sha256": %q}`, src.URL+"/hello.wasm", sha(hello))); !o.OK {
			t.Fatalf("load from URL: %+v", o)
		}
		if r := n.do(t, "GET", "/hello/x", ""); r.status != 200 {
			t.Errorf("hello after load from URL: %d %s", r.status, r.body)
		}
	})

	t.Run("rollback, unload, reload, restart a standby version", func(t *testing.T) {
		if o := n.command(t, fed, "rb", "rollback_plugin", `{"plugin": "data-processor"}`); !o.OK {
			t.Fatalf("rollback: %+v", o)
		}
		if got := serving(); got != "data-processor@1.0.0" {
			t.Errorf("serving %s after rollback, want 1.0.0", got)
		}
		if o := n.command(t, fed, "un", "unload_plugin", `{"plugin": "hello"}`); !o.OK {
			t.Fatalf("unload: %+v", o)
		}
		testutil.Eventually(t, waitLimit, "hello unloaded", func() bool { return n.do(t, "GET", "/hello/x", "").status == 404 })
		if o := n.command(t, fed, "re", "reload_plugin", `{"plugin": "hello"}`); !o.OK {
			t.Fatalf("reload: %+v", o)
		}
		if r := n.do(t, "GET", "/hello/x", ""); r.status != 200 {
			t.Errorf("hello after reload: %d", r.status)
		}
		if o := n.command(t, fed, "rw", "restart_worker", `{"workerId": "data-processor@1.1.0"}`); !o.OK {
			t.Errorf("restart a standby version's workers: %+v", o)
		}
	})

	t.Run("drain and resume", func(t *testing.T) {
		if o := n.command(t, fed, "dr", "drain", `{}`); !o.OK {
			t.Fatalf("drain: %+v", o)
		}
		n.do(t, "GET", "/status", "").wantError(t, "processor call while draining", 503, "draining")
		if r := n.do(t, "GET", "/ready", ""); r.status != 503 {
			t.Errorf("/ready %d while draining", r.status)
		}
		testutil.Eventually(t, waitLimit, "a draining heartbeat", func() bool { return lastHeartbeat(fed).Status == federation.StatusDraining })
		if o := n.command(t, fed, "rs", "resume", `{}`); !o.OK {
			t.Fatalf("resume: %+v", o)
		}
		if r := n.do(t, "GET", "/status", ""); r.status != 200 {
			t.Errorf("after resume: %d", r.status)
		}
	})
	testutil.Eventually(t, waitLimit, "command_executed events", func() bool { return count(events(fed), "command_executed") >= 9 })
}
