package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/empirefederation/neuron/internal/oci"
	"github.com/empirefederation/neuron/internal/signature"
	"github.com/empirefederation/neuron/internal/testutil"
)

// writeFiles writes files (by name) into a new directory and returns it.
func writeFiles(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestPushPull pushes real processors to a registry on loopback with the
// binary and pulls them back: by tag, by the pinned reference push
// printed, signed, and over files an earlier pull left.
func TestPushPull(t *testing.T) {
	t.Parallel()
	host := testutil.Registry(t, nil)
	// No credentials: the caller's Docker config stays out of the test.
	env := []string{"DOCKER_CONFIG=" + t.TempDir()}
	src := writeFiles(t, withSidecar("nomanifest", sidecarOK(""))(t))
	ref := host + "/processors/p:1"

	r := neuron(t, env, "plugin", "push", ref, filepath.Join(src, "p.wasm"))
	r.want(t, "push", exitOK, "pushed p@1.0.0 to "+ref+"\n", "digest sha256:", "pinned "+host+"/processors/p@sha256:")
	digest := regexp.MustCompile(`digest (sha256:[0-9a-f]{64})`).FindStringSubmatch(r.stdout)
	if digest == nil {
		t.Fatalf("push printed no digest: %s", r.stdout)
	}
	for _, pullRef := range []string{ref, host + "/processors/p@" + digest[1]} {
		dst := t.TempDir()
		r := neuron(t, env, "plugin", "pull", pullRef, dst)
		r.want(t, "pull "+pullRef, exitOK, "wrote "+filepath.Join(dst, "p.json")+"\n", "wrote "+filepath.Join(dst, "p.wasm")+"\n",
			"pulled p@1.0.0 from "+pullRef+"\ndigest "+digest[1]+"\n")
		for _, name := range []string{"p.wasm", "p.json"} {
			if got, want := readFile(t, filepath.Join(dst, name)), readFile(t, filepath.Join(src, name)); !bytes.Equal(got, want) {
				t.Errorf("pulled %s differs from the one pushed", name)
			}
		}
		if _, err := os.Stat(filepath.Join(dst, "p.wasm.sig")); !os.IsNotExist(err) {
			t.Errorf("unsigned processor pulled with a signature file: %v", err)
		}
		neuron(t, env, "plugin", "validate", filepath.Join(dst, "p.wasm")).want(t, "validate the pulled processor", exitOK)
	}

	// Signed, then pulled over the files of another processor's pull: the
	// signature file verifies, stale files go.
	keys := t.TempDir()
	priv, pub := filepath.Join(keys, "key.pem"), filepath.Join(keys, "key.pub")
	if _, err := signature.GenerateKey(priv, pub); err != nil {
		t.Fatal(err)
	}
	neuron(t, env, "plugin", "sign", "--key", priv, ref).want(t, "sign", exitOK, "signed "+ref+" with key ", "digest "+digest[1])
	dst := t.TempDir()
	neuron(t, env, "plugin", "pull", ref, dst).want(t, "pull signed", exitOK, "wrote "+filepath.Join(dst, "p.wasm.sig"))
	v, err := signature.LoadVerifier([]string{pub})
	if err != nil {
		t.Fatal(err)
	}
	p := oci.Processor{Module: readFile(t, filepath.Join(dst, "p.wasm")), Sidecar: readFile(t, filepath.Join(dst, "p.json"))}
	if err := v.Verify(p.Subject(), readFile(t, filepath.Join(dst, "p.wasm.sig"))); err != nil {
		t.Errorf("the pulled signature file does not verify: %v", err)
	}

	echo := writeFiles(t, map[string][]byte{"echo.wasm": built(t, "runtime/testdata/guests/echo")})
	neuron(t, env, "plugin", "push", host+"/processors/echo:1", filepath.Join(echo, "echo.wasm")).want(t, "push echo", exitOK, "pushed echo@1.0.0")
	stale := writeFiles(t, map[string][]byte{"echo.json": []byte("{}"), "echo.wasm.sig": []byte("{}")})
	neuron(t, env, "plugin", "pull", host+"/processors/echo:1", stale).want(t, "pull over stale files", exitOK,
		"removed "+filepath.Join(stale, "echo.json")+"\n", "removed "+filepath.Join(stale, "echo.wasm.sig")+"\n", "wrote "+filepath.Join(stale, "echo.wasm")+"\n")
	if entries, _ := os.ReadDir(stale); len(entries) != 1 {
		t.Errorf("after the pull the directory holds %v, want echo.wasm alone", entries)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A processor that would not load is not pushed; a registry's refusal is
// the command's failure, with what to do.
func TestPushPullRefused(t *testing.T) {
	t.Parallel()
	host := testutil.Registry(t, nil)
	env := []string{"DOCKER_CONFIG=" + t.TempDir()}
	bad := writeFiles(t, guestFile("noexports")(t))
	neuron(t, env, "plugin", "push", host+"/processors/p:1", filepath.Join(bad, "p.wasm")).want(t, "push an invalid processor", exitFailure,
		"neuron plugin push: p.wasm", "missing required exports")
	neuron(t, env, "plugin", "pull", host+"/processors/p:1", t.TempDir()).want(t, "pull what was not pushed", exitFailure,
		"neuron plugin pull: pull "+host+"/processors/p:1: "+host+"/processors/p:1 not found in the registry")
	down := testutil.ClosedAddr(t)
	neuron(t, env, "plugin", "pull", down+"/processors/p:1").want(t, "pull from a registry that is down", exitFailure,
		"registry "+down+" is unreachable")
	neuron(t, env, "plugin", "pull", "p:1").want(t, "pull a bad reference", exitFailure, `"p:1" is not an OCI reference`)

	keys := t.TempDir()
	priv := filepath.Join(keys, "key.pem")
	if _, err := signature.GenerateKey(priv, filepath.Join(keys, "key.pub")); err != nil {
		t.Fatal(err)
	}
	neuron(t, env, "plugin", "sign", "--key", priv, host+"/processors/p:1").want(t, "sign what was not pushed", exitFailure, "not found in the registry")
	neuron(t, env, "plugin", "sign", "--key", filepath.Join(keys, "key.pub"), host+"/processors/p:1").want(t, "sign with a public key", exitFailure,
		`holds a "PUBLIC KEY" PEM block, want "PRIVATE KEY"`)
}

func TestRegistryUsage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		code int
		in   []string
	}{
		{[]string{"plugin", "push", "--help"}, exitOK, []string{"Usage: neuron plugin push", oci.ConfigMediaType, oci.ModuleMediaType, oci.ManifestMediaType, "docker login", "--insecure"}},
		{[]string{"plugin", "pull", "--help"}, exitOK, []string{"Usage: neuron plugin pull", "NAME.wasm.sig", "--insecure"}},
		{[]string{"plugin", "sign", "--help"}, exitOK, []string{"Usage: neuron plugin sign", oci.SignatureArtifactType, "--key"}},
		{[]string{"plugin", "--help"}, exitOK, []string{"neuron plugin push", "neuron plugin pull", "neuron plugin sign"}},
		{[]string{"plugin", "push", "registry.example/p:1"}, exitUsage, []string{"neuron plugin push: missing argument: expected 2 arguments", "Usage: neuron plugin push"}},
		{[]string{"plugin", "pull"}, exitUsage, []string{"neuron plugin pull: missing argument", "Usage: neuron plugin pull"}},
		{[]string{"plugin", "pull", "a", "b", "c"}, exitUsage, []string{"neuron plugin pull: too many arguments"}},
		{[]string{"plugin", "sign", "registry.example/p:1"}, exitUsage, []string{"neuron plugin sign: --key is required", "Usage: neuron plugin sign"}},
	} {
		r := neuron(t, nil, tc.args...)
		r.want(t, strings.Join(tc.args, " "), tc.code, tc.in...)
	}
}
