// Guest "echo": reflects requests and exercises every host function, including with bad pointers.
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o echo.wasm .
package main

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unsafe"

	"github.com/empirefederation/neuron/sdk/abi"
)

func main() {}

//go:wasmimport neuron:host/v1 log
func hostLog(level int32, ptr, n uint32)

//go:wasmimport neuron:host/v1 config
func hostConfig(ptr, capacity uint32) int32

//go:wasmimport neuron:host/v1 metric_add
func hostMetricAdd(namePtr, nameLen uint32, value float64) int32

//go:wasmimport neuron:host/v1 event_emit
func hostEventEmit(typePtr, typeLen, dataPtr, dataLen uint32) int32

var reqBuf, respBuf, manifest []byte

// addr is the guest address of b's first byte (0 when b has no capacity).
func addr(b []byte) uint32 {
	if cap(b) == 0 {
		return 0
	}
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}

// str is the address and length of s; use it on literals only, which the GC never frees.
func str(s string) (uint32, uint32) {
	return uint32(uintptr(unsafe.Pointer(unsafe.StringData(s)))), uint32(len(s))
}

//go:wasmexport neuron_abi_version
func abiVersion() int32 { return abi.Version }

//go:wasmexport neuron_alloc
func alloc(size uint32) uint32 {
	if uint32(cap(reqBuf)) < size || cap(reqBuf) == 0 {
		reqBuf = make([]byte, max(size, 1))
	}
	reqBuf = reqBuf[:size]
	return addr(reqBuf)
}

// request is the encoded request the host wrote at ptr, which must be the
// buffer neuron_alloc returned; anything else decodes as malformed.
func request(ptr, n uint32) []byte {
	if ptr != addr(reqBuf) || int(n) > len(reqBuf) {
		return nil
	}
	return reqBuf[:n]
}

//go:wasmexport neuron_manifest
func getManifest() uint64 {
	manifest, _ = json.Marshal(abi.Manifest{
		Name: "echo", Version: "1.0.0",
		Headers: []string{"X-Echo"},
		// Specific paths first: POST /t/echo/{id} would also match /t/echo/host.
		Endpoints: []abi.Endpoint{
			{Method: "POST", Path: "/t/echo/host"},
			{Method: "POST", Path: "/t/echo/badhost"},
			{Method: "GET", Path: "/t/echo/size/{n}"},
			{Method: "GET", Path: "/t/echo/{id}"},
			{Method: "POST", Path: "/t/echo/{id}"},
		},
	})
	return abi.Pack(addr(manifest), uint32(len(manifest)))
}

//go:wasmexport neuron_handle
func handle(ptr, n uint32) uint64 {
	req, err := abi.DecodeRequest(request(ptr, n))
	resp := abi.Response{Status: 200, Header: []abi.Pair{{Name: "Content-Type", Value: "application/json"}}}
	switch {
	case err != nil:
		resp.Status, resp.Body = 400, []byte(err.Error())
	case req.Route == "/t/echo/host":
		resp.Body, resp.Header = callHost()
	case req.Route == "/t/echo/badhost":
		resp.Body = badHost()
	case req.Route == "/t/echo/size/{n}":
		size, err := strconv.Atoi(pairs(req.Vars)["n"])
		if err != nil || size < 0 {
			resp.Status, resp.Body = 400, []byte("bad size")
			break
		}
		resp.Header[0].Value = "text/plain"
		resp.Body = bytes.Repeat([]byte{'x'}, size)
	default: // /t/echo/{id}
		resp.Body, _ = json.Marshal(map[string]any{
			"method": req.Method, "path": req.Path, "route": req.Route,
			"vars": pairs(req.Vars), "rawQuery": req.RawQuery,
			"headers": pairs(req.Header), "bodyLen": len(req.Body),
		})
	}
	respBuf = abi.AppendResponse(respBuf[:0], &resp)
	return abi.Pack(addr(respBuf), uint32(len(respBuf)))
}

func pairs(ps []abi.Pair) map[string]string {
	m := map[string]string{}
	for _, p := range ps {
		m[p.Name] = p.Value
	}
	return m
}

// callHost calls each host function correctly; the body is the config and the
// X-Metric / X-Event headers carry the i32 results.
func callHost() ([]byte, []abi.Pair) {
	p, l := str(`{"msg":"echo host","k":"v"}`)
	hostLog(abi.LogInfo, p, l)
	cfg := make([]byte, 8) // deliberately small so the retry path runs
	for {
		n := hostConfig(addr(cfg), uint32(len(cfg)))
		if n < 0 {
			return []byte(`{"configError":` + strconv.Itoa(int(n)) + `}`), nil
		}
		if int(n) <= len(cfg) {
			cfg = cfg[:n]
			break
		}
		cfg = make([]byte, n)
	}
	np, nl := str("echoCalls")
	m := hostMetricAdd(np, nl, 1)
	tp, tl := str("echo_event")
	dp, dl := str(`{"n":1}`)
	e := hostEventEmit(tp, tl, dp, dl)
	return cfg, []abi.Pair{
		{Name: "Content-Type", Value: "application/json"},
		{Name: "X-Metric", Value: strconv.Itoa(int(m))},
		{Name: "X-Event", Value: strconv.Itoa(int(e))},
	}
}

// badHost calls each host function with ranges outside memory (0xFFFFFFF0+100
// also wraps around 2^32); the host must answer abi.ErrCodeBadPointer (-1).
func badHost() []byte {
	const bad, badLen = 0xFFFFFFF0, 100
	tp, tl := str("echo_event")
	hostLog(abi.LogInfo, bad, badLen) // no result; returning at all means no trap
	out, _ := json.Marshal(map[string]int32{
		"config":        hostConfig(bad, badLen),
		"metricAdd":     hostMetricAdd(bad, badLen, 1),
		"eventEmitType": hostEventEmit(bad, badLen, tp, tl),
		"eventEmitData": hostEventEmit(tp, tl, bad, badLen),
	})
	return out
}
