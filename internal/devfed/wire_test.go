package devfed

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/internal/testutil"
)

// guide reads one of the reference guide's example payloads.
func guide(t *testing.T, name string) map[string]any {
	t.Helper()
	return decodeMap(t, guideExample(t, name))
}

// guideExample returns the reference guide's example payload name
// (registration, status, analytics): federation/testdata keeps the
// verbatim copies.
func guideExample(tb testing.TB, name string) []byte {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join(testutil.RepoRoot(tb), "federation", "testdata", name+".json"))
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

func TestRegisterIssuesToken(t *testing.T) {
	f := newFed(t)
	token := f.register(regBody("n-1", "http://10.0.1.50:8080"))
	var claims jwt.RegisteredClaims
	tok, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return f.s.secret, nil },
		jwt.WithTimeFunc(f.clock.Now))
	if err != nil || tok.Method.Alg() != "HS256" {
		t.Fatalf("token %q: %v (alg %v)", token, err, tok.Method)
	}
	if claims.Subject != "n-1" || !strings.HasPrefix(claims.ID, "reg-") || !claims.IssuedAt.Equal(f.clock.Now()) ||
		claims.ExpiresAt == nil || !claims.ExpiresAt.Equal(f.clock.Now().Add(DefaultTokenTTL)) {
		t.Errorf("claims %+v", claims)
	}
	key, err := os.Stat(filepath.Join(f.opts.DataDir, keyFile))
	if err != nil || key.Mode().Perm() != 0o600 {
		t.Errorf("token.key: %v, mode %v", err, key.Mode())
	}
	f.beat(token, "active", "")
}

// Each payload the contract names is accepted as the reference guide
// documents it and as this repository's neuron sends it (the Go types of
// package federation); unknown fields are accepted too.
func TestReferencePayloadsAccepted(t *testing.T) {
	f := newFed(t)
	reg := guide(t, "registration")
	token := f.register(reg)
	st := guide(t, "status")
	st["hostInfo"].(map[string]any)["pid"] = 4242 // the guide's Python client sends it
	f.must("POST", "/api/neuron/status", token, st, http.StatusOK, nil)
	an := guide(t, "analytics")
	an["timestamp"] = "2025-01-21T11:30:00.123456" // naive, as the Python client's isoformat()
	an["events"].([]any)[0].(map[string]any)["timestamp"] = "2025-01-21T11:30:00.5"
	f.must("POST", "/api/analytics/report", token, an, http.StatusOK, nil)

	ours := federation.Registration{NeuronID: "go-1", Name: "Go", Type: "wasm", BaseURL: "http://127.0.0.1:1"}
	tok2 := f.register(mustMap(t, ours))
	f.must("POST", "/api/neuron/status", tok2, federation.Status{Status: "active", HealthScore: 100}, http.StatusOK, nil)
	rep := federation.AnalyticsReport{NeuronID: "go-1", Timestamp: time.Now().UTC().Format(time.RFC3339),
		Events:    []federation.Event{{ID: federation.NewEventID(), Type: "plugin_loaded", Timestamp: time.Now(), Data: json.RawMessage(`{"a":1}`)}},
		Breakdown: []federation.BreakdownRow{{Plugin: "p", Version: "1.0.0", Variant: "a", TotalRequests: 3, P95: 1.5}}, Dropped: 2}
	f.must("POST", "/api/analytics/report", tok2, rep, http.StatusOK, nil)

	d := f.neuron(reg["neuronId"].(string))
	if d.Name != "Customer Data Processor" || d.BaseURL != "http://localhost:8080" || len(d.Endpoints) != 2 ||
		d.Endpoints[1].Method != "GET" || d.Status != "active" || d.HealthScore == nil || *d.HealthScore != 95 ||
		d.Metrics == nil || *d.Metrics.CPUUsage != 45.2 || *d.Metrics.RequestsPerSecond != 150.5 || d.ConfigVersion != "1.2.0" {
		t.Errorf("neuron %+v", d.neuronSummary)
	}
}

func mustMap(t *testing.T, v any) map[string]any {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return decodeMap(t, raw)
}

