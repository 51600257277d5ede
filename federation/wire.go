package federation

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"
)

// Registration is the body of POST /api/neuron/register: who the neuron is,
// what it serves and what it needs. The field names and JSON types are the
// reference guide's. Nil slices and maps are sent as [] and {}, never null.
type Registration struct {
	NeuronID             string               `json:"neuronId"`
	Name                 string               `json:"name"`
	Type                 string               `json:"type"`
	Language             string               `json:"language"`
	Version              string               `json:"version"`
	BaseURL              string               `json:"baseUrl"`
	HealthcheckEndpoint  string               `json:"healthcheckEndpoint"`
	APIEndpoints         []Endpoint           `json:"apiEndpoints"`
	Authentication       Authentication       `json:"authentication"`
	Capabilities         []string             `json:"capabilities"`
	Dependencies         []string             `json:"dependencies"`
	ResourceRequirements ResourceRequirements `json:"resourceRequirements"`
	DeploymentInfo       DeploymentInfo       `json:"deploymentInfo"`
	AlertThresholds      AlertThresholds      `json:"alertThresholds"`
	Metadata             map[string]string    `json:"metadata"`
}

// MarshalJSON encodes r with nil lists and maps as [] and {}, so that the
// federation always sees the JSON kinds of the reference guide.
func (r Registration) MarshalJSON() ([]byte, error) {
	type plain Registration
	r.APIEndpoints = orEmpty(r.APIEndpoints)
	r.Capabilities = orEmpty(r.Capabilities)
	r.Dependencies = orEmpty(r.Dependencies)
	if r.Metadata == nil {
		r.Metadata = map[string]string{}
	}
	return json.Marshal(plain(r))
}

// Endpoint is one entry of Registration.APIEndpoints: a route a processor
// serves.
type Endpoint struct {
	Path        string `json:"path"`
	Method      string `json:"method"`
	Description string `json:"description"`
}

// Authentication says how callers authenticate to the neuron.
type Authentication struct {
	Type          string `json:"type"`
	TokenEndpoint string `json:"tokenEndpoint,omitempty"`
}

// ResourceRequirements are the resources the neuron asks for, as
// human-readable quantities ("2 cores", "4GB").
type ResourceRequirements struct {
	CPU     string `json:"cpu"`
	Memory  string `json:"memory"`
	Storage string `json:"storage"`
}

// DeploymentInfo says how the neuron is deployed.
type DeploymentInfo struct {
	Type  string `json:"type"`
	Image string `json:"image"`
	Ports []int  `json:"ports,omitempty"`
}

// AlertThresholds are the limits past which the neuron reports itself
// degraded: ErrorRate in percent, ResponseTime in milliseconds, HealthScore
// out of 100.
type AlertThresholds struct {
	ErrorRate    float64 `json:"errorRate"`
	ResponseTime float64 `json:"responseTime"`
	HealthScore  float64 `json:"healthScore"`
}

// Heartbeat status values, the Status.Status field.
const (
	// StatusActive is a neuron serving normally.
	StatusActive = "active"
	// StatusDegraded is a neuron serving while past an alert threshold.
	StatusDegraded = "degraded"
	// StatusDraining is a neuron finishing in-flight calls and refusing new ones.
	StatusDraining = "draining"
	// StatusStopping is the final heartbeat of a neuron that is shutting down.
	StatusStopping = "stopping"
)

// Status is the heartbeat, the body of POST /api/neuron/status. The field
// names and JSON types are the reference guide's documented example (its
// Python client sends hostInfo.pid; the documented example, which we follow,
// has containerId).
type Status struct {
	Status             string             `json:"status"`
	HealthScore        int                `json:"healthScore"`
	Uptime             int64              `json:"uptime"`
	ProcessID          string             `json:"processId"`
	HostInfo           HostInfo           `json:"hostInfo"`
	SystemMetrics      SystemMetrics      `json:"systemMetrics"`
	ApplicationMetrics ApplicationMetrics `json:"applicationMetrics"`
	DependencyStatus   map[string]string  `json:"dependencyStatus"`
	PerformanceMetrics PerformanceMetrics `json:"performanceMetrics"`
	ConfigVersion      string             `json:"configVersion"`
	BuildVersion       string             `json:"buildVersion"`
}

// MarshalJSON encodes s with a nil DependencyStatus as {}.
func (s Status) MarshalJSON() ([]byte, error) {
	type plain Status
	if s.DependencyStatus == nil {
		s.DependencyStatus = map[string]string{}
	}
	return json.Marshal(plain(s))
}

// HostInfo says where the neuron runs. ContainerID is set only inside a
// container.
type HostInfo struct {
	Hostname    string `json:"hostname"`
	IP          string `json:"ip"`
	ContainerID string `json:"containerId,omitempty"`
}

