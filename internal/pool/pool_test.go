package pool

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/testutil"
)

// waitLimit bounds every wait in these tests so that a bug shows up as a
// failure rather than a hang. It is never an assertion on speed.
const waitLimit = 10 * time.Second

var errNew = errors.New("new failed")

// inst is the instance type the tests pool.
type inst struct {
	id        int64
	destroyed atomic.Int32
	inUse     atomic.Bool
}

// tracker supplies New and Destroy and records what the pool did with them.
type tracker struct {
	nextID    atomic.Int64
	live      atomic.Int64
	maxLive   atomic.Int64
	news      atomic.Int64 // successful New calls
	destroys  atomic.Int64
	doubles   atomic.Int64 // instances destroyed more than once
	failNext  atomic.Int64 // fail this many upcoming New calls
	failEvery int64        // if > 0, fail every failEvery-th New call
	calls     atomic.Int64

	mu  sync.Mutex
	all []*inst
}

func (tr *tracker) new(ctx context.Context) (*inst, error) {
	n := tr.calls.Add(1)
	if tr.failNext.Load() > 0 && tr.failNext.Add(-1) >= 0 {
		return nil, errNew
	}
	if tr.failEvery > 0 && n%tr.failEvery == 0 {
		return nil, errNew
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	v := &inst{id: tr.nextID.Add(1)}
	live := tr.live.Add(1)
	for {
		m := tr.maxLive.Load()
		if live <= m || tr.maxLive.CompareAndSwap(m, live) {
			break
		}
	}
	tr.news.Add(1)
	tr.mu.Lock()
	tr.all = append(tr.all, v)
	tr.mu.Unlock()
	return v, nil
}

func (tr *tracker) destroy(v *inst) {
	if v.destroyed.Add(1) > 1 {
		tr.doubles.Add(1)
		return
	}
	tr.live.Add(-1)
	tr.destroys.Add(1)
}

// checkAllDestroyedOnce fails unless every instance New made was destroyed
// exactly once.
func (tr *tracker) checkAllDestroyedOnce(t *testing.T) {
	t.Helper()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, v := range tr.all {
		if n := v.destroyed.Load(); n != 1 {
			t.Errorf("instance %d destroyed %d times, want 1", v.id, n)
		}
	}
	if d := tr.doubles.Load(); d != 0 {
		t.Errorf("%d double destroys", d)
	}
	if n, d := tr.news.Load(), tr.destroys.Load(); n != d {
		t.Errorf("created %d, destroyed %d", n, d)
	}
	if l := tr.live.Load(); l != 0 {
		t.Errorf("live = %d after close, want 0", l)
	}
}

func newPool(tr *tracker, minN, maxN, queue int) *Pool[*inst] {
	return New(Config[*inst]{
		Min: minN, Max: maxN, Queue: queue,
		New:     tr.new,
		Destroy: tr.destroy,
	})
}

// closePool closes p with a generous deadline and fails on error.
func closePool(t *testing.T, p *Pool[*inst]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func mustGet(t *testing.T, p *Pool[*inst]) *inst {
	t.Helper()
	v, err := p.Get(context.Background())
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if v == nil {
		t.Fatal("Get returned nil instance without error")
	}
	return v
}

type result struct {
	v   *inst
	err error
}

// goGet runs Get on its own goroutine and reports on the returned channel.
func goGet(ctx context.Context, p *Pool[*inst]) <-chan result {
	ch := make(chan result, 1)
	go func() {
		v, err := p.Get(ctx)
		ch <- result{v, err}
	}()
	return ch
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(waitLimit):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// startWaiters starts n Gets that must block, and returns once the pool
// reports them all waiting.
func startWaiters(t *testing.T, ctx context.Context, p *Pool[*inst], n int) []<-chan result {
	t.Helper()
	chs := make([]<-chan result, n)
	base := p.Stats().Waiting
	for i := range chs {
		chs[i] = goGet(ctx, p)
	}
	testutil.Eventually(t, waitLimit, fmt.Sprintf("%d waiters", base+n), func() bool { return p.Stats().Waiting == base+n })
	return chs
}

func TestNewClampsAndFillCreatesMin(t *testing.T) {
	tests := []struct {
		name          string
		minN, maxN    int
		wantCreated   int
		wantMaxPooled int // how many instances Get can hold at once
	}{
		{"zero config", 0, 0, 0, 1},
		{"negative min", -3, 2, 0, 2},
		{"min below max", 2, 4, 2, 4},
		{"min equals max", 3, 3, 3, 3},
		{"min above max is clamped", 5, 3, 3, 3},
		{"negative max", 1, -1, 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := &tracker{}
			p := newPool(tr, tc.minN, tc.maxN, 0)
			if err := p.Fill(context.Background()); err != nil {
				t.Fatalf("Fill: %v", err)
			}
			st := p.Stats()
			if int(tr.news.Load()) != tc.wantCreated || st.Created != uint64(tc.wantCreated) ||
				st.Idle != tc.wantCreated || st.Busy != 0 {
				t.Fatalf("after Fill: news=%d stats=%+v, want %d idle instances", tr.news.Load(), st, tc.wantCreated)
			}
			// Fill is a no-op once Min exist.
			if err := p.Fill(context.Background()); err != nil {
				t.Fatalf("second Fill: %v", err)
			}
			if got := int(tr.news.Load()); got != tc.wantCreated {
				t.Fatalf("second Fill created more: %d", got)
			}
			// Max is what Get can hold before ErrQueueFull (Queue is 0).
			var held []*inst
			for range tc.wantMaxPooled {
				held = append(held, mustGet(t, p))
			}
			if _, err := p.Get(context.Background()); !errors.Is(err, ErrQueueFull) {
				t.Fatalf("Get past Max: err = %v, want ErrQueueFull", err)
			}
			for _, v := range held {
				p.Put(v)
			}
			closePool(t, p)
			tr.checkAllDestroyedOnce(t)
		})
	}
}

func TestFillError(t *testing.T) {
	tr := &tracker{}
	p := newPool(tr, 3, 3, 0)
	// The first New succeeds, the second fails.
	var calls atomic.Int64
	p.cfg.New = func(ctx context.Context) (*inst, error) {
		if calls.Add(1) == 2 {
			return nil, errNew
		}
		return tr.new(ctx)
	}
	if err := p.Fill(context.Background()); !errors.Is(err, errNew) {
		t.Fatalf("Fill: err = %v, want %v", err, errNew)
	}
	if st := p.Stats(); st.Idle != 1 || st.Busy != 0 || st.Created != 1 {
		t.Fatalf("after failed Fill: %+v, want 1 idle, 0 busy, 1 created", st)
	}
	// The failed slot was released: a retry fills up to Min.
	if err := p.Fill(context.Background()); err != nil {
		t.Fatalf("retry Fill: %v", err)
	}
	if st := p.Stats(); st.Idle != 3 || st.Busy != 0 || st.Created != 3 {
		t.Fatalf("after retry Fill: %+v, want 3 idle", st)
	}
	closePool(t, p)
	tr.checkAllDestroyedOnce(t)
}

func TestGetReusesIdleBeforeCreating(t *testing.T) {
	tr := &tracker{}
	p := newPool(tr, 1, 3, 0)
	if err := p.Fill(context.Background()); err != nil {
		t.Fatal(err)
	}
	a := mustGet(t, p)
	if a.id != 1 || tr.news.Load() != 1 {
		t.Fatalf("Get did not reuse the filled instance: id=%d news=%d", a.id, tr.news.Load())
	}
	// Nothing idle: Get creates.
	b := mustGet(t, p)
	if b.id != 2 || tr.news.Load() != 2 {
		t.Fatalf("second Get: id=%d news=%d, want a fresh instance 2", b.id, tr.news.Load())
	}
	p.Put(a)
	// a is idle again: Get returns it rather than creating.
	for range 5 {
		c := mustGet(t, p)
		if c != a {
			t.Fatalf("Get returned instance %d, want idle instance %d", c.id, a.id)
		}
		p.Put(c)
	}
	if n := tr.news.Load(); n != 2 {
		t.Fatalf("news = %d, want 2", n)
	}
	// Both idle: two Gets take both without creating.
	p.Put(b)
	x, y := mustGet(t, p), mustGet(t, p)
	if x == y || (x != a && x != b) || (y != a && y != b) {
		t.Fatalf("Gets returned %d and %d, want the idle 1 and 2", x.id, y.id)
	}
	if n := tr.news.Load(); n != 2 {
		t.Fatalf("news = %d, want 2", n)
	}
	p.Put(x)
	p.Put(y)
	closePool(t, p)
	tr.checkAllDestroyedOnce(t)
}

// Get hands out the most recently used idle instance: with three idle,
// sequential calls meet the same one every time (a FIFO would rotate
// through all three), and the others stay untouched.
func TestGetMostRecentlyUsedFirst(t *testing.T) {
	tr := &tracker{}
	p := newPool(tr, 0, 3, 0)
	held := []*inst{mustGet(t, p), mustGet(t, p), mustGet(t, p)}
	for _, v := range held {
		p.Put(v) // 3 is the most recently used
	}
	last := held[2]
	for i := range 10 {
		v := mustGet(t, p)
		if v != last {
			t.Fatalf("sequential call %d got instance %d, want %d, the most recently used", i, v.id, last.id)
		}
		p.Put(v)
	}
	// Two calls at once take the two most recent, and the one put back
	// last is handed out next.
	x, y := mustGet(t, p), mustGet(t, p)
	if x != held[2] || y != held[1] {
		t.Fatalf("concurrent calls got %d and %d, want 3 and 2", x.id, y.id)
	}
	p.Put(y)
	p.Put(x)
	if v := mustGet(t, p); v != x {
		t.Fatalf("after putting back 2 then 3, Get returned %d, want 3", v.id)
	} else {
		p.Put(v)
	}
	if n := tr.news.Load(); n != 3 {
		t.Fatalf("news = %d, want 3", n)
	}
	closePool(t, p)
	tr.checkAllDestroyedOnce(t)
}

func TestQueueFull(t *testing.T) {
	tests := []struct {
		name  string
		queue int
	}{
		{"no queue", 0},
		{"queue of one", 1},
		{"queue of two", 2},
		{"queue of five", 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := &tracker{}
			p := newPool(tr, 0, 1, tc.queue)
			held := mustGet(t, p)
			waiters := startWaiters(t, context.Background(), p, tc.queue)

			// The queue is full: the next Get fails at once, without
			// waiting and without changing the count of waiters.
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			_, err := p.Get(ctx)
			if !errors.Is(err, ErrQueueFull) {
				t.Fatalf("Get with full queue: err = %v, want ErrQueueFull", err)
			}
			if ctx.Err() != nil {
				t.Fatal("Get waited for its context instead of failing at once")
			}
			if st := p.Stats(); st.Waiting != tc.queue || st.Busy != 1 {
				t.Fatalf("stats after refusal: %+v", st)
			}

			// Hand the one instance along the queue.
			p.Put(held)
			for range tc.queue {
				r := recvAny(t, waiters, &waiters)
				if r.err != nil || r.v != held {
					t.Fatalf("waiter got %v, %v; want the put-back instance", r.v, r.err)
				}
				p.Put(r.v)
			}
			if st := p.Stats(); st.Waiting != 0 || st.Created != 1 {
				t.Fatalf("final stats: %+v", st)
			}
			closePool(t, p)
			tr.checkAllDestroyedOnce(t)
		})
	}
}

// recvAny waits for whichever of chs reports first and removes it from *rest.
func recvAny(t *testing.T, chs []<-chan result, rest *[]<-chan result) result {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for time.Now().Before(deadline) {
		for i, ch := range chs {
			select {
			case r := <-ch:
				*rest = append(chs[:i:i], chs[i+1:]...)
				return r
			default:
			}
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("timed out waiting for a waiter")
	return result{}
}

func TestQueueFullMaxOneQueueTwo(t *testing.T) {
	tr := &tracker{}
	p := newPool(tr, 0, 1, 2)
	held := mustGet(t, p)
	w := startWaiters(t, context.Background(), p, 2)
	if st := p.Stats(); st.Waiting != 2 {
		t.Fatalf("Waiting = %d, want 2", st.Waiting)
	}
	if _, err := p.Get(context.Background()); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("third Get: err = %v, want ErrQueueFull", err)
	}
	if st := p.Stats(); st.Waiting != 2 {
		t.Fatalf("Waiting after refusal = %d, want 2", st.Waiting)
	}
	// Discard the held instance and put back the next: both waiters are served.
	p.Discard(held)
	r := recvAny(t, w, &w)
	if r.err != nil {
		t.Fatalf("first waiter: %v", r.err)
	}
	p.Put(r.v)
	r2 := recv(t, w[0], "second waiter")
	if r2.err != nil || r2.v != r.v {
		t.Fatalf("second waiter got %v, %v; want %v", r2.v, r2.err, r.v)
	}
	p.Put(r2.v)
	closePool(t, p)
	tr.checkAllDestroyedOnce(t)
}

func TestWaiterServed(t *testing.T) {
	tests := []struct {
		name        string
		release     func(p *Pool[*inst], v *inst)
		wantSame    bool // the waiter gets the released instance itself
		wantCreated uint64
		wantDiscard uint64
	}{
		{"Put hands the instance over", func(p *Pool[*inst], v *inst) { p.Put(v) }, true, 1, 0},
		{"Discard frees a slot for a new one", func(p *Pool[*inst], v *inst) { p.Discard(v) }, false, 2, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := &tracker{}
			p := newPool(tr, 0, 1, 1)
			held := mustGet(t, p)
			w := startWaiters(t, context.Background(), p, 1)[0]
			select {
			case r := <-w:
				t.Fatalf("waiter returned before release: %v, %v", r.v, r.err)
			default:
			}
			tc.release(p, held)
			r := recv(t, w, "waiter")
			if r.err != nil {
				t.Fatalf("waiter: %v", r.err)
			}
			if (r.v == held) != tc.wantSame {
				t.Fatalf("waiter got instance %d (held was %d), wantSame=%v", r.v.id, held.id, tc.wantSame)
			}
			if !tc.wantSame && held.destroyed.Load() != 1 {
				t.Fatal("discarded instance was not destroyed")
			}
			st := p.Stats()
			if st.Waiting != 0 || st.Busy != 1 || st.Idle != 0 || st.Created != tc.wantCreated || st.Discarded != tc.wantDiscard {
				t.Fatalf("stats: %+v", st)
			}
			p.Put(r.v)
			closePool(t, p)
			tr.checkAllDestroyedOnce(t)
		})
	}
}

func TestWaitContextEnds(t *testing.T) {
	tests := []struct {
		name    string
		ctx     func() (context.Context, context.CancelFunc)
		end     func(cancel context.CancelFunc) // ends ctx while waiting, if non-nil
		wantErr error
	}{
		{
			name:    "cancelled",
			ctx:     func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			end:     func(cancel context.CancelFunc) { cancel() },
			wantErr: context.Canceled,
		},
		{
			name: "deadline",
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 20*time.Millisecond)
			},
			wantErr: context.DeadlineExceeded,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := &tracker{}
			p := newPool(tr, 0, 1, 3)
			held := mustGet(t, p)
			// A second waiter with a long-lived context stays queued.
			other := startWaiters(t, context.Background(), p, 1)[0]
			ctx, cancel := tc.ctx()
			defer cancel()
			w := goGet(ctx, p)
			if tc.end != nil {
				testutil.Eventually(t, waitLimit, "2 waiters", func() bool { return p.Stats().Waiting == 2 })
				tc.end(cancel)
			}
			r := recv(t, w, "cancelled waiter")
			if !errors.Is(r.err, tc.wantErr) || r.v != nil {
				t.Fatalf("Get = %v, %v; want nil, %v", r.v, r.err, tc.wantErr)
			}
			testutil.Eventually(t, waitLimit, "Waiting back to 1", func() bool { return p.Stats().Waiting == 1 })
			// The remaining waiter is unaffected and still served.
			p.Put(held)
			r = recv(t, other, "other waiter")
			if r.err != nil || r.v != held {
				t.Fatalf("other waiter: %v, %v", r.v, r.err)
			}
			if st := p.Stats(); st.Waiting != 0 {
				t.Fatalf("Waiting = %d, want 0", st.Waiting)
			}
			p.Put(r.v)
			closePool(t, p)
			tr.checkAllDestroyedOnce(t)
		})
	}
}