func decodeMap(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// with returns a copy of body with path (dot-separated keys, [i] for an
// element of an array) set to v, or removed when v is del.
func with(body map[string]any, path string, v any) map[string]any {
	var cp map[string]any
	raw, _ := json.Marshal(body)
	_ = json.Unmarshal(raw, &cp)
	keys := strings.Split(path, ".")
	var cur any = cp
	for i, k := range keys {
		last := i == len(keys)-1
		name, idx, isElem := strings.Cut(strings.TrimSuffix(k, "]"), "[")
		m := cur.(map[string]any)
		if !isElem {
			if last {
				if v == del {
					delete(m, name)
				} else {
					m[name] = v
				}
				return cp
			}
			if m[name] == nil {
				m[name] = map[string]any{}
			}
			cur = m[name]
			continue
		}
		n := int(idx[0] - '0')
		l, _ := m[name].([]any)
		for len(l) <= n {
			l = append(l, map[string]any{})
		}
		m[name] = l
		if last {
			l[n] = v
			return cp
		}
		cur = l[n]
	}
	return cp
}

// del marks a field to remove in with.
var del = &struct{}{}

type badCase struct {
	path  string
	value any
	field string // the field the 400 names
}

// checkBad sends base with each case's change and expects a 400 naming
// the field.
func checkBad(t *testing.T, f *fed, path, token string, base map[string]any, cases []badCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.path+"="+strings.ReplaceAll(toJSON(c.value), "/", "∕"), func(t *testing.T) {
			status, env := f.call("POST", path, token, with(base, c.path, c.value))
			if status != http.StatusBadRequest || env.Code != "bad_request" || env.Field != c.field {
				t.Errorf("%d %s field %q (%s), want 400 bad_request naming %q", status, env.Code, env.Field, env.Error, c.field)
			}
			if !strings.Contains(env.Error, c.field) {
				t.Errorf("error %q does not name %s", env.Error, c.field)
			}
		})
	}
}

