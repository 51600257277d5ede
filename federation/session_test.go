package federation_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/federation/fedtest"
)

func sendStatus(c *federation.Client) func(context.Context, string) error {
	return func(ctx context.Context, token string) error {
		return c.SendStatus(ctx, token, federation.Status{Status: federation.StatusActive})
	}
}

// A 401 causes exactly one re-registration and one retry; a second 401 is
// returned.
func TestSession_Unauthorized(t *testing.T) {
	tests := []struct {
		name          string
		refusals      int
		wantErr       bool
		wantRegs      int
		wantHeartbeat string // the bearer of the accepted heartbeat
	}{
		{"one 401", 1, false, 2, "Bearer tok-2"},
		{"401 twice", 2, true, 2, ""},
		{"no 401", 0, false, 1, "Bearer tok-1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fed := fedtest.New(t)
			c := federation.NewClient(fed.URL(), nil, "")
			s := federation.NewSession(c, testRegistration)
			if err := s.Register(context.Background()); err != nil {
				t.Fatal(err)
			}
			fed.Unauthorized(tc.refusals)
			err := s.Do(context.Background(), sendStatus(c))
			if tc.wantErr != (err != nil) || (err != nil && !federation.Unauthorized(err)) {
				t.Fatalf("Do = %v, want error %v (a 401)", err, tc.wantErr)
			}
			if got := len(fed.Registrations()); got != tc.wantRegs {
				t.Errorf("%d registrations, want %d", got, tc.wantRegs)
			}
			var accepted []string
			for _, r := range fed.Requests(federation.PathStatus) {
				if r.Status == 200 {
					accepted = append(accepted, r.Header.Get("Authorization"))
				}
			}
			if tc.wantHeartbeat == "" && len(accepted) != 0 || tc.wantHeartbeat != "" && (len(accepted) != 1 || accepted[0] != tc.wantHeartbeat) {
				t.Errorf("accepted heartbeats with %q, want %q", accepted, tc.wantHeartbeat)
			}
			if want := fed.Tokens()[len(fed.Tokens())-1]; s.Token() != want {
				t.Errorf("Token() = %q, want the latest issued %q", s.Token(), want)
			}
		})
	}
}

// Callers that hit 401 together, with the same stale token, cause exactly
// one re-registration between them, and all succeed with the new token.
func TestSession_ConcurrentUnauthorized(t *testing.T) {
	fed := fedtest.New(t)
	fed.RejectStale(true)
	c := federation.NewClient(fed.URL(), nil, "")
	s := federation.NewSession(c, testRegistration)
	if err := s.Register(context.Background()); err != nil { // tok-1
		t.Fatal(err)
	}
	// Someone else registers the same neuron: tok-1 is now stale.
	if _, err := c.Register(context.Background(), "", testRegistration()); err != nil { // tok-2
		t.Fatal(err)
	}
	// A slow registration keeps the window open while the others' 401s
	// arrive.
	fed.Slow(federation.PathRegister, 100*time.Millisecond)

	const callers = 16
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	start := make(chan struct{})
	for range callers {
		wg.Go(func() {
			<-start
			errs <- s.Do(context.Background(), sendStatus(c))
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Do: %v", err)
		}
	}
	if got := len(fed.Registrations()); got != 3 {
		t.Errorf("%d registrations, want 3 (ours, the other one, one re-registration)", got)
	}
	if got := len(fed.Heartbeats()); got != callers {
		t.Errorf("%d heartbeats accepted, want %d", got, callers)
	}
	refused := 0
	for _, r := range fed.Requests(federation.PathStatus) {
		if r.Status == 401 {
			refused++
		}
	}
	if refused == 0 {
		t.Error("no caller hit a 401: the test did not exercise the concurrent case")
	}
	if s.Token() != "tok-3" {
		t.Errorf("token = %q, want tok-3", s.Token())
	}
}

// Do registers first when the session never registered, once for all the
// callers waiting; Changed compares what is registered with the source.
func TestSession_DoRegistersFirst(t *testing.T) {
	fed := fedtest.New(t)
	c := federation.NewClient(fed.URL(), nil, "")
	reg := testRegistration()
	var mu sync.Mutex
	s := federation.NewSession(c, func() federation.Registration {
		mu.Lock()
		defer mu.Unlock()
		return reg
	})
	if s.Registered() || !s.Changed() {
		t.Fatalf("before registering: Registered %v, Changed %v", s.Registered(), s.Changed())
	}
	fed.Slow(federation.PathRegister, 50*time.Millisecond)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := s.Do(context.Background(), sendStatus(c)); err != nil {
				t.Errorf("Do: %v", err)
			}
		})
	}
	wg.Wait()
	if got := len(fed.Registrations()); got != 1 {
		t.Errorf("%d registrations, want 1", got)
	}
	if !s.Registered() || s.Changed() {
		t.Errorf("after registering: Registered %v, Changed %v", s.Registered(), s.Changed())
	}
	mu.Lock()
	reg.Capabilities = append(reg.Capabilities, "experiments")
	mu.Unlock()
	if !s.Changed() {
		t.Error("Changed() = false after the registration source changed")
	}
}