func TestNewFailureReleasesSlot(t *testing.T) {
	t.Run("direct", func(t *testing.T) {
		tr := &tracker{}
		p := newPool(tr, 0, 1, 0)
		tr.failNext.Store(1)
		v, err := p.Get(context.Background())
		if !errors.Is(err, errNew) || v != nil {
			t.Fatalf("Get = %v, %v; want nil, %v", v, err, errNew)
		}
		if st := p.Stats(); st != (Stats{}) {
			t.Fatalf("stats after failed New: %+v, want zero", st)
		}
		// The slot is free again: Get creates (Max is 1, so a leaked slot
		// would make this fail with ErrQueueFull).
		v = mustGet(t, p)
		if st := p.Stats(); st.Busy != 1 || st.Created != 1 {
			t.Fatalf("stats: %+v", st)
		}
		p.Put(v)
		closePool(t, p)
		tr.checkAllDestroyedOnce(t)
	})
	t.Run("waiter", func(t *testing.T) {
		tr := &tracker{}
		p := newPool(tr, 0, 1, 1)
		held := mustGet(t, p)
		w := startWaiters(t, context.Background(), p, 1)[0]
		tr.failNext.Store(1)
		p.Discard(held) // the waiter takes the slot and its New fails
		r := recv(t, w, "waiter")
		if !errors.Is(r.err, errNew) {
			t.Fatalf("waiter err = %v, want %v", r.err, errNew)
		}
		if st := p.Stats(); st.Busy != 0 || st.Idle != 0 || st.Waiting != 0 || st.Created != 1 || st.Discarded != 1 {
			t.Fatalf("stats: %+v", st)
		}
		v := mustGet(t, p)
		p.Put(v)
		closePool(t, p)
		tr.checkAllDestroyedOnce(t)
	})
	t.Run("context passed to New", func(t *testing.T) {
		tr := &tracker{}
		p := newPool(tr, 0, 1, 0)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := p.Get(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Get with cancelled ctx: err = %v", err)
		}
		if st := p.Stats(); st.Busy != 0 {
			t.Fatalf("slot leaked: %+v", st)
		}
		closePool(t, p)
	})
}

