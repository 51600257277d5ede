package devfed

import (
	"encoding/json"
	"time"

	"github.com/empirefederation/neuron/internal/devfed/store"
)

// The JSON the admin API answers with. Field names are the spec's
// (docs/dev-federation.md); the dashboard reads them.

type neuronSummary struct {
	ID             string         `json:"id"`
	Name           string         `json:"name"`
	Type           string         `json:"type"`
	Language       string         `json:"language"`
	Version        string         `json:"version"`
	BaseURL        string         `json:"baseUrl"`
	Status         string         `json:"status"`
	ReportedStatus string         `json:"reportedStatus"`
	HealthScore    *float64       `json:"healthScore"`
	LastHeartbeat  *string        `json:"lastHeartbeat"`
	RegisteredAt   string         `json:"registeredAt"`
	Lineage        string         `json:"lineage"`
	ConfigVersion  string         `json:"configVersion"`
	BuildVersion   string         `json:"buildVersion"`
	Processors     []string       `json:"processors"`
	Sources        []sourceView   `json:"sources"`
	Endpoints      []endpointView `json:"endpoints"`
	Metrics        *metricsView   `json:"metrics"`
}

type endpointView struct {
	Method      string `json:"method"`
	Path        string `json:"path"`
	Description string `json:"description"`
}

type metricsView struct {
	CPUUsage            *float64 `json:"cpuUsage"`
	MemoryUsage         *float64 `json:"memoryUsage"`
	RequestsPerSecond   *float64 `json:"requestsPerSecond"`
	AverageResponseTime *float64 `json:"averageResponseTime"`
}

type neuronDetail struct {
	neuronSummary
	Registration    json.RawMessage  `json:"registration"`
	EffectiveUpdate any              `json:"effectiveUpdate"`
	Experiments     []experimentView `json:"experiments"`
	Commands        []commandView    `json:"commands"`
}

type heartbeatView struct {
	At                  string   `json:"at"`
	Status              string   `json:"status"`
	HealthScore         *float64 `json:"healthScore"`
	CPUUsage            *float64 `json:"cpuUsage"`
	MemoryUsage         *float64 `json:"memoryUsage"`
	DiskUsage           *float64 `json:"diskUsage"`
	RequestsPerSecond   *float64 `json:"requestsPerSecond"`
	AverageResponseTime *float64 `json:"averageResponseTime"`
	ActiveConnections   *float64 `json:"activeConnections"`
	QueueSize           *float64 `json:"queueSize"`
	ErrorCount          *float64 `json:"errorCount"`
	SuccessRate         *float64 `json:"successRate"`
	ConfigVersion       string   `json:"configVersion"`
}

type reportView struct {
	At                  string          `json:"at"`
	TotalRequests       float64         `json:"totalRequests"`
	SuccessfulRequests  float64         `json:"successfulRequests"`
	FailedRequests      float64         `json:"failedRequests"`
	AverageResponseTime float64         `json:"averageResponseTime"`
	DataProcessed       float64         `json:"dataProcessed"`
	CustomMetrics       json.RawMessage `json:"customMetrics"`
	Breakdown           json.RawMessage `json:"breakdown"`
}

type eventView struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	Timestamp  string          `json:"timestamp"`
	ReceivedAt string          `json:"receivedAt"`
	Plugin     string          `json:"plugin"`
	Version    string          `json:"version"`
	Data       json.RawMessage `json:"data"`
}

type deliveryView struct {
	NeuronID string `json:"neuronId"`
	Status   string `json:"status"`
	Detail   string `json:"detail"`
	At       string `json:"at"`
}

// Delivery outcomes of a change over its neurons (the outcome field of a
// config or an experiment): refused by at least one neuron, else queued
// for at least one (its push failed, it is offline or has no baseUrl: its
// poll gets it), else applied by all; none when no neuron was targeted.
const (
	outcomeApplied = "applied"
	outcomeRefused = "refused"
	outcomeQueued  = "queued"
	outcomeNone    = "none"
)

// refusalView is one neuron that refused a change, and why.
type refusalView struct {
	NeuronID string `json:"neuronId"`
	Reason   string `json:"reason"`
}

// deliveryOutcome says how a change fared, at once: its outcome and the
// neurons that refused it with their reasons.
type deliveryOutcome struct {
	Outcome string        `json:"outcome"`
	Refused []refusalView `json:"refused"`
}

type configView struct {
	Rev        int64           `json:"rev"`
	Version    string          `json:"version"`
	Target     string          `json:"target"`
	Config     json.RawMessage `json:"config"`
	CreatedAt  string          `json:"createdAt"`
	Deliveries []deliveryView  `json:"deliveries"`
	deliveryOutcome
}

type experimentView struct {
	ID         string          `json:"id"`
	Target     string          `json:"target"`
	Status     string          `json:"status"`
	CreatedAt  string          `json:"createdAt"`
	StoppedAt  *string         `json:"stoppedAt"`
	Promote    string          `json:"promote"`
	Spec       json.RawMessage `json:"spec"`
	Deliveries []deliveryView  `json:"deliveries"`
	deliveryOutcome
}

// experimentDetail is one experiment with its results so far.
type experimentDetail struct {
	experimentView
	Results []variantResult `json:"results"`
	Stopped []stoppedView   `json:"stopped"`
}

type commandView struct {
	ID        string          `json:"id"`
	NeuronID  string          `json:"neuronId"`
	Type      string          `json:"type"`
	Data      json.RawMessage `json:"data"`
	Status    string          `json:"status"`
	SentTo    string          `json:"sentTo"`
	Outcome   json.RawMessage `json:"outcome"`
	CreatedAt string          `json:"createdAt"`
	UpdatedAt string          `json:"updatedAt"`
}

