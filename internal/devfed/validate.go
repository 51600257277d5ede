package devfed

import (
	"fmt"
	"maps"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Limits of the wire payloads (each a 400 naming the field past it).
const (
	maxIDLen   = 128 // neuronId, event ids
	maxNameLen = 256 // names, types, versions, statuses
)

var (
	neuronIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)
	httpMethods     = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}
	unbounded       = math.Inf(1)
)

// registration is what the federation keeps of a valid registration body.
type registration struct {
	NeuronID, Name, Type, Language, Version, BaseURL string
}

// validateRegistration checks a registration body: neuronId, name and type
// are required, the other fields of the reference guide are type-checked
// when present.
func validateRegistration(m map[string]any) (registration, error) {
	o := object{m: m}
	var reg registration
	var err error
	if reg.NeuronID, err = o.str("neuronId", true, 0); err != nil {
		return reg, err
	}
	if !neuronIDPattern.MatchString(reg.NeuronID) {
		return reg, badField("neuronId", "must be 1 to 128 characters of A-Z a-z 0-9 . _ : -, got %q", reg.NeuronID)
	}
	for _, f := range []struct {
		key      string
		dst      *string
		required bool
	}{{"name", &reg.Name, true}, {"type", &reg.Type, true}, {"language", &reg.Language, false}, {"version", &reg.Version, false}} {
		if *f.dst, err = o.str(f.key, f.required, maxNameLen); err != nil {
			return reg, err
		}
	}
	if reg.BaseURL, err = o.str("baseUrl", false, 2048); err != nil {
		return reg, err
	}
	if reg.BaseURL != "" {
		u, perr := url.Parse(reg.BaseURL)
		if perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return reg, badField("baseUrl", "must be an absolute http(s) URL such as http://10.0.1.50:8080, got %q", reg.BaseURL)
		}
		reg.BaseURL = strings.TrimRight(reg.BaseURL, "/")
	}
	if hc, err := o.str("healthcheckEndpoint", false, 2048); err != nil {
		return reg, err
	} else if hc != "" && !strings.HasPrefix(hc, "/") {
		return reg, badField("healthcheckEndpoint", "must be a path starting with /, got %q", hc)
	}
	if err := checkEndpoints(o); err != nil {
		return reg, err
	}
	return reg, checkRegistrationExtras(o)
}

func checkEndpoints(o object) error {
	eps, err := o.objects("apiEndpoints")
	if err != nil {
		return err
	}
	for _, ep := range eps {
		path, err := ep.str("path", true, 2048)
		if err != nil {
			return err
		}
		if !strings.HasPrefix(path, "/") {
			return badField(ep.field("path"), "must start with /, got %q", path)
		}
		method, err := ep.str("method", true, 16)
		if err != nil {
			return err
		}
		if !slices.Contains(httpMethods, method) {
			return badField(ep.field("method"), "must be an HTTP method in capitals (%s), got %q", strings.Join(httpMethods, ", "), method)
		}
		if _, err := ep.str("description", false, 0); err != nil {
			return err
		}
	}
	return nil
}

// checkRegistrationExtras type-checks the optional objects and lists of a
// registration.
func checkRegistrationExtras(o object) error {
	for _, key := range []string{"capabilities", "dependencies"} {
		if _, err := o.strings(key); err != nil {
			return err
		}
	}
	stringFields := map[string][]string{
		"authentication":       {"type", "tokenEndpoint"},
		"resourceRequirements": {"cpu", "memory", "storage"},
		"deploymentInfo":       {"type", "image"},
	}
	for _, key := range []string{"authentication", "resourceRequirements", "deploymentInfo"} {
		sub, _, err := o.obj(key)
		if err != nil {
			return err
		}
		for _, f := range stringFields[key] {
			if _, err := sub.str(f, false, 0); err != nil {
				return err
			}
		}
	}
	if dep, found, _ := o.obj("deploymentInfo"); found {
		ports, err := dep.list("ports")
		if err != nil {
			return err
		}
		for i, p := range ports {
			f, err := number(p)
			if err == nil && (f != math.Trunc(f) || f < 1 || f > 65535) {
				err = fmt.Errorf("must be a port number from 1 to 65535, got %v", f)
			}
			if err != nil {
				return badField(fmt.Sprintf("%s[%d]", dep.field("ports"), i), "%v", err)
			}
		}
	}
	if at, _, err := o.obj("alertThresholds"); err != nil {
		return err
	} else if err := checkNumbers(at, map[string]float64{"errorRate": 100, "responseTime": unbounded, "healthScore": 100}); err != nil {
		return err
	}
	return o.values("metadata", isString)
}