func TestShrink(t *testing.T) {
	tests := []struct {
		name          string
		minN, maxN    int
		busy          int // held across Shrink
		old, fresh    int // idle instances used before / after the cutoff
		wantDestroyed int
	}{
		{"all old above min", 1, 4, 0, 4, 0, 3},
		{"only down to min", 2, 5, 0, 5, 0, 3},
		{"min equals idle", 3, 3, 0, 3, 0, 0},
		{"min zero drains idle", 0, 3, 0, 3, 0, 3},
		{"busy count toward min", 2, 4, 1, 3, 0, 2},
		{"busy alone reach min", 1, 4, 2, 2, 0, 2},
		{"fresh are kept", 0, 6, 0, 3, 3, 3},
		{"fresh kept and min respected", 4, 6, 0, 3, 3, 2},
		{"nothing idle", 1, 3, 3, 0, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := &tracker{}
			p := newPool(tr, tc.minN, tc.maxN, 0)
			var got []*inst
			for range tc.busy + tc.old + tc.fresh {
				got = append(got, mustGet(t, p))
			}
			busy, old, fresh := got[:tc.busy], got[tc.busy:tc.busy+tc.old], got[tc.busy+tc.old:]
			for _, v := range old {
				p.Put(v)
			}
			// A long idleFor destroys nothing.
			p.Shrink(time.Hour)
			if d := tr.destroys.Load(); d != 0 {
				t.Fatalf("Shrink(1h) destroyed %d", d)
			}
			time.Sleep(5 * time.Millisecond)
			mid := time.Now()
			time.Sleep(50 * time.Millisecond)
			for _, v := range fresh {
				p.Put(v)
			}
			// The cutoff lands at or just after mid: every old entry is
			// before it, every fresh one after it.
			p.Shrink(time.Since(mid))
			if d := int(tr.destroys.Load()); d != tc.wantDestroyed {
				t.Fatalf("destroyed %d, want %d", d, tc.wantDestroyed)
			}
			for _, v := range fresh {
				if v.destroyed.Load() != 0 {
					t.Fatalf("fresh instance %d destroyed", v.id)
				}
			}
			for _, v := range busy {
				if v.destroyed.Load() != 0 {
					t.Fatalf("busy instance %d destroyed", v.id)
				}
			}
			live := tc.busy + tc.old + tc.fresh - tc.wantDestroyed
			if live < tc.minN && tc.wantDestroyed > 0 {
				t.Fatalf("shrunk below Min: %d live", live)
			}
			st := p.Stats()
			if st.Busy != tc.busy || st.Idle != live-tc.busy || st.Discarded != 0 {
				t.Fatalf("stats: %+v, want busy %d idle %d", st, tc.busy, live-tc.busy)
			}
			// The survivors are still usable and Get creates again once
			// capacity was freed.
			var again []*inst
			for range tc.maxN - tc.busy {
				v := mustGet(t, p)
				if v.destroyed.Load() != 0 {
					t.Fatalf("Get returned destroyed instance %d", v.id)
				}
				again = append(again, v)
			}
			for _, v := range append(again, busy...) {
				p.Put(v)
			}
			closePool(t, p)
			tr.checkAllDestroyedOnce(t)
		})
	}
}

