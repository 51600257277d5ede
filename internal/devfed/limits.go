package devfed

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of the registration limits (Options): the attack review's flood
// was 300 registrations in 5 s from one address.
const (
	// DefaultRegisterRate is the registrations one client address may make
	// per second, sustained, after a burst of DefaultRegisterBurst: a host
	// starting a few dozen neurons at once is served, a flood is not.
	DefaultRegisterRate  = 1.0
	DefaultRegisterBurst = 30
	// DefaultMaxNeurons bounds the neuron records: a new id past it is
	// refused until records expire (Options.NeuronExpiry).
	DefaultMaxNeurons = 10000
	// DefaultNeuronExpiry: a neuron offline this long is forgotten, with
	// its telemetry.
	DefaultNeuronExpiry = 7 * 24 * time.Hour
)

// maxRegistrationBytes bounds a registration's body, which is kept for as
// long as the neuron is (a real one is a few KiB).
const maxRegistrationBytes = 64 << 10

// maxLimiters bounds the per-address limiters kept: past it, those that
// have refilled (as good as new) are dropped, and if none has, addresses
// not yet seen share one limiter until some refill.
const maxLimiters = 10000

// codeTooMany is the code of a 429; codeFull of a registration refused for
// lack of room.
const (
	codeTooMany = "too_many_requests"
	codeFull    = "too_many_neurons"
)

// registerLimits holds a token bucket per client address for
// registrations.
type registerLimits struct {
	limit    rate.Limit
	burst    int
	mu       sync.Mutex
	byAddr   map[string]*rate.Limiter
	overflow *rate.Limiter // shared by new addresses while byAddr is full
}

func newRegisterLimits(perSecond float64, burst int) *registerLimits {
	return &registerLimits{limit: rate.Limit(perSecond), burst: burst, byAddr: map[string]*rate.Limiter{},
		overflow: rate.NewLimiter(rate.Limit(perSecond), burst)}
}

// allow takes one registration from addr's bucket at now; when it is
// empty it returns how long until one is available.
func (l *registerLimits) allow(addr string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.byAddr[addr]
	if lim == nil {
		if len(l.byAddr) >= maxLimiters {
			l.dropRefilled(now)
		}
		if len(l.byAddr) >= maxLimiters {
			lim = l.overflow
		} else {
			lim = rate.NewLimiter(l.limit, l.burst)
			l.byAddr[addr] = lim
		}
	}
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// dropRefilled forgets the limiters whose bucket is full again.
func (l *registerLimits) dropRefilled(now time.Time) {
	for addr, lim := range l.byAddr {
		if lim.TokensAt(now) >= float64(l.burst) {
			delete(l.byAddr, addr)
		}
	}
}

// tooMany is the 429 of a registration over the limit, with Retry-After
// (whole seconds, at least 1).
func tooMany(w http.ResponseWriter, addr string, wait time.Duration, perSecond float64, burst int) error {
	secs := int(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	return &apiError{Status: http.StatusTooManyRequests, Code: codeTooMany, Msg: fmt.Sprintf(
		"too many registrations from %s: at most %d at once, then %g per second; retry after %d s "+
			"(a neuron registers once at start and again only when refused or changed)", addr, burst, perSecond, max(secs, 1))}
}
