package devfed

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/empirefederation/neuron/internal/devfed/store"
)

// updatePath is the neuron's endpoint a push goes to, under its baseUrl.
const updatePath = "/api/neuron/update-config"

// maxAnswerBytes bounds what the federation reads of a push answer.
const maxAnswerBytes = 1 << 20

// pusher serializes the pushes to one neuron: a change while a push is in
// flight makes one more push of the then effective update, never two at
// once.
type pusher struct {
	running, dirty bool
	waiters        []chan struct{}
}

// push schedules a push of neuron id's effective update and returns a
// channel closed when a push begun after the call has finished (at once
// once Close has begun).
func (s *Server) push(id string) <-chan struct{} {
	done := make(chan struct{})
	s.pmu.Lock()
	defer s.pmu.Unlock()
	if s.closing {
		close(done)
		return done
	}
	p := s.pushers[id]
	if p == nil {
		p = &pusher{}
		s.pushers[id] = p
	}
	p.dirty = true
	p.waiters = append(p.waiters, done)
	if !p.running {
		p.running = true
		s.pushes.Add(1)
		go s.pushLoop(id, p)
	}
	return done
}

// pushLoop pushes while p is dirty, then ends.
func (s *Server) pushLoop(id string, p *pusher) {
	defer s.pushes.Done()
	for {
		s.pmu.Lock()
		waiters := p.waiters
		p.waiters = nil
		if !p.dirty || s.closing {
			p.running = false
			delete(s.pushers, id)
			s.pmu.Unlock()
			closeAll(waiters)
			return
		}
		p.dirty = false
		s.pmu.Unlock()
		more := s.pushOnce(id)
		closeAll(waiters)
		if more {
			s.pmu.Lock()
			p.dirty = true
			s.pmu.Unlock()
		}
	}
}

func closeAll(chs []chan struct{}) {
	for _, c := range chs {
		close(c)
	}
}

// waitAll waits until every channel is closed or ctx ends.
func waitAll(ctx context.Context, chs []<-chan struct{}) {
	for _, c := range chs {
		select {
		case <-c:
		case <-ctx.Done():
			return
		}
	}
}

// pushAnswer is what a neuron's update-config answers: 200 with data
// (internal/control's Result), or 422 with reasons.
type pushAnswer struct {
	Data struct {
		Applied       bool            `json:"applied"`
		Unchanged     bool            `json:"unchanged"`
		ConfigVersion string          `json:"configVersion"`
		Command       json.RawMessage `json:"command"`
	} `json:"data"`
	Error   string   `json:"error"`
	Reasons []string `json:"reasons"`
}

// pushOnce pushes neuron id's effective update to its update-config and
// records the outcome. It reports whether to push again: a command was
// resolved and another one waits.
func (s *Server) pushOnce(id string) (more bool) {
	ctx := context.Background()
	var n store.Neuron
	var e effective
	skip := false
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		var found bool
		var err error
		if n, found, err = tx.Neuron(id); err != nil {
			return err
		}
		// Without a baseUrl or while offline, deliveries stay pending with
		// the detail set when they were made: the neuron's poll gets them.
		if skip = !found || n.BaseURL == "" || s.status(n, s.now()) == statusOffline; skip {
			return nil
		}
		if e, err = effectiveUpdate(tx, n); err != nil {
			return err
		}
		if skip = e.empty(); skip {
			return nil
		}
		return markServed(tx, n, e, false, s.now())
	})
	if err != nil {
		s.log.Error("push not attempted", "neuron", id, "err", err)
		return false
	}
	if skip {
		return false
	}
	status, answer, perr := s.send(n, e)
	outcome := pushOutcome(status, answer, perr, e.Update.Version)
	s.metrics.pushes.WithLabelValues(outcome).Inc()
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		var err error
		more, err = s.recordPush(tx, n, e, outcome, status, answer, perr)
		return err
	})
	if err != nil {
		s.log.Error("push outcome not recorded", "neuron", id, "err", err)
		return false
	}
	return more
}