func TestStats(t *testing.T) {
	tr := &tracker{}
	p := newPool(tr, 1, 3, 2)
	var held []*inst
	pop := func() *inst { v := held[len(held)-1]; held = held[:len(held)-1]; return v }
	steps := []struct {
		name string
		do   func(t *testing.T)
		want Stats
	}{
		{"new pool", func(*testing.T) {}, Stats{}},
		{"fill", func(t *testing.T) {
			if err := p.Fill(context.Background()); err != nil {
				t.Fatal(err)
			}
		}, Stats{Idle: 1, Created: 1}},
		{"get idle", func(t *testing.T) { held = append(held, mustGet(t, p)) }, Stats{Busy: 1, Created: 1}},
		{"get new", func(t *testing.T) { held = append(held, mustGet(t, p)) }, Stats{Busy: 2, Created: 2}},
		{"get new again", func(t *testing.T) { held = append(held, mustGet(t, p)) }, Stats{Busy: 3, Created: 3}},
		{"put one", func(*testing.T) { p.Put(pop()) }, Stats{Busy: 2, Idle: 1, Created: 3}},
		{"discard one", func(*testing.T) { p.Discard(pop()) }, Stats{Busy: 1, Idle: 1, Created: 3, Discarded: 1}},
		{"get replaces", func(t *testing.T) {
			held = append(held, mustGet(t, p), mustGet(t, p))
		}, Stats{Busy: 3, Created: 4, Discarded: 1}},
		{"failed new changes nothing", func(t *testing.T) {
			p.Discard(pop())
			tr.failNext.Store(1)
			if _, err := p.Get(context.Background()); !errors.Is(err, errNew) {
				t.Fatalf("err = %v", err)
			}
		}, Stats{Busy: 2, Created: 4, Discarded: 2}},
		{"put all", func(*testing.T) {
			for len(held) > 0 {
				p.Put(pop())
			}
		}, Stats{Idle: 2, Created: 4, Discarded: 2}},
		{"shrink to min", func(*testing.T) {
			time.Sleep(2 * time.Millisecond)
			p.Shrink(time.Nanosecond)
		}, Stats{Idle: 1, Created: 4, Discarded: 2}},
		{"close", func(t *testing.T) { closePool(t, p) }, Stats{Created: 4, Discarded: 2}},
	}
	for _, s := range steps {
		s.do(t)
		if got := p.Stats(); got != s.want {
			t.Fatalf("after %q: stats = %+v, want %+v", s.name, got, s.want)
		}
	}
	tr.checkAllDestroyedOnce(t)
}

