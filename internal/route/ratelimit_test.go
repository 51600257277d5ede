package route

import (
	"net/http"
	"testing"
)

// TestCaller: the caller is the remote address's host, IPv4 or IPv6,
// whatever the request's headers say.
func TestCaller(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.1:40000":   "192.0.2.1",
		"[2001:db8::1]:443": "2001:db8::1",
		"[::1]:8080":        "::1",
		"192.0.2.9":         "192.0.2.9",
	} {
		r := &http.Request{RemoteAddr: addr, Header: http.Header{"X-Forwarded-For": {"203.0.113.7"}}}
		if got := Caller(r); got != want {
			t.Errorf("Caller(%q) = %q, want %q", addr, got, want)
		}
	}
	r := &http.Request{RemoteAddr: "192.0.2.1:40000"}
	if n := testing.AllocsPerRun(100, func() { Caller(r) }); n != 0 {
		t.Errorf("Caller allocates %v times", n)
	}
}
