package experiment

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/internal/testutil"
)

const numKeys = 100_000

// experiment builds a valid split experiment with the given names and
// weights.
func experiment(id string, names []string, weights ...int) federation.Experiment {
	e := federation.Experiment{ID: id, Plugin: "scorer", StickyKey: "header:X-User"}
	for i, n := range names {
		e.Variants = append(e.Variants, federation.Variant{Name: n, Weight: weights[i], Version: "1.0." + fmt.Sprint(i)})
	}
	return e
}

func mustCompile(tb testing.TB, e federation.Experiment, opts ...Option) *Split {
	tb.Helper()
	s, err := Compile(e, opts...)
	if err != nil {
		tb.Fatalf("Compile: %v", err)
	}
	return s
}

func key(i int) string { return fmt.Sprintf("user-%d", i) }

// assignAll assigns keys 0..numKeys-1 and returns the variant names.
func assignAll(s *Split) []string {
	out := make([]string, numKeys)
	for i := range out {
		out[i] = s.Name(s.Assign(key(i)))
	}
	return out
}

func TestAssignSharesMatchWeights(t *testing.T) {
	tests := []struct {
		name    string
		names   []string
		weights []int
	}{
		{"50/50", []string{"control", "treatment"}, []int{50, 50}},
		{"90/10", []string{"control", "treatment"}, []int{90, 10}},
		{"1/99", []string{"control", "treatment"}, []int{1, 99}},
		{"33/33/34", []string{"control", "b", "c"}, []int{33, 33, 34}},
		{"with a zero", []string{"control", "off", "b", "c"}, []int{20, 0, 40, 40}},
		{"five ways", []string{"a", "b", "c", "d", "e"}, []int{5, 10, 15, 30, 40}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustCompile(t, experiment("exp-shares", tc.names, tc.weights...))
			counts := map[string]int{}
			for _, v := range assignAll(s) {
				counts[v]++
			}
			for i, n := range tc.names {
				share := 100 * float64(counts[n]) / numKeys
				if math.Abs(share-float64(tc.weights[i])) > 1 {
					t.Errorf("variant %s got %.2f%% of the keys, want %d%% ± 1", n, share, tc.weights[i])
				}
				if tc.weights[i] == 0 && counts[n] != 0 {
					t.Errorf("variant %s of weight 0 got %d keys", n, counts[n])
				}
			}
		})
	}
}

func TestAssignRandomSharesMatchWeights(t *testing.T) {
	s := mustCompile(t, experiment("exp-random", []string{"control", "b", "off", "c"}, 60, 30, 0, 10))
	counts := make([]int, 4)
	for range numKeys {
		counts[s.AssignRandom()]++
	}
	for i, w := range []int{60, 30, 0, 10} {
		if share := 100 * float64(counts[i]) / numKeys; math.Abs(share-float64(w)) > 1 || w == 0 && counts[i] > 0 {
			t.Errorf("variant %d got %.2f%% of the calls, want %d%% ± 1", i, share, w)
		}
	}
}

// TestAssignSameOnEveryNeuron compiles the experiment twice from its wire
// form, as two neurons (or one neuron before and after a restart) would,
// once with the variants in another order, and wants every key on the same
// variant.
func TestAssignSameOnEveryNeuron(t *testing.T) {
	wire := `{"id":"exp-1","plugin":"scorer","stickyKey":"json:userId","variants":[
		{"name":"control","weight":50},{"name":"treatment","weight":30},{"name":"fast","weight":20}]}`
	reordered := `{"id":"exp-1","plugin":"scorer","stickyKey":"json:userId","variants":[
		{"name":"fast","weight":20},{"name":"control","weight":50},{"name":"treatment","weight":30}]}`
	var splits []*Split
	for _, doc := range []string{wire, wire, reordered} {
		var e federation.Experiment
		if err := json.Unmarshal([]byte(doc), &e); err != nil {
			t.Fatal(err)
		}
		splits = append(splits, mustCompile(t, e))
	}
	a, b, c := assignAll(splits[0]), assignAll(splits[1]), assignAll(splits[2])
	for i := range a {
		if a[i] != b[i] || a[i] != c[i] {
			t.Fatalf("key %q: neuron A says %s, neuron B %s, reordered %s", key(i), a[i], b[i], c[i])
		}
	}
}