func TestStatsWaiting(t *testing.T) {
	tr := &tracker{}
	p := newPool(tr, 0, 2, 3)
	a, b := mustGet(t, p), mustGet(t, p)
	w := startWaiters(t, context.Background(), p, 3)
	if st := p.Stats(); st != (Stats{Busy: 2, Waiting: 3, Created: 2}) {
		t.Fatalf("stats: %+v", st)
	}
	p.Put(a)
	p.Put(b)
	for len(w) > 0 {
		r := recvAny(t, w, &w)
		if r.err != nil {
			t.Fatal(r.err)
		}
		p.Put(r.v)
	}
	if st := p.Stats(); st != (Stats{Idle: 2, Created: 2}) {
		t.Fatalf("stats: %+v", st)
	}
	closePool(t, p)
	tr.checkAllDestroyedOnce(t)
}

func TestCloseDestroysIdleAtOnce(t *testing.T) {
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{"background", func() (context.Context, context.CancelFunc) { return context.Background(), func() {} }},
		{"already cancelled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := &tracker{}
			p := newPool(tr, 4, 4, 0)
			if err := p.Fill(context.Background()); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := tc.ctx()
			defer cancel()
			if err := p.Close(ctx); err != nil {
				t.Fatalf("Close with only idle instances: %v", err)
			}
			if d := tr.destroys.Load(); d != 4 {
				t.Fatalf("destroyed %d, want 4", d)
			}
			if st := p.Stats(); st != (Stats{Created: 4}) {
				t.Fatalf("stats: %+v", st)
			}
			if v, err := p.Get(context.Background()); !errors.Is(err, ErrClosed) || v != nil {
				t.Fatalf("Get after Close = %v, %v; want ErrClosed", v, err)
			}
			tr.checkAllDestroyedOnce(t)
		})
	}
}

