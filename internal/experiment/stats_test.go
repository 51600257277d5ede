package experiment

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestBuckets checks the histogram's layout: buckets are in order, each
// midpoint falls in its own bucket, and every value is within 1/32 of its
// bucket's midpoint.
func TestBuckets(t *testing.T) {
	for i := range numBuckets {
		if got := bucketIndex(bucketMid(i)); got != i {
			t.Fatalf("midpoint %d of bucket %d falls in bucket %d", bucketMid(i), i, got)
		}
	}
	values := []uint64{0, 1, 15, 16, 31, 32, 33, 1000, 1 << 39, 1<<40 - 1}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200_000 {
		values = append(values, r.Uint64N(1<<40))
		values = append(values, r.Uint64N(1<<20))
	}
	slices.Sort(values)
	prev := 0
	for _, v := range values {
		i := bucketIndex(v)
		if i < prev {
			t.Fatalf("bucketIndex(%d) = %d, below the previous value's %d", v, i, prev)
		}
		prev = i
		mid := bucketMid(i)
		if diff := math.Abs(float64(mid) - float64(v)); diff > float64(v)/32 {
			t.Fatalf("value %d: bucket %d midpoint %d is %.0f away, more than 1/32", v, i, mid, diff)
		}
		if v < 32 && mid != v {
			t.Fatalf("value %d below 32 reported as %d, want exact", v, mid)
		}
	}
	if got := bucketIndex(math.MaxUint64); got != numBuckets-1 {
		t.Errorf("huge latency in bucket %d, want the last (%d)", got, numBuckets-1)
	}
}

// TestQuantiles observes known distributions and compares each quantile
// with the exact nearest-rank value of the same samples.
func TestQuantiles(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	tests := []struct {
		name string
		gen  func(i, n int) time.Duration
	}{
		{"constant", func(int, int) time.Duration { return 5 * time.Millisecond }},
		{"uniform", func(i, n int) time.Duration { return time.Microsecond + time.Duration(i)*time.Second/time.Duration(n) }},
		{"exponential", func(int, int) time.Duration { return time.Duration(r.ExpFloat64() * float64(20*time.Millisecond)) }},
		{"bimodal", func(i, n int) time.Duration {
			if i%100 < 97 {
				return time.Millisecond + time.Duration(i%7)*time.Microsecond
			}
			return 250 * time.Millisecond
		}},
		{"nanoseconds", func(i, _ int) time.Duration { return time.Duration(i % 40) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustCompile(t, experiment("exp-q", []string{"control", "b"}, 50, 50))
			const n = 50_000
			samples := make([]time.Duration, n)
			for i := range samples {
				samples[i] = tc.gen(i, n)
				s.Observe(1, 200, samples[i])
			}
			slices.Sort(samples)
			st := s.Stats()[1]
			for _, q := range []struct {
				q   float64
				got time.Duration
			}{{0.50, st.P50}, {0.95, st.P95}, {0.99, st.P99}} {
				want := samples[int(math.Ceil(q.q*n))-1]
				if diff := math.Abs(float64(q.got - want)); diff > float64(want)/32 {
					t.Errorf("p%v = %s, exact %s: off by %.2f%%, more than 1/32", q.q*100, q.got, want, 100*diff/float64(want))
				}
			}
			if st.Requests != n || s.Stats()[0].Requests != 0 || s.Stats()[0].P99 != 0 {
				t.Errorf("requests %d (other variant %d), want %d (0)", st.Requests, s.Stats()[0].Requests, n)
			}
		})
	}
}

func TestStats(t *testing.T) {
	s := mustCompile(t, experiment("exp-stats", []string{"control", "b"}, 70, 30))
	for i, status := range []int{200, 404, 499, 500, 503, 599, 600} {
		s.Observe(1, status, time.Duration(i+1)*time.Millisecond)
	}
	s.Observe(0, 200, -time.Second) // a clock step back counts as 0
	s.Observe(2, 500, time.Second)  // out of range: ignored
	s.Observe(-1, 500, time.Second)
	st := s.Stats()
	want := []VariantStats{
		{Name: "control", Weight: 70, Requests: 1},
		{Name: "b", Weight: 30, Requests: 7, Errors: 3, Mean: 4 * time.Millisecond, P50: st[1].P50, P95: st[1].P95, P99: st[1].P99},
	}
	if !slices.Equal(st, want) {
		t.Errorf("Stats =\n%+v\nwant\n%+v", st, want)
	}
}

// TestObserveConcurrent hammers Observe from many goroutines (run with
// -race) and wants every call counted.
func TestObserveConcurrent(t *testing.T) {
	s := mustCompile(t, experiment("exp-hammer", []string{"control", "b", "c"}, 40, 30, 30))
	const goroutines, calls = 16, 5_000
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				status := 200
				if i%10 == 0 {
					status = 500
				}
				s.Observe(g%3, status, time.Duration(i)*time.Microsecond)
			}
		})
	}
	checks := make(chan struct{})
	go func() { // Check and Stats run alongside, as the runtime's ticker will
		defer close(checks)
		for range 50 {
			s.Check(time.Now())
			s.Stats()
		}
	}()
	wg.Wait()
	<-checks
	var total, errs uint64
	for _, st := range s.Stats() {
		total += st.Requests
		errs += st.Errors
	}
	if total != goroutines*calls || errs != goroutines*calls/10 {
		t.Errorf("counted %d calls and %d errors, want %d and %d", total, errs, goroutines*calls, goroutines*calls/10)
	}
}
