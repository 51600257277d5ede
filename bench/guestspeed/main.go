// Command guestspeed times the same Go code natively and compiled to Wasm
// under neuron, to separate the guest's speed from the host's overhead. It
// imports only the SDK and the standard library, so that the code timed is
// the same on both sides.
//
// Natively:
//
//	go run ./bench/guestspeed
//
// As a processor (GET /perf answers the same line, measured inside the guest):
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o /tmp/gs/guestspeed.wasm ./bench/guestspeed
//	NEURON_PLUGINS_DIR=/tmp/gs NEURON_LISTEN=127.0.0.1:18091 go run ./cmd/neuron run &
//	curl localhost:18091/perf
package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/empirefederation/neuron/sdk"
)

type rec struct {
	ID    json.RawMessage `json:"id"`
	Email json.RawMessage `json:"email"`
}

// work times JSON decoding, JSON encoding, an arithmetic loop and map
// updates, and reports each per operation.
func work() string {
	raw := []byte(`{"email":"user0@example.com","id":"cust-0","name":"Customer"}`)
	n := 2000
	t0 := time.Now()
	for range n {
		var r rec
		_ = json.Unmarshal(raw, &r)
	}
	t1 := time.Now()
	for range n {
		_, _ = json.Marshal(map[string]any{"a": 1, "b": "x"})
	}
	t2 := time.Now()
	s := 0
	for i := range n * 100 {
		s += i * i % 7
	}
	t3 := time.Now()
	m := map[string]int{}
	for i := range n {
		m[fmt.Sprint(i%50)] += i
	}
	t4 := time.Now()
	per := func(d time.Duration, k int) float64 { return float64(d.Nanoseconds()) / float64(k) }
	return fmt.Sprintf("unmarshal %.0f ns, marshal map %.0f ns, arith %.2f ns/iter, map+sprint %.0f ns (%d)",
		per(t1.Sub(t0), n), per(t2.Sub(t1), n), per(t3.Sub(t2), n*100), per(t4.Sub(t3), n), s)
}

func init() {
	sdk.Register(sdk.Info{Name: "guestspeed", Version: "1.0.0", Description: "Times Go code inside the guest"})
	sdk.Handle("GET /perf", "", func(*sdk.Request) sdk.Response { return sdk.Text(200, work()) })
}

// main runs natively only: a Wasm reactor's main is never called.
func main() { fmt.Println(work()) }