func TestCloseWaitsForBusy(t *testing.T) {
	tr := &tracker{}
	p := newPool(tr, 0, 3, 1)
	busy := mustGet(t, p)
	idle := mustGet(t, p)
	p.Put(idle)

	closed := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		closed <- p.Close(ctx)
	}()
	// Close destroys the idle instance without waiting for the busy one.
	testutil.Eventually(t, waitLimit, "idle instance destroyed", func() bool { return idle.destroyed.Load() == 1 })
	if v, err := p.Get(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get during Close = %v, %v; want ErrClosed", v, err)
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned while an instance was busy: %v", err)
	default:
	}
	if st := p.Stats(); st.Busy != 1 || st.Idle != 0 {
		t.Fatalf("stats while closing: %+v", st)
	}
	// Putting the busy instance back destroys it rather than pooling it.
	p.Put(busy)
	if busy.destroyed.Load() != 1 {
		t.Fatal("instance put back during Close was not destroyed")
	}
	if err := recv(t, closed, "Close"); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if v, err := p.Get(context.Background()); !errors.Is(err, ErrClosed) || v != nil {
		t.Fatalf("Get after Close = %v, %v; want ErrClosed", v, err)
	}
	if st := p.Stats(); st != (Stats{Created: 2}) {
		t.Fatalf("stats: %+v", st)
	}
	tr.checkAllDestroyedOnce(t)
}

