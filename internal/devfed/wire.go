package devfed

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/empirefederation/neuron/internal/devfed/store"
)

// register serves POST /api/neuron/register: 201 with a token, or 409 when
// a live instance holds the id and the registration does not prove it is
// that instance (see proves).
func (s *Server) register(w http.ResponseWriter, r *http.Request) error {
	remote := remoteIP(r)
	if ok, wait := s.limits.allow(remote, time.Now()); !ok {
		return tooMany(w, remote, wait, s.opts.RegisterRate, s.opts.RegisterBurst)
	}
	body, m, err := readObject(w, r)
	if err != nil {
		return err
	}
	if len(body) > maxRegistrationBytes {
		return &apiError{Status: http.StatusRequestEntityTooLarge, Code: codeBodyTooLarge, Msg: fmt.Sprintf(
			"a registration is at most %d bytes (64 KiB), this one is %d: describe fewer endpoints or less metadata", maxRegistrationBytes, len(body))}
	}
	reg, err := validateRegistration(m)
	if err != nil {
		return err
	}
	instance := reg.BaseURL
	if instance == "" {
		instance = remote
	}
	now := s.now()
	regID := newID("reg-", 8)
	token, err := s.sign(reg.NeuronID, regID, now)
	if err != nil {
		return err
	}
	presented, _ := bearer(r)
	var took string  // the instance whose id this registration took over
	lineage := regID // a new instance's; kept below when the token proves the same one
	err = s.db.Update(r.Context(), func(tx *store.Tx) error {
		cur, found, err := tx.Neuron(reg.NeuronID)
		if err != nil {
			return err
		}
		if !found {
			if err := s.room(tx); err != nil {
				return err
			}
		}
		fresh := !found || !s.holds(cur, now)
		if !fresh && !proves(cur, presented) {
			return s.conflict(cur, instance, presented != "", now)
		}
		if found && fresh && cur.Instance != instance {
			took = cur.Instance
		}
		if found && proves(cur, presented) {
			lineage = cur.Lineage
		}
		return tx.Register(store.Neuron{ID: reg.NeuronID, Name: reg.Name, Type: reg.Type, Language: reg.Language,
			Version: reg.Version, BaseURL: reg.BaseURL, Instance: instance, Registration: body,
			RegistrationID: regID, Token: token, Lineage: lineage, RegisteredAt: now}, remote, fresh)
	})
	if err != nil {
		return err
	}
	if took != "" {
		s.log.Info("neuron id taken over", "neuron", reg.NeuronID, "from", took, "by", instance)
	}
	s.log.Info("neuron registered", "neuron", reg.NeuronID, "instance", instance, "registration", regID, "lineage", lineage)
	ok(w, http.StatusCreated, map[string]any{"token": token, "neuronId": reg.NeuronID,
		"heartbeatInterval": s.opts.HeartbeatInterval.Seconds()})
	return nil
}

// room refuses a new neuron id when MaxNeurons are kept.
func (s *Server) room(tx *store.Tx) error {
	n, err := tx.CountNeurons()
	if err != nil || n < s.opts.MaxNeurons {
		return err
	}
	return &apiError{Status: http.StatusInsufficientStorage, Code: codeFull, Msg: fmt.Sprintf(
		"the federation keeps at most %d neurons and holds %d: a new neuron id is refused until neurons offline for %s "+
			"expire; register with an id that is known here, or raise the limit (--max-neurons)", s.opts.MaxNeurons, n, s.opts.NeuronExpiry)}
}

// proves reports whether presented, the bearer of a registration, is the
// current token of cur (compared in constant time): only the instance
// holding a live id has it, so only it may register that id again while
// it is live. Its base URL proves nothing: anyone can declare it.
//
// An expired current token still proves the id: it is how a neuron whose
// renewal failed until its token lapsed, or that restarted after it
// lapsed, gets a new one without waiting for its id to go offline. This
// opens no window: every newer registration revokes it, and a heartbeat
// needs an unexpired token, so a live id's current token expired at most
// the offline period ago; past that, the id is free to anyone anyway.
func proves(cur store.Neuron, presented string) bool {
	return presented != "" && subtle.ConstantTimeCompare([]byte(presented), []byte(cur.Token)) == 1
}