// TestRaisingWeightMovesKeysOnlyIn raises one variant's weight (the others
// give it up) and checks all keys: none leaves the raised variant, and when
// the others shrink in proportion none moves between them either.
func TestRaisingWeightMovesKeysOnlyIn(t *testing.T) {
	tests := []struct {
		name          string
		names         []string
		before, after []int
		raised        string
		onlyInto      bool // the others shrink in proportion
	}{
		{"two variants 10 to 30", []string{"control", "treatment"}, []int{90, 10}, []int{70, 30}, "treatment", true},
		{"three variants, proportional", []string{"control", "b", "c"}, []int{45, 45, 10}, []int{35, 35, 30}, "c", true},
		{"three variants, uneven", []string{"control", "b", "c"}, []int{60, 30, 10}, []int{50, 20, 30}, "c", false},
		{"from zero", []string{"control", "b"}, []int{100, 0}, []int{90, 10}, "b", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := assignAll(mustCompile(t, experiment("exp-raise", tc.names, tc.before...)))
			after := assignAll(mustCompile(t, experiment("exp-raise", tc.names, tc.after...)))
			movedIn := 0
			for i := range before {
				switch {
				case before[i] == after[i]:
				case before[i] == tc.raised:
					t.Fatalf("key %q left %s for %s when %s's weight went up", key(i), tc.raised, after[i], tc.raised)
				case after[i] == tc.raised:
					movedIn++
				case tc.onlyInto:
					t.Fatalf("key %q moved from %s to %s, not into %s", key(i), before[i], after[i], tc.raised)
				}
			}
			if movedIn == 0 {
				t.Errorf("no key moved into %s", tc.raised)
			}
		})
	}
}

// TestAddingVariantMovesKeysOnlyIntoIt: with rendezvous hashing a new
// variant takes keys from the others and reshuffles nothing else.
func TestAddingVariantMovesKeysOnlyIntoIt(t *testing.T) {
	before := assignAll(mustCompile(t, experiment("exp-add", []string{"control", "b"}, 50, 50)))
	after := assignAll(mustCompile(t, experiment("exp-add", []string{"control", "b", "new"}, 40, 40, 20)))
	for i := range before {
		if before[i] != after[i] && after[i] != "new" {
			t.Fatalf("key %q moved from %s to %s", key(i), before[i], after[i])
		}
	}
}

// TestExperimentIDsAreIndependent: two 50/50 experiments with the same
// variant names put a key in each pair of variants a quarter of the time,
// so one experiment's treatment group is not the other's.
func TestExperimentIDsAreIndependent(t *testing.T) {
	names := []string{"control", "treatment"}
	a := assignAll(mustCompile(t, experiment("exp-a", names, 50, 50)))
	b := assignAll(mustCompile(t, experiment("exp-b", names, 50, 50)))
	pairs := map[[2]string]int{}
	for i := range a {
		pairs[[2]string{a[i], b[i]}]++
	}
	for _, x := range names {
		for _, y := range names {
			if share := 100 * float64(pairs[[2]string{x, y}]) / numKeys; math.Abs(share-25) > 1 {
				t.Errorf("%s in exp-a and %s in exp-b: %.2f%% of keys, want 25%% ± 1", x, y, share)
			}
		}
	}
}

// TestStoppedVariantKeysGoToControl stops one variant through its
// guardrail and checks every key: the stopped variant's go to the control,
// all others keep their variant.
func TestStoppedVariantKeysGoToControl(t *testing.T) {
	e := experiment("exp-stop", []string{"a", "control", "bad"}, 40, 30, 30)
	e.Guardrails = &federation.Guardrails{ErrorRate: 5}
	s := mustCompile(t, e, WithMinSamples(1))
	before := assignAll(s)
	random := make([]int, 3)
	t0 := time.Unix(1_700_000_000, 0)
	s.Check(t0)
	s.Observe(2, 500, time.Millisecond)
	if got := s.Check(t0.Add(time.Second)); len(got) != 1 || got[0].Name != "bad" {
		t.Fatalf("Check stopped %v, want bad", got)
	}
	after := assignAll(s)
	for i := range before {
		want := before[i]
		if want == "bad" {
			want = "control"
		}
		if after[i] != want {
			t.Fatalf("key %q: %s before the stop, %s after, want %s", key(i), before[i], after[i], want)
		}
	}
	for range numKeys {
		random[s.AssignRandom()]++
	}
	if random[2] != 0 || math.Abs(100*float64(random[1])/numKeys-60) > 1 {
		t.Errorf("AssignRandom after the stop: %v, want bad's 30%% on control (60%%)", random)
	}
}

// hashGolden is testdata/golden.json: the assignment's golden values, the
// output of testdata/golden.py, an implementation of the documented
// algorithm written apart from this one.
type hashGolden struct {
	Experiment struct {
		ID       string `json:"id"`
		Variants []struct {
			Name   string `json:"name"`
			Weight int    `json:"weight"`
		} `json:"variants"`
	} `json:"experiment"`
	Hashes []struct {
		ID   string `json:"id"`
		Key  string `json:"key"`
		Name string `json:"name"`
		Hash string `json:"hash"` // 0x and 16 hex digits
	} `json:"hashes"`
	Assigned       map[string]string `json:"assigned"`
	Sequence       int               `json:"sequence"`
	SequenceSHA256 string            `json:"sequenceSHA256"`
}

