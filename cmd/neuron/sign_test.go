package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/empirefederation/neuron/internal/signature"
	"github.com/empirefederation/neuron/internal/testutil"
)

// keygen runs `neuron plugin keygen --out DIR/name` and returns the
// prefix and the key id it printed.
func keygen(t *testing.T, dir, name string) (prefix, id string) {
	t.Helper()
	prefix = filepath.Join(dir, name)
	r := neuron(t, nil, "plugin", "keygen", "--out", prefix)
	r.want(t, "keygen", exitOK, prefix+".key", prefix+".pub", "NEURON_TRUSTED_KEYS")
	m := regexp.MustCompile(`(?m)^key ([0-9a-f]{16})$`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("keygen printed no key id:\n%s", r.stdout)
	}
	return prefix, m[1]
}

// The signing workflow end to end: keygen, sign, and `neuron plugin
// validate` deciding as `neuron run` does with trusted keys: unsigned
// refused, signed accepted, a manifest changed after signing refused; a
// second key's signature added beside the first (rotation), either key
// alone trusted accepting it.
func TestPluginSign(t *testing.T) {
	t.Parallel()
	keys := t.TempDir()
	oldKey, oldID := keygen(t, keys, "old")
	newKey, newID := keygen(t, keys, "new")
	if st, err := os.Stat(oldKey + ".key"); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("private key: %v, %v; want mode 0600", st, err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "p.wasm")
	b, err := os.ReadFile(hello(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	trustOld, trustNew := []string{"NEURON_TRUSTED_KEYS=" + oldKey + ".pub"}, []string{"NEURON_TRUSTED_KEYS=" + newKey + ".pub"}

	// validate decides as run: a refusal with the very reason run gives
	// (refusals come before compiling, so they are cheap to compare); an
	// acceptance is compared with run once, below, as each compiles.
	decide := func(what string, env []string, reason string) {
		t.Helper()
		got := neuron(t, env, "plugin", "validate", file)
		if reason == "" {
			got.want(t, what, exitOK, "ok: "+file+" is hello@1.0.0")
			return
		}
		runReason := runVerdict(t, dir, env)
		if !strings.Contains(runReason, reason) {
			t.Fatalf("%s: run's reason %q lacks %q", what, runReason, reason)
		}
		if got.code != exitFailure || !strings.HasSuffix(got.stderr, ": "+runReason+"\n") {
			t.Errorf("%s: validate exit %d, stderr %q\nwant exit 1 and run's reason %q", what, got.code, got.stderr, runReason)
		}
	}
	decide("unsigned, a trusted key", trustOld, "the processor is not signed")

	neuron(t, nil, "plugin", "sign", "--key", oldKey+".key", file).want(t, "sign with the old key", exitOK,
		"signed "+file+" (the module) with key "+oldID, file+".sig holds 1 signature")
	decide("signed", trustOld, "")
	if reason := runVerdict(t, dir, trustOld); reason != "" {
		t.Fatalf("run refused the signed file: %s", reason)
	}
	decide("signed by a key not trusted", trustNew, "signed by "+oldID+", none of them a key this neuron trusts ("+newID+")")

	neuron(t, nil, "plugin", "sign", "--key", newKey+".key", file).want(t, "sign with the new key", exitOK, "holds 2 signatures")
	neuron(t, trustNew, "plugin", "inspect", file).want(t, "inspect with a trusted key", exitOK,
		"signed by "+oldID+", "+newID+"; verified with the trusted keys")
	neuron(t, nil, "plugin", "inspect", file).want(t, "inspect without trusted keys", exitOK,
		"signed by "+oldID+", "+newID+"; not verified (no trustedKeys configured)")
	decide("signed by both, the new trusted", trustNew, "")
	decide("signed by both, the old trusted", trustOld, "")
	neuron(t, nil, "plugin", "sign", "--key", newKey+".key", file).want(t, "sign again with the new key", exitOK, "holds 2 signatures")

	if err := os.WriteFile(filepath.Join(dir, "p.json"), []byte(`{"name": "hello", "version": "1.0.0", "endpoints": [{"method": "GET", "path": "/hello/{name}"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	decide("a sidecar added after signing", trustNew, "the signature by trusted key "+newID+" does not match")
	neuron(t, nil, "plugin", "sign", "--key", newKey+".key", file).want(t, "sign with the sidecar", exitOK, "(the module and p.json)")
	decide("signed with its sidecar", trustNew, "")
	decide("the old key's signature, of the module without the sidecar", trustOld, "does not match")
}

// Mistakes get a reason and the exit status the contract gives them.
func TestPluginSign_Errors(t *testing.T) {
	t.Parallel()
	keys := t.TempDir()
	prefix, _ := keygen(t, keys, "k")
	mod := hello(t)
	garbage := filepath.Join(t.TempDir(), "garbage.pub")
	if err := os.WriteFile(garbage, []byte("not a key\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	closed := testutil.ClosedAddr(t)
	badSig := filepath.Join(t.TempDir(), "bad.wasm")
	b, _ := os.ReadFile(mod)
	if err := os.WriteFile(badSig, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(signature.Path(badSig), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		code int
		want []string
	}{
		{"keygen help", nil, []string{"plugin", "keygen", "--help"}, exitOK, []string{"Usage: neuron plugin keygen [--out PREFIX]", "NEURON_TRUSTED_KEYS", "rotate"}},
		{"sign help", nil, []string{"plugin", "sign", "-h"}, exitOK, []string{"Usage: neuron plugin sign --key KEY.key [--insecure] FILE.wasm|REF", "FILE.wasm.sig", "sidecar", "OCI referrer"}},
		{"plugin usage lists them", nil, []string{"plugin"}, exitOK, []string{"neuron plugin keygen", "neuron plugin sign"}},
		{"keygen with an argument", nil, []string{"plugin", "keygen", "x"}, exitUsage, []string{`unexpected argument "x"`, "Usage: neuron plugin keygen"}},
		{"keygen over existing keys", nil, []string{"plugin", "keygen", "--out", prefix}, exitFailure, []string{prefix + ".key exists: keygen never overwrites"}},
		{"sign without --key", nil, []string{"plugin", "sign", mod}, exitUsage, []string{"--key is required", "Usage: neuron plugin sign"}},
		{"sign without a file", nil, []string{"plugin", "sign", "--key", prefix + ".key"}, exitUsage, []string{"missing argument"}},
		{"sign with the public key", nil, []string{"plugin", "sign", "--key", prefix + ".pub", mod}, exitFailure, []string{`holds a "PUBLIC KEY" PEM block, want "PRIVATE KEY"`}},
		{"sign a reference to a registry that is down", nil, []string{"plugin", "sign", "--key", prefix + ".key", closed + "/team/p:1.0.0"}, exitFailure,
			[]string{"registry " + closed + " is unreachable"}},
		{"sign a module file that is not there", nil, []string{"plugin", "sign", "--key", prefix + ".key", "gone.wasm"}, exitFailure,
			[]string{"gone.wasm: no such file"}},
		{"sign over a broken signature file", nil, []string{"plugin", "sign", "--key", prefix + ".key", badSig}, exitFailure,
			[]string{badSig + ".sig: signature file holds no signature: remove it"}},
		{"validate with a trusted key that is not one", []string{"NEURON_TRUSTED_KEYS=" + garbage}, []string{"plugin", "validate", mod}, exitFailure,
			[]string{"invalid configuration", "trustedKeys in env NEURON_TRUSTED_KEYS", garbage + " holds no PEM block", "neuron plugin keygen"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			neuron(t, tc.env, tc.args...).want(t, tc.name, tc.code, tc.want...)
		})
	}
}