// conflict is the 409 for instance claiming an id that cur, a live
// instance, holds, without its current token (presented tells whether it
// sent some other token).
func (s *Server) conflict(cur store.Neuron, instance string, presented bool, now time.Time) error {
	last := "last heartbeat " + cur.LastHeartbeat.Format(time.RFC3339)
	if cur.LastHeartbeat.IsZero() {
		last = "no heartbeat yet, registered " + cur.RegisteredAt.Format(time.RFC3339)
	}
	frees := lastSign(cur).Add(s.offlineAfter()).Sub(now).Round(time.Second)
	token := "sent no token"
	if presented {
		token = "sent a token that is not the id's current one"
	}
	s.log.Warn("registration refused: neuron id held by a live instance", "neuron", cur.ID,
		"holder", cur.Instance, "claimant", instance, "frees_in", frees)
	return conflict("neuron id %q is held by a live instance at %s (%s) and this registration %s: "+
		"registering a live id again takes the holder's current token as Authorization: Bearer TOKEN "+
		"(a neuron keeps it in its data directory across restarts). The id frees itself when the holder "+
		"sends a final \"stopping\" heartbeat or has sent none for %s (offline), in about %s at most: "+
		"stop the other instance, wait, or give this one another NEURON_ID", cur.ID, cur.Instance, last, token, s.offlineAfter(), frees)
}

// remoteIP is the client's IP address (without the port).
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// neuronObject authenticates a neuron's request and reads its body, a
// JSON object.
func (s *Server) neuronObject(w http.ResponseWriter, r *http.Request) (store.Neuron, []byte, map[string]any, error) {
	n, err := s.authNeuron(r)
	if err != nil {
		return n, nil, nil, err
	}
	body, m, err := readObject(w, r)
	return n, body, m, err
}

// heartbeat serves POST /api/neuron/status: stores the heartbeat and
// acknowledges the version it runs.
func (s *Server) heartbeat(w http.ResponseWriter, r *http.Request) error {
	n, body, m, err := s.neuronObject(w, r)
	if err != nil {
		return err
	}
	h, err := validateStatus(m)
	if err != nil {
		return err
	}
	now := s.now()
	err = s.db.Update(r.Context(), func(tx *store.Tx) error {
		err := tx.AddHeartbeat(store.Heartbeat{NeuronID: n.ID, At: now, Status: h.Status, HealthScore: h.HealthScore,
			CPU: h.CPU, Memory: h.Memory, Disk: h.Disk, RPS: h.RPS, AvgResponseTime: h.AvgResponseTime,
			ActiveConnections: h.ActiveConnections, QueueSize: h.QueueSize, ErrorCount: h.ErrorCount,
			SuccessRate: h.SuccessRate, ConfigVersion: h.ConfigVersion, BuildVersion: h.BuildVersion, Body: body})
		if err != nil {
			return err
		}
		rev, _ := parseVersion(h.ConfigVersion)
		return acknowledge(tx, n.ID, rev, store.DeliveryApplied, "heartbeat: the neuron runs "+h.ConfigVersion, now)
	})
	if err != nil {
		return err
	}
	if h.Status == statusStopping {
		s.log.Info("neuron stopping", "neuron", n.ID)
	}
	ok(w, http.StatusOK, map[string]string{"receivedAt": now.Format(time.RFC3339Nano)})
	return nil
}