func TestCloseReleasesWaiters(t *testing.T) {
	tr := &tracker{}
	p := newPool(tr, 0, 1, 2)
	held := mustGet(t, p)
	w := startWaiters(t, context.Background(), p, 2)
	closed := make(chan error, 1)
	go func() { closed <- p.Close(context.Background()) }()
	for _, ch := range w {
		r := recv(t, ch, "waiter")
		if !errors.Is(r.err, ErrClosed) || r.v != nil {
			t.Fatalf("waiter = %v, %v; want ErrClosed", r.v, r.err)
		}
	}
	testutil.Eventually(t, waitLimit, "no waiters", func() bool { return p.Stats().Waiting == 0 })
	p.Put(held)
	if err := recv(t, closed, "Close"); err != nil {
		t.Fatalf("Close: %v", err)
	}
	tr.checkAllDestroyedOnce(t)
}

func TestCloseContextEnds(t *testing.T) {
	tests := []struct {
		name    string
		ctx     func() (context.Context, context.CancelFunc)
		wantErr error
	}{
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 20*time.Millisecond)
		}, context.DeadlineExceeded},
		{"cancelled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, context.Canceled},
		{"cause", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancelCause(context.Background())
			cancel(errShutdown)
			return ctx, func() {}
		}, errShutdown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := &tracker{}
			p := newPool(tr, 0, 4, 0)
			b1, b2 := mustGet(t, p), mustGet(t, p)
			idle := mustGet(t, p)
			p.Put(idle)
			ctx, cancel := tc.ctx()
			defer cancel()
			err := p.Close(ctx)
			if err == nil || !strings.Contains(err.Error(), "still busy") || !errors.Is(err, tc.wantErr) {
				t.Fatalf("Close = %v; want a %q error wrapping %v", err, "still busy", tc.wantErr)
			}
			if !strings.Contains(err.Error(), "2 instances") {
				t.Errorf("Close error %q does not count the 2 busy instances", err)
			}
			if idle.destroyed.Load() != 1 {
				t.Fatal("idle instance not destroyed by Close")
			}
			if _, err := p.Get(context.Background()); !errors.Is(err, ErrClosed) {
				t.Fatalf("Get after Close: err = %v, want ErrClosed", err)
			}
			// Put after Close destroys; Discard after Close destroys too.
			p.Put(b1)
			if b1.destroyed.Load() != 1 {
				t.Fatal("Put after Close did not destroy")
			}
			p.Discard(b2)
			if b2.destroyed.Load() != 1 {
				t.Fatal("Discard after Close did not destroy")
			}
			// Close again: idempotent, and now succeeds.
			for range 2 {
				if err := p.Close(context.Background()); err != nil {
					t.Fatalf("repeated Close: %v", err)
				}
			}
			if st := p.Stats(); st != (Stats{Created: 3, Discarded: 1}) {
				t.Fatalf("stats: %+v", st)
			}
			tr.checkAllDestroyedOnce(t)
		})
	}
}

var errShutdown = errors.New("shutting down")

