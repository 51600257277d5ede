package federation

import (
	"encoding/base64"
	"testing"
	"time"
)

// An expiring token is renewed at 2/3 of its lifetime ±10% (never sooner
// than a second after it arrived), measured on the federation's clock when
// it says iat; a token without exp, or not a JWT, is never renewed ahead.
func TestRenewalTime(t *testing.T) {
	enc := base64.RawURLEncoding.EncodeToString
	jwt := func(payload string) string {
		return enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc([]byte(payload)) + ".sig"
	}
	// This neuron's clock; the federation's is an hour behind (iat
	// 1768991400 is 10:30:00Z).
	now := time.Date(2026, 1, 21, 11, 30, 0, 0, time.UTC)
	tests := []struct {
		name, token string
		min, max    time.Duration // after now; 0, 0: never
	}{
		{"an hour", jwt(`{"sub":"n","iat":1768991400,"exp":1768995000}`), 36 * time.Minute, 44 * time.Minute},
		{"no iat: from now", jwt(`{"sub":"n","exp":1768995000}`), 0, 0}, // expired by this neuron's clock
		{"no iat, an hour from now", jwt(`{"sub":"n","exp":1768998600}`), 36 * time.Minute, 44 * time.Minute},
		{"a second", jwt(`{"sub":"n","iat":1768991400,"exp":1768991401}`), time.Second, time.Second},
		{"expired when issued", jwt(`{"sub":"n","iat":1768991400,"exp":1768991400}`), 0, 0},
		{"no exp", jwt(`{"sub":"n","iat":1768991400}`), 0, 0},
		{"exp not a number", jwt(`{"sub":"n","exp":"soon"}`), 0, 0},
		{"opaque", "tok-1", 0, 0},
		{"bad base64", "a.%%%.c", 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for range 100 { // the jitter is random: its bounds hold every time
				at := renewalTime(tc.token, now)
				if tc.max == 0 {
					if !at.IsZero() {
						t.Fatalf("renews at %v, want never", at)
					}
					return
				}
				if d := at.Sub(now); d < tc.min || d > tc.max {
					t.Fatalf("renews %v after arrival, want %v to %v", d, tc.min, tc.max)
				}
			}
		})
	}
	if _, exp, ok := tokenTimes(jwt(`{"exp":1768995000}`)); !ok || !exp.Equal(time.Unix(1768995000, 0)) {
		t.Errorf("tokenTimes: exp %v, %v", exp, ok)
	}
}
