package federation

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 21, 11, 30, 0, 0, time.UTC)
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"5", 5 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"0", 0},
		{"-3", 0},
		{"soon", 0},
		{"99999999999", MaxRetryAfter},
		{"Tue, 21 Jan 2025 11:30:30 GMT", 30 * time.Second},
		{"Tuesday, 21-Jan-25 11:31:00 GMT", time.Minute}, // RFC 850
		{"Tue Jan 21 11:30:10 2025", 10 * time.Second},   // ANSI C
		{"Tue, 21 Jan 2025 11:00:00 GMT", 0},             // past
		{"Wed, 22 Jan 2025 11:30:00 GMT", MaxRetryAfter}, // a day: clamped
	}
	for _, tc := range tests {
		if got := parseRetryAfter(tc.header, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", tc.header, got, tc.want)
		}
	}
}

func TestAnswerMessage(t *testing.T) {
	long := strings.Repeat("é", 400) // 800 bytes
	tests := []struct {
		name, body, want string
	}{
		{"error field", `{"success": false, "error": "neuronId taken"}`, "neuronId taken"},
		{"message field", `{"message": "slow down"}`, "slow down"},
		{"error wins", `{"error": "a", "message": "b"}`, "a"},
		{"error object falls back to message", `{"error": {"code": 1}, "message": "b"}`, "b"},
		{"text", "  upstream\n  down  ", "upstream down"},
		{"html", "<html><body>502 Bad Gateway</body></html>", "<html><body>502 Bad Gateway</body></html>"},
		{"empty", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := answerMessage([]byte(tc.body)); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	got := answerMessage([]byte(long))
	if len(got) > maxMessageBytes+len("…") || !strings.HasSuffix(got, "…") || !strings.HasPrefix(got, "éé") {
		t.Errorf("long message not truncated on a rune boundary: %d bytes, %q...", len(got), got[:10])
	}
}

func TestErrorClasses(t *testing.T) {
	netErr := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	tests := []struct {
		name              string
		err               error
		retriable, unauth bool
		retryAfter        time.Duration
	}{
		{"nil", nil, false, false, 0},
		{"transport", &Error{Op: OpStatus, Err: netErr}, true, false, 0},
		{"wrapped transport", fmt.Errorf("send: %w", &Error{Op: OpStatus, Err: netErr}), true, false, 0},
		{"bare net error", netErr, true, false, 0},
		{"deadline", context.DeadlineExceeded, true, false, 0},
		{"cancelled", &Error{Op: OpStatus, Err: context.Canceled}, false, false, 0},
		{"400", &Error{Op: OpAnalytics, Status: 400}, false, false, 0},
		{"401", &Error{Op: OpAnalytics, Status: 401}, false, true, 0},
		{"404", &Error{Op: OpConfig, Status: 404}, false, false, 0},
		{"408", &Error{Op: OpStatus, Status: 408}, true, false, 0},
		{"425", &Error{Op: OpStatus, Status: 425}, true, false, 0},
		{"429", &Error{Op: OpAnalytics, Status: 429, RetryAfter: 3 * time.Second}, true, false, 3 * time.Second},
		{"500", &Error{Op: OpStatus, Status: 500}, true, false, 0},
		{"503", &Error{Op: OpStatus, Status: 503, RetryAfter: time.Second}, true, false, time.Second},
		{"malformed 201", &Error{Op: OpRegister, Status: 201, Message: "no token"}, false, false, 0},
		{"other", errors.New("boom"), false, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Retriable(tc.err); got != tc.retriable {
				t.Errorf("Retriable = %v, want %v", got, tc.retriable)
			}
			if got := Unauthorized(tc.err); got != tc.unauth {
				t.Errorf("Unauthorized = %v, want %v", got, tc.unauth)
			}
			if got := RetryAfter(tc.err); got != tc.retryAfter {
				t.Errorf("RetryAfter = %s, want %s", got, tc.retryAfter)
			}
		})
	}
}

func TestError_Error(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{Op: OpStatus, Status: 503, Message: "database down"}, "federation status: HTTP 503: database down"},
		{&Error{Op: OpRegister, Err: errors.New("dial tcp: connection refused")}, "federation register: dial tcp: connection refused"},
		{&Error{Op: OpConfig, Status: 200, Message: "data is not a valid update", Err: errors.New("update: bad")}, "federation config: HTTP 200: data is not a valid update: update: bad"},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}
