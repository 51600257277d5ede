package agent_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/empirefederation/neuron/federation/fedtest"
	"github.com/empirefederation/neuron/internal/testutil"
)

// With auth.mode jwt and a client, a neuron registers as jwt with its
// token endpoint; the client gets a token there with its secret; the
// processor endpoints refuse a call without one (401) and serve one with
// it, and the quick start's routes (/health) stay open.
func TestCallers_TokenEndpoint(t *testing.T) {
	fed := fedtest.New(t)
	plugins := pluginsDir(t, map[string]string{"hello.wasm": "examples/hello"})
	hash, err := bcrypt.GenerateFromPassword([]byte("billing-secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	n := start(t, "--config", federationConfig(t, fed, plugins, dataDir(t), `auth:
  mode: jwt
  clients:
    - {id: billing, secretHash: "`+string(hash)+`", scopes: [hello]}
`))
	testutil.Eventually(t, waitLimit, "registration", func() bool { return len(fed.Registrations()) > 0 })
	if a := fed.Registrations()[0].Authentication; a.Type != "jwt" || a.TokenEndpoint != "/auth/token" {
		t.Errorf("registration says %+v, want jwt with /auth/token", a)
	}

	if r := n.do(t, "GET", "/hello/ada", ""); r.status != http.StatusUnauthorized || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("without a token: %d %s %v", r.status, r.body, r.header)
	}
	if r := n.do(t, "GET", "/health", ""); r.status != http.StatusOK {
		t.Errorf("/health: %d, want it open", r.status)
	}

	form := url.Values{"grant_type": {"client_credentials"}}
	req, _ := http.NewRequest(http.MethodPost, n.base+"/auth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("billing", "billing-secret")
	resp, err := n.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("token endpoint: %d %v", resp.StatusCode, err)
	}

	req, _ = http.NewRequest(http.MethodGet, n.base+"/hello/ada", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err = n.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("with the token: %d, want 200", resp.StatusCode)
	}
}
