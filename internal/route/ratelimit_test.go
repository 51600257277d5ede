package route

import (
	"net/http"
	"testing"
)

// TestCaller: the caller is the remote address's host, IPv4 or IPv6,
// whatever the request's headers say, or its verified subject, in a
// bucket of its own.
func TestCaller(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.1:40000":   "192.0.2.1",
		"[2001:db8::1]:443": "2001:db8::1",
		"[::1]:8080":        "::1",
		"192.0.2.9":         "192.0.2.9",
	} {
		r := &http.Request{RemoteAddr: addr, Header: http.Header{"X-Forwarded-For": {"203.0.113.7"}}}
		if got := CallerKey(r, ""); got != want {
			t.Errorf("CallerKey(%q) = %q, want %q", addr, got, want)
		}
	}
	r := &http.Request{RemoteAddr: "192.0.2.1:40000"}
	if n := testing.AllocsPerRun(100, func() { CallerKey(r, "") }); n != 0 {
		t.Errorf("CallerKey allocates %v times", n)
	}
	if got := CallerKey(r, "192.0.2.1"); got == CallerKey(r, "") {
		t.Errorf("a verified subject %q shares the bucket of the address %q", "192.0.2.1", got)
	}
}
