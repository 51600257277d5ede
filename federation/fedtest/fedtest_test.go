package fedtest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/federation/fedtest"
)

var reg = federation.Registration{NeuronID: "n1", Name: "n"}

func register(t *testing.T, c *federation.Client) string {
	t.Helper()
	token, err := c.Register(context.Background(), "", reg)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func statusOf(err error) int {
	if fe, ok := err.(*federation.Error); ok {
		return fe.Status
	}
	return -1
}

// Down refuses connections, Up serves again on the same URL, and what the
// server knew survives.
func TestServer_DownUp(t *testing.T) {
	fed := fedtest.New(t)
	url := fed.URL()
	c := federation.NewClient(url, nil, "")
	token := register(t, c)
	fed.Down()
	if err := c.SendStatus(context.Background(), token, federation.Status{}); statusOf(err) != 0 {
		t.Fatalf("while down: %v, want a transport error", err)
	}
	fed.Up()
	if fed.URL() != url {
		t.Errorf("URL changed across Down/Up: %s then %s", url, fed.URL())
	}
	if err := c.SendStatus(context.Background(), token, federation.Status{}); err != nil {
		t.Fatalf("after Up, the token issued before is refused: %v", err)
	}
	if got := len(fed.Requests("")); got != 2 {
		t.Errorf("%d requests recorded, want 2 (none while down)", got)
	}
}

// The steering knobs answer as documented, each for as long as it says.
func TestServer_Steering(t *testing.T) {
	fed := fedtest.New(t)
	c := federation.NewClient(fed.URL(), nil, "")
	token := register(t, c)
	beat := func() error { return c.SendStatus(context.Background(), token, federation.Status{}) }

	fed.FailNext(federation.PathStatus, 503, 2)
	fed.FailNext(federation.PathStatus, 429, 1)
	fed.RetryAfter(2 * time.Second)
	var got []int
	for range 4 {
		got = append(got, statusOf(beat()))
	}
	if want := []int{503, 503, 429, -1}; !reflect.DeepEqual(got, want) {
		t.Errorf("FailNext: statuses %v, want %v (-1: success)", got, want)
	}
	fed.FailNext(federation.PathStatus, 503, 1)
	if d := federation.RetryAfter(beat()); d != 2*time.Second {
		t.Errorf("Retry-After = %s, want 2s", d)
	}

	fed.Fail(federation.PathStatus, 500)
	for range 3 {
		if s := statusOf(beat()); s != 500 {
			t.Fatalf("Fail: status %d, want 500", s)
		}
	}
	fed.Fail(federation.PathStatus, 0)
	if err := beat(); err != nil {
		t.Fatalf("after Fail(path, 0): %v", err)
	}

	fed.Unauthorized(2)
	got = got[:0]
	for range 3 {
		got = append(got, statusOf(beat()))
	}
	if want := []int{401, 401, -1}; !reflect.DeepEqual(got, want) {
		t.Errorf("Unauthorized: statuses %v, want %v", got, want)
	}

	fed.Slow(federation.PathStatus, time.Hour)
	slow := federation.NewClient(fed.URL(), &http.Client{Timeout: 50 * time.Millisecond}, "")
	if err := slow.SendStatus(context.Background(), token, federation.Status{}); !federation.Retriable(err) {
		t.Errorf("Slow: %v, want a timeout", err)
	}
}

// Tokens are numbered per registration; bad tokens are refused, stale ones
// only when asked.
func TestServer_Tokens(t *testing.T) {
	fed := fedtest.New(t)
	c := federation.NewClient(fed.URL(), nil, "")
	t1, t2 := register(t, c), register(t, c)
	if t1 != "tok-1" || t2 != "tok-2" || !reflect.DeepEqual(fed.Tokens(), []string{"tok-1", "tok-2"}) {
		t.Fatalf("tokens %q, %q, %q", t1, t2, fed.Tokens())
	}
	tests := []struct {
		name   string
		stale  bool
		token  string
		status int
	}{
		{"unknown", false, "tok-9", 401},
		{"none", false, "", 401},
		{"stale accepted by default", false, t1, -1},
		{"stale refused", true, t1, 401},
		{"latest", true, t2, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fed.RejectStale(tc.stale)
			if s := statusOf(c.SendStatus(context.Background(), tc.token, federation.Status{})); s != tc.status {
				t.Errorf("status %d, want %d", s, tc.status)
			}
		})
	}
}

// Payloads are decoded strictly; accepted ones are recorded and summed, and
// the config endpoint returns what was set.
func TestServer_Payloads(t *testing.T) {
	fed := fedtest.New(t)
	c := federation.NewClient(fed.URL(), nil, "")
	token := register(t, c)
	ctx := context.Background()

	err := c.ReportAnalytics(ctx, token, []byte(`{"neuronId":"n1","metrics":{},"events":[],"timestamp":"t","extra":1}`))
	if statusOf(err) != 400 || !strings.Contains(err.Error(), `unknown field "extra"`) {
		t.Errorf("unknown field: %v, want a 400 naming it", err)
	}
	for _, r := range []federation.AnalyticsReport{
		{NeuronID: "n1", Metrics: federation.Metrics{TotalRequests: 3, SuccessfulRequests: 2, FailedRequests: 1, DataProcessed: 10, CustomMetrics: map[string]float64{"x": 1}}},
		{NeuronID: "n1", Metrics: federation.Metrics{TotalRequests: 4, SuccessfulRequests: 4, CustomMetrics: map[string]float64{"x": 2.5}}, Dropped: 2,
			Events: []federation.Event{{ID: "e", Type: "alert", Timestamp: time.Now()}}},
	} {
		body, _ := json.Marshal(r)
		if err := c.ReportAnalytics(ctx, token, body); err != nil {
			t.Fatal(err)
		}
	}
	want := fedtest.Totals{Reports: 2, TotalRequests: 7, SuccessfulRequests: 6, FailedRequests: 1, DataProcessed: 10, Events: 1, Dropped: 2,
		CustomMetrics: map[string]float64{"x": 3.5}}
	if got := fed.SumAnalytics(); !reflect.DeepEqual(got, want) {
		t.Errorf("SumAnalytics = %+v, want %+v", got, want)
	}
	if got := len(fed.Requests(federation.PathAnalytics)); got != 3 {
		t.Errorf("%d analytics requests recorded, want 3 (the refused one too)", got)
	}

	fed.SetConfig(federation.Update{Version: "v3", Command: &federation.Command{ID: "c1", Type: "drain"}})
	u, err := c.FetchConfig(ctx, token)
	if err != nil || u.Version != "v3" || u.Command == nil || u.Command.Type != "drain" {
		t.Errorf("FetchConfig = %+v, %v", u, err)
	}
	fed.SetConfigRaw(nil)
	if u, err := c.FetchConfig(ctx, token); err != nil || !u.Empty() {
		t.Errorf("FetchConfig after SetConfigRaw(nil) = %+v, %v; want empty", u, err)
	}

	resp, err := http.Get(fed.URL() + federation.PathRegister)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET register: %d, want 405", resp.StatusCode)
	}
}
