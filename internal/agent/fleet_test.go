package agent_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/internal/devfed"
	"github.com/empirefederation/neuron/internal/testutil"
)

// The fleet test shows horizontal scaling as docs/deploy.md describes it:
// many neurons with unique ids behind one development federation, a fleet
// config reaching all of them, and crashed neurons replaced under the same
// ids, as a StatefulSet does. Everything is real and on loopback; the
// neurons serve the smallest processor (examples/hello) so that twenty of
// them fit a loaded machine.

const (
	// fleetSize neurons join; fleetKilled of them crash and are replaced.
	fleetSize   = 20
	fleetKilled = 5
	// fleetHeartbeat is the neurons' heartbeat period, and fleetLiveness
	// the federation's: a neuron is shown offline (and frees its id) after
	// 5 × fleetLiveness without a heartbeat, 10 s, short enough for the
	// test and long enough that a neuron slowed by a loaded machine (the
	// race detector, twenty neurons on two cores) is not taken for gone.
	fleetHeartbeat = 500 * time.Millisecond
	fleetLiveness  = 2 * time.Second
	// fleetPushes is how many fleet configs the test times.
	fleetPushes = 3
	// fleetWait bounds the waits on the whole fleet: twenty neurons
	// starting at once under the race detector on two loaded cores took
	// 46 s to be all active (5 s at most otherwise).
	fleetWait = 3 * waitLimit
)

// relay is one neuron's way to the federation: a reverse proxy on
// loopback that can be cut. A neuron killed in a crash sends nothing more,
// not even the "stopping" heartbeat of a graceful stop; the agent has no
// way to die without stopping in order (Stop sends that heartbeat), so the
// test cuts the relay first, then stops the agent: the federation sees
// exactly what it sees at a crash, its heartbeats ending. The neuron keeps
// the relay's address as its federation URL (its kept token is bound to
// that URL), so its replacement goes through the same relay, mended.
// The relay also counts the heartbeats it forwards.
type relay struct {
	url        string
	cut        atomic.Bool
	heartbeats atomic.Int64
}

