package federation_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/internal/devfed"
	"github.com/empirefederation/neuron/internal/testutil"
)

// These tests run the Link against the development federation, whose
// tokens expire (devfed.Options.TokenTTL), on loopback.

// renewLimit bounds the waits for tokens to age on the real clock.
const renewLimit = time.Minute

// A token that expires is renewed ahead, again and again, each renewal
// presenting the current token; heartbeats go on meanwhile and never need
// the 401 path.
func TestLink_RenewsExpiringToken(t *testing.T) {
	const ttl = 5 * time.Second // renewed after 3 to 3.7 s, a margin of over a second for a loaded machine
	fed := startDevFed(t, devfed.Options{TokenTTL: ttl})
	n := newFakeNeuron()
	link, logs := startLink(t, fed, n, newMemQueue(), func(o *federation.LinkOptions) {
		o.HeartbeatInterval = 200 * time.Millisecond
	})
	testutil.Eventually(t, waitLimit, "registration", link.Registered)
	first := link.Token()
	testutil.Eventually(t, renewLimit, "two renewals, past the first token's lifetime", func() bool {
		return registrations(n, "renewal") >= 2
	})
	beats := fedRequests(t, fed, federation.PathStatus, http.StatusOK)
	testutil.Eventually(t, waitLimit, "a heartbeat with the renewed token", func() bool {
		return fedRequests(t, fed, federation.PathStatus, http.StatusOK) > beats
	})
	if link.Token() == first {
		t.Error("the token did not change")
	}
	if got := registrations(n, "unauthorized"); got != 0 {
		t.Errorf("%d registrations after a 401, want 0: the token lapsed before its renewal", got)
	}
	if got := countLines(logs, "heartbeat failed"); got != 0 {
		t.Errorf("%d heartbeats failed, want 0", got)
	}
	if got := fedRequests(t, fed, federation.PathRegister, http.StatusConflict); got != 0 {
		t.Errorf("%d renewals refused (409), want 0: a renewal proves the id with the current token", got)
	}
	if !strings.Contains(logs.String(), "reason=renewal") || !strings.Contains(logs.String(), "token_renews=20") {
		t.Error("no INFO line for the renewal")
	}
	// A heartbeat sent with the old token just as a renewal replaced it
	// is answered 401 and sent again with the new one, without a
	// registration; rare, and no gap.
	t.Logf("heartbeats answered 401: %d", fedRequests(t, fed, federation.PathStatus, http.StatusUnauthorized))
}

// An expired token (here: the federation's clock jumps past it) is
// refused with 401; the calls that get it lead to exactly one
// registration, which presents the expired token to keep the live id, and
// the calls go on with the new token.
func TestLink_ExpiredTokenReregistersOnce(t *testing.T) {
	var skew atomic.Int64 // the federation's clock, ahead of the real one
	fed := startDevFed(t, devfed.Options{TokenTTL: time.Minute, HeartbeatInterval: time.Minute,
		Now: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }})
	n := newFakeNeuron()
	link, _ := startLink(t, fed, n, newMemQueue(), func(o *federation.LinkOptions) {
		o.HeartbeatInterval, o.ConfigPollInterval = 100*time.Millisecond, 100*time.Millisecond
	})
	testutil.Eventually(t, waitLimit, "a heartbeat", func() bool {
		return fedRequests(t, fed, federation.PathStatus, http.StatusOK) >= 1
	})
	first := link.Token()
	skew.Store(int64(2 * time.Minute)) // past exp and the leeway; the id is live (offline after 5 minutes)
	testutil.Eventually(t, waitLimit, "a registration after a 401", func() bool {
		return registrations(n, "unauthorized") >= 1
	})
	beats := fedRequests(t, fed, federation.PathStatus, http.StatusOK)
	testutil.Eventually(t, waitLimit, "three heartbeats with the new token", func() bool {
		return fedRequests(t, fed, federation.PathStatus, http.StatusOK) >= beats+3
	})
	if got := registrations(n, "unauthorized"); got != 1 {
		t.Errorf("%d registrations after a 401, want 1", got)
	}
	if got := fedRequests(t, fed, federation.PathRegister, http.StatusCreated); got != 2 {
		t.Errorf("%d registrations accepted, want 2 (the first, and the one after the 401)", got)
	}
	if got := fedRequests(t, fed, federation.PathStatus, http.StatusUnauthorized) +
		fedRequests(t, fed, federation.PathConfig, http.StatusUnauthorized); got < 1 {
		t.Error("the expired token was not refused")
	}
	if link.Token() == first {
		t.Error("the token did not change")
	}
}

// A token without exp (devfed.NoExpiry) is never renewed ahead.
func TestLink_TokenWithoutExpiryNotRenewed(t *testing.T) {
	fed := startDevFed(t, devfed.Options{TokenTTL: devfed.NoExpiry})
	link, logs := startLink(t, fed, newFakeNeuron(), newMemQueue(), nil)
	testutil.Eventually(t, waitLimit, "registration", link.Registered)
	testutil.Eventually(t, waitLimit, "the registration's log line", func() bool {
		return strings.Contains(logs.String(), "registered with the federation")
	})
	if !strings.Contains(logs.String(), "token_expires=unknown token_renews=never") {
		t.Errorf("a token without exp is scheduled for renewal:\n%s", logs)
	}
}
