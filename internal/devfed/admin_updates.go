package devfed

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/gorilla/mux"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/internal/devfed/store"
)

// change runs one admin change in one transaction; fn returns the
// neurons to push to. Once committed, the pushes run (concurrently, one
// at a time per neuron) and change waits for them, bounded by pushWait
// and the request.
func (s *Server) change(r *http.Request, fn func(tx *store.Tx, now time.Time) ([]string, error)) error {
	var push []string
	now := s.now()
	err := s.db.Update(r.Context(), func(tx *store.Tx) error {
		var err error
		push, err = fn(tx, now)
		return err
	})
	if err != nil {
		return err
	}
	chs := make([]<-chan struct{}, len(push))
	for i, id := range push {
		chs[i] = s.push(id)
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.pushWait())
	defer cancel()
	waitAll(ctx, chs)
	return nil
}

// targets returns the neurons a change to target concerns: every neuron
// for the fleet, else the one (404 when unknown).
func (s *Server) targets(tx *store.Tx, target string) ([]store.Neuron, error) {
	if target == store.TargetFleet {
		return tx.Neurons()
	}
	n, err := s.mustNeuron(tx, target)
	return []store.Neuron{n}, err
}

// plan records a pending delivery of rev for each neuron a change to
// target concerns, and returns those it can push to now (not offline,
// with a baseUrl).
func (s *Server) plan(tx *store.Tx, rev int64, target string, now time.Time) ([]string, error) {
	ns, err := s.targets(tx, target)
	if err != nil {
		return nil, err
	}
	var push []string
	for _, n := range ns {
		detail := "pushing to " + n.BaseURL + updatePath
		switch {
		case s.status(n, now) == statusOffline:
			detail = "the neuron is offline: it gets this at its next poll of GET /api/neuron/config once it is back"
		case n.BaseURL == "":
			detail = "the neuron registered no baseUrl, so it cannot be pushed to: it gets this at its next poll of GET /api/neuron/config"
		default:
			push = append(push, n.ID)
		}
		if rev > 0 {
			err := tx.PutDelivery(store.Delivery{Rev: rev, NeuronID: n.ID, Status: store.DeliveryPending, Detail: detail, At: now})
			if err != nil {
				return nil, err
			}
		}
	}
	return push, nil
}

// adminBody reads an admin request's body as a JSON object.
func adminBody(w http.ResponseWriter, r *http.Request) (object, error) {
	_, m, err := readObject(w, r)
	return object{m: m}, err
}

// targetAnd reads an admin change {"target", key: {...}}: the target and
// the object under key (required: missing says what it wants).
func targetAnd(w http.ResponseWriter, r *http.Request, key, want string) (string, object, error) {
	o, err := adminBody(w, r)
	if err != nil {
		return "", object{}, err
	}
	t, err := target(o)
	if err != nil {
		return "", object{}, err
	}
	sub, found, err := o.obj(key)
	if err == nil && !found {
		err = badField(key, "is required (%s)", want)
	}
	return t, sub, err
}

// listConfigs serves GET /api/admin/configs?target=: the config history,
// newest first, with deliveries.
func (s *Server) listConfigs(w http.ResponseWriter, r *http.Request) error {
	return answer(s, w, r, http.StatusOK, func(tx *store.Tx) ([]configView, error) {
		cs, err := tx.Configs(r.URL.Query().Get("target"))
		if err != nil {
			return nil, err
		}
		ds, err := tx.Deliveries(each(cs, func(c store.Config) int64 { return c.Rev })...)
		return each(cs, func(c store.Config) configView { return configOf(c, ds[c.Rev]) }), err
	})
}