// analytics serves POST /api/analytics/report: stores the report once
// (the same bytes twice are one report) and its events once each.
func (s *Server) analytics(w http.ResponseWriter, r *http.Request) error {
	n, body, m, err := s.neuronObject(w, r)
	if err != nil {
		return err
	}
	rep, err := validateReport(m)
	if err != nil {
		return err
	}
	if rep.NeuronID != n.ID {
		return badField("neuronId", "must be the id the token was issued to (%q), got %q", n.ID, rep.NeuronID)
	}
	now := s.now()
	sum := sha256.Sum256(append([]byte(n.ID+"\x00"), body...))
	stored := toStoreReport(n.ID, hex.EncodeToString(sum[:]), now, m, rep, body)
	var accepted, dups int
	err = s.db.Update(r.Context(), func(tx *store.Tx) error {
		dup, err := tx.AddReport(stored)
		if err != nil || dup {
			dups = len(rep.Events)
			return err
		}
		for _, e := range rep.Events {
			added, err := s.addEvent(tx, n, e, now)
			if err != nil {
				return err
			}
			if added {
				accepted++
			} else {
				dups++
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.metrics.events.WithLabelValues(eventStored).Add(float64(accepted))
	s.metrics.events.WithLabelValues(eventDuplicate).Add(float64(dups))
	ok(w, http.StatusOK, map[string]int{"events": accepted, "duplicates": dups})
	return nil
}

// addEvent stores one event (its id, or the digest of its canonical JSON
// when it has none) and lets it resolve outcomes.
func (s *Server) addEvent(tx *store.Tx, n store.Neuron, e event, now time.Time) (bool, error) {
	data, err := json.Marshal(e.Data)
	if err != nil {
		return false, fmt.Errorf("encode event data: %w", err)
	}
	id := e.ID
	if id == "" {
		canon, err := json.Marshal(map[string]any{"type": e.Type, "timestamp": e.Timestamp, "plugin": e.Plugin,
			"version": e.Version, "data": e.Data})
		if err != nil {
			return false, fmt.Errorf("encode event: %w", err)
		}
		sum := sha256.Sum256(canon)
		id = "sha256:" + hex.EncodeToString(sum[:])
	}
	added, err := tx.AddEvent(store.Event{NeuronID: n.ID, ID: id, Type: e.Type, Timestamp: e.Timestamp, At: now,
		Plugin: e.Plugin, Version: e.Version, Data: data})
	if err != nil || !added {
		return false, err
	}
	return true, s.resolveFromEvent(tx, n, e.Type, data, now)
}

// toStoreReport turns a validated report into its stored form.
func toStoreReport(neuron, key string, now time.Time, m map[string]any, rep report, body []byte) store.Report {
	metricsObj, _ := m["metrics"].(map[string]any)
	custom, _ := json.Marshal(orEmptyMap(metricsObj["customMetrics"]))
	breakdown, _ := json.Marshal(orEmptyList(m["breakdown"]))
	out := store.Report{NeuronID: neuron, Key: key, At: now,
		TotalRequests: rep.Metrics.TotalRequests, SuccessfulRequests: rep.Metrics.SuccessfulRequests,
		FailedRequests: rep.Metrics.FailedRequests, AvgResponseTime: rep.Metrics.AvgResponseTime,
		DataProcessed: rep.Metrics.DataProcessed, CustomMetrics: custom, Breakdown: breakdown, Body: body}
	for _, row := range rep.Rows {
		out.Rows = append(out.Rows, store.BreakdownRow{Plugin: row.Plugin, Version: row.Version, Variant: row.Variant,
			TotalRequests: row.TotalRequests, FailedRequests: row.FailedRequests, AvgResponseTime: row.AvgResponseTime,
			P50: row.P50, P95: row.P95, P99: row.P99, CustomMetrics: row.Custom})
	}
	return out
}

func orEmptyMap(v any) any {
	if v == nil {
		return map[string]any{}
	}
	return v
}

func orEmptyList(v any) any {
	if v == nil {
		return []any{}
	}
	return v
}

// config serves GET /api/neuron/config: the neuron's effective update, an
// object always: {} when there is nothing for it (the reference guide's
// client reads "data": null as a failed fetch).
func (s *Server) config(w http.ResponseWriter, r *http.Request) error {
	n, err := s.authNeuron(r)
	if err != nil {
		return err
	}
	var e effective
	err = s.db.Update(r.Context(), func(tx *store.Tx) error {
		if e, err = effectiveUpdate(tx, n); err != nil {
			return err
		}
		return markServed(tx, n, e, true, s.now())
	})
	if err != nil {
		return err
	}
	ok(w, http.StatusOK, e.Update) // every part omitted when empty: {}
	return nil
}

// markServed records that e is being served to n: the experiment it
// starts, and the command it carries, sent to n's lineage (delivered when
// a poll answered).
func markServed(tx *store.Tx, n store.Neuron, e effective, polled bool, at time.Time) error {
	if e.Started != "" {
		if err := tx.SetServedExperiment(n.ID, e.Started); err != nil {
			return err
		}
	}
	if e.Command != "" {
		return tx.ServeCommand(e.Command, servedKey(e.Update.Version), n.Lineage, polled, at)
	}
	return nil
}

// handle adapts a handler that returns its error.
func (s *Server) handle(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.fail(w, r, err)
		}
	}
}
