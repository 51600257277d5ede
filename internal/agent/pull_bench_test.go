package agent

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/internal/oci"
	"github.com/empirefederation/neuron/internal/testutil"
)

// BenchmarkPushToServing measures, for the data processor (3.7 MB), the
// time from `neuron plugin push` to the neuron serving it after a
// load_plugin command naming its reference: the push to a registry on
// loopback, the command (resolve, pull by digest, checks, write into
// DATA/sources) and the swap. Warm pushes two builds in turn, each
// compiled before (the compilation cache and the retired version's kept
// module hit); cold pushes a build with a fresh custom section each time,
// a digest no cache has seen.
//
//	go test -run '^$' -bench PushToServing -benchtime 10x ./internal/agent/
func BenchmarkPushToServing(b *testing.B) {
	bin, err := os.ReadFile(testutil.BuildWasm(b, "examples/dataprocessor/v1.0.0"))
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		build func(i int) []byte
	}{
		{"warm", func(i int) []byte { return withNonce(bin, uint64(i%2)) }},
		{"cold", func(i int) []byte { return withNonce(bin, uint64(time.Now().UnixNano())) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			reg := testutil.StartRegistry(b)
			client := &oci.Client{DockerConfig: filepath.Join(b.TempDir(), "config.json")}
			a := startAgent(b, b.TempDir()) // an empty plugins directory
			ref := reg.Host + "/bench/dp:latest"
			var pushing time.Duration
			load := func(i int, m []byte) {
				t0 := time.Now()
				if _, err := client.Push(context.Background(), ref, oci.Processor{Module: m, Name: "data-processor", Version: "1.0.0"}); err != nil {
					b.Fatal(err)
				}
				pushing += time.Since(t0)
				res, err := a.control.Apply(context.Background(), federation.Update{Command: &federation.Command{
					ID: fmt.Sprintf("%s-%d", b.Name(), i), Type: "load_plugin", Data: json.RawMessage(`{"ref": "` + ref + `"}`)}}, "push")
				// A command still running when the answer is due (a cold
				// compile) ends in the background: the wait below sees it.
				if err != nil || res.Command == nil || !res.Command.OK && !res.Command.Running {
					b.Fatalf("load_plugin: %v %+v", err, res.Command)
				}
				sum := sha256.Sum256(m)
				testutil.Eventually(b, time.Minute, "the pushed build serving", func() bool {
					for _, p := range a.rt.Processors() {
						if p.Serving && p.Digest == hex.EncodeToString(sum[:]) {
							return true
						}
					}
					return false
				})
			}
			if tc.name == "warm" { // both builds compiled once, outside the timing
				load(-2, tc.build(0))
				load(-1, tc.build(1))
			}
			pushing = 0
			i := 0
			for b.Loop() {
				load(i, tc.build(i))
				i++
			}
			b.ReportMetric(float64(pushing.Milliseconds())/float64(i), "push-ms/op")
		})
	}
}

// withNonce is bin with a custom section "nonce" holding n: the same code,
// another digest.
func withNonce(bin []byte, n uint64) []byte {
	sec := append([]byte{0, 14, 5}, "nonce"...) // id 0, size 1+5+8, name
	return append(append(append([]byte{}, bin...), sec...), binary.LittleEndian.AppendUint64(nil, n)...)
}