func TestCloseIdempotentAndAfterClose(t *testing.T) {
	tr := &tracker{}
	p := newPool(tr, 2, 3, 1)
	if err := p.Fill(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Concurrent Close calls all succeed and destroy each instance once.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() { errs <- p.Close(context.Background()) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	closePool(t, p)
	if _, err := p.Get(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close: err = %v", err)
	}
	if err := p.Fill(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Fill after Close: err = %v, want ErrClosed", err)
	}
	p.Shrink(0) // harmless after Close
	if st := p.Stats(); st != (Stats{Created: 2}) {
		t.Fatalf("stats: %+v", st)
	}
	tr.checkAllDestroyedOnce(t)
}

// TestHammer mixes Get, Put, Discard, Shrink and Stats from many goroutines
// and checks the pool never holds more than Max instances, never hands one
// instance to two callers, and destroys everything exactly once on Close.
func TestHammer(t *testing.T) {
	const (
		workers = 64
		ops     = 500
		minN    = 2
		maxN    = 8
		queue   = 40
	)
	tr := &tracker{failEvery: 97}
	p := newPool(tr, minN, maxN, queue)
	if err := p.Fill(context.Background()); err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Go(func() { // background maintenance and metrics
		for {
			select {
			case <-stop:
				return
			default:
			}
			p.Shrink(0)
			st := p.Stats()
			// Waiting may briefly exceed Queue: a caller about to get
			// ErrQueueFull counts itself before backing out.
			if st.Busy+st.Idle > maxN || st.Busy < 0 || st.Idle < 0 || st.Waiting < 0 || st.Waiting > workers {
				t.Errorf("impossible stats: %+v", st)
			}
			time.Sleep(100 * time.Microsecond)
		}
	})

	var gets, fulls, fails, timeouts, discards atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for range ops {
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				if rng.IntN(8) == 0 {
					ctx, cancel = context.WithTimeout(ctx, time.Duration(rng.IntN(200))*time.Microsecond)
				}
				v, err := p.Get(ctx)
				cancel()
				switch {
				case errors.Is(err, ErrQueueFull):
					fulls.Add(1)
					continue
				case errors.Is(err, errNew):
					fails.Add(1)
					continue
				case errors.Is(err, context.DeadlineExceeded):
					timeouts.Add(1)
					continue
				case err != nil:
					t.Errorf("Get: %v", err)
					return
				}
				gets.Add(1)
				if !v.inUse.CompareAndSwap(false, true) {
					t.Errorf("instance %d handed to two callers", v.id)
				}
				if v.destroyed.Load() != 0 {
					t.Errorf("Get returned destroyed instance %d", v.id)
				}
				if rng.IntN(4) == 0 {
					time.Sleep(time.Duration(rng.IntN(50)) * time.Microsecond)
				}
				v.inUse.Store(false)
				if rng.IntN(5) == 0 {
					discards.Add(1)
					p.Discard(v)
				} else {
					p.Put(v)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	bg.Wait()

	if m := tr.maxLive.Load(); m > maxN {
		t.Errorf("max live = %d, want ≤ %d", m, maxN)
	}
	st := p.Stats()
	if st.Busy != 0 || st.Waiting != 0 || st.Idle > maxN {
		t.Errorf("stats after traffic: %+v", st)
	}
	if st.Created != uint64(tr.news.Load()) || st.Discarded != uint64(discards.Load()) {
		t.Errorf("stats %+v vs news=%d discards=%d", st, tr.news.Load(), discards.Load())
	}
	closePool(t, p)
	tr.checkAllDestroyedOnce(t)
	t.Logf("gets=%d queueFull=%d newFailed=%d timeouts=%d discards=%d created=%d maxLive=%d",
		gets.Load(), fulls.Load(), fails.Load(), timeouts.Load(), discards.Load(), tr.news.Load(), tr.maxLive.Load())
}

// TestCloseDuringTraffic closes the pool while goroutines use it and checks
// every instance is still destroyed exactly once.
func TestCloseDuringTraffic(t *testing.T) {
	tr := &tracker{}
	p := newPool(tr, 2, 6, 16)
	if err := p.Fill(context.Background()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var served atomic.Int64
	for w := range 32 {
		wg.Go(func() {
			for i := 0; ; i++ {
				v, err := p.Get(context.Background())
				switch {
				case errors.Is(err, ErrClosed):
					return
				case errors.Is(err, ErrQueueFull):
					time.Sleep(10 * time.Microsecond)
					continue
				case err != nil:
					t.Errorf("Get: %v", err)
					return
				}
				served.Add(1)
				if (w+i)%7 == 0 {
					p.Discard(v)
				} else {
					p.Put(v)
				}
			}
		})
	}
	testutil.Eventually(t, waitLimit, "some traffic", func() bool { return served.Load() >= 1000 })
	closePool(t, p)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	recv(t, done, "workers to stop")
	if m := tr.maxLive.Load(); m > 6 {
		t.Errorf("max live = %d, want ≤ 6", m)
	}
	tr.checkAllDestroyedOnce(t)
}

func benchPool(b *testing.B) *Pool[*inst] {
	b.Helper()
	p := New(Config[*inst]{
		Min: 4, Max: 64, Queue: 1024,
		New:     func(context.Context) (*inst, error) { return &inst{}, nil },
		Destroy: func(*inst) {},
	})
	if err := p.Fill(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := p.Close(context.Background()); err != nil {
			b.Error(err)
		}
	})
	return p
}

func BenchmarkGetPut(b *testing.B) {
	p := benchPool(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		v, err := p.Get(ctx)
		if err != nil {
			b.Fatal(err)
		}
		p.Put(v)
	}
}

func BenchmarkGetPutParallel(b *testing.B) {
	p := benchPool(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			v, err := p.Get(ctx)
			if err != nil {
				b.Error(err)
				return
			}
			p.Put(v)
		}
	})
}

func TestDiscardRefillsToMin(t *testing.T) {
	tr := &tracker{}
	p := newPool(tr, 2, 4, 1)
	if err := p.Fill(context.Background()); err != nil {
		t.Fatal(err)
	}
	a, b := mustGet(t, p), mustGet(t, p)
	p.Discard(a)
	p.Discard(b)
	testutil.Eventually(t, waitLimit, "pool back at its minimum of 2 idle instances", func() bool { return p.Stats().Idle == 2 })
	if st := p.Stats(); st.Created != 4 || st.Discarded != 2 || st.Busy != 0 {
		t.Fatalf("stats = %+v, want 4 created, 2 discarded, none busy", st)
	}
	closePool(t, p)
	tr.checkAllDestroyedOnce(t)
}
