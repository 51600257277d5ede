package experiment

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func BenchmarkAssign(b *testing.B) {
	for _, n := range []int{2, 3, 5} {
		names := []string{"control", "treatment", "fast", "slow", "cached"}[:n]
		weights := []int{20, 20, 20, 20, 20}[:n]
		weights[0] += 100 - 20*n
		s := mustCompile(b, experiment("exp-bench", names, weights...))
		b.Run(fmt.Sprintf("%d variants", n), func(b *testing.B) {
			const k = "7f3e2a10-0c1b-4e5f-9a8b-1c2d3e4f5a6b" // a UUID-sized key
			for b.Loop() {
				s.Assign(k)
			}
		})
	}
}

func BenchmarkAssignRandom(b *testing.B) {
	s := mustCompile(b, experiment("exp-bench", []string{"control", "b", "c"}, 40, 30, 30))
	for b.Loop() {
		s.AssignRandom()
	}
}

func BenchmarkKey(b *testing.B) {
	padding := `"items":[` + strings.Repeat(`{"sku":"ab-123","qty":2,"tags":["x","y"],"note":"a \"quoted\" note"},`, 50) + `{}]`
	tests := []struct {
		name, sticky, body string
	}{
		{"json first member", "json:userId", `{"userId":"7f3e2a10-0c1b-4e5f-9a8b-1c2d3e4f5a6b","amount":12.5}`},
		{"json after 4KB", "json:userId", `{` + padding + `,"userId":"7f3e2a10-0c1b-4e5f-9a8b-1c2d3e4f5a6b"}`},
		{"json number", "json:userId", `{"amount":12.5,"userId":1234567}`},
		{"header", "header:X-User", ""},
		{"query", "query:uid", ""},
	}
	for _, tc := range tests {
		s := withSticky(b, tc.sticky)
		r := httptest.NewRequest("POST", "/score?a=1&uid=7f3e2a10", nil)
		r.Header.Set("X-User", "7f3e2a10")
		body := []byte(tc.body)
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, ok := s.Key(r, body); !ok {
					b.Fatal("no key")
				}
			}
		})
	}
}

func BenchmarkObserve(b *testing.B) {
	s := mustCompile(b, experiment("exp-bench", []string{"control", "b"}, 50, 50))
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			s.Observe(1, 200, 1500*time.Microsecond)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				s.Observe(1, 200, 1500*time.Microsecond)
			}
		})
	})
}

func BenchmarkCheck(b *testing.B) {
	s := mustCompile(b, experiment("exp-bench", []string{"control", "b", "c"}, 40, 30, 30))
	now := t0
	for b.Loop() {
		now = now.Add(time.Second)
		s.Check(now)
	}
}

func BenchmarkStats(b *testing.B) {
	s := mustCompile(b, experiment("exp-bench", []string{"control", "b", "c"}, 40, 30, 30))
	for b.Loop() {
		s.Stats()
	}
}