func toJSON(v any) string {
	if v == del {
		return "absent"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func TestRegisterValidation(t *testing.T) {
	f := newFed(t)
	base := regBody("n-1", "http://127.0.0.1:8080")
	checkBad(t, f, "/api/neuron/register", "", base, []badCase{
		{"neuronId", del, "neuronId"},
		{"neuronId", "", "neuronId"},
		{"neuronId", 7, "neuronId"},
		{"neuronId", "has space", "neuronId"},
		{"neuronId", "n/1", "neuronId"},
		{"neuronId", strings.Repeat("a", 129), "neuronId"},
		{"name", del, "name"},
		{"name", true, "name"},
		{"name", strings.Repeat("n", 257), "name"},
		{"type", del, "type"},
		{"language", 3, "language"},
		{"baseUrl", "ftp://host", "baseUrl"},
		{"baseUrl", "localhost:8080", "baseUrl"},
		{"baseUrl", 8080, "baseUrl"},
		{"healthcheckEndpoint", "health", "healthcheckEndpoint"},
		{"apiEndpoints", "none", "apiEndpoints"},
		{"apiEndpoints[0]", "POST /process", "apiEndpoints[0]"},
		{"apiEndpoints[0].path", "process", "apiEndpoints[0].path"},
		{"apiEndpoints[0].path", del, "apiEndpoints[0].path"},
		{"apiEndpoints[0].method", "FETCH", "apiEndpoints[0].method"},
		{"apiEndpoints[0].method", "post", "apiEndpoints[0].method"},
		{"apiEndpoints[0].description", 1, "apiEndpoints[0].description"},
		{"authentication", "jwt", "authentication"},
		{"authentication.type", 1, "authentication.type"},
		{"capabilities", "x", "capabilities"},
		{"capabilities", []any{"a", 2}, "capabilities[1]"},
		{"dependencies", []any{nil}, "dependencies[0]"},
		{"resourceRequirements.cpu", 2, "resourceRequirements.cpu"},
		{"deploymentInfo.image", false, "deploymentInfo.image"},
		{"deploymentInfo.ports", []any{8080, 70000}, "deploymentInfo.ports[1]"},
		{"deploymentInfo.ports", []any{80.5}, "deploymentInfo.ports[0]"},
		{"deploymentInfo.ports", []any{"80"}, "deploymentInfo.ports[0]"},
		{"alertThresholds.errorRate", 101, "alertThresholds.errorRate"},
		{"alertThresholds.responseTime", -1, "alertThresholds.responseTime"},
		{"alertThresholds.healthScore", "80", "alertThresholds.healthScore"},
		{"metadata", []any{}, "metadata"},
		{"metadata.region", 5, "metadata.region"},
	})
}

func TestStatusValidation(t *testing.T) {
	f := newFed(t)
	token := f.register(regBody("n-1", ""))
	checkBad(t, f, "/api/neuron/status", token, beatBody("active", ""), []badCase{
		{"status", del, "status"},
		{"status", 1, "status"},
		{"status", "", "status"},
		{"healthScore", 101, "healthScore"},
		{"healthScore", -1, "healthScore"},
		{"healthScore", "95", "healthScore"},
		{"uptime", -5, "uptime"},
		{"processId", 12345, "processId"},
		{"hostInfo", "h", "hostInfo"},
		{"hostInfo.hostname", 1, "hostInfo.hostname"},
		{"systemMetrics", 5, "systemMetrics"},
		{"systemMetrics.cpuUsage", 100.01, "systemMetrics.cpuUsage"},
		{"systemMetrics.memoryUsage", -0.5, "systemMetrics.memoryUsage"},
		{"systemMetrics.diskUsage", "25%", "systemMetrics.diskUsage"},
		{"applicationMetrics.requestsPerSecond", -1, "applicationMetrics.requestsPerSecond"},
		{"applicationMetrics.averageResponseTime", "fast", "applicationMetrics.averageResponseTime"},
		{"applicationMetrics.activeConnections", -2, "applicationMetrics.activeConnections"},
		{"applicationMetrics.queueSize", []any{}, "applicationMetrics.queueSize"},
		{"dependencyStatus.postgresql", true, "dependencyStatus.postgresql"},
		{"performanceMetrics.successRate", 100.5, "performanceMetrics.successRate"},
		{"performanceMetrics.errorCount", -1, "performanceMetrics.errorCount"},
		{"performanceMetrics.warningCount", "0", "performanceMetrics.warningCount"},
		{"configVersion", 1.2, "configVersion"},
		{"buildVersion", map[string]any{}, "buildVersion"},
	})
}

func TestAnalyticsValidation(t *testing.T) {
	f := newFed(t)
	token := f.register(regBody("n-1", ""))
	base := map[string]any{"neuronId": "n-1", "metrics": map[string]any{"totalRequests": 1},
		"events":    []any{map[string]any{"id": "e1", "type": "t", "timestamp": "2025-01-21T11:30:00Z"}},
		"breakdown": []any{map[string]any{"plugin": "p", "variant": "a", "totalRequests": 1}}}
	checkBad(t, f, "/api/analytics/report", token, base, []badCase{
		{"neuronId", del, "neuronId"},
		{"neuronId", "n-2", "neuronId"},
		{"neuronId", 1, "neuronId"},
		{"metrics", del, "metrics"},
		{"metrics", "m", "metrics"},
		{"metrics.totalRequests", -1, "metrics.totalRequests"},
		{"metrics.averageResponseTime", "1ms", "metrics.averageResponseTime"},
		{"metrics.customMetrics", 3, "metrics.customMetrics"},
		{"metrics.customMetrics.recordsProcessed", "many", "metrics.customMetrics.recordsProcessed"},
		{"events", "e", "events"},
		{"events[0]", 1, "events[0]"},
		{"events[0].type", del, "events[0].type"},
		{"events[0].id", 5, "events[0].id"},
		{"events[0].timestamp", "yesterday", "events[0].timestamp"},
		{"events[0].plugin", 1, "events[0].plugin"},
		{"timestamp", 1, "timestamp"},
		{"dropped", 1.5, "dropped"},
		{"breakdown", map[string]any{}, "breakdown"},
		{"breakdown[0].variant", 3, "breakdown[0].variant"},
		{"breakdown[0].p95", -1, "breakdown[0].p95"},
		{"breakdown[0].failedRequests", "2", "breakdown[0].failedRequests"},
	})
}

// A body that is no JSON object is a 400 without a field.
func TestBodyNotAnObject(t *testing.T) {
	f := newFed(t)
	token := f.register(regBody("n-1", ""))
	for _, body := range []string{"", "[]", "nul", `{"neuronId": "a"`, `{"a":1} {"b":2}`, `"x"`, "1e999"} {
		for _, path := range []string{"/api/neuron/register", "/api/neuron/status", "/api/analytics/report"} {
			status, env := f.call("POST", path, token, body)
			if status != http.StatusBadRequest || env.Code != "bad_request" || env.Field != "" {
				t.Errorf("POST %s %q: %d %s field %q", path, body, status, env.Code, env.Field)
			}
		}
	}
	status, env := f.call("POST", "/api/neuron/status", token, `{"status": "active", "healthScore": 1e999}`)
	if status != http.StatusBadRequest || env.Field != "healthScore" {
		t.Errorf("huge number: %d field %q", status, env.Field)
	}
}

func TestBodyTooLarge(t *testing.T) {
	f := newFed(t)
	token := f.register(regBody("n-1", ""))
	big := `{"status": "active", "pad": "` + strings.Repeat("x", MaxBodyBytes) + `"}`
	for _, c := range []struct{ path, token string }{
		{"/api/neuron/register", ""}, {"/api/neuron/status", token}, {"/api/analytics/report", token},
		{"/api/admin/configs", f.opts.AdminToken}, {"/api/admin/experiments", f.opts.AdminToken},
		{"/api/admin/commands", f.opts.AdminToken},
	} {
		status, env := f.call("POST", c.path, c.token, big)
		if status != http.StatusRequestEntityTooLarge || env.Code != "body_too_large" || !strings.Contains(env.Error, "1 MiB") {
			t.Errorf("POST %s: %d %s %q, want 413 body_too_large", c.path, status, env.Code, env.Error)
		}
	}
	// Just under the limit is fine.
	pad := MaxBodyBytes - len(`{"status": "active", "pad": ""}`)
	f.must("POST", "/api/neuron/status", token, `{"status": "active", "pad": "`+strings.Repeat("x", pad)+`"}`, http.StatusOK, nil)
}

func TestNeuronAuth(t *testing.T) {
	f := newFed(t)
	old := f.register(regBody("n-1", "http://127.0.0.1:1"))
	current := f.reregister(regBody("n-1", "http://127.0.0.1:1"), old) // revokes old
	otherKey, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{Subject: "n-1", ID: "reg-x"}).SignedString([]byte(strings.Repeat("k", 32)))
	unknown, _ := f.s.sign("ghost", "reg-1", f.clock.Now())
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.RegisteredClaims{Subject: "n-1"}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	cases := []struct{ name, header, want string }{
		{"no header", "", "Bearer TOKEN"},
		{"not bearer", "Basic abc", "Bearer TOKEN"},
		{"garbage", "Bearer abc.def.ghi", "register again"},
		{"other key", "Bearer " + otherKey, "register again"},
		{"alg none", "Bearer " + none, "register again"},
		{"unknown neuron", "Bearer " + unknown, "not registered"},
		{"revoked", "Bearer " + old, "revoked"},
	}
	routes := []struct{ method, path string }{{"POST", "/api/neuron/status"}, {"POST", "/api/analytics/report"}, {"GET", "/api/neuron/config"}}
	for _, c := range cases {
		for _, r := range routes {
			resp, raw := f.send(r.method, r.path, c.header, `{"status":"active"}`)
			var env envelope
			_ = json.Unmarshal(raw, &env)
			if resp.StatusCode != http.StatusUnauthorized || env.Code != "unauthorized" || !strings.Contains(env.Error, c.want) {
				t.Errorf("%s on %s: %d %s %q, want 401 saying %q", c.name, r.path, resp.StatusCode, env.Code, env.Error, c.want)
			}
		}
	}
	f.beat(current, "active", "")
}

func TestRoutesNotFoundAndMethods(t *testing.T) {
	f := newFed(t)
	for _, c := range []struct {
		method, path, token string
		status              int
		code, allow         string
	}{
		{"GET", "/api/neuron/register", "", 405, "method_not_allowed", "POST"},
		{"POST", "/api/neuron/config", "", 405, "method_not_allowed", "GET"},
		{"DELETE", "/api/admin/configs", f.opts.AdminToken, 405, "method_not_allowed", "GET, POST"},
		{"GET", "/api/admin/experiments/x/stop", f.opts.AdminToken, 405, "method_not_allowed", "POST"},
		{"GET", "/api/nothing", "", 404, "not_found", ""},
		{"GET", "/api/admin/nothing", f.opts.AdminToken, 404, "not_found", ""},
		{"GET", "/api/admin/nothing", "", 401, "unauthorized", ""},
		{"GET", "/api/admin/neurons/ghost", f.opts.AdminToken, 404, "not_found", ""},
		{"GET", "/api/admin/neurons/ghost/heartbeats", f.opts.AdminToken, 404, "not_found", ""},
		{"GET", "/api/admin/neurons/ghost/analytics", f.opts.AdminToken, 404, "not_found", ""},
		{"GET", "/api/admin/neurons/ghost/events", f.opts.AdminToken, 404, "not_found", ""},
		{"GET", "/api/admin/experiments/ghost", f.opts.AdminToken, 404, "not_found", ""},
		{"POST", "/api/admin/experiments/ghost/stop", f.opts.AdminToken, 404, "not_found", ""},
	} {
		authorization := ""
		if c.token != "" {
			authorization = "Bearer " + c.token
		}
		resp, raw := f.send(c.method, c.path, authorization, nil)
		var env envelope
		_ = json.Unmarshal(raw, &env)
		if resp.StatusCode != c.status || env.Code != c.code || env.Success || resp.Header.Get("Allow") != c.allow {
			t.Errorf("%s %s: %d %s Allow %q, want %d %s Allow %q", c.method, c.path, resp.StatusCode, env.Code,
				resp.Header.Get("Allow"), c.status, c.code, c.allow)
		}
	}
	// The dashboard answers at /.
	resp, err := http.Get(f.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("GET /: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// The same instance registering again (proved by its current token) gets
// a new token (the old one is revoked) and keeps its row and heartbeat
// summary.
func TestReregisterSameInstance(t *testing.T) {
	f := newFed(t)
	first := f.register(regBody("n-1", "http://127.0.0.1:9001"))
	f.beat(first, "active", "")
	f.clock.Add(time.Second)
	b := regBody("n-1", "http://127.0.0.1:9001/") // the same address with a trailing slash
	b["version"] = "1.1.0"
	second := f.reregister(b, first)
	if first == second {
		t.Fatal("the same token twice")
	}
	if status, env := f.call("POST", "/api/neuron/status", first, beatBody("active", "")); status != 401 || !strings.Contains(env.Error, "revoked") {
		t.Errorf("old token: %d %q", status, env.Error)
	}
	d := f.neuron("n-1")
	if d.Status != "active" || d.LastHeartbeat == nil || d.Version != "1.1.0" || d.BaseURL != "http://127.0.0.1:9001" {
		t.Errorf("after re-registering: %+v", d.neuronSummary)
	}
	var all []neuronSummary
	f.admin("GET", "/api/admin/neurons", nil, 200, &all)
	if len(all) != 1 {
		t.Errorf("%d neurons, want 1", len(all))
	}
	// Without a baseUrl the remote address is the instance; the token
	// proves it too.
	f.reregister(regBody("n-2", ""), f.register(regBody("n-2", "")))
}

// The attack review's id takeover: a second process registering a live
// id with the holder's own base URL (or remote address) but without the
// holder's current token is refused, so it gets no token, no config, no
// command, and cannot forge a command's outcome.
func TestLiveIDTakeoverRefused(t *testing.T) {
	f := newFed(t)
	holder := f.register(regBody("n-1", "http://127.0.0.1:9001"))
	f.beat(holder, "active", "")
	other := f.register(regBody("n-2", "http://127.0.0.1:9002"))
	revoked := holder
	holder = f.reregister(regBody("n-1", "http://127.0.0.1:9001"), holder)
	var cmds []commandView
	f.admin("POST", "/api/admin/commands", `{"target": "n-1", "type": "flush_analytics"}`, http.StatusCreated, &cmds)
	for _, c := range []struct{ name, token, want string }{
		{"no token", "", "sent no token"},
		{"another neuron's token", other, "not the id's current one"},
		{"the holder's revoked token", revoked, "not the id's current one"},
		{"garbage", "abc.def.ghi", "not the id's current one"},
	} {
		for _, base := range []string{"http://127.0.0.1:9001", ""} {
			status, env := f.call("POST", "/api/neuron/register", c.token, regBody("n-1", base))
			if status != http.StatusConflict || !strings.Contains(env.Error, c.want) || !strings.Contains(env.Error, "Authorization: Bearer") {
				t.Errorf("%s, baseUrl %q: %d %q, want 409 saying %q", c.name, base, status, env.Error, c.want)
			}
		}
	}
	// The holder's token still works, and the command is still its own.
	f.beat(holder, "active", "")
	if !strings.Contains(f.poll(holder), "flush_analytics") {
		t.Error("the holder was not served its command")
	}
	// Another neuron reporting the command's outcome does not resolve it.
	f.report(other, "n-2", map[string]any{"id": "e-1", "type": "command_executed", "timestamp": "2026-01-21T11:30:00Z",
		"data": map[string]any{"id": cmds[0].ID, "ok": true}})
	f.admin("GET", "/api/admin/commands", nil, http.StatusOK, &cmds)
	if cmds[0].Status == "succeeded" {
		t.Errorf("an outcome from another neuron was recorded: %+v", cmds[0])
	}
}

func TestConflictAndTakeover(t *testing.T) {
	f := newFed(t)
	a := f.register(regBody("n-1", "http://10.0.0.1:8080"))
	f.beat(a, "active", "")
	f.clock.Add(20 * time.Second)

	status, env := f.call("POST", "/api/neuron/register", "", regBody("n-1", "http://10.0.0.2:8080"))
	if status != http.StatusConflict || env.Code != "conflict" {
		t.Fatalf("second instance: %d %s %q, want 409 conflict", status, env.Code, env.Error)
	}
	for _, want := range []string{"http://10.0.0.1:8080", "2026-01-21T11:30:00Z", "NEURON_ID", "30s"} {
		if !strings.Contains(env.Error, want) {
			t.Errorf("conflict %q does not say %q", env.Error, want)
		}
	}
	if !strings.Contains(f.logs.String(), "registration refused") {
		t.Error("the conflict is not logged")
	}

	t.Run("after offline", func(t *testing.T) {
		f.clock.Add(31 * time.Second) // 51s since the last heartbeat: offline
		b := f.register(regBody("n-1", "http://10.0.0.2:8080"))
		d := f.neuron("n-1")
		if d.BaseURL != "http://10.0.0.2:8080" || d.Status != "registered" || d.LastHeartbeat != nil {
			t.Errorf("after takeover: %+v", d.neuronSummary)
		}
		if status, _ := f.call("POST", "/api/neuron/status", a, beatBody("active", "")); status != 401 {
			t.Errorf("the old holder's token: %d, want 401", status)
		}
		f.beat(b, "active", "")
		// The old holder coming back now conflicts with the new one.
		if status, _ := f.call("POST", "/api/neuron/register", "", regBody("n-1", "http://10.0.0.1:8080")); status != 409 {
			t.Errorf("old holder back: %d, want 409", status)
		}
		// Once the holder says it is stopping, the id is free at once.
		f.beat(b, "stopping", "")
		f.register(regBody("n-1", "http://10.0.0.1:8080"))
		if d := f.neuron("n-1"); d.BaseURL != "http://10.0.0.1:8080" {
			t.Errorf("after stopping: %+v", d.neuronSummary)
		}
	})
}