// checkNumbers checks that each named field of o, when present, is a
// number from 0 to its bound.
func checkNumbers(o object, bounds map[string]float64) error {
	for _, key := range slices.Sorted(maps.Keys(bounds)) {
		if _, err := o.num(key, 0, bounds[key]); err != nil {
			return err
		}
	}
	return nil
}

// heartbeat is what the federation extracts of a valid heartbeat body.
type heartbeat struct {
	Status string

	HealthScore, CPU, Memory, Disk, RPS, AvgResponseTime,
	ActiveConnections, QueueSize, ErrorCount, SuccessRate *float64

	ConfigVersion, BuildVersion string
}

// validateStatus checks a heartbeat body: status a non-empty string,
// healthScore 0-100, percentages 0-100, other metrics numbers ≥ 0.
func validateStatus(m map[string]any) (heartbeat, error) {
	o := object{m: m}
	var h heartbeat
	var err error
	if h.Status, err = o.str("status", true, maxNameLen); err != nil {
		return h, err
	}
	if h.HealthScore, err = o.num("healthScore", 0, 100); err != nil {
		return h, err
	}
	if _, err = o.num("uptime", 0, unbounded); err != nil {
		return h, err
	}
	if _, err = o.str("processId", false, 0); err != nil {
		return h, err
	}
	for _, f := range []struct {
		key string
		dst *string
	}{{"configVersion", &h.ConfigVersion}, {"buildVersion", &h.BuildVersion}} {
		if *f.dst, err = o.str(f.key, false, maxNameLen); err != nil {
			return h, err
		}
	}
	host, _, err := o.obj("hostInfo")
	if err != nil {
		return h, err
	}
	for _, key := range []string{"hostname", "ip", "containerId"} {
		if _, err := host.str(key, false, 0); err != nil {
			return h, err
		}
	}
	if err := o.values("dependencyStatus", isString); err != nil {
		return h, err
	}
	groups := []struct {
		key    string
		fields []metricField
	}{
		{"systemMetrics", []metricField{{"cpuUsage", 100, &h.CPU}, {"memoryUsage", 100, &h.Memory}, {"diskUsage", 100, &h.Disk}}},
		{"applicationMetrics", []metricField{{"requestsPerSecond", unbounded, &h.RPS},
			{"averageResponseTime", unbounded, &h.AvgResponseTime}, {"activeConnections", unbounded, &h.ActiveConnections},
			{"queueSize", unbounded, &h.QueueSize}}},
		{"performanceMetrics", []metricField{{"successRate", 100, &h.SuccessRate}, {"errorCount", unbounded, &h.ErrorCount},
			{"warningCount", unbounded, nil}}},
	}
	for _, g := range groups {
		sub, _, err := o.obj(g.key)
		if err != nil {
			return h, err
		}
		for _, f := range g.fields {
			v, err := sub.num(f.key, 0, f.max)
			if err != nil {
				return h, err
			}
			if f.dst != nil {
				*f.dst = v
			}
		}
	}
	return h, nil
}

// metricField is a numeric heartbeat field from 0 to max, and where to
// keep it (nil: checked only).
type metricField struct {
	key string
	max float64
	dst **float64
}

// report is what the federation extracts of a valid analytics body.
type report struct {
	NeuronID string
	Metrics  metrics
	Events   []event
	Rows     []breakdownRow
}

type metrics struct {
	TotalRequests, SuccessfulRequests, FailedRequests, AvgResponseTime, DataProcessed float64
	Custom                                                                            map[string]float64
}

type event struct {
	ID, Type, Timestamp, Plugin, Version string
	Data                                 any // decoded, for the digest id and re-encoding
}

type breakdownRow struct {
	Plugin, Version, Variant string
	metrics
	P50, P95, P99 float64
}