// newRelay forwards to the federation at target until the test ends.
func newRelay(t *testing.T, target string) *relay {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	// One kept-alive connection to the federation per neuron behind the
	// relay, as each would have going there directly (the default
	// transport keeps two).
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 4 * fleetSize
	t.Cleanup(tr.CloseIdleConnections)
	proxy.Transport = tr
	r := &relay{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.cut.Load() {
			panic(http.ErrAbortHandler) // the connection drops, as to a dead host
		}
		if req.Method == http.MethodPost && req.URL.Path == federation.PathStatus {
			r.heartbeats.Add(1)
		}
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

// fleetMember is one neuron id of the fleet and the instance holding it.
type fleetMember struct {
	id, data string
	relay    *relay
	n        *neuron
}

// startFleetNeuron starts an instance for m with its data directory
// m.data, through m.relay.
func startFleetNeuron(t *testing.T, m *fleetMember, plugins string) *neuron {
	t.Helper()
	return start(t, "--config", neuronConfig(t, m.relay.url, m.id, plugins, m.data, fleetHeartbeat, time.Minute, "1m"))
}

// neuronView is the part of GET /api/admin/neurons the fleet test reads.
type neuronView struct {
	ID             string  `json:"id"`
	Status         string  `json:"status"`
	ReportedStatus string  `json:"reportedStatus"`
	Lineage        string  `json:"lineage"`
	ConfigVersion  string  `json:"configVersion"`
	LastHeartbeat  *string `json:"lastHeartbeat"`
}

// fleetView maps each neuron id the federation lists to its summary.
func fleetView(t *testing.T, api adminAPI) map[string]neuronView {
	t.Helper()
	var list []neuronView
	api.get(t, "/api/admin/neurons", &list)
	out := make(map[string]neuronView, len(list))
	for _, n := range list {
		out[n.ID] = n
	}
	return out
}

// allIn reports whether every one of ids is listed and ok.
func allIn(view map[string]neuronView, ids []string, ok func(neuronView) bool) bool {
	for _, id := range ids {
		if n, found := view[id]; !found || !ok(n) {
			return false
		}
	}
	return true
}

func isActive(n neuronView) bool { return n.Status == "active" }

// TestFleet: twenty neurons join a development federation and are listed
// active; fleet configs pushed through the admin API are applied by every
// one (timed: the log says how long); five crash and are shown offline
// after the documented five heartbeat intervals; an instance with a fresh
// data directory claiming one of their ids before then is refused (409);
// replacements with the same ids then take over, those restarted on the
// same data directory (a StatefulSet's pod) under their old lineage
// thanks to their kept token, the one on a fresh directory under a new
// one, none of them refused; last, a neuron crashed and restarted at once
// on its data directory proves its id with its kept token while the
// federation still holds it: not refused, its lineage kept.
func TestFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("twenty neurons: not in -short")
	}
	begin := time.Now()
	api := startDevFedWith(t, devfed.Options{HeartbeatInterval: fleetLiveness, RegisterBurst: 4 * fleetSize})
	plugins := pluginsDir(t, map[string]string{"hello.wasm": "examples/hello"})

	// The first neuron compiles hello into the shared cache; the others
	// then start in parallel, each loading it compiled.
	fleet := make([]*fleetMember, fleetSize)
	ids := make([]string, fleetSize)
	for i := range fleet {
		ids[i] = fmt.Sprintf("fleet-%02d", i)
		fleet[i] = &fleetMember{id: ids[i], data: dataDir(t), relay: newRelay(t, api.base)}
	}
	fleet[0].n = startFleetNeuron(t, fleet[0], plugins)
	var wg sync.WaitGroup
	for _, m := range fleet[1:] {
		wg.Go(func() { m.n = startFleetNeuron(t, m, plugins) })
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%d neurons started %v after the test began", fleetSize, time.Since(begin).Round(time.Millisecond))
	testutil.Eventually(t, fleetWait, "every neuron listed active", func() bool {
		view := fleetView(t, api)
		return len(view) == fleetSize && allIn(view, ids, isActive)
	})
	t.Logf("%d neurons active %v after the test began", fleetSize, time.Since(begin).Round(time.Millisecond))
	lineages := map[string]string{}
	for id, n := range fleetView(t, api) {
		lineages[id] = n.Lineage
	}

	t.Run("fleet config", func(t *testing.T) {
		var took []time.Duration
		for p := range fleetPushes {
			sent := time.Now()
			var cfg struct {
				Version string `json:"version"`
			}
			api.post(t, "/api/admin/configs", fmt.Sprintf(`{"target": "fleet", "config": {"batchSize": %d}}`, 1001+p),
				http.StatusCreated, &cfg)
			testutil.Eventually(t, waitLimit, "every delivery of "+cfg.Version+" applied", func() bool {
				var list []struct {
					Version    string     `json:"version"`
					Deliveries []delivery `json:"deliveries"`
				}
				api.get(t, "/api/admin/configs?target=fleet", &list)
				return len(list) > 0 && list[0].Version == cfg.Version && delivered(list[0].Deliveries, "applied", ids...)
			})
			took = append(took, time.Since(sent))
			// Each neuron's own heartbeat says it runs the version.
			testutil.Eventually(t, waitLimit, "every neuron's heartbeat with "+cfg.Version, func() bool {
				return allIn(fleetView(t, api), ids, func(n neuronView) bool { return n.ConfigVersion == cfg.Version })
			})
		}
		slices.Sort(took)
		t.Logf("push to applied by all %d neurons: median %v of %v", fleetSize, took[len(took)/2].Round(time.Millisecond), took)
	})

	t.Run("crash and replace", func(t *testing.T) {
		killed := fleet[fleetSize-fleetKilled:]
		killedIDs := ids[fleetSize-fleetKilled:]
		crashed := time.Now()
		for _, m := range killed {
			m.relay.cut.Store(true)
			wg.Go(func() { _ = m.n.stop() }) // its reports fail: the relay is cut
		}
		wg.Wait()

		// Before the crashed holder is offline, an instance on a fresh data
		// directory has no token to prove the id with: refused.
		claimed := killed[len(killed)-1]
		intruder := start(t, "--config", neuronConfig(t, api.base, claimed.id, plugins, dataDir(t), fleetHeartbeat, time.Minute, "1m"))
		testutil.Eventually(t, waitLimit, "the early claim of "+claimed.id+" to be refused", func() bool {
			return strings.Contains(intruder.log.String(), "HTTP 409")
		})
		if err := intruder.stop(); err != nil {
			t.Errorf("stopping the refused instance: %v", err)
		}

		testutil.Eventually(t, waitLimit, "the crashed neurons shown offline", func() bool {
			return allIn(fleetView(t, api), killedIDs, func(n neuronView) bool { return n.Status == "offline" })
		})
		t.Logf("crashed neurons offline %v after the crash (documented: 5 × %v after the last heartbeat)",
			time.Since(crashed).Round(time.Millisecond), fleetLiveness)
		view := fleetView(t, api)
		for _, id := range killedIDs {
			// No "stopping" heartbeat reached the federation: a crash.
			if n := view[id]; n.ReportedStatus != "active" || n.LastHeartbeat == nil {
				t.Errorf("%s: %+v, want its last heartbeat to have said active", id, n)
			} else if last, err := time.Parse(time.RFC3339Nano, *n.LastHeartbeat); err != nil || time.Since(last) <= 5*fleetLiveness {
				t.Errorf("%s offline with its last heartbeat at %s (%v): want more than 5 × %v ago", id, *n.LastHeartbeat, err, fleetLiveness)
			}
		}
		if !allIn(view, ids[:fleetSize-fleetKilled], isActive) {
			t.Errorf("the neurons left running are not all active: %+v", view)
		}

		// The replacements: the same ids, as a StatefulSet starts them, on
		// the crashed pods' data directories but the last, whose volume was
		// lost; the relays mended.
		claimed.data = dataDir(t)
		for _, m := range killed {
			m.relay.cut.Store(false)
			wg.Go(func() { m.n = startFleetNeuron(t, m, plugins) })
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		testutil.Eventually(t, fleetWait, "every neuron active again", func() bool {
			view := fleetView(t, api)
			return len(view) == fleetSize && allIn(view, ids, isActive)
		})
		view = fleetView(t, api)
		for _, m := range killed {
			if strings.Contains(m.n.log.String(), "HTTP 409") {
				t.Errorf("%s's replacement was refused:\n%s", m.id, m.n.log)
			}
			kept := view[m.id].Lineage == lineages[m.id]
			if want := m != claimed; kept != want {
				t.Errorf("%s: lineage %s, was %s: kept %v, want %v (a kept token keeps the lineage, a fresh data directory begins one)",
					m.id, view[m.id].Lineage, lineages[m.id], kept, want)
			}
		}
	})

	// A pod restarted on its volume at once, as a StatefulSet does after a
	// crash: its kept token proves the id while the federation still holds
	// it for the dead instance, so it is not refused and keeps its lineage.
	t.Run("restart at once", func(t *testing.T) {
		m := fleet[0]
		m.relay.cut.Store(true)
		_ = m.n.stop() // its reports fail: the relay is cut
		crashed := time.Now()
		m.relay.cut.Store(false)
		m.n = startFleetNeuron(t, m, plugins)
		testutil.Eventually(t, waitLimit, m.id+"'s restart to register", func() bool {
			return strings.Contains(m.n.log.String(), "registered with the federation")
		})
		// Logged, not asserted: whether the machine restarted it within the
		// offline period, the id still live (it takes about a second).
		t.Logf("%s restarted and registered %v after its crash (offline after 5 × %v)",
			m.id, time.Since(crashed).Round(time.Millisecond), fleetLiveness)
		if strings.Contains(m.n.log.String(), "HTTP 409") {
			t.Errorf("%s's restart was refused:\n%s", m.id, m.n.log)
		}
		testutil.Eventually(t, waitLimit, m.id+" active again", func() bool {
			return isActive(fleetView(t, api)[m.id])
		})
		if got := fleetView(t, api)[m.id].Lineage; got != lineages[m.id] {
			t.Errorf("%s: lineage %s after a restart with its kept token, want %s", m.id, got, lineages[m.id])
		}
	})
	t.Logf("TestFleet took %v", time.Since(begin).Round(time.Millisecond))
}
