package runtime_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/empirefederation/neuron/internal/auth"
	"github.com/empirefederation/neuron/runtime"
)

// callerSecret signs the tokens of TestCallers.
var callerSecret = []byte("the callers' shared secret, 32 bytes or more")

// token signs a token for subject with scopes, changed by with.
func token(t *testing.T, subject, scope string, with func(jwt.MapClaims)) string {
	t.Helper()
	now := time.Now()
	c := jwt.MapClaims{"iss": "https://issuer.test", "aud": "neuron", "sub": subject, "scope": scope,
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}
	if with != nil {
		with(c)
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(callerSecret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// calls counts the calls every instance took: a refused request must not
// add one.
func calls(rt *runtime.Runtime) uint64 {
	var n uint64
	for _, w := range rt.Workers() {
		n += w.Calls
	}
	return n
}

// With Options.Callers, a call needs a token the verifier accepts that
// grants its endpoint's scopes, except on a public endpoint; a refusal is
// a 401 or 403 with WWW-Authenticate and the JSON error, counted, and no
// guest runs. The processor never sees the token, even when its manifest
// asks for the Authorization header.
func TestCallers(t *testing.T) {
	v, err := auth.New(context.Background(), auth.Config{Issuer: "https://issuer.test", Audience: "neuron", Secret: callerSecret})
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"echo.wasm": guest(t, "echo"), "echo.json": []byte(`{"name": "echo", "version": "1.0.0",
		"headers": ["Authorization", "X-Echo"],
		"endpoints": [
			{"method": "GET", "path": "/t/echo/{id}"},
			{"method": "POST", "path": "/t/echo/{id}", "scopes": ["write"]},
			{"method": "GET", "path": "/t/open/{id}", "public": true}]}`)}
	e := startEnv(t, runtime.Options{Callers: v}, files)
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok, "X-Echo", "hi"} }
	good := token(t, "client-7", "read write", nil)
	forged := func() string { // alg none, the claims of a good token
		parts := strings.Split(good, ".")
		h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
		return base64.RawURLEncoding.EncodeToString(h) + "." + parts[1] + "."
	}()

	refused := []struct {
		name, method, path string
		header             []string
		status             int
		code, challenge    string
	}{
		{"no token", "GET", "/t/echo/1", nil, 401, "unauthorized", `Bearer realm="neuron"`},
		{"not a bearer", "GET", "/t/echo/1", []string{"Authorization", "Basic dXNlcjpwdw=="}, 401, "unauthorized", `error="invalid_token"`},
		{"alg none", "GET", "/t/echo/1", bearer(forged), 401, "unauthorized", `error="invalid_token"`},
		{"expired", "GET", "/t/echo/1", bearer(token(t, "c", "", func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() })), 401, "unauthorized", "expired"},
		{"another audience", "GET", "/t/echo/1", bearer(token(t, "c", "", func(c jwt.MapClaims) { c["aud"] = "elsewhere" })), 401, "unauthorized", "audience"},
		{"missing scope", "POST", "/t/echo/1", bearer(token(t, "c", "read", nil)), 403, "forbidden", `error="insufficient_scope", scope="write"`},
		{"a bad token on a public endpoint", "GET", "/t/open/1", bearer(forged), 401, "unauthorized", `error="invalid_token"`},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			before := calls(e.rt)
			r := e.do(tc.method, tc.path, strings.NewReader("{}"), tc.header...)
			if r.status != tc.status || r.apiError(t).Code != tc.code {
				t.Fatalf("%d %s, want %d %s", r.status, r.body, tc.status, tc.code)
			}
			if ch := r.header.Get("WWW-Authenticate"); !strings.Contains(ch, tc.challenge) {
				t.Errorf("WWW-Authenticate %q, want %q in it", ch, tc.challenge)
			}
			if got := calls(e.rt); got != before {
				t.Errorf("a refused request reached a guest (%d calls, was %d)", got, before)
			}
		})
	}
	if n := e.mustMetric("neuron_request_errors_total", "code", "unauthorized"); n < 6 {
		t.Errorf("neuron_request_errors_total{code=unauthorized} = %v, want the 6 refusals", n)
	}

	admitted := []struct {
		name, method, path string
		header             []string
	}{
		{"a valid token", "GET", "/t/echo/1", bearer(good)},
		{"a valid token with the scope", "POST", "/t/echo/1", bearer(good)},
		{"a public endpoint without a token", "GET", "/t/open/1", []string{"X-Echo", "hi"}},
		{"a public endpoint with a valid token", "GET", "/t/open/1", bearer(good)},
	}
	for _, tc := range admitted {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, strings.NewReader("{}"), tc.header...)
			if r.status != http.StatusOK {
				t.Fatalf("%d %s", r.status, r.body)
			}
			var echoed struct{ Headers map[string]string }
			if err := json.Unmarshal(r.body, &echoed); err != nil {
				t.Fatal(err)
			}
			if _, ok := echoed.Headers["Authorization"]; ok || echoed.Headers["X-Echo"] != "hi" {
				t.Errorf("the guest saw headers %v: want X-Echo and never Authorization", echoed.Headers)
			}
		})
	}
}

// A processor reads who calls through the caller host function
// (sdk.Request.Caller): the token's subject and scopes once verified,
// no one on a public endpoint called without a token. Its manifest's
// scopes (sdk.HandleRoute) are enforced before it runs.
func TestCallers_GuestSeesTheCaller(t *testing.T) {
	v, err := auth.New(context.Background(), auth.Config{Issuer: "https://issuer.test", Audience: "neuron", Secret: callerSecret})
	if err != nil {
		t.Fatal(err)
	}
	e := startEnv(t, runtime.Options{Callers: v}, guests(t, "whoami"))
	type who struct {
		Verified bool
		Subject  string
		Scopes   []string
	}
	ask := func(path string, header ...string) (int, who) {
		r := e.get(path, header...)
		var w who
		if r.status == http.StatusOK {
			if err := json.Unmarshal(r.body, &w); err != nil {
				t.Fatalf("%s: %v", r.body, err)
			}
		}
		return r.status, w
	}
	if status, w := ask("/t/whoami", "Authorization", "Bearer "+token(t, "client-7", "read write", nil)); status != 200 ||
		!w.Verified || w.Subject != "client-7" || strings.Join(w.Scopes, " ") != "read write" {
		t.Errorf("with a token: %d %+v", status, w)
	}
	if status, _ := ask("/t/whoami", "Authorization", "Bearer "+token(t, "client-7", "write", nil)); status != http.StatusForbidden {
		t.Errorf("without the scope read: %d, want 403", status)
	}
	if status, w := ask("/t/whoami/public"); status != 200 || w.Verified || w.Subject != "" {
		t.Errorf("public, no token: %d %+v", status, w)
	}
}
