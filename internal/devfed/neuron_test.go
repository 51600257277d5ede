package devfed

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// fakeNeuron is a neuron's update-config endpoint on loopback that
// records what the federation pushes (the real neuron is the end-to-end
// tests' job: see internal/agent). Its default answer is internal/control's
// for an update it applies: 200 with applied, configVersion and the
// command's outcome.
type fakeNeuron struct {
	srv *httptest.Server

	mu     sync.Mutex
	pushes []push
	answer func(u map[string]any) (int, any)
}

// push is one request the fake neuron received.
type push struct {
	Path, Auth string
	Update     map[string]any
	Raw        []byte
}

func newFakeNeuron(t *testing.T) *fakeNeuron {
	n := &fakeNeuron{answer: applyAll}
	n.srv = httptest.NewServer(http.HandlerFunc(n.serve))
	t.Cleanup(n.srv.Close)
	return n
}

func (n *fakeNeuron) URL() string { return n.srv.URL }

func (n *fakeNeuron) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var u map[string]any
	_ = json.Unmarshal(raw, &u)
	n.mu.Lock()
	n.pushes = append(n.pushes, push{Path: r.URL.Path, Auth: r.Header.Get("Authorization"), Update: u, Raw: raw})
	answer := n.answer
	n.mu.Unlock()
	status, body := answer(u)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// setAnswer replaces how the neuron answers.
func (n *fakeNeuron) setAnswer(f func(u map[string]any) (int, any)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.answer = f
}

// received returns the pushes so far.
func (n *fakeNeuron) received() []push {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]push(nil), n.pushes...)
}

// last returns the last push, failing the test when there was none.
func (n *fakeNeuron) last(t *testing.T) push {
	t.Helper()
	ps := n.received()
	if len(ps) == 0 {
		t.Fatal("the neuron received no push")
	}
	return ps[len(ps)-1]
}

// applyAll answers as a neuron applying u: the version applied and, for a
// command, a successful outcome.
func applyAll(u map[string]any) (int, any) {
	data := map[string]any{"applied": true, "configVersion": u["version"]}
	if c, isObj := u["command"].(map[string]any); isObj {
		data["command"] = map[string]any{"id": c["id"], "type": c["type"], "ok": true, "result": map[string]any{"restarted": 2}}
	}
	return http.StatusOK, map[string]any{"success": true, "data": data}
}

// rejectAll answers as a neuron refusing u whole.
func rejectAll(reasons ...string) func(map[string]any) (int, any) {
	return func(map[string]any) (int, any) {
		return http.StatusUnprocessableEntity, map[string]any{"error": "update rejected", "code": "update_rejected",
			"reasons": reasons, "configVersion": ""}
	}
}

// activeNeuron registers neuron n-1 served by a fake neuron (applying
// every update until told otherwise) and sends its first heartbeat; it
// returns the federation, the fake neuron and n-1's token.
func activeNeuron(t *testing.T) (*fed, *fakeNeuron, string) {
	f := newFed(t)
	nrn := newFakeNeuron(t)
	token := f.register(regBody("n-1", nrn.URL()))
	f.beat(token, "active", "")
	return f, nrn, token
}