// setConfig serves POST /api/admin/configs {"target", "config"}: 201 once
// the pushes were tried, with the deliveries.
func (s *Server) setConfig(w http.ResponseWriter, r *http.Request) error {
	t, cfg, err := targetAnd(w, r, "config", `an object, e.g. {"batchSize": 500}`)
	if err != nil {
		return err
	}
	if err := validateConfig(cfg); err != nil {
		return err
	}
	raw, _ := json.Marshal(cfg.m) // decoded JSON: cannot fail
	var rev int64
	var at time.Time
	err = s.change(r, func(tx *store.Tx, now time.Time) ([]string, error) {
		at = now
		if t != store.TargetFleet {
			if _, err := s.mustNeuron(tx, t); err != nil {
				return nil, err
			}
		}
		var err error
		if rev, err = tx.NewRev(store.KindConfig, t, now); err != nil {
			return nil, err
		}
		if err := tx.AddConfig(store.Config{Rev: rev, Target: t, Config: raw, CreatedAt: now}); err != nil {
			return nil, err
		}
		s.log.Info("config set", "target", t, "rev", rev)
		return s.plan(tx, rev, t, now)
	})
	if err != nil {
		return err
	}
	return answer(s, w, r, http.StatusCreated, func(tx *store.Tx) (configView, error) {
		ds, err := tx.Deliveries(rev)
		return configOf(store.Config{Rev: rev, Target: t, Config: raw, CreatedAt: at}, ds[rev]), err
	})
}

// listExperiments serves GET /api/admin/experiments, newest first.
func (s *Server) listExperiments(w http.ResponseWriter, r *http.Request) error {
	return answer(s, w, r, http.StatusOK, func(tx *store.Tx) ([]experimentView, error) { return experimentsFor(tx, "") })
}

// getExperiment serves GET /api/admin/experiments/{id}, with its results.
func (s *Server) getExperiment(w http.ResponseWriter, r *http.Request) error {
	id := mux.Vars(r)["id"]
	return answer(s, w, r, http.StatusOK, func(tx *store.Tx) (experimentDetail, error) {
		x, view, err := readExperiment(tx, id)
		if err != nil {
			return experimentDetail{}, err
		}
		out := experimentDetail{experimentView: view}
		out.Results, out.Stopped, err = results(tx, x, s.now())
		return out, err
	})
}

// answerExperiment answers experiment id with status.
func (s *Server) answerExperiment(w http.ResponseWriter, r *http.Request, status int, id string) error {
	return answer(s, w, r, status, func(tx *store.Tx) (experimentView, error) {
		_, view, err := readExperiment(tx, id)
		return view, err
	})
}

// readExperiment reads experiment id (404 when unknown) and its view.
func readExperiment(tx *store.Tx, id string) (store.Experiment, experimentView, error) {
	x, found, err := tx.Experiment(id)
	if err == nil && !found {
		err = notFound("no experiment %q: GET /api/admin/experiments lists them", id)
	}
	if err != nil {
		return x, experimentView{}, err
	}
	ds, err := tx.Deliveries(latestRev(x))
	return x, experimentOf(x, ds[latestRev(x)]), err
}

// startExperiment serves POST /api/admin/experiments {"target",
// "experiment"}: 201 once the pushes were tried.
func (s *Server) startExperiment(w http.ResponseWriter, r *http.Request) error {
	t, eo, err := targetAnd(w, r, "experiment", "an object: id and variant, or id, plugin and variants")
	if err != nil {
		return err
	}
	x, err := validateExperiment(eo)
	if err != nil {
		return err
	}
	spec, _ := json.Marshal(x) // a federation.Experiment: cannot fail
	err = s.change(r, func(tx *store.Tx, now time.Time) ([]string, error) {
		if t != store.TargetFleet {
			if _, err := s.mustNeuron(tx, t); err != nil {
				return nil, err
			}
		}
		if _, found, err := tx.Experiment(x.ID); err != nil || found {
			if found {
				err = conflict("experiment %q exists already: experiment ids are never reused, pick another", x.ID)
			}
			return nil, err
		}
		if running, found, err := tx.RunningExperiment(t); err != nil || found {
			if found {
				err = conflict("experiment %q runs on %s: a target runs one experiment at a time, stop it first (POST /api/admin/experiments/%s/stop)", running.ID, t, running.ID)
			}
			return nil, err
		}
		rev, err := tx.NewRev(store.KindExperimentStart, t, now)
		if err != nil {
			return nil, err
		}
		if err := tx.AddExperiment(store.Experiment{ID: x.ID, Target: t, Spec: spec, StartRev: rev, CreatedAt: now}); err != nil {
			return nil, err
		}
		s.log.Info("experiment started", "experiment", x.ID, "target", t, "rev", rev)
		return s.plan(tx, rev, t, now)
	})
	if err != nil {
		return err
	}
	return s.answerExperiment(w, r, http.StatusCreated, x.ID)
}

