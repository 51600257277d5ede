package runtime

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/empirefederation/neuron/internal/auth"
	"github.com/empirefederation/neuron/internal/testutil"
)

// BenchmarkCallers serves GET /hello/world through the whole request path
// with caller authentication off (auth.mode none) and on (an HS256 bearer
// token verified on every call, as auth.mode jwt with a shared secret), to
// show what verifying a caller adds to a call:
//
//	go test -run '^$' -bench Callers -benchmem ./runtime/
func BenchmarkCallers(b *testing.B) {
	secret := []byte("the benchmark's shared secret, 32 bytes or more")
	v, err := auth.New(context.Background(), auth.Config{Issuer: "https://issuer.test", Audience: "neuron", Secret: secret})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "https://issuer.test", "aud": "neuron",
		"sub": "client-7", "scope": "read", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}).SignedString(secret)
	if err != nil {
		b.Fatal(err)
	}
	hello := testutil.BuildWasm(b, "examples/hello")
	for _, c := range []struct {
		name string
		opts func(*Options)
	}{
		{"off", func(*Options) {}},
		{"jwt", func(o *Options) { o.Callers = v }},
	} {
		rt := benchRuntime(b, hello, c.opts)
		req, _ := http.NewRequest("GET", "/hello/world", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		if rt.ServeHTTP(rec, req); rec.Code != http.StatusOK {
			b.Fatalf("%s: %d %s", c.name, rec.Code, rec.Body)
		}
		w := newWriter()
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				rt.ServeHTTP(w, req)
			}
		})
	}
}
