package devfed

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// An expired token is refused with 401 on every neuron route, saying it
// expired and how to get another; within the leeway it is still taken.
// Presented at a registration, it still proves the live id (nothing else
// does), so the neuron gets a new token at once.
func TestExpiredToken(t *testing.T) {
	const ttl = 30 * time.Second // less than the offline period (50 s): the id stays live
	f := newFed(t, func(o *Options) { o.TokenTTL = ttl })
	token := f.register(regBody("n-1", "http://127.0.0.1:9001"))
	f.clock.Add(ttl)
	f.beat(token, "active", "") // at exp: within the leeway
	f.clock.Add(tokenLeeway)
	for _, c := range []struct{ method, path string }{{"POST", "/api/neuron/status"}, {"POST", "/api/analytics/report"}, {"GET", "/api/neuron/config"}} {
		var body any
		if c.method == "POST" {
			body = beatBody("active", "")
		}
		status, env := f.call(c.method, c.path, token, body)
		if status != http.StatusUnauthorized || env.Code != "unauthorized" || !strings.Contains(env.Error, "expired at 2026-01-21T11:30:30Z") {
			t.Errorf("%s %s with an expired token: %d %q", c.method, c.path, status, env.Error)
		}
	}
	for name, bearer := range map[string]string{"no token": "", "another neuron's token": f.register(regBody("n-2", ""))} {
		if status, _ := f.call("POST", "/api/neuron/register", bearer, regBody("n-1", "http://127.0.0.1:9001")); status != http.StatusConflict {
			t.Errorf("registering the live id with %s: %d, want 409", name, status)
		}
	}
	renewed := f.reregister(regBody("n-1", "http://127.0.0.1:9001"), token)
	f.beat(renewed, "active", "")
}

// With NoExpiry tokens carry no exp and stay good until the neuron
// registers again.
func TestTokenWithoutExpiry(t *testing.T) {
	f := newFed(t, func(o *Options) { o.TokenTTL = NoExpiry })
	token := f.register(regBody("n-1", ""))
	var claims jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &claims); err != nil || claims.ExpiresAt != nil {
		t.Fatalf("claims %+v (%v), want no exp", claims, err)
	}
	f.clock.Add(1000 * time.Hour)
	f.beat(token, "active", "")
}