// stamp formats a time for the API: RFC 3339 in UTC, with milliseconds
// when it has them.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// stampOrNil is stamp, or nil for the zero time.
func stampOrNil(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := stamp(t)
	return &s
}

func (s *Server) summary(n store.Neuron, now time.Time) neuronSummary {
	out := neuronSummary{ID: n.ID, Name: n.Name, Type: n.Type, Language: n.Language, Version: n.Version,
		BaseURL: n.BaseURL, Status: s.status(n, now), ReportedStatus: n.Status, HealthScore: n.HealthScore,
		LastHeartbeat: stampOrNil(n.LastHeartbeat), RegisteredAt: stamp(n.RegisteredAt), Lineage: n.Lineage,
		ConfigVersion: n.ConfigVersion, BuildVersion: n.BuildVersion, Endpoints: []endpointView{}}
	reg := registeredOf(n)
	if reg.APIEndpoints != nil {
		out.Endpoints = reg.APIEndpoints
	}
	out.Processors = metadataList(reg.meta(metadataProcessors))
	out.Sources = parseSources(reg.meta(metadataSources))
	if !n.LastHeartbeat.IsZero() {
		out.Metrics = &metricsView{CPUUsage: n.CPU, MemoryUsage: n.Memory, RequestsPerSecond: n.RPS,
			AverageResponseTime: n.AvgResponseTime}
	}
	return out
}

// registered is what the views read of a neuron's registration as sent.
type registered struct {
	APIEndpoints []endpointView `json:"apiEndpoints"`
	Metadata     map[string]any `json:"metadata"`
}

// registeredOf decodes n's registration, validated when it registered;
// a field of another kind stays empty.
func registeredOf(n store.Neuron) registered {
	var reg registered
	_ = json.Unmarshal(n.Registration, &reg)
	return reg
}

// meta is the metadata value key, "" when absent or not a string.
func (r registered) meta(key string) string {
	s, _ := r.Metadata[key].(string)
	return s
}

func heartbeatOf(h store.Heartbeat) heartbeatView {
	return heartbeatView{At: stamp(h.At), Status: h.Status, HealthScore: h.HealthScore, CPUUsage: h.CPU,
		MemoryUsage: h.Memory, DiskUsage: h.Disk, RequestsPerSecond: h.RPS, AverageResponseTime: h.AvgResponseTime,
		ActiveConnections: h.ActiveConnections, QueueSize: h.QueueSize, ErrorCount: h.ErrorCount,
		SuccessRate: h.SuccessRate, ConfigVersion: h.ConfigVersion}
}

func reportOf(r store.Report) reportView {
	return reportView{At: stamp(r.At), TotalRequests: r.TotalRequests, SuccessfulRequests: r.SuccessfulRequests,
		FailedRequests: r.FailedRequests, AverageResponseTime: r.AvgResponseTime, DataProcessed: r.DataProcessed,
		CustomMetrics: r.CustomMetrics, Breakdown: r.Breakdown}
}

func eventOf(e store.Event) eventView {
	return eventView{ID: e.ID, Type: e.Type, Timestamp: e.Timestamp, ReceivedAt: stamp(e.At), Plugin: e.Plugin,
		Version: e.Version, Data: e.Data}
}

func deliveriesOf(ds []store.Delivery) []deliveryView {
	return each(ds, func(d store.Delivery) deliveryView {
		return deliveryView{NeuronID: d.NeuronID, Status: d.Status, Detail: d.Detail, At: stamp(d.At)}
	})
}

// outcomeOf summarizes the deliveries of one change.
func outcomeOf(ds []store.Delivery) deliveryOutcome {
	out := deliveryOutcome{Outcome: outcomeNone, Refused: []refusalView{}}
	for _, d := range ds {
		switch {
		case d.Status == store.DeliveryRejected:
			out.Outcome = outcomeRefused
			out.Refused = append(out.Refused, refusalView{NeuronID: d.NeuronID, Reason: d.Detail})
		case d.Status == store.DeliveryPending && out.Outcome != outcomeRefused:
			out.Outcome = outcomeQueued
		case out.Outcome == outcomeNone:
			out.Outcome = outcomeApplied
		}
	}
	return out
}

func configOf(c store.Config, ds []store.Delivery) configView {
	return configView{Rev: c.Rev, Version: versionOf(c.Rev), Target: c.Target, Config: c.Config,
		CreatedAt: stamp(c.CreatedAt), Deliveries: deliveriesOf(ds), deliveryOutcome: outcomeOf(ds)}
}

func experimentOf(x store.Experiment, ds []store.Delivery) experimentView {
	return experimentView{ID: x.ID, Target: x.Target, Status: x.Status, CreatedAt: stamp(x.CreatedAt),
		StoppedAt: stampOrNil(x.StoppedAt), Promote: x.Promote, Spec: x.Spec, Deliveries: deliveriesOf(ds),
		deliveryOutcome: outcomeOf(ds)}
}

// latestRev is the revision of an experiment's latest change: its stop,
// else its start. Its deliveries are the experiment's.
func latestRev(x store.Experiment) int64 {
	if x.StopRev > 0 {
		return x.StopRev
	}
	return x.StartRev
}

func commandOf(c store.Command) commandView {
	outcome := c.Outcome
	if outcome == nil {
		outcome = json.RawMessage("null")
	}
	return commandView{ID: c.ID, NeuronID: c.NeuronID, Type: c.Type, Data: c.Data, Status: c.Status,
		SentTo: c.ServedLineage, Outcome: outcome, CreatedAt: stamp(c.CreatedAt), UpdatedAt: stamp(c.UpdatedAt)}
}
