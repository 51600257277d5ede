package federation_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/federation/fedtest"
)

// Each call reaches its endpoint with its method, the bearer, JSON content
// type and our User-Agent, and the federation decodes exactly what was sent.
func TestClient_Calls(t *testing.T) {
	fed := fedtest.New(t)
	c := federation.NewClient(fed.URL()+"/", nil, "neuron-test/1")
	ctx := context.Background()
	reg := testRegistration()

	token, err := c.Register(ctx, "", reg)
	if err != nil || token != "tok-1" {
		t.Fatalf("Register = %q, %v; want tok-1", token, err)
	}
	st := federation.Status{Status: federation.StatusActive, HealthScore: 97, Uptime: 12, ProcessID: "42",
		HostInfo: federation.HostInfo{Hostname: "h", IP: "10.0.0.1"}, DependencyStatus: map[string]string{"redis": "healthy"}}
	if err := c.SendStatus(ctx, token, st); err != nil {
		t.Fatal(err)
	}
	report := []byte(`{"neuronId":"n1","metrics":{"totalRequests":3,"successfulRequests":3,"failedRequests":0,"averageResponseTime":1.5,"dataProcessed":10,"customMetrics":{}},"events":[],"timestamp":"2025-01-21T11:30:00Z"}`)
	if err := c.ReportAnalytics(ctx, token, report); err != nil {
		t.Fatal(err)
	}
	if _, err := c.FetchConfig(ctx, token); err != nil {
		t.Fatal(err)
	}

	if got := fed.Registrations(); len(got) != 1 || !reflect.DeepEqual(got[0], reg) {
		t.Errorf("registration received = %+v\nwant %+v", got, reg)
	}
	if got := fed.Heartbeats(); len(got) != 1 || !reflect.DeepEqual(got[0], st) {
		t.Errorf("heartbeat received = %+v\nwant %+v", got, st)
	}
	if got := fed.Requests(federation.PathAnalytics); len(got) != 1 || string(got[0].Body) != string(report) {
		t.Errorf("analytics body not sent as is: %+v", got)
	}
	tests := []struct {
		path, method, auth, contentType string
	}{
		{federation.PathRegister, "POST", "", "application/json"},
		{federation.PathStatus, "POST", "Bearer tok-1", "application/json"},
		{federation.PathAnalytics, "POST", "Bearer tok-1", "application/json"},
		{federation.PathConfig, "GET", "Bearer tok-1", ""},
	}
	for _, tc := range tests {
		reqs := fed.Requests(tc.path)
		if len(reqs) != 1 {
			t.Fatalf("%s: %d requests, want 1", tc.path, len(reqs))
		}
		r := reqs[0]
		if r.Method != tc.method || r.Header.Get("Authorization") != tc.auth ||
			r.Header.Get("Content-Type") != tc.contentType || r.Header.Get("User-Agent") != "neuron-test/1" {
			t.Errorf("%s: method %s, headers %v", tc.path, r.Method, r.Header)
		}
	}
}

