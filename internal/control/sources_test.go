package control

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/empirefederation/neuron/internal/sources"
)

// failingSources is a store whose registry is down: every fetch fails,
// what it holds stays.
type failingSources struct{ held sources.Entry }

func (f failingSources) Fetch(context.Context, string, sources.Want) (sources.Result, error) {
	return sources.Result{Entry: f.held}, errors.New("resolve: registry 127.0.0.1:1 is not reachable")
}

func (f failingSources) RefOf(path string) (sources.Entry, bool) {
	return f.held, path == "sources/x.wasm"
}

func TestLoadPlugin_RefArgs(t *testing.T) {
	hex := strings.Repeat("ab", 32)
	load := PluginCommands(noSwap{t}, t.TempDir(), &Downloads{}, failingSources{}, nil)["load_plugin"]
	tests := []struct {
		data, wantErr string
	}{
		{`{"ref": "127.0.0.1:5000/proc/echo:v1"}`, ""},
		{`{"ref": "127.0.0.1:5000/proc/echo@sha256:` + hex + `", "sha256": "` + hex + `"}`, ""},
		{`{"ref": "echo:v1"}`, `data.ref: reference "echo:v1"`},
		{`{"ref": "127.0.0.1:5000/proc/echo"}`, "no tag or digest"},
		{`{"ref": "127.0.0.1:5000/proc/echo:v1", "sha256": "abc"}`, "want 64 hex digits"},
		{`{"ref": "127.0.0.1:5000/proc/echo:v1", "url": "https://plugins.example.com/e.wasm"}`, "give exactly one of data.path"},
		{`{}`, "give exactly one of data.path"},
	}
	for _, tc := range tests {
		err := load.Check([]byte(tc.data))
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("Check(%s) = %v, want %q", tc.data, err, tc.wantErr)
		}
	}
	noStore := PluginCommands(noSwap{t}, t.TempDir(), &Downloads{}, nil, nil)["load_plugin"]
	if err := noStore.Check([]byte(`{"ref": "127.0.0.1:5000/proc/echo:v1"}`)); err == nil {
		t.Error("a ref accepted without a sources store")
	}
}

// A pull that fails fails the command with the reason and the digest
// still held, before any swap (noSwap fails the test on one).
func TestLoadPlugin_RefFails(t *testing.T) {
	held := sources.Entry{Ref: "127.0.0.1:5000/proc/echo:v1", Digest: "sha256:" + strings.Repeat("1", 64)}
	cmds := PluginCommands(noSwap{t}, t.TempDir(), &Downloads{}, failingSources{held}, nil)
	out, err := cmds["load_plugin"].Run(context.Background(), []byte(`{"ref": "127.0.0.1:5000/proc/echo:v1"}`))
	if err == nil || !strings.Contains(err.Error(), "not reachable") {
		t.Fatalf("Run = %v, want the registry's failure", err)
	}
	if m := out.(map[string]any); m["ref"] != held.Ref || m["digest"] != held.Digest {
		t.Errorf("outcome %v, want the ref and the digest still held", m)
	}
}