// send POSTs e's update to n with n's token, within PushTimeout, and
// returns the answer's status and decoded body.
func (s *Server) send(n store.Neuron, e effective) (int, pushAnswer, error) {
	var answer pushAnswer
	body, err := json.Marshal(e.Update)
	if err != nil {
		return 0, answer, fmt.Errorf("encode update: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.PushTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.BaseURL+updatePath, bytes.NewReader(body))
	if err != nil {
		return 0, answer, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+n.Token)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, answer, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return resp.StatusCode, answer, fmt.Errorf("read answer: %w", err)
	}
	if err := json.Unmarshal(raw, &answer); err != nil && resp.StatusCode == http.StatusOK {
		return resp.StatusCode, answer, fmt.Errorf("answer is not JSON: %w", err)
	}
	if answer.Error == "" && resp.StatusCode != http.StatusOK {
		answer.Error = strings.TrimSpace(string(raw))
	}
	return resp.StatusCode, answer, nil
}

// Push outcomes, the outcome label of neuron_federation_pushes_total:
// the neuron applied the update (or runs its version already), answered
// unchanged without saying which version it runs, refused it (422), or
// the push failed (unreachable, timeout, another status, an answer that
// is not a neuron's).
const (
	pushApplied   = store.DeliveryApplied
	pushUnchanged = store.DeliveryUnchanged
	pushRejected  = store.DeliveryRejected
	pushFailed    = "failed"
)

// pushOutcome classifies a push's answer. An answer "unchanged" whose
// configVersion is the version pushed is applied: the neuron runs that
// version, most often because its poll applied it just before the push
// arrived.
func pushOutcome(status int, a pushAnswer, perr error, version string) string {
	switch {
	case perr != nil:
		return pushFailed
	case status == http.StatusOK && a.Data.Unchanged && (version == "" || a.Data.ConfigVersion != version):
		return pushUnchanged
	case status == http.StatusOK:
		return pushApplied
	case status == http.StatusUnprocessableEntity:
		return pushRejected
	}
	return pushFailed
}

// recordPush records what a push answered (outcome, from pushOutcome):
// applied or unchanged covers every change it carried and resolves its
// command; rejected rejects them with the neuron's reasons; a failure
// leaves them pending with the error.
func (s *Server) recordPush(tx *store.Tx, n store.Neuron, e effective, outcome string, status int, a pushAnswer, perr error) (more bool, err error) {
	now := s.now()
	log := s.log.With("neuron", n.ID, "version", e.Update.Version, "command", e.Command)
	switch outcome {
	case pushApplied, pushUnchanged:
		detail := "push: applied"
		switch {
		case outcome == pushUnchanged:
			detail = "push: the neuron answered unchanged (it ran this update before)"
		case a.Data.Unchanged:
			detail = "push: the neuron runs this version already (its poll applied it first)"
		}
		rev := e.Rev
		if r, ok := parseVersion(a.Data.ConfigVersion); ok && r > rev {
			rev = r
		}
		if err := acknowledge(tx, n.ID, rev, outcome, detail, now); err != nil {
			return false, err
		}
		resolved := false
		if e.Command != "" && len(a.Data.Command) > 0 && string(a.Data.Command) != "null" {
			if resolved, err = s.resolveCommand(tx, n, e.Command, a.Data.Command, now); err != nil {
				return false, err
			}
		}
		log.Info("update pushed", "outcome", outcome, "configVersion", a.Data.ConfigVersion, "commandResolved", resolved)
		if resolved {
			_, more, err = tx.NextCommand(n.ID, n.Lineage)
		}
		return more, err
	case pushRejected:
		reasons := a.Reasons
		if len(reasons) == 0 {
			reasons = []string{a.Error}
		}
		log.Warn("update rejected by the neuron", "reasons", strings.Join(reasons, "; "))
		return false, refuse(tx, n, e.Update.Version, e.Rev, e.Layers, reasons, now)
	}
	why := fmt.Sprintf("push failed (HTTP %d): %s", status, a.Error)
	if perr != nil {
		why = "push failed: " + perr.Error()
	}
	why += "; the neuron gets it at its next poll of GET /api/neuron/config"
	log.Warn("update push failed", "err", why)
	if e.Rev > 0 {
		return false, tx.ResolveDeliveries(n.ID, e.Rev, store.DeliveryPending, why, now)
	}
	return false, nil
}

// newPushClient is the HTTP client of pushes: no redirects (a push goes
// to the address the neuron registered, nowhere else).
func newPushClient() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// pushWait is how long an admin request waits for its pushes: a push in
// flight to the same neuron, then its own.
func (s *Server) pushWait() time.Duration { return 2*s.opts.PushTimeout + time.Second }