// SystemMetrics are host usage percentages (0 to 100).
type SystemMetrics struct {
	CPUUsage    float64 `json:"cpuUsage"`
	MemoryUsage float64 `json:"memoryUsage"`
	DiskUsage   float64 `json:"diskUsage"`
}

// ApplicationMetrics describe the traffic of the last heartbeat interval.
// AverageResponseTime is in milliseconds; QueueSize is the number of callers
// waiting for a processor instance.
type ApplicationMetrics struct {
	RequestsPerSecond   float64 `json:"requestsPerSecond"`
	AverageResponseTime float64 `json:"averageResponseTime"`
	ActiveConnections   int     `json:"activeConnections"`
	QueueSize           int     `json:"queueSize"`
}

// PerformanceMetrics summarise outcomes: SuccessRate in percent, and counts
// of errors and warnings.
type PerformanceMetrics struct {
	SuccessRate  float64 `json:"successRate"`
	ErrorCount   int64   `json:"errorCount"`
	WarningCount int64   `json:"warningCount"`
}

// AnalyticsReport is the body of POST /api/analytics/report: what happened
// during one analytics interval.
//
// Timestamp is an RFC 3339 string, as the reference client sends. Two fields
// are ours, documented extras the reference does not have: Breakdown (the
// same metrics per processor and variant) and Dropped (how many reports the
// on-disk queue dropped, oldest first, because it was full since the last
// report). Both are omitted when empty.
type AnalyticsReport struct {
	NeuronID  string         `json:"neuronId"`
	Metrics   Metrics        `json:"metrics"`
	Events    []Event        `json:"events"`
	Timestamp string         `json:"timestamp"`
	Breakdown []BreakdownRow `json:"breakdown,omitempty"`
	Dropped   int64          `json:"dropped,omitempty"`
}

// MarshalJSON encodes a with nil Events as [] and nil custom metrics as {}.
func (a AnalyticsReport) MarshalJSON() ([]byte, error) {
	type plain AnalyticsReport
	a.Events = orEmpty(a.Events)
	if a.Metrics.CustomMetrics == nil {
		a.Metrics.CustomMetrics = map[string]float64{}
	}
	return json.Marshal(plain(a))
}

// Metrics are the reference guide's analytics metrics for one interval.
// AverageResponseTime is in milliseconds, DataProcessed in bytes;
// CustomMetrics are the processors' own counters.
type Metrics struct {
	TotalRequests       int64              `json:"totalRequests"`
	SuccessfulRequests  int64              `json:"successfulRequests"`
	FailedRequests      int64              `json:"failedRequests"`
	AverageResponseTime float64            `json:"averageResponseTime"`
	DataProcessed       int64              `json:"dataProcessed"`
	CustomMetrics       map[string]float64 `json:"customMetrics"`
}

// BreakdownRow is Metrics for one processor version, and one experiment
// variant when Variant is set: an entry of AnalyticsReport.Breakdown.
type BreakdownRow struct {
	Plugin              string             `json:"plugin"`
	Version             string             `json:"version"`
	Variant             string             `json:"variant,omitempty"`
	TotalRequests       int64              `json:"totalRequests"`
	SuccessfulRequests  int64              `json:"successfulRequests"`
	FailedRequests      int64              `json:"failedRequests"`
	AverageResponseTime float64            `json:"averageResponseTime"`
	DataProcessed       int64              `json:"dataProcessed"`
	CustomMetrics       map[string]float64 `json:"customMetrics,omitempty"`
	// P50, P95 and P99 are latency quantiles in milliseconds of a
	// variant's calls since its experiment started (not per interval).
	P50 float64 `json:"p50,omitempty"`
	P95 float64 `json:"p95,omitempty"`
	P99 float64 `json:"p99,omitempty"`
}

// Event is something that happened in the neuron, reported in
// AnalyticsReport.Events: a processor loaded, a config applied, a command
// run, an alert. ID is unique (see NewEventID) so that the federation can
// de-duplicate; Plugin and Version name the processor an event came from.
type Event struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Timestamp time.Time       `json:"timestamp"`
	Data      json.RawMessage `json:"data,omitempty"`
	Plugin    string          `json:"plugin,omitempty"`
	Version   string          `json:"version,omitempty"`
}

// MarshalJSON encodes e with its timestamp in UTC, RFC 3339 with only the
// fractional seconds it has ("2025-01-21T11:30:00Z").
func (e Event) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ID        string          `json:"id"`
		Type      string          `json:"type"`
		Timestamp string          `json:"timestamp"`
		Data      json.RawMessage `json:"data,omitempty"`
		Plugin    string          `json:"plugin,omitempty"`
		Version   string          `json:"version,omitempty"`
	}{e.ID, e.Type, e.Timestamp.UTC().Format(time.RFC3339Nano), e.Data, e.Plugin, e.Version})
}

// NewEventID returns a random 128-bit identifier in hex, for Event.ID.
func NewEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// orEmpty returns s, or an empty non-nil slice when s is nil, so that it
// encodes as [] rather than null.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
