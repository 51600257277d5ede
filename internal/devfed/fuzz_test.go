package devfed

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// fuzzServer is a federation for fuzzing handlers in process, with a
// registered neuron "fz" and its token.
func fuzzServer(f *testing.F) (http.Handler, string) {
	s, err := Open(Options{DataDir: f.TempDir(), AdminToken: GenerateToken(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = s.Close() })
	h := s.Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/api/neuron/register", bytes.NewReader([]byte(`{"neuronId":"fz","name":"f","type":"t"}`))))
	var env struct{ Data struct{ Token string } }
	if rec.Code != 201 || json.Unmarshal(rec.Body.Bytes(), &env) != nil {
		f.Fatalf("register: %d %s", rec.Code, rec.Body)
	}
	for _, name := range []string{"registration", "status", "analytics"} {
		f.Add(guideExample(f, name))
	}
	for _, seed := range []string{`{}`, `[]`, `null`, `{"neuronId": 1}`, `{"status": "active", "healthScore": 1e999}`,
		`{"metrics": {"customMetrics": {"a": "b"}}, "events": [{"type": "t", "timestamp": "x"}]}`,
		`{"apiEndpoints": [{"path": "/", "method": "GET"}], "deploymentInfo": {"ports": [0, 1.5, "x"]}}`} {
		f.Add([]byte(seed))
	}
	return h, env.Data.Token
}

// fuzzCall sends body and fails unless the answer is 2xx or 400 (and, for
// a registration, 409: the fuzzer may claim "fz" from another baseUrl)
// in the JSON envelope.
func fuzzCall(t *testing.T, h http.Handler, path, token string, body []byte, also int) {
	req := httptest.NewRequest("POST", path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code >= 300 && rec.Code != http.StatusBadRequest && rec.Code != also {
		t.Fatalf("POST %s %q: %d %s", path, body, rec.Code, rec.Body)
	}
	var env struct {
		Success *bool `json:"success"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || env.Success == nil {
		t.Fatalf("POST %s %q: answer %q is not the envelope", path, body, rec.Body)
	}
}

func FuzzValidateRegister(f *testing.F) {
	h, _ := fuzzServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzCall(t, h, "/api/neuron/register", "", body, http.StatusConflict)
	})
}

func FuzzValidateStatus(f *testing.F) {
	h, token := fuzzServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzCall(t, h, "/api/neuron/status", token, body, 0)
	})
}

func FuzzValidateAnalytics(f *testing.F) {
	h, token := fuzzServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		// The report must name the token's neuron to get past that check.
		var m map[string]any
		if json.Unmarshal(body, &m) == nil && m != nil {
			m["neuronId"] = "fz"
			body, _ = json.Marshal(m)
		}
		fuzzCall(t, h, "/api/analytics/report", token, body, 0)
	})
}
