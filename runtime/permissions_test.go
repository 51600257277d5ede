package runtime_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/empirefederation/neuron/runtime"
)

// TestPermissions_RefusedUnlessAllowed shows that a processor asking for a
// permission the operator did not allow is refused with a reason that says
// how to allow it, and that the others serve.
func TestPermissions_RefusedUnlessAllowed(t *testing.T) {
	e := startEnv(t, runtime.Options{AllowPermissions: []string{"environment"}}, guests(t, "perms", "echo"))
	ev := e.events.ofType(runtime.EventPluginRejected)
	if len(ev) != 1 {
		t.Fatalf("refused events = %d, want 1 (perms)", len(ev))
	}
	reason := eventData(t, ev[0])["reason"]
	for _, want := range []string{`permission "filesystem"`, "NEURON_ALLOW_PERMISSIONS=filesystem"} {
		if !strings.Contains(reason, want) {
			t.Errorf("reason %q does not mention %q", reason, want)
		}
	}
	if r := e.get("/t/perms/env/HOME"); r.status != 404 {
		t.Errorf("refused processor answered %d", r.status)
	}
	if r := e.get("/t/echo/1"); r.status != 200 {
		t.Errorf("echo answered %d while perms was refused", r.status)
	}
}

// TestPermissions_Granted shows what the two permissions give: the
// processor's own NEURON_PLUGIN_<NAME>_* variables without their prefix and
// none of the host's others, and its own directory under the data
// directory mounted at /data.
func TestPermissions_Granted(t *testing.T) {
	t.Setenv("NEURON_PLUGIN_PERMS_GREETING", "hello from the host")
	t.Setenv("NEURON_PLUGIN_OTHER_SECRET", "not for perms")
	data := t.TempDir()
	e := startEnv(t, runtime.Options{DataDir: data, AllowPermissions: []string{"filesystem", "environment"}}, guests(t, "perms"))
	for _, tc := range []struct{ name, want string }{
		{"GREETING", "hello from the host"},
		{"NEURON_PLUGIN_PERMS_GREETING", "<unset>"},
		{"SECRET", "<unset>"},
		{"HOME", "<unset>"},
		{"PATH", "<unset>"},
	} {
		if r := e.get("/t/perms/env/" + tc.name); r.status != 200 || string(r.body) != tc.want {
			t.Errorf("env %s = %d %q, want %q", tc.name, r.status, r.body, tc.want)
		}
	}
	r := e.do("POST", "/t/perms/file", strings.NewReader("kept on disk"))
	if r.status != 200 || string(r.body) != "kept on disk" {
		t.Fatalf("file round trip = %d %q", r.status, r.body)
	}
	b, err := os.ReadFile(filepath.Join(data, "plugins", "perms", "note"))
	if err != nil || string(b) != "kept on disk" {
		t.Errorf("host side of /data/note = %q, %v", b, err)
	}
}
