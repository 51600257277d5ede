package experiment

import (
	"math"
	"math/rand/v2"
)

// Assign returns the index of the variant that serves key: the same on
// every neuron and after every restart, for as long as the experiment id,
// variant names and weights stay the same. A variant stopped by a guardrail
// sends its keys to the control; every other key keeps its variant.
//
// The choice is weighted rendezvous hashing: each variant v scores
// weight(v) / -ln(u(v, key)), where u maps a hash of the experiment id, the
// key and v's name into (0, 1), and the highest score wins. Raising a
// variant's weight only raises its own score, so keys move into it and never
// out of it; a variant of weight 0 never wins. See docs/design.md, "Why
// weighted rendezvous hashing?".
func (s *Split) Assign(key string) int {
	h := hashKey(s.seed, key)
	best, bestScore := s.control, 0.0
	for i := range s.variants {
		w := s.weights[i]
		if w == 0 {
			continue
		}
		u := unit(hashName(h, s.variants[i].Name))
		if score := w / -ln(u); score > bestScore {
			best, bestScore = i, score
		}
	}
	if s.stopped[best].Load() != nil {
		return s.control
	}
	return best
}

// AssignRandom returns a variant index chosen at random by weight, for calls
// without a sticky key. A stopped variant's share goes to the control.
func (s *Split) AssignRandom() int {
	n := rand.IntN(100)
	for i := range s.variants {
		n -= s.variants[i].Weight
		if n < 0 {
			if s.stopped[i].Load() != nil {
				return s.control
			}
			return i
		}
	}
	return s.control // unreachable: weights sum to 100
}

// The assignment hash is FNV-1a 64 (offset basis 14695981039346656037,
// prime 1099511628211) over the bytes
//
//	u32le(len(id)) id u32le(len(key)) key name
//
// followed by MurmurHash3's 64-bit finalizer (fmix64), which FNV needs
// because its last bytes barely reach the high bits. Both are fixed
// arithmetic on uint64, identical on every platform and Go version; the
// length prefixes keep ("ab", "c") and ("a", "bc") apart. unit and ln turn
// the hash into a score with the same guarantee. TestHashGolden pins the
// outputs: changing any of this reassigns every running experiment's keys.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// idSeed is the FNV-1a state after the experiment id, computed once.
func idSeed(id string) uint64 {
	return fnvString(fnvLen(fnvOffset, len(id)), id)
}

// hashKey continues from the id seed with the key.
func hashKey(seed uint64, key string) uint64 {
	return fnvString(fnvLen(seed, len(key)), key)
}

// hashName finishes the hash of (id, key) with a variant name.
func hashName(h uint64, name string) uint64 {
	return fmix64(fnvString(h, name))
}

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

// fnvLen hashes n as four little-endian bytes.
func fnvLen(h uint64, n int) uint64 {
	for i := 0; i < 4; i++ {
		h ^= uint64(n>>(8*i)) & 0xff
		h *= fnvPrime
	}
	return h
}

// fmix64 is MurmurHash3's finalizer: every input bit flips each output bit
// with probability close to one half.
func fmix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// unit maps h to the open interval (0, 1): the top 52 bits plus one half,
// over 2^52. Every step is exact in float64, so u is never 0 or 1.
func unit(h uint64) float64 {
	return (float64(h>>12) + 0.5) / (1 << 52)
}

// ln is the natural logarithm of x in (0, 1), written out so that it gives
// the same bits on every platform: math.Log is assembly on some
// architectures and may change between Go versions, and the compiler may
// fuse a*b+c into one instruction on others, which the float64 conversions
// below forbid. It is the algorithm of FreeBSD's e_log.c (also Go's pure-Go
// math.Log), accurate to within one ulp.
func ln(x float64) float64 {
	const (
		ln2Hi = 6.93147180369123816490e-01 // 3fe62e42 fee00000
		ln2Lo = 1.90821492927058770002e-10 // 3dea39ef 35793c76
		l1    = 6.666666666666735130e-01   // 3FE55555 55555593
		l2    = 3.999999999940941908e-01   // 3FD99999 9997FA04
		l3    = 2.857142874366239149e-01   // 3FD24924 94229359
		l4    = 2.222219843214978396e-01   // 3FCC71C5 1D8E78AF
		l5    = 1.818357216161805012e-01   // 3FC74664 96CB03DE
		l6    = 1.531383769920937332e-01   // 3FC39A09 D078C69F
		l7    = 1.479819860511658591e-01   // 3FC2F112 DF3E5244
	)
	// x = f1 * 2^ki with f1 in [0.5, 1); x is normal, so this is exact
	// bit work (what math.Frexp does).
	bits := math.Float64bits(x)
	ki := int(bits>>52&0x7ff) - 1022
	f1 := math.Float64frombits(bits&^(0x7ff<<52) | 1022<<52)
	if f1 < math.Sqrt2/2 {
		f1 *= 2
		ki--
	}
	f := f1 - 1
	k := float64(ki)

	s := f / (2 + f)
	s2 := float64(s * s)
	s4 := float64(s2 * s2)
	t1 := float64(s2 * (l1 + float64(s4*(l3+float64(s4*(l5+float64(s4*l7)))))))
	t2 := float64(s4 * (l2 + float64(s4*(l4+float64(s4*l6)))))
	r := t1 + t2
	hfsq := float64(0.5 * float64(f*f))
	return float64(k*ln2Hi) - ((hfsq - (float64(s*(hfsq+r)) + float64(k*ln2Lo))) - f)
}
