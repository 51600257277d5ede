package runtime_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/empirefederation/neuron/internal/modfile"
	"github.com/empirefederation/neuron/internal/signature"
	"github.com/empirefederation/neuron/internal/testutil"
	"github.com/empirefederation/neuron/runtime"
)

// signedBy returns b's files FILE.wasm and FILE.json with FILE.wasm.sig,
// the build signed by keys, as `neuron plugin sign` writes it.
func (b build) signedBy(file string, keys ...testutil.SigningKey) map[string][]byte {
	var f signature.File
	for _, k := range keys {
		f.Sign(k.Priv, signature.Subject{Module: modfile.SHA256Hex(b.wasm), Sidecar: modfile.SHA256Hex(b.sidecar)})
	}
	files := b.files(file)
	files[file+".wasm"+signature.Suffix] = f.Marshal()
	return files
}

// A runtime that trusts keys loads only what one of them signed: an
// unsigned file and one signed by another key are rejected before they
// compile, with the reason and what to do, while a signed one serves; an
// unsigned new build leaves the signed one serving until its signature
// arrives; two keys are trusted at once (rotation); an archived version
// is checked again when Rollback brings it back, and refused once its key
// is no longer trusted.
func TestSync_TrustedKeys(t *testing.T) {
	oldKey, newKey, stranger := testutil.NewSigningKey(t), testutil.NewSigningKey(t), testutil.NewSigningKey(t)
	v1, v2 := guestBuild(t, "echo", "1.0.0", "sig-a"), guestBuild(t, "echo", "1.1.0", "sig-b")
	data := t.TempDir()
	opts := runtime.Options{DataDir: data, Trust: signature.NewVerifier(oldKey.Pub, newKey.Pub)}
	files := v1.signedBy("echo", oldKey)
	for name, b := range v2.files("plain") {
		files[name] = b
	}
	for name, b := range v2.signedBy("stranger", stranger) {
		files[name] = b
	}
	e := newEnv(t, opts, files)

	ch := e.sync()
	if got := ids(ch.Loaded); len(got) != 1 || got[0] != "echo@1.0.0" || len(ch.Rejected) != 2 {
		t.Fatalf("Sync = %s, want echo@1.0.0 loaded and two files rejected", summary(ch))
	}
	reasons := map[string]string{}
	for _, r := range ch.Rejected {
		reasons[filepath.Base(r.File)] = r.Reason
	}
	for file, want := range map[string][]string{
		"plain.wasm":    {"not signed", "neuron plugin sign --key KEY.key plain.wasm", "plain.wasm.sig"},
		"stranger.wasm": {"signed by " + signature.KeyID(stranger.Pub), "none of them a key this neuron trusts"},
	} {
		for _, w := range want {
			if !strings.Contains(reasons[file], w) {
				t.Errorf("%s rejected for %q, want it to say %q", file, reasons[file], w)
			}
		}
	}
	if n := len(e.events.ofType(runtime.EventPluginRejected)); n != 2 {
		t.Errorf("%d %s events, want 2", n, runtime.EventPluginRejected)
	}
	if len(e.logs.find("processor rejected", "file", "plain.wasm")) != 1 {
		t.Error("no log line says why plain.wasm was rejected")
	}
	if got := e.servedBy("/t/echo/x"); got != "echo@1.0.0" {
		t.Fatalf("served by %q, want echo@1.0.0", got)
	}

	e.run(t, "an unsigned new build leaves the signed one serving", func(t *testing.T, e *env) {
		e.remove("echo.wasm.sig")
		e.put(v2.files("echo"))
		ch := e.sync()
		if len(ch.Rejected) != 1 || !strings.Contains(ch.Rejected[0].Reason, "not signed") || len(ch.Loaded)+len(ch.Swapped) != 0 {
			t.Fatalf("Sync = %s, want the unsigned build rejected", summary(ch))
		}
		if p := e.serving("echo"); p.Version != "1.0.0" || p.Digest[:12] != v1.digest12 {
			t.Errorf("serving %s, want the signed 1.0.0", describe(p))
		}
	})
	e.run(t, "its signature by the new key arrives: it is tried again and takes over", func(t *testing.T, e *env) {
		e.put(v2.signedBy("echo", newKey))
		ch := e.sync()
		if got := ids(ch.Swapped); len(got) != 1 || got[0] != "echo@1.1.0" || len(ch.Rejected) != 0 {
			t.Fatalf("Sync = %s, want echo@1.1.0 swapped in", summary(ch))
		}
		if got := e.servedBy("/t/echo/x"); got != "echo@1.1.0" {
			t.Errorf("served by %q, want echo@1.1.0", got)
		}
		e.settled()
		sig := filepath.Join(data, "archive", "echo", "1.0.0-"+v1.digest12+".wasm.sig")
		if _, err := os.Stat(sig); err != nil {
			t.Errorf("the archived version has no signature file beside it: %v", err)
		}
	})
	e.run(t, "rollback to the archived version checks its signature, which verifies", func(t *testing.T, e *env) {
		if _, to, err := e.rt.Rollback(context.Background(), "echo"); err != nil || to.Version != "1.0.0" {
			t.Fatalf("Rollback = %+v, %v; want 1.0.0 from the archive", to, err)
		}
		if err := e.rt.Unpin(context.Background(), "echo"); err != nil {
			t.Fatal(err)
		}
		if got := e.servedBy("/t/echo/x"); got != "echo@1.1.0" {
			t.Errorf("after Unpin served by %q, want echo@1.1.0", got)
		}
	})

	// The old key retired: the new build still loads; the archived one,
	// signed by the old key only, is refused.
	e2 := e.restart(t, runtime.Options{DataDir: data, Trust: signature.NewVerifier(newKey.Pub)})
	if got := e2.servedBy("/t/echo/x"); got != "echo@1.1.0" {
		t.Fatalf("after the rotation served by %q, want echo@1.1.0", got)
	}
	_, _, err := e2.rt.Rollback(context.Background(), "echo")
	if err == nil || !strings.Contains(err.Error(), "none of them a key this neuron trusts") {
		t.Errorf("Rollback to a version signed by a retired key: %v, want it refused for its signature", err)
	}
	if got := e2.servedBy("/t/echo/x"); got != "echo@1.1.0" {
		t.Errorf("after the refused rollback served by %q, want echo@1.1.0", got)
	}
}

// Check, what `neuron plugin validate` runs, decides as Sync does.
func TestCheck_TrustedKeys(t *testing.T) {
	k := testutil.NewSigningKey(t)
	b := guestBuild(t, "echo", "1.0.0", "check")
	e := newEnv(t, runtime.Options{Trust: signature.NewVerifier(k.Pub)}, b.files("unsigned"))
	e.put(b.signedBy("signed", k))
	if _, err := e.rt.Check(context.Background(), filepath.Join(e.dir, "unsigned.wasm")); err == nil || !strings.Contains(err.Error(), "unsigned.wasm: signature: the processor is not signed") {
		t.Errorf("Check of the unsigned file: %v", err)
	}
	if in, err := e.rt.Check(context.Background(), filepath.Join(e.dir, "signed.wasm")); err != nil || in.Manifest.Name != "echo" {
		t.Errorf("Check of the signed file: %v", err)
	}
}
