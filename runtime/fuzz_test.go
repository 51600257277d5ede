package runtime

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero/api"

	"github.com/empirefederation/neuron/internal/processor"
	"github.com/empirefederation/neuron/internal/testutil"
	"github.com/empirefederation/neuron/sdk/abi"
)

// The fuzz processor's memory: the fuzzer's bytes in the first page, the
// request buffer neuron_alloc hands out in the second.
const (
	fuzzPage   = 65536
	fuzzBuffer = fuzzPage
)

// fuzzRequest is the only request the fuzz tests send.
var fuzzRequest = abi.Request{Method: "GET", Path: "/fuzz", Route: "/fuzz"}

// fuzzProcessor loads a hand-assembled processor whose handler returns
// whatever packed pointer and length the test puts in its exported "result"
// global, with one instance at most, so that the test sets up the very
// instance the next request gets.
func fuzzProcessor(tb testing.TB) (*Runtime, *processor.Version) {
	tb.Helper()
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	bin := testutil.AssembleModule(2,
		testutil.WasmFunc{Export: abi.ExportABIVersion, Results: []api.ValueType{i32}, Body: testutil.I32Const(abi.Version)},
		testutil.WasmFunc{Export: abi.ExportAlloc, Params: []api.ValueType{i32}, Results: []api.ValueType{i32}, Body: testutil.I32Const(fuzzBuffer)},
		testutil.WasmFunc{Export: abi.DefaultHandlerExport, Params: []api.ValueType{i32, i32}, Results: []api.ValueType{i64}, Body: testutil.GlobalGet0},
	)
	dir := tb.TempDir()
	files := map[string]string{
		"fuzz.wasm": string(bin),
		"fuzz.json": `{"name":"fuzz","version":"1.0.0","endpoints":[{"method":"GET","path":"/fuzz"}]}`,
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	ctx := context.Background()
	rt, err := New(ctx, Options{
		PluginsDir: dir, DataDir: tb.TempDir(), CacheDir: filepath.Join(os.TempDir(), "neuron-test-cache"),
		Limits: Limits{PoolMin: 1, PoolMax: 1}, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = rt.Close(ctx) })
	if err := rt.LoadDir(ctx); err != nil {
		tb.Fatal(err)
	}
	p := rt.srv.Current.Load().Serving["fuzz"]
	if p == nil {
		tb.Fatal("the fuzz processor was refused")
	}
	return rt, p
}

// prepare sets up the next call of p: data at offset at of the first page
// (cut to fit), the request the host will write in the second page, and
// the handler's result. It returns a copy of the memory as the handler
// will leave it.
func prepare(tb testing.TB, p *processor.Version, data []byte, at uint16, result uint64) []byte {
	tb.Helper()
	in, err := p.Pool.Get(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	defer p.Pool.Put(in)
	data = data[:min(len(data), fuzzPage-int(at))]
	if !in.Module().Memory().Write(uint32(at), data) || !in.Module().Memory().Write(fuzzBuffer, abi.AppendRequest(nil, &fuzzRequest)) {
		tb.Fatal("write outside memory")
	}
	in.Module().ExportedGlobal("result").(api.MutableGlobal).Set(result)
	mem, _ := in.Module().Memory().Read(0, in.Module().Memory().Size())
	return bytes.Clone(mem)
}

// expect is what the runtime must make of a handler result over memory
// mem: the response, or the code of the error it must answer with.
func expect(mem []byte, ptr, size uint32, maxResponse int64) (abi.Response, string) {
	switch {
	case int64(size) > maxResponse:
		return abi.Response{}, CodeResponseTooLarge
	case uint64(ptr)+uint64(size) > uint64(len(mem)):
		return abi.Response{}, CodeABIViolation
	}
	resp, err := abi.DecodeResponse(mem[ptr : ptr+size])
	if err != nil || resp.Status < 200 || resp.Status > 599 {
		return abi.Response{}, CodeABIViolation
	}
	return resp, ""
}

// safeHeader is the header rule, stated independently of validHeader: a
// token name other than the framing headers the server owns, and a value
// without control characters but tab.
func safeHeader(name, value string) bool {
	if name == "" || http.CanonicalHeaderKey(name) == "Content-Length" || http.CanonicalHeaderKey(name) == "Transfer-Encoding" {
		return false
	}
	for _, c := range []byte(name) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return !strings.ContainsFunc(value, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f })
}

// FuzzResponse feeds arbitrary handler results (a packed pointer and
// length) over arbitrary guest memory through the runtime's response path.
// Whatever the guest answers, the runtime must not panic, must answer
// exactly the response the ABI decodes or the error the ABI violation
// calls for, and must never pass on a header that could split the
// response.
func FuzzResponse(f *testing.F) {
	rt, p := fuzzProcessor(f)
	resp := func(status int, body string, header ...string) []byte {
		r := abi.Response{Status: status, Body: []byte(body)}
		for i := 0; i+1 < len(header); i += 2 {
			r.Header = append(r.Header, abi.Pair{Name: header[i], Value: header[i+1]})
		}
		return abi.AppendResponse(nil, &r)
	}
	seeds := []struct {
		data      []byte
		at        uint16
		ptr, size uint32
		max       int64
	}{
		{resp(200, "ok"), 0, 0, 14, 1 << 20},
		{resp(201, "created", "Content-Type", "text/plain", "X-A", "1"), 100, 100, 50, 1 << 20},
		{resp(404, ""), 0, 0, 12, 12},
		{resp(200, "one too many"), 0, 0, 24, 23},
		{resp(99, "x"), 0, 0, 13, 1 << 20},
		{resp(103, "x"), 0, 0, 13, 1 << 20},
		{resp(101, "x"), 0, 0, 13, 1 << 20},
		{resp(204, "x"), 0, 0, 13, 1 << 20},
		{resp(600, "x"), 0, 0, 13, 1 << 20},
		{resp(200, "x", "Bad Name", "v", "X-Split", "a\r\nSet-Cookie: x=1", "X-Nul", "a\x00b", "X-Ok", "fine"), 7, 7, 200, 1 << 20},
		{resp(200, "x", "", "empty name"), 0, 0, 100, 1 << 20},
		{bytes.Repeat([]byte{0xFF}, 32), 0, 0, 32, 1 << 20},
		{resp(200, "truncated"), 0, 0, 10, 1 << 20},
		{append(resp(200, "trailing"), "junk"...), 0, 0, 24, 1 << 20},
		{nil, 0, 0, 0, 1 << 20},
		{nil, 0, 0xFFFF0000, 4096, 1 << 20},
		{nil, 0, 16, 0x7FFFFFFF, 1 << 30},
		{nil, 0, fuzzPage*2 - 4, 8, 1 << 20},
		{nil, 0, fuzzBuffer, 40, 1 << 20}, // the request the host wrote
	}
	for _, s := range seeds {
		f.Add(s.data, s.at, s.ptr, s.size, s.max)
	}
	f.Fuzz(func(t *testing.T, data []byte, at uint16, ptr, size uint32, maxResponse int64) {
		if maxResponse <= 0 {
			maxResponse = -maxResponse + 1
		}
		p.Limits.MaxResponseBytes = maxResponse // serial: no call is running
		mem := prepare(t, p, data, at, abi.Pack(ptr, size))
		want, wantCode := expect(mem, ptr, size, maxResponse)

		rec := httptest.NewRecorder()
		rt.ServeHTTP(rec, httptest.NewRequest(fuzzRequest.Method, fuzzRequest.Path, nil))

		if got := rec.Header().Get(HeaderPlugin); got != "fuzz@1.0.0" {
			t.Errorf("%s = %q", HeaderPlugin, got)
		}
		if wantCode != "" {
			if rec.Code != http.StatusBadGateway || !strings.Contains(rec.Body.String(), `"code":"`+wantCode+`"`) {
				t.Fatalf("got %d %s; want 502 %s", rec.Code, rec.Body, wantCode)
			}
			return
		}
		if rec.Code != want.Status || !bytes.Equal(rec.Body.Bytes(), want.Body) {
			t.Fatalf("got %d %q; want %d %q", rec.Code, rec.Body, want.Status, want.Body)
		}
		wantHeader := http.Header{HeaderPlugin: {"fuzz@1.0.0"}}
		for _, h := range want.Header {
			if safeHeader(h.Name, h.Value) {
				wantHeader.Add(h.Name, h.Value)
			}
		}
		if !equalHeader(rec.Header(), wantHeader) {
			t.Fatalf("header %v, want %v", rec.Header(), wantHeader)
		}
	})
}

func equalHeader(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// TestFuzzProcessorWritesTheExpectedRequest checks the fuzz test's premise:
// the host writes exactly fuzzRequest's encoding into the buffer the guest
// handed out, so that expect sees the memory the runtime reads.
func TestFuzzProcessorWritesTheExpectedRequest(t *testing.T) {
	rt, p := fuzzProcessor(t)
	want := abi.AppendRequest(nil, &fuzzRequest)
	ok := abi.AppendResponse(nil, &abi.Response{Status: 200})
	prepare(t, p, ok, 0, abi.Pack(0, uint32(len(ok)))) // a valid answer keeps the instance
	in, _ := p.Pool.Get(context.Background())
	in.Module().Memory().Write(fuzzBuffer, make([]byte, len(want))) // forget prepare's copy
	p.Pool.Put(in)
	rec := httptest.NewRecorder()
	rt.ServeHTTP(rec, httptest.NewRequest("GET", "/fuzz", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d %s", rec.Code, rec.Body)
	}
	in, _ = p.Pool.Get(context.Background())
	defer p.Pool.Put(in)
	got, _ := in.Module().Memory().Read(fuzzBuffer, uint32(len(want)))
	if !bytes.Equal(got, want) {
		t.Fatalf("the host wrote %q, want %q", got, want)
	}
}

// A guest's answer either reaches a real HTTP client intact or is refused
// as an ABI violation; it never breaks the exchange. httptest's recorder
// hides what net/http does with interim statuses and framing headers, so
// this goes over loopback.
func TestGuestResponse_OverHTTP(t *testing.T) {
	rt, p := fuzzProcessor(t)
	srv := httptest.NewServer(rt)
	defer srv.Close()
	tests := []struct {
		name    string
		resp    abi.Response
		refused bool     // 502 abi_violation
		dropped []string // headers the client must not see from the guest
	}{
		{name: "plain", resp: abi.Response{Status: 201, Body: []byte("made"), Header: []abi.Pair{{Name: "X-Id", Value: "7\tb"}}}},
		{name: "no content", resp: abi.Response{Status: 204}},
		{name: "largest status", resp: abi.Response{Status: 599, Body: []byte("odd")}},
		{name: "interim status", resp: abi.Response{Status: 103, Body: []byte("early")}, refused: true},
		{name: "switching protocols", resp: abi.Response{Status: 101, Body: []byte("upgrade")}, refused: true},
		{name: "status past 599", resp: abi.Response{Status: 600}, refused: true},
		{name: "short content length", resp: abi.Response{Status: 200, Body: []byte("hello"),
			Header: []abi.Pair{{Name: "Content-Length", Value: "1"}}}, dropped: []string{"Content-Length"}},
		{name: "long content length", resp: abi.Response{Status: 200, Body: []byte("hello"),
			Header: []abi.Pair{{Name: "content-length", Value: "100"}}}, dropped: []string{"Content-Length"}},
		{name: "transfer encoding", resp: abi.Response{Status: 200, Body: []byte("hello"),
			Header: []abi.Pair{{Name: "Transfer-Encoding", Value: "gzip"}}}, dropped: []string{"Transfer-Encoding"}},
		{name: "control characters", resp: abi.Response{Status: 200, Body: []byte("hello"),
			Header: []abi.Pair{{Name: "X-Ctl", Value: "a\x01b"}, {Name: "X-Del", Value: "a\x7fb"}, {Name: "X-Ok", Value: "fine"}}},
			dropped: []string{"X-Ctl", "X-Del"}},
		{name: "response splitting", resp: abi.Response{Status: 200, Body: []byte("hello"),
			Header: []abi.Pair{{Name: "X-Split", Value: "a\r\nSet-Cookie: stolen=1"}}}, dropped: []string{"X-Split", "Set-Cookie"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := abi.AppendResponse(nil, &tc.resp)
			prepare(t, p, b, 0, abi.Pack(0, uint32(len(b))))
			resp, err := srv.Client().Get(srv.URL + "/fuzz")
			if err != nil {
				t.Fatalf("the client failed: %v", err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("reading the body: %v", err)
			}
			if tc.refused {
				if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), CodeABIViolation) {
					t.Fatalf("got %d %q; want 502 %s", resp.StatusCode, body, CodeABIViolation)
				}
				return
			}
			if resp.StatusCode != tc.resp.Status {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.resp.Status)
			}
			if want := string(tc.resp.Body); tc.resp.Status != http.StatusNoContent && string(body) != want {
				t.Errorf("body %q, want %q", body, want)
			}
			for _, h := range tc.resp.Header {
				got := resp.Header.Values(h.Name)
				if slices.Contains(tc.dropped, http.CanonicalHeaderKey(h.Name)) {
					if slices.Contains(got, h.Value) {
						t.Errorf("the guest's %s: %q reached the client", h.Name, h.Value)
					}
				} else if !slices.Contains(got, h.Value) {
					t.Errorf("%s = %q, want %q", h.Name, got, h.Value)
				}
			}
			if resp.Header.Get("Set-Cookie") != "" {
				t.Error("a header was injected")
			}
		})
	}
}
