package devfed

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/empirefederation/neuron/internal/devfed/store"
)

// Limits of the admin API's list queries.
const (
	defaultHeartbeats = 500
	defaultReports    = 500
	defaultEvents     = 100
	defaultCommands   = 100
	maxListLimit      = 5000
	detailCommands    = 20
	defaultWindow     = time.Hour // since= default of heartbeats and analytics
)

// answer builds data in one read transaction and writes it with status.
func answer[T any](s *Server, w http.ResponseWriter, r *http.Request, status int, read func(*store.Tx) (T, error)) error {
	var data T
	err := s.db.View(r.Context(), func(tx *store.Tx) error {
		var err error
		data, err = read(tx)
		return err
	})
	if err != nil {
		return err
	}
	ok(w, status, data)
	return nil
}

// each maps xs with f into a list that encodes as [] when empty.
func each[A, B any](xs []A, f func(A) B) []B {
	out := make([]B, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

// listNeurons serves GET /api/admin/neurons: every neuron's summary,
// sorted by id.
func (s *Server) listNeurons(w http.ResponseWriter, r *http.Request) error {
	now := s.now()
	return answer(s, w, r, http.StatusOK, func(tx *store.Tx) ([]neuronSummary, error) {
		ns, err := tx.Neurons()
		return each(ns, func(n store.Neuron) neuronSummary { return s.summary(n, now) }), err
	})
}

// overview serves GET /api/admin/overview: counts by shown status, and
// the digests the fleet runs of each registry reference.
func (s *Server) overview(w http.ResponseWriter, r *http.Request) error {
	now := s.now()
	return answer(s, w, r, http.StatusOK, func(tx *store.Tx) (map[string]any, error) {
		ns, err := tx.Neurons()
		return map[string]any{"neurons": len(ns), "byStatus": s.countByStatus(ns, now), "now": stamp(now),
			"heartbeatInterval": s.opts.HeartbeatInterval.Seconds(), "sources": s.fleetSources(ns, now)}, err
	})
}

// countByStatus counts the neurons ns by shown status at now.
func (s *Server) countByStatus(ns []store.Neuron, now time.Time) map[string]int {
	by := map[string]int{}
	for _, n := range ns {
		by[s.status(n, now)]++
	}
	return by
}

// neuron serves GET /api/admin/neurons/{id}: the summary, the
// registration as sent, the effective update, the experiments aimed at it
// and its last commands.
func (s *Server) neuron(w http.ResponseWriter, r *http.Request) error {
	id := mux.Vars(r)["id"]
	now := s.now()
	return answer(s, w, r, http.StatusOK, func(tx *store.Tx) (neuronDetail, error) {
		var out neuronDetail
		n, err := s.mustNeuron(tx, id)
		if err != nil {
			return out, err
		}
		out.neuronSummary, out.Registration = s.summary(n, now), n.Registration
		e, err := effectiveUpdate(tx, n)
		if err != nil {
			return out, err
		}
		if !e.empty() {
			out.EffectiveUpdate = e.Update
		}
		if out.Experiments, err = experimentsFor(tx, id); err != nil {
			return out, err
		}
		cmds, err := tx.Commands(id, detailCommands)
		out.Commands = each(cmds, commandOf)
		return out, err
	})
}

// mustNeuron returns neuron id, or a 404.
func (s *Server) mustNeuron(tx *store.Tx, id string) (store.Neuron, error) {
	n, found, err := tx.Neuron(id)
	if err == nil && !found {
		err = notFound("no neuron %q is registered: GET /api/admin/neurons lists them", id)
	}
	return n, err
}

// experimentsFor lists the experiments aimed at neuron id (every one
// when id is ""), newest first, with the deliveries of their latest
// change.
func experimentsFor(tx *store.Tx, id string) ([]experimentView, error) {
	xs, err := tx.Experiments()
	if err != nil {
		return nil, err
	}
	out := []experimentView{}
	for _, x := range xs {
		if id != "" && x.Target != store.TargetFleet && x.Target != id {
			continue
		}
		ds, err := tx.Deliveries(latestRev(x))
		if err != nil {
			return nil, err
		}
		out = append(out, experimentOf(x, ds[latestRev(x)]))
	}
	return out, nil
}

// window reads since= (RFC 3339, default back from now, everything
// retained when back is 0) and limit= (default def, at most maxListLimit)
// of a list query.
func (s *Server) window(r *http.Request, back time.Duration, def int) (since time.Time, limit int, err error) {
	q := r.URL.Query()
	if back > 0 {
		since = s.now().Add(-back)
	}
	if v := q.Get("since"); v != "" {
		if since, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return since, 0, badField("since", "must be an RFC 3339 time such as 2025-01-21T11:30:00Z, got %q", v)
		}
	}
	limit, err = parseLimit(r, def)
	return since, limit, err
}

// parseLimit reads limit= (default def, 1 to maxListLimit).
func parseLimit(r *http.Request, def int) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxListLimit {
		return 0, badField("limit", "must be a whole number from 1 to %d, got %q", maxListLimit, v)
	}
	return n, nil
}

// series answers a list query about neuron {id} (404 when unknown): the
// window's since and limit (back and def its defaults) go to list.
func series[T any](s *Server, w http.ResponseWriter, r *http.Request, back time.Duration, def int,
	list func(tx *store.Tx, id string, since time.Time, limit int) ([]T, error)) error {
	since, limit, err := s.window(r, back, def)
	if err != nil {
		return err
	}
	id := mux.Vars(r)["id"]
	return answer(s, w, r, http.StatusOK, func(tx *store.Tx) ([]T, error) {
		if _, err := s.mustNeuron(tx, id); err != nil {
			return nil, err
		}
		return list(tx, id, since, limit)
	})
}

// heartbeats serves GET /api/admin/neurons/{id}/heartbeats, oldest first.
func (s *Server) heartbeats(w http.ResponseWriter, r *http.Request) error {
	return series(s, w, r, defaultWindow, defaultHeartbeats, func(tx *store.Tx, id string, since time.Time, limit int) ([]heartbeatView, error) {
		hs, err := tx.Heartbeats(id, since, limit)
		return each(hs, heartbeatOf), err
	})
}

// reports serves GET /api/admin/neurons/{id}/analytics, oldest first.
func (s *Server) reports(w http.ResponseWriter, r *http.Request) error {
	return series(s, w, r, defaultWindow, defaultReports, func(tx *store.Tx, id string, since time.Time, limit int) ([]reportView, error) {
		rs, err := tx.Reports(id, since, limit)
		return each(rs, reportOf), err
	})
}

// events serves GET /api/admin/neurons/{id}/events, newest first,
// optionally of one type.
func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	typ := r.URL.Query().Get("type")
	return series(s, w, r, 0, defaultEvents, func(tx *store.Tx, id string, since time.Time, limit int) ([]eventView, error) {
		es, err := tx.Events(store.EventFilter{NeuronID: id, Type: typ, Since: since, Limit: limit})
		return each(es, eventOf), err
	})
}
