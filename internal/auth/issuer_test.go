package auth

import (
	"context"
	"crypto"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/empirefederation/neuron/internal/testutil"
)

// A client with its id and secret gets a short-lived token that the
// neuron's own Verifier accepts, with the scopes it asked for among those
// granted; every other request gets RFC 6749's error, and no token.
func TestIssuer(t *testing.T) {
	key, err := LoadOrCreateKey(filepath.Join(t.TempDir(), "auth", "signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := bcrypt.GenerateFromPassword([]byte("s3cret-of-client-a"), bcrypt.MinCost)
	iss, err := NewIssuer(IssuerConfig{Issuer: issuer, Audience: audience, Key: key,
		Clients: []Client{{ID: "client-a", SecretHash: string(hash), Scopes: []string{"read", "write"}}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(iss)
	t.Cleanup(srv.Close)
	v := newVerifier(t, Config{Issuer: issuer, Audience: audience, Keys: []crypto.PublicKey{iss.PublicKey()}})

	post := func(form url.Values, basic ...string) (*http.Response, map[string]any) {
		t.Helper()
		return postToken(t, srv.URL, form, basic...)
	}
	grant := url.Values{"grant_type": {"client_credentials"}}

	for _, tc := range []struct {
		name   string
		form   url.Values
		basic  []string
		scopes []string
	}{
		{"basic auth, every scope", grant, []string{"client-a", "s3cret-of-client-a"}, []string{"read", "write"}},
		{"form credentials, one scope", url.Values{"grant_type": {"client_credentials"}, "client_id": {"client-a"},
			"client_secret": {"s3cret-of-client-a"}, "scope": {"read"}}, nil, []string{"read"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := post(tc.form, tc.basic...)
			if resp.StatusCode != http.StatusOK || body["token_type"] != "Bearer" || body["expires_in"] != float64(300) {
				t.Fatalf("%d %v", resp.StatusCode, body)
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", resp.Header.Get("Cache-Control"))
			}
			c, err := v.Verify(context.Background(), body["access_token"].(string))
			if err != nil || c.Subject != "client-a" || !c.HasScopes(tc.scopes) || len(c.Scopes) != len(tc.scopes) {
				t.Errorf("token: %+v, %v; want client-a with %v", c, err, tc.scopes)
			}
		})
	}

	for _, tc := range []struct {
		name   string
		form   url.Values
		basic  []string
		status int
		code   string
	}{
		{"wrong secret", grant, []string{"client-a", "guess"}, http.StatusUnauthorized, "invalid_client"},
		{"unknown client", grant, []string{"client-z", "s3cret-of-client-a"}, http.StatusUnauthorized, "invalid_client"},
		{"no credentials", grant, nil, http.StatusUnauthorized, "invalid_client"},
		{"another grant", url.Values{"grant_type": {"password"}}, []string{"client-a", "s3cret-of-client-a"}, http.StatusBadRequest, "unsupported_grant_type"},
		{"a scope not granted", url.Values{"grant_type": {"client_credentials"}, "scope": {"read admin"}}, []string{"client-a", "s3cret-of-client-a"}, http.StatusBadRequest, "invalid_scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := post(tc.form, tc.basic...)
			if resp.StatusCode != tc.status || body["error"] != tc.code || body["access_token"] != nil {
				t.Errorf("%d %v, want %d %s", resp.StatusCode, body, tc.status, tc.code)
			}
			if tc.status == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
	if resp, err := http.Get(srv.URL); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %v %v", resp, err)
	}
}

// postToken posts form to the token endpoint at url, with HTTP Basic
// credentials when basic holds an id and a secret, and decodes the answer.
func postToken(t *testing.T, url string, form url.Values, basic ...string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if len(basic) == 2 {
		req.SetBasicAuth(basic[0], basic[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp, body
}

// Secret checks are bounded: with every slot taken a request waits for
// one, and with maxWaitingChecks requests already waiting it is refused at
// once with 429 and Retry-After, before any bcrypt work. Every request
// gives its slot back, answered or refused.
func TestIssuer_SecretChecksBounded(t *testing.T) {
	key, err := LoadOrCreateKey(filepath.Join(t.TempDir(), "signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := bcrypt.GenerateFromPassword([]byte("s3cret-of-client-a"), bcrypt.MinCost)
	iss, err := NewIssuer(IssuerConfig{Issuer: issuer, Key: key, Clients: []Client{{ID: "client-a", SecretHash: string(hash)}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(iss)
	t.Cleanup(srv.Close)
	grant := url.Values{"grant_type": {"client_credentials"}}

	for range cap(iss.checks) { // every slot busy
		iss.checks <- struct{}{}
	}
	iss.waiting.Store(maxWaitingChecks) // and the waiting room full
	resp, body := postToken(t, srv.URL, grant, "client-a", "s3cret-of-client-a")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" || body["error"] != "temporarily_unavailable" || body["access_token"] != nil {
		t.Fatalf("with every slot busy and the waiting room full: %d %v (Retry-After %q), want 429 temporarily_unavailable", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}

	iss.waiting.Store(0) // room to wait: the request waits for a slot
	done := make(chan int, 1)
	go func() {
		resp, _ := postToken(t, srv.URL, grant, "client-a", "s3cret-of-client-a")
		done <- resp.StatusCode
	}()
	testutil.Eventually(t, time.Minute, "a token request waiting for a slot", func() bool { return iss.waiting.Load() == 1 })
	select {
	case code := <-done:
		t.Fatalf("a request was answered (%d) while every slot was busy", code)
	default:
	}
	<-iss.checks // one check ends
	if code := <-done; code != http.StatusOK {
		t.Fatalf("the waiting request: %d, want 200", code)
	}
	for range cap(iss.checks) - 1 {
		<-iss.checks
	}
	if resp, _ := postToken(t, srv.URL, grant, "client-a", "guess"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong secret: %d, want 401", resp.StatusCode)
	}
	if n, w := len(iss.checks), iss.waiting.Load(); n != 0 || w != 0 {
		t.Errorf("after the requests: %d slots taken, %d waiting; want none", n, w)
	}
}

// The signing key outlives a restart, readable by the neuron's user only;
// a file that is not a key is refused, not replaced.
func TestLoadOrCreateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth", "signing.key")
	a, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreateKey(path)
	if err != nil || !a.Equal(b) {
		t.Fatalf("the key changed across loads: %v", err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, %v; want 0600", st.Mode().Perm(), err)
	}
	if err := os.WriteFile(path, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(path); err == nil || !strings.Contains(err.Error(), "want 64") {
		t.Errorf("a broken key file: %v", err)
	}
}

// Clients are checked whole at start: a plain secret where a hash belongs
// is refused, naming the client and how to make a hash.
func TestNewIssuer_Refuses(t *testing.T) {
	key, _ := LoadOrCreateKey(filepath.Join(t.TempDir(), "k"))
	for _, tc := range []struct {
		name    string
		clients []Client
		want    string
	}{
		{"a plain secret", []Client{{ID: "a", SecretHash: "hunter2"}}, `client "a": secretHash is not a bcrypt hash`},
		{"no id", []Client{{SecretHash: "$2a$10$abcdefghijklmnopqrstuv"}}, "has no id"},
	} {
		if _, err := NewIssuer(IssuerConfig{Key: key, Clients: tc.clients}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