func TestClient_FetchConfig(t *testing.T) {
	tests := []struct {
		name string
		data string // what the federation returns in data; "" for null
		want federation.Update
	}{
		{"null", "", federation.Update{}},
		{"update", `{"config": {"batchSize": 10}, "version": "v2"}`,
			federation.Update{Config: map[string]any{"batchSize": json.Number("10")}, Version: "v2"}},
		{"bare config", `{"timeoutSeconds": 5}`, federation.Update{Config: map[string]any{"timeoutSeconds": json.Number("5")}}},
		{"command", `{"command": {"id": "c", "type": "flush_analytics"}}`,
			federation.Update{Command: &federation.Command{ID: "c", Type: "flush_analytics"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fed := fedtest.New(t)
			if tc.data != "" {
				fed.SetConfigRaw(json.RawMessage(tc.data))
			}
			c := federation.NewClient(fed.URL(), nil, "")
			token, err := c.Register(context.Background(), "", testRegistration())
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.FetchConfig(context.Background(), token)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

// Answers the federation should not give are errors that say what was
// wrong, classified for the caller.
func TestClient_Errors(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		call       func(c *federation.Client) error
		wantStatus int
		wantMsg    string
		retriable  bool
		unauth     bool
		retryAfter time.Duration
	}{
		{name: "register without token", status: 201, body: `{"success": true, "data": {}}`, call: register,
			wantStatus: 201, wantMsg: "no data.token"},
		{name: "register with non-JSON", status: 200, body: `welcome`, call: register, wantStatus: 200, wantMsg: "malformed answer"},
		{name: "register refused", status: 409, body: `{"success": false, "error": "neuronId already taken"}`, call: register,
			wantStatus: 409, wantMsg: "neuronId already taken"},
		{name: "success false", status: 200, body: `{"success": false, "error": "quota"}`, call: status, wantStatus: 200, wantMsg: "quota"},
		{name: "text 502", status: 502, body: "bad gateway\n", call: status, wantStatus: 502, wantMsg: "bad gateway", retriable: true},
		{name: "401", status: 401, body: `{"message": "token expired"}`, call: analytics, wantStatus: 401, wantMsg: "token expired", unauth: true},
		{name: "429 seconds", status: 429, header: map[string]string{"Retry-After": "7"}, call: analytics,
			wantStatus: 429, retriable: true, retryAfter: 7 * time.Second},
		{name: "503 date", status: 503, header: map[string]string{"Retry-After": time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)},
			call: analytics, wantStatus: 503, retriable: true, retryAfter: 88 * time.Second},
		{name: "config not an update", status: 200, body: `{"success": true, "data": [1, 2]}`, call: fetch,
			wantStatus: 200, wantMsg: "must be a JSON object, got array"},
		{name: "huge answer", status: 200, body: `{"data": "` + strings.Repeat("x", 2<<20) + `"}`, call: fetch,
			wantStatus: 200, wantMsg: "larger than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			err := tc.call(federation.NewClient(srv.URL, srv.Client(), ""))
			var fe *federation.Error
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *federation.Error", err)
			}
			if fe.Status != tc.wantStatus || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error = %v (status %d), want status %d and %q", err, fe.Status, tc.wantStatus, tc.wantMsg)
			}
			if federation.Retriable(err) != tc.retriable || federation.Unauthorized(err) != tc.unauth {
				t.Errorf("Retriable %v, Unauthorized %v; want %v, %v", federation.Retriable(err), federation.Unauthorized(err), tc.retriable, tc.unauth)
			}
			// The date form is relative to now: allow the seconds the test takes.
			if got := federation.RetryAfter(err); got > tc.retryAfter+3*time.Second || got < tc.retryAfter {
				t.Errorf("RetryAfter = %s, want %s", got, tc.retryAfter)
			}
		})
	}
}

// A federation that is down is a retriable transport error, and so is one
// that does not answer within the client's timeout.
func TestClient_TransportErrors(t *testing.T) {
	fed := fedtest.New(t)
	fed.Down()
	_, err := federation.NewClient(fed.URL(), nil, "").Register(context.Background(), "", testRegistration())
	var fe *federation.Error
	if !errors.As(err, &fe) || fe.Status != 0 || fe.Op != federation.OpRegister || !federation.Retriable(err) {
		t.Errorf("down: error %v, want a retriable transport *Error", err)
	}

	fed.Up()
	fed.Slow(federation.PathRegister, 5*time.Second)
	_, err = federation.NewClient(fed.URL(), &http.Client{Timeout: 50 * time.Millisecond}, "").Register(context.Background(), "", testRegistration())
	if !federation.Retriable(err) {
		t.Errorf("timeout: error %v, want retriable", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = federation.NewClient(fed.URL(), nil, "").SendStatus(ctx, "tok", federation.Status{})
	if err == nil || federation.Retriable(err) {
		t.Errorf("cancelled: error %v, want a non-retriable error", err)
	}
}

func register(c *federation.Client) error {
	_, err := c.Register(context.Background(), "", testRegistration())
	return err
}

func status(c *federation.Client) error {
	return c.SendStatus(context.Background(), "tok", federation.Status{})
}

func analytics(c *federation.Client) error {
	return c.ReportAnalytics(context.Background(), "tok", []byte(`{}`))
}

func fetch(c *federation.Client) error {
	_, err := c.FetchConfig(context.Background(), "tok")
	return err
}