// validateReport checks an analytics body: neuronId a string, metrics an
// object of numbers ≥ 0, events objects with a type, breakdown rows.
func validateReport(m map[string]any) (report, error) {
	o := object{m: m}
	var rep report
	var err error
	if rep.NeuronID, err = o.str("neuronId", true, maxIDLen); err != nil {
		return rep, err
	}
	if _, err := o.str("timestamp", false, maxNameLen); err != nil {
		return rep, err
	}
	if _, err := o.whole("dropped", 0, unbounded); err != nil {
		return rep, err
	}
	mo, found, err := o.obj("metrics")
	if err != nil {
		return rep, err
	}
	if !found {
		return rep, badField("metrics", "is required (an object: totalRequests, successfulRequests, failedRequests, averageResponseTime, dataProcessed, customMetrics)")
	}
	if rep.Metrics, err = readMetrics(mo); err != nil {
		return rep, err
	}
	if rep.Events, err = readEvents(o); err != nil {
		return rep, err
	}
	rows, err := o.objects("breakdown")
	if err != nil {
		return rep, err
	}
	for _, ro := range rows {
		row, err := readRow(ro)
		if err != nil {
			return rep, err
		}
		rep.Rows = append(rep.Rows, row)
	}
	return rep, nil
}

// readMetrics reads the reference metrics of o, each a number ≥ 0.
func readMetrics(o object) (metrics, error) {
	var out metrics
	for _, f := range []struct {
		key string
		dst *float64
	}{{"totalRequests", &out.TotalRequests}, {"successfulRequests", &out.SuccessfulRequests},
		{"failedRequests", &out.FailedRequests}, {"averageResponseTime", &out.AvgResponseTime},
		{"dataProcessed", &out.DataProcessed}} {
		v, err := o.num(f.key, 0, unbounded)
		if err != nil {
			return out, err
		}
		if v != nil {
			*f.dst = *v
		}
	}
	if err := o.values("customMetrics", isNumber); err != nil {
		return out, err
	}
	out.Custom = map[string]float64{}
	if c, found, _ := o.obj("customMetrics"); found {
		for k, v := range c.m {
			out.Custom[k], _ = number(v)
		}
	}
	return out, nil
}

func readRow(o object) (breakdownRow, error) {
	var row breakdownRow
	var err error
	for _, f := range []struct {
		key string
		dst *string
	}{{"plugin", &row.Plugin}, {"version", &row.Version}, {"variant", &row.Variant}} {
		if *f.dst, err = o.str(f.key, false, maxNameLen); err != nil {
			return row, err
		}
	}
	if row.metrics, err = readMetrics(o); err != nil {
		return row, err
	}
	for _, f := range []struct {
		key string
		dst *float64
	}{{"p50", &row.P50}, {"p95", &row.P95}, {"p99", &row.P99}} {
		v, err := o.num(f.key, 0, unbounded)
		if err != nil {
			return row, err
		}
		if v != nil {
			*f.dst = *v
		}
	}
	return row, nil
}

func readEvents(o object) ([]event, error) {
	evs, err := o.objects("events")
	if err != nil {
		return nil, err
	}
	out := make([]event, 0, len(evs))
	for _, eo := range evs {
		var e event
		if e.ID, err = eo.str("id", false, maxIDLen); err != nil {
			return nil, err
		}
		if e.Type, err = eo.str("type", true, maxNameLen); err != nil {
			return nil, err
		}
		if e.Timestamp, err = eo.str("timestamp", false, maxNameLen); err != nil {
			return nil, err
		}
		if e.Timestamp != "" && !isTimestamp(e.Timestamp) {
			return nil, badField(eo.field("timestamp"), "must be an RFC 3339 time such as 2025-01-21T11:30:00Z, got %q", e.Timestamp)
		}
		if e.Plugin, err = eo.str("plugin", false, maxNameLen); err != nil {
			return nil, err
		}
		if e.Version, err = eo.str("version", false, maxNameLen); err != nil {
			return nil, err
		}
		e.Data = eo.m["data"]
		out = append(out, e)
	}
	return out, nil
}

// isTimestamp reports whether s is an RFC 3339 time, or one without a
// zone as Python's datetime.isoformat() writes it (taken as UTC).
func isTimestamp(s string) bool {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
		if _, err := time.Parse(layout, s); err == nil {
			return true
		}
	}
	return false
}
