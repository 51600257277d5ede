package experiment

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"time"
)

// VariantStats is what a variant has done since Compile, for analytics and
// /metrics.
type VariantStats struct {
	// Name and Weight are the variant's, from the experiment.
	Name   string
	Weight int
	// Requests counts the calls observed; Errors those that answered 5xx.
	Requests, Errors uint64
	// Mean is the mean latency.
	Mean time.Duration
	// P50, P95 and P99 are latency quantiles (nearest rank), each within
	// 1/32 (3.125%) of the latency of the call at that rank: latencies are
	// counted in log-linear buckets, 16 per power of two, and a quantile is
	// its bucket's midpoint. Latencies under 32 ns are exact; those over
	// 2^40 ns (about 18 minutes) count as 2^40 ns. Zero when no calls.
	P50, P95, P99 time.Duration
	// Stopped is true once a guardrail stopped the variant; StopReason then
	// says which, by how much and over what (see Stopped.String).
	Stopped    bool
	StopReason string
}

// Observe records one call served by variant: its HTTP status (500 to 599
// count as errors) and latency. It is on the request path: a few atomic
// adds on one of several shards, no lock, no allocation. An index out of
// range is ignored, so a call racing an experiment change cannot panic.
func (s *Split) Observe(variant, status int, latency time.Duration) {
	if uint(variant) >= uint(len(s.stats)) {
		return
	}
	st := &s.stats[variant]
	sh := &st.shards[rand.Uint32()&st.mask]
	ns := uint64(max(latency, 0))
	sh.count.Add(1)
	sh.sumNs.Add(ns)
	if status >= 500 && status <= 599 {
		sh.errors.Add(1)
	}
	sh.buckets[bucketIndex(ns)].Add(1)
}

// Stats returns each variant's statistics since Compile, in the
// experiment's order. The counters are read one by one while calls go on,
// so a reading may be a few calls out of step between fields.
func (s *Split) Stats() []VariantStats {
	out := make([]VariantStats, len(s.variants))
	for i, v := range s.variants {
		t := s.stats[i].totals()
		h := s.stats[i].histogram()
		vs := VariantStats{
			Name:     v.Name,
			Weight:   v.Weight,
			Requests: t.count,
			Errors:   t.errors,
			P50:      h.quantile(0.50),
			P95:      h.quantile(0.95),
			P99:      h.quantile(0.99),
		}
		if t.count > 0 {
			vs.Mean = time.Duration(t.sumNs / t.count)
		}
		if why := s.stopped[i].Load(); why != nil {
			vs.Stopped, vs.StopReason = true, why.String()
		}
		out[i] = vs
	}
	return out
}

// Histogram layout: values below 2^subBits nanoseconds have a bucket each;
// above, each power of two [2^k, 2^(k+1)) splits into 2^subBits equal
// buckets of width 2^(k-subBits), so a bucket is at most 1/16 of its
// values wide and its midpoint within 1/32 of any of them.
const (
	subBits    = 4
	subCount   = 1 << subBits
	maxBits    = 40 // latencies of 2^40 ns and more share the last bucket
	numBuckets = (maxBits - subBits + 1) * subCount
	maxShards  = 16
)

// bucketIndex is the bucket of a latency of ns nanoseconds.
func bucketIndex(ns uint64) int {
	if ns < subCount {
		return int(ns)
	}
	k := bits.Len64(ns) - 1
	if k >= maxBits {
		return numBuckets - 1
	}
	sub := int(ns>>(k-subBits)) & (subCount - 1)
	return (k-subBits+1)*subCount + sub
}

// bucketMid is the midpoint of bucket i, the value a quantile in it reports.
func bucketMid(i int) uint64 {
	if i < subCount {
		return uint64(i)
	}
	shift := i/subCount - 1 // k - subBits
	sub := uint64(i % subCount)
	lower := (subCount + sub) << shift
	return lower + (uint64(1)<<shift)/2
}

// variantStats are one variant's counters, sharded so that concurrent
// Observe calls rarely touch the same cache line.
type variantStats struct {
	shards []shard
	mask   uint32
}

// shard is one slice of a variant's counters. The padding keeps count,
// errors and sumNs of one shard off the cache line of the previous shard's
// last buckets.
type shard struct {
	_       [64]byte
	count   atomic.Uint64
	errors  atomic.Uint64
	sumNs   atomic.Uint64
	buckets [numBuckets]atomic.Uint64
}

// newVariantStats makes one shard per processor, rounded up to a power of
// two and at most maxShards (16 shards take about 76 KiB).
func newVariantStats() variantStats {
	n := 1
	for n < runtime.GOMAXPROCS(0) && n < maxShards {
		n *= 2
	}
	return variantStats{shards: make([]shard, n), mask: uint32(n - 1)}
}

// totals are cumulative counts of one variant.
type totals struct {
	count, errors, sumNs uint64
}

// sub is t minus an earlier reading.
func (t totals) sub(earlier totals) totals {
	return totals{t.count - earlier.count, t.errors - earlier.errors, t.sumNs - earlier.sumNs}
}

func (v *variantStats) totals() totals {
	var t totals
	for i := range v.shards {
		sh := &v.shards[i]
		t.count += sh.count.Load()
		t.errors += sh.errors.Load()
		t.sumNs += sh.sumNs.Load()
	}
	return t
}

// histogram is a merged copy of a variant's buckets.
type histogram [numBuckets]uint64

func (v *variantStats) histogram() *histogram {
	var h histogram
	for i := range v.shards {
		for b := range h {
			h[b] += v.shards[i].buckets[b].Load()
		}
	}
	return &h
}

// quantile returns the nearest-rank q-quantile: the midpoint of the bucket
// holding the ceil(q*n)-th smallest latency, or 0 with no calls.
func (h *histogram) quantile(q float64) time.Duration {
	var n uint64
	for _, c := range h {
		n += c
	}
	if n == 0 {
		return 0
	}
	rank := max(uint64(math.Ceil(q*float64(n))), 1)
	for i, c := range h {
		if rank <= c {
			return time.Duration(bucketMid(i))
		}
		rank -= c
	}
	return time.Duration(bucketMid(numBuckets - 1))
}
