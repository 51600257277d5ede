package devfed

import (
	"reflect"
	"strings"
	"testing"

	"github.com/empirefederation/neuron/internal/ociref"
)

// Artifact digests of the tests.
var (
	digestA = "sha256:" + strings.Repeat("a1", 32)
	digestB = "sha256:" + strings.Repeat("b2", 32)
	digestC = "sha256:" + strings.Repeat("c3", 32)
)

func TestParseSources(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []sourceView
	}{
		{"none", "", []sourceView{}},
		{"blanks", " , ,", []sourceView{}},
		{"one", "127.0.0.1:5000/dp:1.1.0@" + digestA, []sourceView{{"127.0.0.1:5000/dp:1.1.0", digestA}}},
		{"pinned ref: the last @ splits", "127.0.0.1:5000/dp@" + digestB + "@" + digestB,
			[]sourceView{{"127.0.0.1:5000/dp@" + digestB, digestB}}},
		{"several, trimmed", " 127.0.0.1:5000/a:1@" + digestA + " ,127.0.0.1:5000/b:2@" + digestC,
			[]sourceView{{"127.0.0.1:5000/a:1", digestA}, {"127.0.0.1:5000/b:2", digestC}}},
		{"no digest: kept whole", "127.0.0.1:5000/a:1", []sourceView{{"127.0.0.1:5000/a:1", ""}}},
		{"short digest", "127.0.0.1:5000/a:1@sha256:abcd", []sourceView{{"127.0.0.1:5000/a:1@sha256:abcd", ""}}},
		{"upper-case hex", "127.0.0.1:5000/a:1@" + strings.ToUpper(digestA), []sourceView{{"127.0.0.1:5000/a:1@" + strings.ToUpper(digestA), ""}}},
		{"another algorithm", "127.0.0.1:5000/a:1@sha512:" + strings.Repeat("0", 128), []sourceView{{"127.0.0.1:5000/a:1@sha512:" + strings.Repeat("0", 128), ""}}},
		{"digest alone", "@" + digestA, []sourceView{{"@" + digestA, ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseSources(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parseSources(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

// FuzzParseSources: whatever a neuron reports, every entry comes back,
// whole: the ref and digest joined give the entry, and a digest is always
// a well-formed sha256 one.
func FuzzParseSources(f *testing.F) {
	for _, seed := range []string{"", ",", "127.0.0.1:5000/a:1@" + digestA, "a@b@" + digestB + ",x", "@@,@sha256:", "r/a@" + digestA + "@"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := parseSources(in)
		entries := metadataList(in)
		if len(got) != len(entries) {
			t.Fatalf("%d sources of %d entries", len(got), len(entries))
		}
		for i, s := range got {
			whole := s.Ref
			if s.Digest != "" {
				whole += "@" + s.Digest
				if ociref.CheckDigest(s.Digest) != nil || s.Ref == "" {
					t.Errorf("source %+v", s)
				}
			}
			if whole != entries[i] || strings.Contains(whole, ",") {
				t.Errorf("source %+v of entry %q", s, entries[i])
			}
		}
	})
}

// withSources is a registration of id at baseURL reporting sources.
func withSources(id, baseURL, sources string) map[string]any {
	b := regBody(id, baseURL)
	b["metadata"].(map[string]any)[metadataSources] = sources
	return b
}

// A load_plugin with a registry reference is checked before anything is
// queued, then pushed as given to one neuron or to the fleet.
func TestLoadPluginRef(t *testing.T) {
	f, a, _ := activeNeuron(t)
	b := newFakeNeuron(t)
	f.beat(f.register(regBody("n-2", b.URL())), "active", "")
	ref := "127.0.0.1:5000/processors/dp:1.1.0"
	sum := strings.Repeat("ab", 32)
	cmd := map[string]any{"target": "n-1", "type": "load_plugin", "data": map[string]any{"ref": ref, "sha256": sum}}
	checkAdmin(t, f, "/api/admin/commands", cmd, []badCase{
		{"data.ref", "", "data.ref"},
		{"data.ref", 7, "data.ref"},
		{"data.ref", "dp:1.1.0", "data.ref"},
		{"data.ref", "127.0.0.1:5000/dp", "data.ref"},
		{"data.ref", "127.0.0.1:5000/dp@sha256:abc", "data.ref"},
		{"data.ref", "127.0.0.1:5000/" + strings.Repeat("a", ociref.MaxLen), "data.ref"},
		{"data.ref", "127.0.0.1:5000/dp:1.1.0@" + digestA, "data.ref"}, // refused by the neurons too
		{"data.path", "dp.wasm", "data.path"},
		{"data.url", "http://127.0.0.1/dp.wasm", "data.url"},
		{"data.sha256", "abc", "data.sha256"},
		{"data.sha256", 1, "data.sha256"},
	})
	status, env := f.call("POST", "/api/admin/commands", f.opts.AdminToken, with(cmd, "data.ref", "127.0.0.1:5000/dp"))
	if status != 400 || !strings.Contains(env.Error, ociref.Forms) || !strings.Contains(env.Error, "no tag or digest") {
		t.Errorf("refusal %d %q: want the form expected and what is wrong", status, env.Error)
	}
	var cmds []commandView
	f.admin("GET", "/api/admin/commands", nil, 200, &cmds)
	if len(cmds) != 0 || len(a.received()) != 0 || len(b.received()) != 0 {
		t.Fatalf("refused commands were queued (%+v) or pushed (%d, %d)", cmds, len(a.received()), len(b.received()))
	}

	f.admin("POST", "/api/admin/commands", cmd, 201, &cmds)
	if len(cmds) != 1 || cmds[0].NeuronID != "n-1" || cmds[0].Status != "succeeded" {
		t.Fatalf("commands %+v, want one to n-1 that succeeded", cmds)
	}
	checkPushed(t, a, cmds[0].ID, ref, sum)
	if n := len(b.received()); n != 0 {
		t.Errorf("n-2 got %d pushes of a command to n-1", n)
	}

	pinned := "127.0.0.1:5000/processors/dp@" + digestA
	f.admin("POST", "/api/admin/commands", map[string]any{"target": "fleet", "type": "load_plugin", "data": map[string]any{"ref": pinned}}, 201, &cmds)
	if len(cmds) != 2 {
		t.Fatalf("%d commands to the fleet, want one per neuron", len(cmds))
	}
	for _, c := range cmds {
		if c.Status != "succeeded" {
			t.Errorf("command %+v", c)
		}
		checkPushed(t, map[string]*fakeNeuron{"n-1": a, "n-2": b}[c.NeuronID], c.ID, pinned, "")
	}
}

// checkPushed checks that n's last push carried load_plugin command id
// with ref and sha256 ("" for none).
func checkPushed(t *testing.T, n *fakeNeuron, id, ref, sha256 string) {
	t.Helper()
	c, _ := n.last(t).Update["command"].(map[string]any)
	data, _ := c["data"].(map[string]any)
	if c["id"] != id || c["type"] != "load_plugin" || data["ref"] != ref || (data["sha256"] != nil || sha256 != "") && data["sha256"] != sha256 {
		t.Errorf("pushed command %v, want load_plugin %s of %s with sha256 %q", c, id, ref, sha256)
	}
}

// The admin API shows the digest each neuron runs of each reference, and
// the overview the digests the fleet runs, so a rollout that has not
// reached every neuron shows.
func TestSourcesShown(t *testing.T) {
	f := newFed(t)
	ref := "127.0.0.1:5000/processors/dp:1.1.0"
	pinned := "127.0.0.1:5000/processors/hello@" + digestC
	tokens := map[string]string{
		"n-1": f.register(withSources("n-1", "", ref+"@"+digestA+","+pinned+"@"+digestC)),
		"n-2": f.register(withSources("n-2", "", ref+"@"+digestA)),
		"n-3": f.register(withSources("n-3", "", ref+"@"+digestB)),
		"n-4": f.register(regBody("n-4", "")),
	}
	d := f.neuron("n-1")
	if want := []sourceView{{ref, digestA}, {pinned, digestC}}; !reflect.DeepEqual(d.Sources, want) {
		t.Errorf("n-1 sources %+v, want %+v", d.Sources, want)
	}
	var list []neuronSummary
	f.admin("GET", "/api/admin/neurons", nil, 200, &list)
	if len(list) != 4 || !reflect.DeepEqual(list[2].Sources, []sourceView{{ref, digestB}}) || list[3].Sources == nil || len(list[3].Sources) != 0 {
		t.Errorf("neurons' sources %+v", list)
	}
	if want := []string{"data-processor@1.1.0+sha256:abcd", "hello@1.0.0"}; !reflect.DeepEqual(list[0].Processors, want) {
		t.Errorf("processors %q, want %q", list[0].Processors, want)
	}

	var o struct{ Sources []sourceDigests }
	f.admin("GET", "/api/admin/overview", nil, 200, &o)
	want := []sourceDigests{
		{ref, []digestNeurons{{digestA, []string{"n-1", "n-2"}}, {digestB, []string{"n-3"}}}},
		{pinned, []digestNeurons{{digestC, []string{"n-1"}}}},
	}
	if !reflect.DeepEqual(o.Sources, want) {
		t.Errorf("overview sources %+v, want %+v", o.Sources, want)
	}

	// n-3 goes offline: what it reported no longer counts.
	f.clock.Add(6 * testInterval)
	f.beat(tokens["n-1"], "active", "")
	f.beat(tokens["n-2"], "active", "")
	f.admin("GET", "/api/admin/overview", nil, 200, &o)
	if len(o.Sources) != 2 || len(o.Sources[0].Digests) != 1 || o.Sources[0].Digests[0].Digest != digestA {
		t.Errorf("overview sources with n-3 offline %+v, want one digest of %s", o.Sources, ref)
	}
	var empty struct{ Sources []sourceDigests }
	newFed(t).admin("GET", "/api/admin/overview", nil, 200, &empty)
	if empty.Sources == nil {
		t.Error("overview sources of an empty fleet: null, want []")
	}
}
