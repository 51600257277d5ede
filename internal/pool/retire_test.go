package pool

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/testutil"
)

// TestRetire: Retire and RetireIdle destroy the instances asked for, count
// them apart from discards, and the pool refills to Min in the background.
func TestRetire(t *testing.T) {
	tests := []struct {
		name        string
		retire      func(p *Pool[*inst], held *inst) int // returns how many it retired
		wantRetired uint64
		heldLives   bool
	}{
		{"Retire a busy instance", func(p *Pool[*inst], held *inst) int { p.Retire(held); return 1 }, 1, false},
		{"RetireIdle all", func(p *Pool[*inst], _ *inst) int { return p.RetireIdle(func(*inst) bool { return true }) }, 2, true},
		{"RetireIdle none", func(p *Pool[*inst], _ *inst) int { return p.RetireIdle(func(*inst) bool { return false }) }, 0, true},
		{"RetireIdle one by id", func(p *Pool[*inst], _ *inst) int { return p.RetireIdle(func(v *inst) bool { return v.id == 2 }) }, 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := &tracker{}
			p := newPool(tr, 3, 4, 0)
			if err := p.Fill(context.Background()); err != nil {
				t.Fatal(err)
			}
			held := mustGet(t, p) // id 1; ids 2 and 3 stay idle
			if n := tc.retire(p, held); uint64(n) != tc.wantRetired {
				t.Errorf("retired %d, want %d", n, tc.wantRetired)
			}
			if d := tr.destroys.Load(); uint64(d) != tc.wantRetired {
				t.Errorf("%d destroyed, want %d", d, tc.wantRetired)
			}
			if tc.heldLives {
				p.Put(held)
			}
			testutil.Eventually(t, waitLimit, "the pool back at Min", func() bool { return p.Stats().Idle == 3 })
			if st := p.Stats(); st.Retired != tc.wantRetired || st.Discarded != 0 || st.Created != 3+tc.wantRetired {
				t.Errorf("stats %+v, want %d retired, 0 discarded, %d created", st, tc.wantRetired, 3+tc.wantRetired)
			}
			closePool(t, p)
			tr.checkAllDestroyedOnce(t)
		})
	}
}

// TestGetWithin: the wait bound passed to GetWithin replaces MaxWait.
func TestGetWithin(t *testing.T) {
	tr := &tracker{}
	p := New(Config[*inst]{Max: 1, Queue: 1, MaxWait: time.Hour, New: tr.new, Destroy: tr.destroy})
	held := mustGet(t, p)
	_, err := p.GetWithin(context.Background(), time.Millisecond)
	if !errors.Is(err, ErrWaitTimeout) {
		t.Fatalf("GetWithin(1ms) with the only instance held: %v, want ErrWaitTimeout", err)
	}
	p.Put(held)
	v, err := p.GetWithin(context.Background(), time.Millisecond)
	if err != nil || v != held {
		t.Fatalf("GetWithin with an idle instance: %v, %v", v, err)
	}
	p.Put(v)
	closePool(t, p)
	tr.checkAllDestroyedOnce(t)
}
