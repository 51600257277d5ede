package runtime

import (
	"net/http"
	"testing"

	"github.com/empirefederation/neuron/internal/testutil"
)

// BenchmarkRateLimit serves GET /hello/world through the whole request
// path with no rate limit (off: one atomic load) and with a per-caller and
// a per-processor limit high enough never to refuse (on: both buckets
// taken), to show what the limits add to a call and that they allocate
// nothing:
//
//	go test -run '^$' -bench RateLimit -benchmem ./runtime/
func BenchmarkRateLimit(b *testing.B) {
	rt := benchRuntime(b, testutil.BuildWasm(b, "examples/hello"))
	req, _ := http.NewRequest("GET", "/hello/world", nil)
	req.RemoteAddr = "192.0.2.1:40000"
	w := newWriter()
	for _, c := range []struct {
		name   string
		limits RateLimits
	}{
		{"off", RateLimits{}},
		{"on", RateLimits{Caller: 1e6, Plugins: map[string]float64{"hello": 1e6}}},
	} {
		if err := rt.SetDynamic(Dynamic{RateLimits: c.limits}); err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				rt.ServeHTTP(w, req)
			}
		})
	}
}