// TestHashGolden pins the assignment function to testdata/golden.json (see
// testdata/README.md): hashes, assignments of single keys, and the SHA-256
// of the assignments of user-0..user-9999. If this fails, every running
// experiment's keys would change variant.
func TestHashGolden(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g hashGolden
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatalf("testdata/golden.json: %v", err)
	}
	if len(g.Hashes) == 0 || len(g.Assigned) == 0 || g.Sequence == 0 {
		t.Fatalf("testdata/golden.json has no values: %s", raw)
	}
	for _, h := range g.Hashes {
		want, err := strconv.ParseUint(h.Hash, 0, 64)
		if err != nil {
			t.Fatalf("testdata/golden.json: hash %q: %v", h.Hash, err)
		}
		if got := hashName(hashKey(idSeed(h.ID), h.Key), h.Name); got != want {
			t.Errorf("hash(%q, %q, %q) = %#x, want %#x", h.ID, h.Key, h.Name, got, want)
		}
		// The FNV part must be standard FNV-1a over the documented bytes.
		f := fnv.New64a()
		le := func(n int) []byte { return []byte{byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24)} }
		f.Write(le(len(h.ID)))
		f.Write([]byte(h.ID))
		f.Write(le(len(h.Key)))
		f.Write([]byte(h.Key))
		f.Write([]byte(h.Name))
		if got, want := fnvString(hashKey(idSeed(h.ID), h.Key), h.Name), f.Sum64(); got != want {
			t.Errorf("FNV-1a of (%q, %q, %q) = %#x, hash/fnv says %#x", h.ID, h.Key, h.Name, got, want)
		}
	}
	var names []string
	var weights []int
	for _, v := range g.Experiment.Variants {
		names, weights = append(names, v.Name), append(weights, v.Weight)
	}
	s := mustCompile(t, experiment(g.Experiment.ID, names, weights...))
	for k, want := range g.Assigned {
		if got := s.Name(s.Assign(k)); got != want {
			t.Errorf("Assign(%q) = %s, want %s", k, got, want)
		}
	}
	seq := make([]byte, g.Sequence)
	for i := range seq {
		seq[i] = byte(s.Assign(key(i)))
	}
	sum := sha256.Sum256(seq)
	if got := hex.EncodeToString(sum[:]); got != g.SequenceSHA256 {
		t.Errorf("assignments of user-0..user-%d hash to %s, want %s (from the Python implementation)", g.Sequence-1, got, g.SequenceSHA256)
	}
}

// TestHashGoldenIsScriptOutput: testdata/golden.json is what
// testdata/golden.py prints, so the golden values can be checked and
// remade by anyone, never typed in.
func TestHashGoldenIsScriptOutput(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		testutil.Unavailable(t, "python3 is not installed: it runs testdata/golden.py, the independent implementation the golden values come from (apt-get install python3)")
	}
	cmd := exec.Command(python, "golden.py")
	cmd.Dir = "testdata"
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3 golden.py: %v", err)
	}
	checked, err := os.ReadFile(filepath.Join("testdata", "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, checked) {
		t.Errorf("testdata/golden.json is not the output of golden.py: run `cd internal/experiment/testdata && python3 golden.py > golden.json`; the script prints:\n%s", out)
	}
}

// TestLnMatchesMathLog checks the portable logarithm against math.Log over
// the whole range unit produces.
func TestLnMatchesMathLog(t *testing.T) {
	xs := []float64{unit(0), unit(math.MaxUint64), 0.5, math.Sqrt2 / 2, math.Nextafter(math.Sqrt2/2, 0), 1e-10, 0.999999}
	for i := range uint64(100_000) {
		xs = append(xs, unit(fmix64(i)))
	}
	for _, x := range xs {
		got, want := ln(x), math.Log(x)
		if ulps := math.Abs(got-want) / (math.Nextafter(math.Abs(want), math.Inf(1)) - math.Abs(want)); ulps > 1 {
			t.Fatalf("ln(%v) = %v, math.Log says %v (%.1f ulp apart)", x, got, want, ulps)
		}
	}
	if u := unit(math.MaxUint64); u >= 1 || ln(u) >= 0 {
		t.Errorf("unit(max) = %v, ln = %v: want below 1 and a negative log", u, ln(u))
	}
	if u := unit(0); u <= 0 {
		t.Errorf("unit(0) = %v, want above 0", u)
	}
}