// stopExperiment serves POST /api/admin/experiments/{id}/stop
// {"promote"?}: 200 once the pushes were tried.
func (s *Server) stopExperiment(w http.ResponseWriter, r *http.Request) error {
	id := mux.Vars(r)["id"]
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	o := object{m: map[string]any{}}
	if len(body) > 0 {
		if o.m, err = decodeObject(body); err != nil {
			return err
		}
	}
	promote, err := o.str("promote", false, 128)
	if err != nil {
		return err
	}
	err = s.change(r, func(tx *store.Tx, now time.Time) ([]string, error) {
		x, found, err := tx.Experiment(id)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, notFound("no experiment %q: GET /api/admin/experiments lists them", id)
		}
		if x.Status != store.ExperimentRunning {
			return nil, conflict("experiment %q was stopped already (at %s)", id, stamp(x.StoppedAt))
		}
		if err := checkPromote(x, promote); err != nil {
			return nil, err
		}
		rev, err := tx.NewRev(store.KindExperimentStop, x.Target, now)
		if err != nil {
			return nil, err
		}
		if err := tx.StopExperiment(id, rev, promote, now); err != nil {
			return nil, err
		}
		s.log.Info("experiment stopped", "experiment", id, "target", x.Target, "rev", rev, "promote", promote)
		return s.plan(tx, rev, x.Target, now)
	})
	if err != nil {
		return err
	}
	return s.answerExperiment(w, r, http.StatusOK, id)
}

// checkPromote checks that promote ("" for none) names a variant of x, a
// traffic split.
func checkPromote(x store.Experiment, promote string) error {
	if promote == "" {
		return nil
	}
	var spec federation.Experiment
	if err := json.Unmarshal(x.Spec, &spec); err != nil {
		return err
	}
	names := make([]string, len(spec.Variants))
	for i, v := range spec.Variants {
		names[i] = v.Name
	}
	if !slices.Contains(names, promote) {
		if len(names) == 0 {
			return badField("promote", "experiment %q is not a traffic split: it has no variants to promote", x.ID)
		}
		return badField("promote", "must name a variant of experiment %q (%v), got %q", x.ID, names, promote)
	}
	return nil
}

// listCommands serves GET /api/admin/commands?neuron=&limit=, newest
// first.
func (s *Server) listCommands(w http.ResponseWriter, r *http.Request) error {
	limit, err := parseLimit(r, defaultCommands)
	if err != nil {
		return err
	}
	return answer(s, w, r, http.StatusOK, func(tx *store.Tx) ([]commandView, error) {
		cs, err := tx.Commands(r.URL.Query().Get("neuron"), limit)
		return each(cs, commandOf), err
	})
}

// sendCommand serves POST /api/admin/commands {"target", "type", "data"}:
// one command per neuron targeted, 201 once the pushes were tried.
func (s *Server) sendCommand(w http.ResponseWriter, r *http.Request) error {
	o, err := adminBody(w, r)
	if err != nil {
		return err
	}
	c, err := validateCommand(o)
	if err != nil {
		return err
	}
	var ids []string
	err = s.change(r, func(tx *store.Tx, now time.Time) ([]string, error) {
		ns, err := s.targets(tx, c.Target)
		if err != nil {
			return nil, err
		}
		rev, err := tx.NewRev(store.KindCommand, c.Target, now)
		if err != nil {
			return nil, err
		}
		for _, n := range ns {
			id := newID("cmd-", 6)
			err := tx.AddCommand(store.Command{ID: id, Rev: rev, NeuronID: n.ID, Type: c.Type, Data: c.Data, CreatedAt: now})
			if err != nil {
				return nil, err
			}
			ids = append(ids, id)
		}
		s.log.Info("command sent", "type", c.Type, "target", c.Target, "rev", rev, "neurons", len(ns))
		return s.plan(tx, 0, c.Target, now)
	})
	if err != nil {
		return err
	}
	return answer(s, w, r, http.StatusCreated, func(tx *store.Tx) ([]commandView, error) {
		out := []commandView{}
		for _, id := range ids {
			cmd, _, err := tx.Command(id)
			if err != nil {
				return nil, err
			}
			out = append(out, commandOf(cmd))
		}
		return out, nil
	})
}
